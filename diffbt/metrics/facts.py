"""Stylized facts of returns: real against synthetic, one distance per fact (lower is better).

>>> res = stylized_facts(test_market, paths)        # doctest: +SKIP
>>> res.table            # fact, real, synthetic, distance
>>> compare(test_market, {"gbm": ps_gbm, "garch": ps_garch})   # facts x generators

Everything works on close-to-close log returns ``r = diff(log(close))`` per path and asset
(a `Market` is one path). Each side's statistics are computed per path and averaged over
paths (moments, ACF curves, correlation matrices) or pooled over paths (distributions:
multi-bar returns, drawdowns). Then, per asset, the two sides are compared and the
per-asset distances averaged:

=================  ====================================================  =====================
key                statistic (``real`` / ``synthetic`` columns)          distance
=================  ====================================================  =====================
``w1_ret_h``       sd of overlapping ``h``-bar log returns               W1 of the pooled
                                                                         ``h``-bar returns
``kurtosis``       excess kurtosis (biased moments, as scipy)            ``|k_real - k_syn|``
``skew``           skewness (biased, as scipy)                           ``|s_real - s_syn|``
``acf_ret``        mean over lags 1..acf_lags of ``corr(r_t, r_{t+k})``  mean ``|ACF diff|``
``acf_abs``        mean over lags 1..abs_acf_lags of the ACF of ``|r|``  mean ``|ACF diff|``
``leverage``       mean over k 1..leverage_lags of                       mean ``|diff|``
                   ``corr(r_t, r_{t+k}^2)``
``cross_corr``     mean off-diagonal lag-0 correlation                   ``||C_r - C_s||_F / n``
``max_drawdown``   mean max drawdown of non-overlapping windows of       W1 of the pooled
                   ``dd_horizon`` bars, ``1 - min exp(x_t - max x_s)``   window drawdowns
=================  ====================================================  =====================

Correlations at a lag are Pearson correlations of the overlapping pairs, as
``pandas.Series.autocorr``. W1 is the 1-Wasserstein distance between empirical distributions
(as ``scipy.stats.wasserstein_distance``), on raw log returns. ``cross_corr`` is NaN for a
single asset. Only numpy is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet

__all__ = ["FACTS", "FactsResult", "acf", "compare", "cross_correlation", "kurtosis",
           "leverage", "log_returns", "max_drawdowns", "skew", "stylized_facts", "wasserstein1"]

#: Stable fact keys, in table order (``w1_ret_<h>`` for each horizon).
FACTS: tuple[str, ...] = ("w1_ret_1", "w1_ret_5", "w1_ret_20", "kurtosis", "skew", "acf_ret",
                          "acf_abs", "leverage", "cross_corr", "max_drawdown")


# ---------------------------------------------------------------------------------------------
# statistics on (n_paths, n_steps) arrays
# ---------------------------------------------------------------------------------------------

def log_returns(x: Market | PathSet) -> np.ndarray:
    """Close log returns, shape (n_paths, n_steps, n_assets) (a Market is one path)."""
    if isinstance(x, Market):
        close = x.values[None, :, :, 3]
    elif isinstance(x, PathSet):
        close = np.asarray(x.field("close"))
    else:
        raise TypeError(f"expected a Market or PathSet, got {type(x).__name__}")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(close), axis=1)
    if not np.isfinite(r).all():
        raise ValueError("non-finite log returns (non-positive or missing closes)")
    return r


def wasserstein1(u: np.ndarray, v: np.ndarray) -> float:
    """1-Wasserstein distance between the empirical distributions of samples `u` and `v`.

    Notes
    -----
    ``W1 = integral |F_u(x) - F_v(x)| dx`` over the merged sorted support.
    """
    u = np.sort(np.ravel(u))
    v = np.sort(np.ravel(v))
    if not len(u) or not len(v):
        return float("nan")
    allv = np.sort(np.concatenate([u, v]))
    deltas = np.diff(allv)
    cu = np.searchsorted(u, allv[:-1], side="right") / len(u)
    cv = np.searchsorted(v, allv[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cu - cv) * deltas))


def _central_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = x - x.mean(axis=-1, keepdims=True)
    return (d ** 2).mean(axis=-1), (d ** 3).mean(axis=-1), (d ** 4).mean(axis=-1)


def kurtosis(x: np.ndarray) -> np.ndarray:
    """Excess kurtosis along the last axis, ``m4 / m2^2 - 3`` (biased, scipy's default)."""
    m2, _, m4 = _central_moments(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3.0, np.nan)


def skew(x: np.ndarray) -> np.ndarray:
    """Skewness along the last axis, ``m3 / m2^1.5`` (biased, scipy's default)."""
    m2, m3, _ = _central_moments(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, np.nan)


def _lagged_corr(x: np.ndarray, y: np.ndarray, lags: int) -> np.ndarray:
    """``corr(x_t, y_{t+k})`` for k = 1..lags along axis 1: (n, T) -> (n, lags)."""
    out = np.empty((x.shape[0], lags))
    for k in range(1, lags + 1):
        a, b = x[:, :-k], y[:, k:]
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, k - 1] = np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1),
                                     np.nan)
    return out


