"""Numba kernels for per-path return metrics.

Arrays in, arrays out. Paths lie on axis 0 (one C-contiguous float64 row per path), time on
axis 1; ``prange`` runs over paths only. Missing observations are ``NaN`` and are skipped the
way QuantStats 0.0.86 skips them (statistics over observed bars; the equity curve carries a
missing bar as flat). Degenerate input gives ``np.nan``.

Every formula follows ``quantstats.stats`` (0.0.86) with ``pandas`` (3.1) semantics:
sample standard deviation (ddof=1), pandas' bias-corrected skew / excess kurtosis (its
``calc_skew`` / ``calc_kurt`` formulas on two-pass central moments; pandas accumulates them
online, the two agree to rounding), numpy's "linear" quantile. The fused kernel
:func:`metrics_nb` computes every column of :data:`METRIC_NAMES` in two sweeps over each row plus
one selection of the two 5% tails of its observed values (exact order statistics, no sort).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

# numba's OpenMP threading layer shares libgomp with torch and changes torch's floating-point
# results afterwards (a 1e-7 drift that breaks "same seed, same paths"); the workqueue layer
# keeps the two apart. Only set if nobody chose a layer (the default is "default").
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

# ---------------------------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------------------------

#: Column order of :func:`metrics_nb`'s output.
METRIC_NAMES: tuple[str, ...] = (
    "comp",
    "cagr",
    "expected_return",
    "volatility",
    "sharpe",
    "smart_sharpe",
    "probabilistic_sharpe_ratio",
    "sortino",
    "smart_sortino",
    "adjusted_sortino",
    "omega",
    "max_drawdown",
    "max_drawdown_duration",
    "calmar",
    "ulcer_index",
    "ulcer_performance_index",
    "serenity_index",
    "recovery_factor",
    "risk_return_ratio",
    "rar",
    "skew",
    "kurtosis",
    "var",
    "cvar",
    "var_hist",
    "cvar_hist",
    "tail_ratio",
    "outlier_win_ratio",
    "outlier_loss_ratio",
    "win_rate",
    "exposure",
    "avg_return",
    "avg_win",
    "avg_loss",
    "payoff_ratio",
    "profit_ratio",
    "profit_factor",
    "gain_to_pain_ratio",
    "common_sense_ratio",
    "cpc_index",
    "kelly_criterion",
    "risk_of_ruin",
    "consecutive_wins",
    "consecutive_losses",
    "best",
    "worst",
)
N_METRICS = len(METRIC_NAMES)

# Standard normal constants at the 95% level QuantStats uses for VaR / CVaR.
_ALPHA = 0.05
_Z_ALPHA = -1.6448536269514722  # Phi^-1(0.05), = scipy.stats.norm.ppf(0.05)
_PDF_Z_ALPHA = math.exp(-0.5 * _Z_ALPHA * _Z_ALPHA) / math.sqrt(2.0 * math.pi)

(
    _COMP,
    _CAGR,
    _EXPECTED_RETURN,
    _VOLATILITY,
    _SHARPE,
    _SMART_SHARPE,
    _PSR,
    _SORTINO,
    _SMART_SORTINO,
    _ADJ_SORTINO,
    _OMEGA,
    _MAX_DD,
    _MAX_DD_DUR,
    _CALMAR,
    _ULCER,
    _UPI,
    _SERENITY,
    _RECOVERY,
    _RISK_RETURN,
    _RAR,
    _SKEW,
    _KURT,
    _VAR,
    _CVAR,
    _VAR_HIST,
    _CVAR_HIST,
    _TAIL,
    _OUTLIER_WIN,
    _OUTLIER_LOSS,
    _WIN_RATE,
    _EXPOSURE,
    _AVG_RETURN,
    _AVG_WIN,
    _AVG_LOSS,
    _PAYOFF,
    _PROFIT_RATIO,
    _PROFIT_FACTOR,
    _GAIN_PAIN,
    _CSR,
    _CPC,
    _KELLY,
    _ROR,
    _CONS_WINS,
    _CONS_LOSSES,
    _BEST,
    _WORST,
) = range(N_METRICS)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def norm_cdf_nb(x):
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit(cache=True)
def _sift_down_nb(h, size, sign):
    """Restore a heap whose root changed. ``sign=1``: max-heap; ``sign=-1``: min-heap."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            return
        if c + 1 < size and sign * h[c + 1] > sign * h[c]:
            c += 1
        if sign * h[c] > sign * h[i]:
            h[i], h[c] = h[c], h[i]
            i = c
        else:
            return


