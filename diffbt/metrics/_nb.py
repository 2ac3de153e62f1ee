"""Numba kernels for per-path return metrics.

Arrays in, arrays out. Paths lie on axis 0 (one C-contiguous float64 row per path), time on
axis 1; ``prange`` runs over paths only. Missing observations are ``NaN`` and are skipped the
way QuantStats 0.0.86 skips them (statistics over observed bars; the equity curve carries a
missing bar as flat). Degenerate input gives ``np.nan``.

Every formula follows ``quantstats.stats`` (0.0.86) with ``pandas`` (3.1) semantics:
sample standard deviation (ddof=1), pandas' bias-corrected skew / excess kurtosis computed with
the same online moment update, numpy's "linear" quantile. The fused kernel
:func:`metrics_nb` computes every column of :data:`METRIC_NAMES` in two sweeps over each row plus
one sort of its observed values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

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
def quantile_sorted_nb(s, q):
    """numpy's default ("linear") quantile of an already sorted 1-d array without NaN."""
    n = s.shape[0]
    if n == 0:
        return np.nan
    v = (n - 1) * q
    if v >= n - 1:
        return s[n - 1]
    if v < 0:
        return s[0]
    lo = int(math.floor(v))
    t = v - lo
    a = s[lo]
    b = s[lo + 1]
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


@njit(cache=True)
def mean_std_1d_nb(x):
    """Mean and sample std (ddof=1) of a 1-d array without NaN, two-pass like pandas.

    A constant array gets a standard deviation of exactly 0.
    """
    n = x.shape[0]
    if n == 0:
        return np.nan, np.nan
    s = 0.0
    lo = x[0]
    hi = x[0]
    for i in range(n):
        s += x[i]
        lo = min(lo, x[i])
        hi = max(hi, x[i])
    m = s / n
    if n < 2:
        return m, np.nan
    if lo == hi:
        return m, 0.0
    ss = 0.0
    for i in range(n):
        d = x[i] - m
        ss += d * d
    return m, math.sqrt(ss / (n - 1))


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
def _observed_1d_nb(returns, rf_pp):
    out = np.empty(returns.shape[0])
    k = 0
    for i in range(returns.shape[0]):
        r = returns[i]
        if not np.isnan(r):
            out[k] = r - rf_pp
            k += 1
    return out[:k]