def acf(x: np.ndarray, lags: int) -> np.ndarray:
    """Autocorrelation at lags 1..`lags` of each row: (n_paths, n_steps) -> (n_paths, lags).

    Pearson correlation of ``x[:, :-k]`` and ``x[:, k:]`` (``pandas.Series.autocorr(k)``).
    """
    x = np.asarray(x, dtype=np.float64)
    return _lagged_corr(x, x, lags)


def leverage(x: np.ndarray, lags: int) -> np.ndarray:
    """Leverage effect ``corr(r_t, r_{t+k}^2)`` for k = 1..`lags`: (n, T) -> (n, lags)."""
    x = np.asarray(x, dtype=np.float64)
    return _lagged_corr(x, x * x, lags)


def cross_correlation(r: np.ndarray) -> np.ndarray:
    """Lag-0 correlation matrix of each path: (n_paths, n_steps, n_assets) -> (n, A, A)."""
    d = r - r.mean(axis=1, keepdims=True)
    cov = np.einsum("nta,ntb->nab", d, d)
    sd = np.sqrt(np.einsum("naa->na", cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def max_drawdowns(x: np.ndarray, horizon: int) -> np.ndarray:
    """Max drawdown of each non-overlapping window of `horizon` log returns.

    Parameters
    ----------
    x : ndarray, shape (n_paths, n_steps)
    horizon : int

    Returns
    -------
    ndarray, shape (n_paths, n_steps // horizon)
        ``1 - min_t exp(c_t - max(0, max_{s<=t} c_s))``, ``c`` the cumulative log return of
        the window (the equity starts at 1 before its first bar); a trailing partial window
        is dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    w = x.shape[1] // horizon
    c = np.cumsum(x[:, :w * horizon].reshape(x.shape[0], w, horizon), axis=2)
    peak = np.maximum.accumulate(np.maximum(c, 0.0), axis=2)
    return 1.0 - np.exp((c - peak).min(axis=2))


# ---------------------------------------------------------------------------------------------
# one side's facts, distances between sides
# ---------------------------------------------------------------------------------------------

@dataclass
class _Side:
    horizon_returns: dict[int, list[np.ndarray]]   # h -> per asset pooled samples
    kurt: np.ndarray                               # (A,)
    skew: np.ndarray
    acf_ret: np.ndarray                            # (lags, A)
    acf_abs: np.ndarray
    leverage: np.ndarray
    corr: np.ndarray                               # (A, A)
    drawdowns: list[np.ndarray]                    # per asset pooled


def _side(r: np.ndarray, horizons: Sequence[int], acf_lags: int, abs_acf_lags: int,
          leverage_lags: int, dd_horizon: int) -> _Side:
    n_assets = r.shape[2]
    hr: dict[int, list[np.ndarray]] = {}
    cs = np.concatenate([np.zeros((r.shape[0], 1, n_assets)), np.cumsum(r, axis=1)], axis=1)
    for h in horizons:
        hr[h] = [(cs[:, h:, a] - cs[:, :-h, a]).ravel() for a in range(n_assets)]
    cols = [np.ascontiguousarray(r[:, :, a]) for a in range(n_assets)]
    with np.errstate(invalid="ignore"):
        return _Side(
            horizon_returns=hr,
            kurt=np.array([np.nanmean(kurtosis(c)) for c in cols]),
            skew=np.array([np.nanmean(skew(c)) for c in cols]),
            acf_ret=np.stack([np.nanmean(acf(c, acf_lags), axis=0) for c in cols], axis=1),
            acf_abs=np.stack([np.nanmean(acf(np.abs(c), abs_acf_lags), axis=0) for c in cols],
                             axis=1),
            leverage=np.stack([np.nanmean(leverage(c, leverage_lags), axis=0) for c in cols],
                              axis=1),
            corr=np.nanmean(cross_correlation(r), axis=0),
            drawdowns=[max_drawdowns(c, dd_horizon).ravel() for c in cols],
        )


def _off_diag_mean(c: np.ndarray) -> float:
    n = c.shape[0]
    return float("nan") if n < 2 else float(c[~np.eye(n, dtype=bool)].mean())


def _rows(real: _Side, syn: _Side, horizons: Sequence[int]) -> list[tuple[str, float, float,
                                                                          float]]:
    n_assets = len(real.kurt)
    rows = []
    for h in horizons:
        d = np.mean([wasserstein1(real.horizon_returns[h][a], syn.horizon_returns[h][a])
                     for a in range(n_assets)])
        sd_r = np.mean([x.std() for x in real.horizon_returns[h]])
        sd_s = np.mean([x.std() for x in syn.horizon_returns[h]])
        rows.append((f"w1_ret_{h}", sd_r, sd_s, d))
    rows.append(("kurtosis", real.kurt.mean(), syn.kurt.mean(),
                 np.abs(real.kurt - syn.kurt).mean()))
    rows.append(("skew", real.skew.mean(), syn.skew.mean(), np.abs(real.skew - syn.skew).mean()))
    for key in ("acf_ret", "acf_abs", "leverage"):
        a, b = getattr(real, key), getattr(syn, key)
        rows.append((key, a.mean(), b.mean(), np.abs(a - b).mean()))
    cc = (float("nan") if n_assets < 2
          else np.linalg.norm(real.corr - syn.corr) / n_assets)
    rows.append(("cross_corr", _off_diag_mean(real.corr), _off_diag_mean(syn.corr), cc))
    d = np.mean([wasserstein1(real.drawdowns[a], syn.drawdowns[a]) for a in range(n_assets)])
    rows.append(("max_drawdown", np.mean([x.mean() for x in real.drawdowns]),
                 np.mean([x.mean() for x in syn.drawdowns]), d))
    return [(k, float(a), float(b), float(c)) for k, a, b, c in rows]


@dataclass(frozen=True)
class FactsResult:
    """Stylized facts of a real and a synthetic set of paths.

    Attributes
    ----------
    table : DataFrame
        Columns ``fact, real, synthetic, distance`` (see the module docstring).
    distances : dict
        ``{fact: distance}``, lower is better.
    curves : dict
        ``{"acf_ret" | "acf_abs" | "leverage": (real, synthetic)}``, each (lags, n_assets),
        lag 1 first.
    settings : dict
        The horizons, lags and ``dd_horizon`` used.
    """

    table: pd.DataFrame
    distances: dict[str, float]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)


def _check_args(real_r: np.ndarray, syn_r: np.ndarray, horizons: Sequence[int], acf_lags: int,
                abs_acf_lags: int, leverage_lags: int, dd_horizon: int | None) -> int:
    n_min = min(real_r.shape[1], syn_r.shape[1])
    if dd_horizon is None:
        dd_horizon = max(2, n_min // 10)
    need = max(max(horizons), acf_lags, abs_acf_lags, leverage_lags) + 2
    if any(int(h) < 1 for h in horizons) or min(acf_lags, abs_acf_lags, leverage_lags) < 1:
        raise ValueError("horizons and lags must be >= 1")
    if n_min < need or dd_horizon > n_min or dd_horizon < 1:
        raise ValueError(f"paths too short: {n_min} returns, need at least {need} for these "
                         f"lags/horizons and dd_horizon ({dd_horizon}) <= the returns")
    return int(dd_horizon)


def _pair_assets(real: Market | PathSet, synthetic: PathSet) -> None:
    if not isinstance(synthetic, PathSet):
        raise TypeError(f"synthetic must be a PathSet, got {type(synthetic).__name__}")
    if tuple(real.assets) != tuple(synthetic.assets):
        raise ValueError(f"assets differ: real {list(real.assets)}, "
                         f"synthetic {list(synthetic.assets)}")


def stylized_facts(real: Market | PathSet, synthetic: PathSet, *,
                   horizons: Sequence[int] = (1, 5, 20), acf_lags: int = 20,
                   abs_acf_lags: int = 50, leverage_lags: int = 20,
                   dd_horizon: int | None = None) -> FactsResult:
    """Stylized facts of `real` and `synthetic` returns and a distance per fact.

    Parameters
    ----------
    real : Market or PathSet
        The evaluation span (e.g. the test years) or real paths.
    synthetic : PathSet
        Same assets, in the same order.
    horizons : sequence of int
        Bars per return for the marginal-distribution facts ``w1_ret_<h>``.
    acf_lags, abs_acf_lags, leverage_lags : int
    dd_horizon : int, optional
        Drawdown window in bars; default ``max(2, n // 10)``, ``n`` the number of returns
        of the shorter side.

    Returns
    -------
    FactsResult

    Raises
    ------
    ValueError
        Different assets, paths too short for the lags, non-finite returns.
    """
    _pair_assets(real, synthetic)
    real_r, syn_r = log_returns(real), log_returns(synthetic)
    horizons = tuple(int(h) for h in horizons)
    dd = _check_args(real_r, syn_r, horizons, acf_lags, abs_acf_lags, leverage_lags, dd_horizon)
    args = (horizons, acf_lags, abs_acf_lags, leverage_lags, dd)
    return _result(_side(real_r, *args), _side(syn_r, *args), args)


def _result(a: _Side, b: _Side, args: tuple) -> FactsResult:
    rows = _rows(a, b, args[0])
    table = pd.DataFrame(rows, columns=["fact", "real", "synthetic", "distance"])
    settings = dict(zip(("horizons", "acf_lags", "abs_acf_lags", "leverage_lags", "dd_horizon"),
                        args, strict=True))
    curves = {k: (getattr(a, k), getattr(b, k)) for k in ("acf_ret", "acf_abs", "leverage")}
    return FactsResult(table=table, distances={r[0]: r[3] for r in rows}, curves=curves,
                       settings=settings)


def compare(real: Market | PathSet, synthetic: Mapping[str, PathSet], *,
            horizons: Sequence[int] = (1, 5, 20), acf_lags: int = 20, abs_acf_lags: int = 50,
            leverage_lags: int = 20, dd_horizon: int | None = None,
            stats: bool = False) -> pd.DataFrame:
    """Distances of several generators' paths to `real`: rows facts, columns generators.

    With ``stats=True`` the statistics themselves instead: a ``real`` column, then one
    column per generator (see the module docstring for what each row holds).
    """
    if not synthetic:
        raise ValueError("compare() needs at least one synthetic PathSet")
    real_r = log_returns(real)
    horizons = tuple(int(h) for h in horizons)
    real_side = None
    cols: dict[str, pd.Series] = {}
    for name, ps in synthetic.items():
        _pair_assets(real, ps)
        syn_r = log_returns(ps)
        dd = _check_args(real_r, syn_r, horizons, acf_lags, abs_acf_lags, leverage_lags,
                         dd_horizon)
        args = (horizons, acf_lags, abs_acf_lags, leverage_lags, dd)
        if real_side is None:
            real_side = _side(real_r, *args)
        table = _result(real_side, _side(syn_r, *args), args).table.set_index("fact")
        if stats and "real" not in cols:
            cols["real"] = table["real"]
        cols[str(name)] = table["synthetic" if stats else "distance"]
    out = pd.DataFrame(cols)
    out.index.name = "fact"
    return out