@njit(cache=True)
def _sift_up_nb(h, i, sign):
    while i > 0:
        p = (i - 1) // 2
        if sign * h[i] > sign * h[p]:
            h[i], h[p] = h[p], h[i]
            i = p
        else:
            return


@njit(cache=True)
def tails_nb(x, k_lo, k_hi):
    """The ``k_lo`` smallest and ``k_hi`` largest values of ``x`` (no NaN), each sorted ascending.

    Two bounded heaps in one sweep, O(n log k): most values are rejected by one comparison
    with the heap root, so this is much cheaper than sorting when k << n. Exact order
    statistics: ``lo[i] == sort(x)[i]`` and ``hi[j] == sort(x)[n - k_hi + j]``.
    """
    n = x.shape[0]
    k_lo = min(k_lo, n)
    k_hi = min(k_hi, n)
    lo = np.empty(k_lo)
    hi = np.empty(k_hi)
    n_lo = 0
    n_hi = 0
    for i in range(n):
        v = x[i]
        if n_lo < k_lo:
            lo[n_lo] = v
            _sift_up_nb(lo, n_lo, 1.0)
            n_lo += 1
        elif k_lo > 0 and v < lo[0]:
            lo[0] = v
            _sift_down_nb(lo, k_lo, 1.0)
        if n_hi < k_hi:
            hi[n_hi] = v
            _sift_up_nb(hi, n_hi, -1.0)
            n_hi += 1
        elif k_hi > 0 and v > hi[0]:
            hi[0] = v
            _sift_down_nb(hi, k_hi, -1.0)
    return np.sort(lo), np.sort(hi)


@njit(cache=True)
def _order_stat_nb(lo, hi, n, i):
    """``sort(x)[i]`` from the tails returned by :func:`tails_nb`."""
    if i < lo.shape[0]:
        return lo[i]
    return hi[i - (n - hi.shape[0])]


@njit(cache=True)
def quantile_tails_nb(lo, hi, n, q):
    """numpy's "linear" quantile from the sorted tails of an n-value sample.

    The tails must hold the order statistics ``floor((n - 1) q)`` and the one after it.
    """
    if n == 0:
        return np.nan
    v = (n - 1) * q
    if v >= n - 1:
        return _order_stat_nb(lo, hi, n, n - 1)
    if v < 0:
        return _order_stat_nb(lo, hi, n, 0)
    j = int(math.floor(v))
    t = v - j
    a = _order_stat_nb(lo, hi, n, j)
    b = _order_stat_nb(lo, hi, n, j + 1)
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


@njit(cache=True)
def autocorr_penalty_1d_nb(x):
    """QuantStats' autocorrelation penalty of a 1-d array without NaN (>= 1)."""
    num = x.shape[0]
    if num < 2:
        return 1.0
    # Pearson correlation of x[:-1] with x[1:], as numpy.corrcoef.
    k = num - 1
    ma = 0.0
    mb = 0.0
    a_const = True
    b_const = True
    for i in range(k):
        ma += x[i]
        mb += x[i + 1]
        a_const = a_const and x[i] == x[0]
        b_const = b_const and x[i + 1] == x[1]
    if a_const or b_const:
        return 1.0  # zero variance: numpy.corrcoef gives NaN, QuantStats falls back to 1
    ma /= k
    mb /= k
    sab = 0.0
    saa = 0.0
    sbb = 0.0
    for i in range(k):
        da = x[i] - ma
        db = x[i + 1] - mb
        sab += da * db
        saa += da * da
        sbb += db * db
    denom = math.sqrt(saa) * math.sqrt(sbb)
    if denom == 0.0 or not np.isfinite(denom):
        return 1.0
    c = sab / denom
    c = min(max(c, -1.0), 1.0)
    coef = abs(c)
    acc = 0.0
    p = 1.0
    for j in range(1, num):
        p *= coef
        if p == 0.0:
            break
        acc += ((num - j) / num) * p
    return math.sqrt(1.0 + 2.0 * acc)


# ---------------------------------------------------------------------------------------------
# single metrics (1-d and 2-d pairs)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _is_constant_skipna_1d_nb(returns):
    first = np.nan
    for i in range(returns.shape[0]):
        r = returns[i]
        if r == r:
            if first != first:
                first = r
            elif r != first:
                return False
    return True


