"""QuantStats HTML tear-sheet of the real backtest, offline, against a synthetic median path.

QuantStats 0.0.86 on pandas 3 works once its traps are avoided, which this module does:

- the benchmark is always a returns Series on the strategy's own dates (a ticker string
  would be downloaded, and offline it silently becomes all zeros);
- timezones are dropped (two UTC-aware indexes raise ``TypeError: Cannot compare dtypes``);
- ``match_dates`` defaults to False (True trims the strategy's leading flat bars, e.g. an
  indicator's warm-up);
- matplotlib font-manager logging, QuantStats/seaborn deprecation warnings and numpy/scipy
  RuntimeWarnings (e.g. a flat benchmark) are silenced for the duration of the call, and
  figures QuantStats leaves open are closed;
- the template's only remote resource (a favicon) is removed, so the page loads nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from diffbt.errors import DataError

if TYPE_CHECKING:  # report/ reads results; only bt/ imports backtrader at run time
    from diffbt.bt.runner import BacktestResult

__all__ = ["median_path", "tearsheet", "tearsheet_from_result"]

logger = logging.getLogger(__name__)

_FAVICON = re.compile(r'<link[^>]*rel="shortcut icon"[^>]*>\s*', re.IGNORECASE)
_DEFAULT_START = "2000-01-03"

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_quantstats() -> Iterator[None]:
    """Silence font-manager logging and QuantStats/seaborn warnings; close leftover figures."""
    import matplotlib.pyplot as plt

    font_logger = logging.getLogger("matplotlib.font_manager")
    level = font_logger.level
    font_logger.setLevel(logging.ERROR)
    before = set(plt.get_fignums())
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(quantstats|seaborn)(\.|$)")
            warnings.filterwarnings("ignore", category=RuntimeWarning)  # degenerate series
            yield
    finally:
        font_logger.setLevel(level)
        for num in set(plt.get_fignums()) - before:
            plt.close(num)


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def _as_series(returns: pd.Series | np.ndarray | Sequence[float], index: Sequence | None,
               name: str) -> pd.Series:
    """Returns as a float Series on a tz-naive, sorted, unique DatetimeIndex."""
    if isinstance(returns, pd.Series):
        values = returns.to_numpy(dtype=np.float64, na_value=np.nan)
        idx = returns.index if index is None else index
    else:
        values = np.asarray(returns, dtype=np.float64)
        if values.ndim != 1:
            raise DataError(f"{name} must be 1-d, got shape {values.shape}", column=name)
        idx = index if index is not None else pd.bdate_range(_DEFAULT_START, periods=len(values))
    if not isinstance(idx, pd.DatetimeIndex):
        try:
            idx = pd.DatetimeIndex(idx)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} needs a DatetimeIndex: {exc}", column=name) from exc
    if len(idx) != len(values):
        raise DataError(f"index has {len(idx)} entries but {name} {len(values)}", column=name)
    if len(values) < 2:
        raise DataError(f"{name} needs at least 2 bars, got {len(values)}", column=name)
    if np.isinf(values).any():
        raise DataError("infinite return", column=name, row=int(np.argmax(np.isinf(values))))
    idx = _naive(idx)
    if not idx.is_monotonic_increasing or not idx.is_unique:
        raise DataError("index must be sorted and unique", column=name)
    return pd.Series(values, index=idx, name=name)


def _strip_remote(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(_FAVICON.sub("", text), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# tear-sheet
# ---------------------------------------------------------------------------------------------


def tearsheet(
    real_returns: pd.Series | np.ndarray,
    *,
    benchmark: pd.Series | np.ndarray | None = None,
    index: Sequence | None = None,
    title: str = "diffbt",
    out: str | Path = "reports/tearsheet.html",
    periods_per_year: int = 252,
    rf: float = 0.0,
    benchmark_title: str = "synthetic median",
    match_dates: bool = False,
) -> Path:
    """Write QuantStats' HTML tear-sheet of one return series, never touching the network.

    Parameters
    ----------
    real_returns : Series or ndarray (n_steps,)
        Per-bar simple returns of the real backtest. NaN bars count as flat (0).
    benchmark : Series or ndarray (n_steps,), optional
        Comparison returns, typically the synthetic median path. An ndarray is placed on the
        strategy's dates by position; a Series is reindexed to them (missing bars flat, with a
        warning). Ticker strings are refused: QuantStats would try to download them.
    index : DatetimeIndex (n_steps,), optional
        Dates for an ndarray (or to replace a Series' index). Default for an ndarray: business
        days from 2000-01-03. Timezones are dropped.
    title : str
    out : path of the HTML file; parent folders are created.
    periods_per_year : int
    rf : float
        Annual risk-free rate.
    benchmark_title : str
        Name of the benchmark column in the report.
    match_dates : bool
        QuantStats' option: start both series at their first common non-zero bar.

    Returns
    -------
    Path
        The written HTML file (self-contained: figures are inline SVG).

    Raises
    ------
    DataError
        Bad returns: not 1-d, lengths or dates inconsistent, +-inf.
    TypeError
        `benchmark` is a string.
    """
    import quantstats as qs

    if isinstance(benchmark, str):
        raise TypeError("benchmark must be a returns Series or array, not a ticker: "
                        "QuantStats would download it (offline it silently becomes zeros)")
    returns = _as_series(real_returns, index, "strategy").fillna(0.0)
    bench = None
    if benchmark is not None:
        if isinstance(benchmark, pd.Series):
            b = _as_series(benchmark, None, "benchmark")
            n_missing = int((~returns.index.isin(b.index)).sum())
            if n_missing:
                logger.warning("benchmark lacks %d of the strategy's %d bars: counted flat",
                               n_missing, len(returns))
            bench = b.reindex(returns.index)
        else:
            bench = _as_series(benchmark, returns.index, "benchmark")
        bench = bench.fillna(0.0).rename(benchmark_title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if bench is not None:
        kwargs["benchmark_title"] = benchmark_title
    part = out.with_name(f".{out.name}.part")  # never a complete-looking half file
    try:
        with _quiet_quantstats():
            qs.reports.html(returns, benchmark=bench, rf=rf, title=title, output=str(part),
                            periods_per_year=periods_per_year, match_dates=match_dates,
                            figfmt="svg", **kwargs)
        _strip_remote(part)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    logger.info("tear-sheet written to %s", out)
    return out


# ---------------------------------------------------------------------------------------------
# from a backtest result
# ---------------------------------------------------------------------------------------------


def median_path(returns: np.ndarray, *, by: str = "sharpe", periods_per_year: float = 252,
                rf: float = 0.0) -> int:
    """Row of the synthetic path whose metric `by` is the median across paths.

    Parameters
    ----------
    returns : ndarray (n_paths, n_steps)
        Per-bar returns; all-NaN rows (failed paths) and paths whose metric is NaN are skipped.
    by : str
        A column of :func:`diffbt.metrics.returns.compute` (``"sharpe"``, ``"comp"`` for the
        total return, ``"cagr"``...).
    periods_per_year, rf : passed to :func:`~diffbt.metrics.returns.compute`.

    Returns
    -------
    int
        Row index; for an even count the lower median (ties: the lowest row).

    Raises
    ------
    ValueError
        Unknown `by`, or no path has a finite metric.

    Notes
    -----
    An actual path is chosen, not the per-bar cross-sectional median of returns: that series
    is no path any market produced, and its volatility shrinks like ``1/sqrt(n_paths)``, so
    its Sharpe ratio and drawdown would flatter the synthetic side.
    """
    from diffbt.metrics.returns import METRIC_NAMES, compute

    if by not in METRIC_NAMES:
        raise ValueError(f"unknown metric {by!r}; choose one of {list(METRIC_NAMES)}")
    mat = np.asarray(returns, dtype=np.float64)
    if mat.ndim != 2:
        raise ValueError(f"returns must be (n_paths, n_steps), got shape {mat.shape}")
    ok = ~np.all(np.isnan(mat), axis=1)
    values = np.full(mat.shape[0], np.nan)
    if ok.any():
        values[ok] = compute(mat[ok], periods_per_year=periods_per_year, rf=rf)[by].to_numpy()
    rows = np.flatnonzero(np.isfinite(values))
    if rows.size == 0:
        raise ValueError(f"no synthetic path has a finite {by}")
    order = rows[np.argsort(values[rows], kind="stable")]
    return int(order[(order.size - 1) // 2])


def _real_index(result: BacktestResult, n_real: int) -> pd.DatetimeIndex:
    for idx in (result.real_index, result.index):
        if idx is not None and len(idx) == n_real:
            return pd.DatetimeIndex(idx)
    logger.warning("no dates for the %d real bars: using business days from %s",
                   n_real, _DEFAULT_START)
    return pd.bdate_range(_DEFAULT_START, periods=n_real)


def tearsheet_from_result(
    result: BacktestResult,
    *,
    out: str | Path = "reports/tearsheet.html",
    title: str = "diffbt",
    by: str = "sharpe",
    rf: float = 0.0,
) -> Path:
    """Tear-sheet of a backtest result's real returns against its median synthetic path.

    Parameters
    ----------
    result : BacktestResult
        From `diffbt.backtest_paths` with ``real=``: its ``returns`` (n_paths, n_steps),
        ``real_returns`` (n_real,), the dates (``real_index``, else ``index``) and
        ``periods_per_year``.
    out : path of the HTML file
    title : str
    by : str
        Metric that picks the median path (see :func:`median_path`); default Sharpe.
    rf : float

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        The result has no real returns, or no synthetic path has a finite metric.

    Notes
    -----
    The median path's bar ``i`` is compared with real bar ``i`` (dates of the real history).
    If the lengths differ the benchmark is cut, or padded with flat bars, with a warning.
    """
    if result.real_returns is None:
        raise ValueError("result has no real_returns: nothing to tear-sheet")
    real = np.asarray(result.real_returns, dtype=np.float64).ravel()
    ppy = result.periods_per_year
    synthetic = np.asarray(result.returns, dtype=np.float64)
    row = median_path(synthetic, by=by, periods_per_year=ppy, rf=rf)
    bench = np.zeros(real.size)
    n = min(real.size, synthetic.shape[1])
    if synthetic.shape[1] != real.size:
        logger.warning("synthetic paths have %d bars, the real backtest %d: comparing the "
                       "first %d", synthetic.shape[1], real.size, n)
    bench[:n] = np.nan_to_num(synthetic[row, :n], nan=0.0)
    return tearsheet(real, benchmark=bench, index=_real_index(result, real.size), title=title,
                     out=out, periods_per_year=int(ppy), rf=rf,
                     benchmark_title=f"synthetic median {by} (path {row})")