@njit(cache=True)
def sharpe_1d_nb(returns, ann_factor, rf_pp=0.0):
    """Annualised Sharpe ratio of one path: mean(r - rf) / std(r - rf, ddof=1) * sqrt(ann)."""
    x = _observed_1d_nb(returns, rf_pp)
    m, sd = mean_std_1d_nb(x)
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
        if np.isnan(r):
            continue
        x = r - rf_pp
        s += x
        n += 1
        if x < 0.0:
            d2 += x * x
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
        if not np.isnan(r):
            eq = eq * (1.0 + r)
        if eq > peak:
            peak = eq
        dd = eq / peak - 1.0
        if dd < mdd:
            mdd = dd
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
    x = _observed_1d_nb(returns, 0.0)
    if x.shape[0] == 0:
        return np.nan
    m, sd = mean_std_1d_nb(x)
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

    # -- sweep 1: counts, sums, moments, equity / drawdown, runs ---------------------------
    n = 0
    s = 0.0  # sum of returns
    sx = 0.0  # sum of excess returns
    d2x = 0.0  # sum of squared negative excess returns
    prod = 1.0  # prod(1 + r)
    prod_x = 1.0  # prod(1 + r - rf_pp)
    lo = np.inf
    hi = -np.inf
    # pandas' online moments (skew / kurtosis)
    w_mean = 0.0
    w_m2 = 0.0
    w_m3 = 0.0
    w_m4 = 0.0
    n_pos = 0
    n_neg = 0
    n_nonneg = 0
    n_nonzero_x = 0
    s_pos = 0.0
    s_neg = 0.0
    s_nonneg = 0.0
    s_nonzero = 0.0
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
        if np.isnan(r):
            run_w = 0
            run_l = 0
        else:
            obs[n] = r
            n += 1
            s += r
            x = r - rf_pp
            sx += x
            if x < 0.0:
                d2x += x * x
                neg_x += x
            elif x > 0.0:
                pos_x += x
            if x != 0.0:
                n_nonzero_x += 1
            prod *= 1.0 + r
            prod_x *= 1.0 + x
            lo = min(lo, r)
            hi = max(hi, r)
            # moments_add_value (pandas/_libs/algos.pxd)
            dn = float(n)
            delta = r - w_mean
            delta_n = delta / dn
            term1 = delta * delta_n * (dn - 1.0)
            w_m4 += delta_n * (
                -4.0 * w_m3 + delta_n * (6.0 * w_m2 + term1 * (dn * dn - 3.0 * dn + 3.0))
            )
            w_m3 += delta_n * (term1 * (dn - 2.0) - 3.0 * w_m2)
            w_m2 += term1
            w_mean += delta_n
            if r > 0.0:
                n_pos += 1
                s_pos += r
                run_w += 1
                run_l = 0
            elif r < 0.0:
                n_neg += 1
                s_neg += r
                run_l += 1
                run_w = 0
            else:
                run_w = 0
                run_l = 0
            if r >= 0.0:
                n_nonneg += 1
                s_nonneg += r
            if r != 0.0:
                s_nonzero += r
            max_w = max(max_w, run_w)
            max_l = max(max_l, run_l)
            eq = eq * (1.0 + r)
        if eq > peak:
            peak = eq
        dd = eq / peak - 1.0
        if dd < mdd:
            mdd = dd
        dd_sum += dd
        dd_sq += dd * dd
        if dd < 0.0:
            under += 1
            max_under = max(max_under, under)
        else:
            under = 0

    out[:] = np.nan
    o = obs[:n]
    n_nonzero = n_pos + n_neg
    sqrt_ann = math.sqrt(ann_factor)

    # -- location / scale -------------------------------------------------------------------
    mean = s / n if n > 0 else np.nan
    mean_x = sx / n if n > 0 else np.nan
    sd = np.nan
    sd_x = np.nan
    if n >= 2:
        if lo == hi:
            sd = 0.0
            sd_x = 0.0
        else:
            ss = 0.0
            ssx = 0.0
            for i in range(n):
                d = o[i] - mean
                ss += d * d
                dx = (o[i] - rf_pp) - mean_x
                ssx += dx * dx
            sd = math.sqrt(ss / (n - 1))
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
        skew = (w_m3 / (w_m2 * math.sqrt(w_m2))) * ((dn * math.sqrt(dn - 1.0)) / (dn - 2.0))
    if n >= 4:
        inner = dn * (dn + 1.0) * (w_m4 / (w_m2 * w_m2)) - 3.0 * (dn - 1.0)
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

    # -- quantile-based (one sort) ----------------------------------------------------------
    if n > 0:
        so = np.sort(o)
        out[_BEST] = so[n - 1]
        out[_WORST] = so[0]
        q05 = quantile_sorted_nb(so, _ALPHA)
        q95 = quantile_sorted_nb(so, 1.0 - _ALPHA)
        out[_VAR_HIST] = q05
        ts = 0.0
        tn = 0
        for i in range(n):
            if so[i] <= q05:
                ts += so[i]
                tn += 1
            else:
                break
        out[_CVAR_HIST] = ts / tn if tn > 0 else np.nan
        tail = np.nan
        if q05 != 0.0:
            tail = abs(q95 / q05)
        out[_TAIL] = tail
        out[_CSR] = pf * tail
        pos_mean = s_nonneg / n_nonneg if n_nonneg > 0 else np.nan
        if pos_mean != 0.0 and not np.isnan(pos_mean):
            out[_OUTLIER_WIN] = quantile_sorted_nb(so, 0.99) / pos_mean
        if n_neg > 0 and avg_loss != 0.0:
            out[_OUTLIER_LOSS] = quantile_sorted_nb(so, 0.01) / avg_loss


@njit(cache=True, parallel=True)
def metrics_nb(returns, ann_factor, rf, rf_pp):
    """2-dim version of :func:`metrics_1d_nb`: (n_paths, n_steps) -> (n_paths, N_METRICS)."""
    out = np.empty((returns.shape[0], N_METRICS))
    for i in prange(returns.shape[0]):
        metrics_1d_nb(returns[i], ann_factor, rf, rf_pp, out[i])
    return out