@njit(cache=True)
def _mean_std_skipna_1d_nb(returns, rf_pp):
    """Mean and sample std (ddof=1) of ``returns - rf_pp`` over non-NaN bars, no allocation.

    Branch-free loops (a select instead of ``if``). A constant series gets a std of exactly 0:
    when the squared deviations are as small as the rounding of a constant's mean can make
    them, a third sweep checks whether all values are equal.
    """
    n = 0
    s = 0.0
    for i in range(returns.shape[0]):
        r = returns[i]
        ok = r == r
        s += r - rf_pp if ok else 0.0
        n += ok
    if n == 0:
        return np.nan, np.nan
    m = s / n
    if n < 2:
        return m, np.nan
    ss = 0.0
    for i in range(returns.shape[0]):
        r = returns[i]
        d = (r - rf_pp) - m if r == r else 0.0
        ss += d * d
    tiny = abs(m) * n * 1e-15
    if ss <= n * tiny * tiny and _is_constant_skipna_1d_nb(returns):
        return m, 0.0
    return m, math.sqrt(ss / (n - 1))


@njit(cache=True)
def sharpe_1d_nb(returns, ann_factor, rf_pp=0.0):
    """Annualised Sharpe ratio of one path: mean(r - rf) / std(r - rf, ddof=1) * sqrt(ann)."""
    m, sd = _mean_std_skipna_1d_nb(returns, rf_pp)
    if not sd > 0.0:
        return np.nan
    return m / sd * math.sqrt(ann_factor)


@njit(cache=True, parallel=True)
def sharpe_nb(returns, ann_factor, rf_pp=0.0):
    """2-dim version of :func:`sharpe_1d_nb`: (n_paths, n_steps) -> (n_paths,)."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = sharpe_1d_nb(returns[i], ann_factor, rf_pp)
    return out


@njit(cache=True)
def sortino_1d_nb(returns, ann_factor, rf_pp=0.0):
    """Annualised Sortino ratio: mean / sqrt(sum(min(r, 0)^2) / n) * sqrt(ann)."""
    s = 0.0
    d2 = 0.0
    n = 0
    for i in range(returns.shape[0]):
        r = returns[i]
        ok = r == r
        x = r - rf_pp if ok else 0.0
        s += x
        n += ok
        neg = min(x, 0.0)
        d2 += neg * neg
    if n == 0 or d2 == 0.0:
        return np.nan
    return (s / n) / math.sqrt(d2 / n) * math.sqrt(ann_factor)


@njit(cache=True, parallel=True)
def sortino_nb(returns, ann_factor, rf_pp=0.0):
    """2-dim version of :func:`sortino_1d_nb`."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = sortino_1d_nb(returns[i], ann_factor, rf_pp)
    return out


@njit(cache=True)
def drawdown_1d_nb(returns):
    """Drawdown series of the compounded equity started at 1.0 (NaN bars are flat)."""
    out = np.empty(returns.shape[0])
    eq = 1.0
    peak = 1.0
    for i in range(returns.shape[0]):
        r = returns[i]
        if not np.isnan(r):
            eq = eq * (1.0 + r)
        if eq > peak:
            peak = eq
        out[i] = eq / peak - 1.0
    return out


@njit(cache=True, parallel=True)
def drawdown_nb(returns):
    """2-dim version of :func:`drawdown_1d_nb`: (n_paths, n_steps) -> (n_paths, n_steps)."""
    out = np.empty(returns.shape)
    for i in prange(returns.shape[0]):
        out[i] = drawdown_1d_nb(returns[i])
    return out


@njit(cache=True)
def max_drawdown_1d_nb(returns):
    """Largest peak-to-trough loss (<= 0) of the equity curve started at 1.0."""
    eq = 1.0
    peak = 1.0
    mdd = 0.0
    for i in range(returns.shape[0]):
        r = returns[i]
        eq = eq * (1.0 + r) if r == r else eq
        peak = max(peak, eq)
        mdd = min(mdd, eq / peak - 1.0)
    return mdd


@njit(cache=True, parallel=True)
def max_drawdown_nb(returns):
    """2-dim version of :func:`max_drawdown_1d_nb`."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = max_drawdown_1d_nb(returns[i])
    return out


@njit(cache=True)
def cvar_1d_nb(returns):
    """QuantStats' parametric CVaR (95%): mu - sd * pdf(z) / alpha."""
    m, sd = _mean_std_skipna_1d_nb(returns, 0.0)
    if np.isnan(m):
        return np.nan
    if sd == 0.0 or np.isnan(sd):
        return m
    return m - sd * _PDF_Z_ALPHA / _ALPHA


