"""Per-path return metrics: the thin pandas face over :mod:`diffbt.metrics._nb`.

Input is per-bar simple returns of many paths, either an ndarray ``(n_paths, n_steps)`` or a
DataFrame with one column per path and time as the index (QuantStats' layout). Output is one
row per path, one column per metric, columns named after the QuantStats functions they equal.

Notes
-----
Column by column, the value equals ``quantstats.stats.<name>(series, ...)`` (QuantStats 0.0.86,
pandas 3.1) called on one path as a Series, with ``rf`` and ``periods=periods_per_year`` passed
where the QuantStats function takes them. Where diffbt differs, deliberately:

- ``comp`` is the total compounded return (QuantStats' ``comp``).
- ``cagr`` uses ``years = observed bars / periods_per_year``, exactly as QuantStats 0.0.86 does
  (it does not read the DatetimeIndex span), so ndarray and DataFrame input agree.
- ``max_drawdown_duration`` (not a QuantStats function): the longest run of bars spent below
  the running peak of the equity curve, in bars (QuantStats' "Longest DD Days" counts
  calendar days of a DatetimeIndex).
- ``var_hist`` (not in QuantStats): the empirical 5% quantile of the returns (numpy "linear").
  ``cvar_hist`` equals ``quantstats.stats.cvar(returns, method="historical")``.
  ``var`` and ``cvar`` are QuantStats' parametric (normal) ones at 95%.
- ``rar``: QuantStats annualises the CAGR inside ``rar`` with a fixed 252; diffbt uses
  ``periods_per_year``. They agree for ``periods_per_year=252``.
- ``gain_to_pain_ratio``: QuantStats first sums returns per calendar day; diffbt works per
  bar. They agree for daily (or coarser) bars.
- Zero variance: a constant path has a standard deviation of exactly 0 here, so ``sharpe``,
  ``smart_sharpe``, ``probabilistic_sharpe_ratio``, ``var`` and ``risk_return_ratio`` are NaN
  and the autocorrelation penalty of ``smart_sharpe`` / ``smart_sortino`` is 1. pandas'
  two-pass std of a constant series is either exactly 0 (QuantStats' Sharpe is then +-inf) or
  floating-point noise (~1e-19: a Sharpe of ~1e17, a VaR equal to the mean, a penalty from
  correlated noise). For an all-zero path both agree.
- Where QuantStats raises ``ZeroDivisionError`` (``rar`` of a path that is never invested),
  diffbt gives NaN.
- QuantStats guesses "prices or returns?" (a series with min >= 0 and max > 1 is read as
  prices) and reads infinite returns as missing. diffbt never guesses: the input is returns;
  +-inf is rejected with :class:`~diffbt.errors.DataError`.
- NaN bars are skipped by the statistics and count as flat bars in the equity curve, as in
  QuantStats 0.0.86 (``ulcer_index``, ``omega`` and ``probabilistic_sharpe_ratio`` use the full
  length including NaN bars, as QuantStats does).
- ``rf > 0`` is an annual rate turned into a per-bar rate ``(1 + rf) ** (1 / periods) - 1``
  and subtracted where QuantStats does (Sharpe and Sortino families, Omega, PSR, RAR);
  ``ulcer_performance_index``, ``serenity_index`` and ``recovery_factor`` subtract the raw
  ``rf`` as QuantStats does. ``rf <= 0`` means no adjustment (as QuantStats).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from diffbt.errors import DataError
from diffbt.metrics import _nb

__all__ = ["METRIC_NAMES", "compute", "drawdown", "equity", "to_matrix"]

logger = logging.getLogger(__name__)

#: Column order of :func:`compute`.
METRIC_NAMES: tuple[str, ...] = _nb.METRIC_NAMES


def to_matrix(returns: np.ndarray | pd.DataFrame | pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Per-bar returns as a C-contiguous float64 ``(n_paths, n_steps)`` matrix.

    Parameters
    ----------
    returns : ndarray (n_paths, n_steps) or (n_steps,), DataFrame (time x paths) or Series
        Simple per-bar returns; NaN marks a missing bar.

    Returns
    -------
    matrix : ndarray (n_paths, n_steps)
    names : Index of length n_paths (DataFrame columns, Series name, or 0..n_paths-1)

    Raises
    ------
    DataError
        If the input is not 1-d/2-d, not numeric, or holds +-inf.
    """
    if isinstance(returns, pd.Series):
        names = pd.Index([returns.name if returns.name is not None else 0])
        mat = returns.to_numpy(dtype=np.float64, na_value=np.nan)[None, :]
    elif isinstance(returns, pd.DataFrame):
        names = returns.columns
        try:
            mat = returns.to_numpy(dtype=np.float64, na_value=np.nan).T
        except (TypeError, ValueError) as exc:
            raise DataError(f"returns must be numeric: {exc}") from exc
    else:
        try:
            mat = np.asarray(returns, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"returns must be numeric: {exc}") from exc
        if mat.ndim == 1:
            mat = mat[None, :]
        if mat.ndim != 2:
            raise DataError(f"returns must be 1-d or 2-d (paths, time), got shape {mat.shape}")
        names = pd.RangeIndex(mat.shape[0])
    if np.isinf(mat).any():
        path, step = np.argwhere(np.isinf(mat))[0]
        raise DataError("infinite return", column=str(names[path]), row=int(step))
    return np.ascontiguousarray(mat), names