@njit(cache=True, parallel=True)
def cvar_nb(returns):
    """2-dim version of :func:`cvar_1d_nb`."""
    out = np.empty(returns.shape[0])
    for i in prange(returns.shape[0]):
        out[i] = cvar_1d_nb(returns[i])
    return out


# ---------------------------------------------------------------------------------------------
# the fused kernel
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def metrics_1d_nb(returns, ann_factor, rf, rf_pp, out):
    """Every metric of :data:`METRIC_NAMES` for one path, written into ``out`` (N_METRICS,).

    ``rf`` is the annual risk-free rate as QuantStats takes it, ``rf_pp`` its per-bar
    equivalent ``(1 + rf) ** (1 / ann_factor) - 1`` (0 when ``rf <= 0``, as in QuantStats).
    """
    n_total = returns.shape[0]
    obs = np.empty(n_total)  # observed (non-NaN) returns, in order

    # -- sweep 1: counts, sums, equity / drawdown, runs ------------------------------------
    # Written with selects (min/max, bool arithmetic) rather than sign branches: returns
    # change sign at random, and mispredicted branches would dominate the cost.
    n = 0
    s = 0.0  # sum of returns
    sx = 0.0  # sum of excess returns
    d2x = 0.0  # sum of squared negative excess returns
    prod = 1.0  # prod(1 + r)
    prod_x = 1.0  # prod(1 + r - rf_pp)
    lo = np.inf
    hi = -np.inf
    n_pos = 0
    n_neg = 0
    n_nonzero_x = 0
    s_pos = 0.0
    s_neg = 0.0
    pos_x = 0.0  # omega numerator on excess returns
    neg_x = 0.0
    run_w = 0
    run_l = 0
    max_w = 0
    max_l = 0
    eq = 1.0
    peak = 1.0
    mdd = 0.0
    dd_sum = 0.0
    dd_sq = 0.0
    under = 0
    max_under = 0
    for i in range(n_total):
        r = returns[i]
        if r == r:
            obs[n] = r
            n += 1
            s += r
            x = r - rf_pp
            sx += x
            xn = min(x, 0.0)
            d2x += xn * xn
            neg_x += xn
            pos_x += max(x, 0.0)
            n_nonzero_x += x != 0.0
            prod *= 1.0 + r
            prod_x *= 1.0 + x
            lo = min(lo, r)
            hi = max(hi, r)
            pos = r > 0.0
            neg = r < 0.0
            n_pos += pos
            n_neg += neg
            s_pos += max(r, 0.0)
            s_neg += min(r, 0.0)
            run_w = (run_w + 1) * pos
            run_l = (run_l + 1) * neg
            max_w = max(max_w, run_w)
            max_l = max(max_l, run_l)
            eq = eq * (1.0 + r)
        else:
            run_w = 0
            run_l = 0
        peak = max(peak, eq)
        dd = eq / peak - 1.0
        mdd = min(mdd, dd)
        dd_sum += dd
        dd_sq += dd * dd
        under = (under + 1) * (dd < 0.0)
        max_under = max(max_under, under)

    out[:] = np.nan
    o = obs[:n]
    n_nonzero = n_pos + n_neg
    n_nonneg = n - n_neg
    s_nonneg = s_pos  # adding the zero returns does not change the sum
    s_nonzero = s
    sqrt_ann = math.sqrt(ann_factor)

    # -- sweep 2: central moments -----------------------------------------------------------
    mean = s / n if n > 0 else np.nan
    mean_x = sx / n if n > 0 else np.nan
    sd = np.nan
    sd_x = np.nan
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    if n >= 2 and lo == hi:
        sd = 0.0  # constant path: exactly zero variance (m2 = 0 -> skew, kurtosis NaN)
        sd_x = 0.0
    elif n >= 2:
        ssx = 0.0
        for i in range(n):
            d = o[i] - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
            dx = (o[i] - rf_pp) - mean_x
            ssx += dx * dx
        sd = math.sqrt(m2 / (n - 1))
        sd_x = math.sqrt(ssx / (n - 1))

    # -- returns ----------------------------------------------------------------------------
    comp = prod - 1.0
    out[_COMP] = comp
    cagr = np.nan
    if n > 0:
        years = n / ann_factor
        wealth = comp + 1.0
        if wealth >= 0.0:
            cagr = abs(wealth) ** (1.0 / years) - 1.0
        out[_EXPECTED_RETURN] = prod ** (1.0 / n) - 1.0
        wealth_x = (prod_x - 1.0) + 1.0
        if wealth_x >= 0.0:
            cagr_x = abs(wealth_x) ** (1.0 / years) - 1.0
        else:
            cagr_x = np.nan
    else:
        cagr_x = np.nan
    out[_CAGR] = cagr
    out[_VOLATILITY] = sd * sqrt_ann

    # -- Sharpe family ----------------------------------------------------------------------
    pen = 1.0
    if n >= 2:
        ox = o - rf_pp if rf_pp != 0.0 else o
        pen = autocorr_penalty_1d_nb(ox)
    sharpe_raw = np.nan
    if sd_x > 0.0:
        sharpe_raw = mean_x / sd_x
        out[_SHARPE] = sharpe_raw * sqrt_ann
        out[_SMART_SHARPE] = mean_x / (sd_x * pen) * sqrt_ann
    if n > 0 and d2x > 0.0:
        downside = math.sqrt(d2x / n)
        out[_SORTINO] = mean_x / downside * sqrt_ann
        out[_SMART_SORTINO] = mean_x / (downside * pen) * sqrt_ann
        out[_ADJ_SORTINO] = out[_SORTINO] / math.sqrt(2.0)
    if n_total >= 2:
        out[_OMEGA] = pos_x / (-neg_x) if -neg_x > 0.0 else np.nan

    # -- higher moments (pandas calc_skew / calc_kurt) ----------------------------------------
    skew = np.nan
    kurt = np.nan
    dn = float(n)
    if n >= 3:
        skew = (m3 / (m2 * math.sqrt(m2))) * ((dn * math.sqrt(dn - 1.0)) / (dn - 2.0))
    if n >= 4:
        inner = dn * (dn + 1.0) * (m4 / (m2 * m2)) - 3.0 * (dn - 1.0)
        kurt = ((dn - 1.0) / ((dn - 2.0) * (dn - 3.0))) * inner
    out[_SKEW] = skew
    out[_KURT] = kurt
    if n_total >= 2:
        g = sharpe_raw
        var_sr = (1.0 - skew * g + ((kurt + 3.0 - 1.0) / 4.0) * g * g) / (n_total - 1)
        out[_PSR] = norm_cdf_nb(g / math.sqrt(var_sr))

    # -- drawdowns --------------------------------------------------------------------------
    out[_MAX_DD] = mdd
    out[_MAX_DD_DUR] = max_under
    out[_CALMAR] = cagr / abs(mdd)
    ulcer = np.nan
    if n_total >= 2:
        ulcer = math.sqrt(dd_sq / (n_total - 1))
    out[_ULCER] = ulcer
    out[_UPI] = (comp - rf) / ulcer if ulcer != 0.0 else np.nan
    out[_RECOVERY] = abs(s - rf) / abs(mdd) if mdd != 0.0 else np.nan
    # serenity: pitfall = -CVaR(drawdowns) / std(returns)
    if sd != 0.0 and n_total >= 1:
        dd_mean = dd_sum / n_total
        dd_sd = np.nan
        if n_total >= 2:
            # second sweep over the equity curve for a two-pass std of the drawdowns
            eq2 = 1.0
            pk2 = 1.0
            ssd = 0.0
            for i in range(n_total):
                r = returns[i]
                if not np.isnan(r):
                    eq2 = eq2 * (1.0 + r)
                if eq2 > pk2:
                    pk2 = eq2
                d = (eq2 / pk2 - 1.0) - dd_mean
                ssd += d * d
            dd_sd = math.sqrt(ssd / (n_total - 1))
        if dd_sd == 0.0 or np.isnan(dd_sd):
            cvar_dd = dd_mean
        else:
            cvar_dd = dd_mean - dd_sd * _PDF_Z_ALPHA / _ALPHA
        denom = ulcer * (-cvar_dd / sd)
        if denom != 0.0:
            out[_SERENITY] = (s - rf) / denom
    out[_RISK_RETURN] = mean / sd if sd != 0.0 else np.nan

    # -- exposure, win/loss -----------------------------------------------------------------
    exposure = 0.0
    if n > 0:
        exposure = math.ceil(n_nonzero / n * 100.0) / 100.0
    out[_EXPOSURE] = exposure
    # QuantStats' rar works on excess returns throughout, exposure included
    exposure_x = 0.0
    if n > 0:
        exposure_x = math.ceil(n_nonzero_x / n * 100.0) / 100.0
    out[_RAR] = cagr_x / exposure_x
    win_rate = n_pos / n_nonzero if n_nonzero > 0 else 0.0
    out[_WIN_RATE] = win_rate
    avg_win = s_pos / n_pos if n_pos > 0 else np.nan
    avg_loss = s_neg / n_neg if n_neg > 0 else np.nan
    out[_AVG_RETURN] = s_nonzero / n_nonzero if n_nonzero > 0 else np.nan
    out[_AVG_WIN] = avg_win
    out[_AVG_LOSS] = avg_loss
    payoff = avg_win / abs(avg_loss) if avg_loss != 0.0 else np.nan
    out[_PAYOFF] = payoff
    if n_nonneg == 0:
        out[_PROFIT_RATIO] = 0.0
    elif n_neg > 0:
        wr_ = abs((s_nonneg / n_nonneg) / n_nonneg)
        lr_ = abs((s_neg / n_neg) / n_neg)
        out[_PROFIT_RATIO] = wr_ / lr_ if lr_ != 0.0 else np.nan
    losses = abs(s_neg)
    if losses == 0.0:
        pf = 0.0 if s_nonneg == 0.0 else np.inf
    else:
        pf = s_nonneg / losses
    out[_PROFIT_FACTOR] = pf
    out[_GAIN_PAIN] = s / losses if losses != 0.0 else np.nan
    out[_CPC] = pf * win_rate * payoff
    if payoff != 0.0 and not np.isnan(payoff):
        out[_KELLY] = (payoff * win_rate - (1.0 - win_rate)) / payoff
    out[_ROR] = ((1.0 - win_rate) / (1.0 + win_rate)) ** n
    out[_CONS_WINS] = max_w
    out[_CONS_LOSSES] = max_l

    # -- parametric VaR / CVaR --------------------------------------------------------------
    if sd > 0.0:
        out[_VAR] = mean + sd * _Z_ALPHA
    if n > 0:
        if sd == 0.0 or np.isnan(sd):
            out[_CVAR] = mean
        else:
            out[_CVAR] = mean - sd * _PDF_Z_ALPHA / _ALPHA

    # -- quantile-based: exact order statistics of both 5% tails (no full sort) ---------------
    if n > 0:
        # q05 needs order statistics floor((n-1)*0.05) and +1; q01 lies below it. From the
        # top, q95 needs floor((n-1)*0.95) and +1; q99 lies above it.
        k_lo = int(math.floor((n - 1) * _ALPHA)) + 2
        k_hi = n - int(math.floor((n - 1) * (1.0 - _ALPHA)))
        tlo, thi = tails_nb(o, k_lo, k_hi)
        out[_BEST] = hi
        out[_WORST] = lo
        q05 = quantile_tails_nb(tlo, thi, n, _ALPHA)
        q95 = quantile_tails_nb(tlo, thi, n, 1.0 - _ALPHA)
        out[_VAR_HIST] = q05
        ts = 0.0
        tn = 0
        for i in range(n):  # ties at q05 may reach beyond the tail: sweep all values
            if o[i] <= q05:
                ts += o[i]
                tn += 1
        out[_CVAR_HIST] = ts / tn if tn > 0 else np.nan
        tail = np.nan
        if q05 != 0.0:
            tail = abs(q95 / q05)
        out[_TAIL] = tail
        out[_CSR] = pf * tail
        pos_mean = s_nonneg / n_nonneg if n_nonneg > 0 else np.nan
        if pos_mean != 0.0 and not np.isnan(pos_mean):
            out[_OUTLIER_WIN] = quantile_tails_nb(tlo, thi, n, 0.99) / pos_mean
        if n_neg > 0 and avg_loss != 0.0:
            out[_OUTLIER_LOSS] = quantile_tails_nb(tlo, thi, n, 0.01) / avg_loss


@njit(cache=True, parallel=True)
def metrics_nb(returns, ann_factor, rf, rf_pp):
    """2-dim version of :func:`metrics_1d_nb`: (n_paths, n_steps) -> (n_paths, N_METRICS)."""
    out = np.empty((returns.shape[0], N_METRICS))
    for i in prange(returns.shape[0]):
        metrics_1d_nb(returns[i], ann_factor, rf, rf_pp, out[i])
    return out