def _per_bar_rf(rf: float, periods_per_year: float) -> float:
    if not np.isfinite(rf):
        raise ValueError(f"rf must be finite, got {rf}")
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    return float((1.0 + rf) ** (1.0 / periods_per_year) - 1.0) if rf > 0 else 0.0


def compute(
    returns: np.ndarray | pd.DataFrame | pd.Series,
    *,
    periods_per_year: float = 252,
    rf: float = 0.0,
) -> pd.DataFrame:
    """All per-path metrics of many return paths in one parallel pass.

    Parameters
    ----------
    returns : ndarray (n_paths, n_steps), DataFrame (time x paths) or Series
        Simple per-bar returns; NaN marks a missing bar.
    periods_per_year : float
        Bars per year, for annualisation (QuantStats' ``periods``).
    rf : float
        Annual risk-free rate (QuantStats' ``rf``).

    Returns
    -------
    DataFrame (n_paths, len(METRIC_NAMES))
        Index: the DataFrame's columns (or 0..n_paths-1); columns: :data:`METRIC_NAMES`.

    Raises
    ------
    DataError
        Bad returns (see :func:`to_matrix`).

    Notes
    -----
    See the module docstring for how each column relates to QuantStats.
    """
    mat, names = to_matrix(returns)
    rf_pp = _per_bar_rf(rf, periods_per_year)
    if mat.shape[1] == 0:
        raise DataError("returns have no time steps")
    out = _nb.metrics_nb(mat, float(periods_per_year), float(rf), rf_pp)
    return pd.DataFrame(out, index=names, columns=list(METRIC_NAMES))


def equity(returns: np.ndarray | pd.DataFrame | pd.Series) -> np.ndarray | pd.DataFrame:
    """Compounded equity curves started at 1.0, NaN bars flat.

    Returns the same layout as the input: ndarray ``(n_paths, n_steps)`` or a DataFrame.
    """
    mat, names = to_matrix(returns)
    eq = np.cumprod(1.0 + np.nan_to_num(mat, nan=0.0), axis=1)
    return _like(returns, eq, names)


def drawdown(returns: np.ndarray | pd.DataFrame | pd.Series) -> np.ndarray | pd.DataFrame:
    """Drawdown from the running peak (peak starts at 1.0), same layout as the input.

    Equals ``quantstats.stats.to_drawdown_series`` per path.
    """
    mat, names = to_matrix(returns)
    return _like(returns, _nb.drawdown_nb(mat), names)


def _like(template, mat: np.ndarray, names: pd.Index):
    if isinstance(template, pd.Series):
        return pd.Series(mat[0], index=template.index, name=template.name)
    if isinstance(template, pd.DataFrame):
        return pd.DataFrame(mat.T, index=template.index, columns=names)
    return mat if np.ndim(template) == 2 else mat[0]
