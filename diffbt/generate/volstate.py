"""The volatility state: how volatile each asset was when a model window starts.

Each window is modelled relative to the volatility each asset entered it with, an
exponentially weighted mean of the squared log returns of all earlier bars (half-life
``halflife`` bars):

    var_t = lam * var_{t-1} + (1 - lam) * r_{t-1}^2,    lam = 0.5 ** (1 / halflife)
    rho_t = sqrt(var_t / var0),                           clipped to e^-4 .. e^4

where ``var0`` is the training span's mean squared return. A window's price-unit features
are divided by ``rho`` (`vol_scale`) and ``log rho`` conditions the network. Along a
generated path the state is updated from the generated returns (each scaled by
``sqrt(gain)``, a per-asset feedback gain fitted by `diffbt.generate.calibrate`), so
volatility carries over longer than one window of context. A fresh path starts in the state
of a random training window (of the regime asked for): the ``bank``.

With the ``"garch"`` filter (`FILTERS`) the state follows a GJR-GARCH(1,1) recursion fitted on
the training span instead (`fit_garch`, `garch_variance`), and every bar, not only a window's
first, is divided by its own ``rho``; generated windows are rebuilt bar by bar
(`VolState.rebuild`), so no feedback gain is fitted. ``"garch2"`` is the same with two
components per asset, a fast GJR one and a slow GARCH one (`fit_two_components`); its state
holds both components' variances, ``(..., 2 * n_assets)``, component-major.

On top of the GARCH filter a `MeanFilter` can model the conditional mean of the scaled returns
``y_t = r_t / rho_t``: a linear function of their recent past and of ``log rho_t``, fitted by
least squares on the training span. The network then models the residuals, and the rebuild
adds the mean back bar by bar, so return autocorrelation (momentum, mean reversion) and a
relation between volatility and the next returns carry over by construction instead of
having to be learnt from a weak signal.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from diffbt.data.features import LVOL, RET

__all__ = ["FILTERS", "MEAN_HALFLIVES", "MEAN_MEMORY", "MeanFilter", "VolState", "ewma_variance",
           "fit_garch", "fit_two_components", "garch_step", "garch_variance", "total_variance",
           "vol_scale"]

# how the state follows a series: "ewma" (window-level state, see above), "garch" (a
# GJR-GARCH(1,1) recursion fitted on the training span, applied bar by bar: see `VolState`)
# or "garch2" (the same with a fast and a slow component, `fit_two_components`)
FILTERS = ("ewma", "garch", "garch2")

RHO_LOG_LIMIT = 4.0
BANK_SIZE = 4096
PERSISTENCE_MAX = 0.995  # alpha + gamma / 2 + beta of a fitted GARCH filter
CAP_MARGIN = 0.5  # the filter's variance stays below the training peak's, e^0.5 x in volatility
# a mean filter's regressors: the last scaled return, exponentially weighted means of the
# last MEAN_MEMORY ones with these half-lives in bars (and log rho)
MEAN_HALFLIVES = (2, 8, 32)
MEAN_MEMORY = 128


def ewma_variance(ret: np.ndarray, halflife: float, var0: np.ndarray | float) -> np.ndarray:
    """Causal exponentially weighted mean of squared returns.

    Parameters
    ----------
    ret : ndarray, shape (..., T, n_assets)
        Log returns.
    halflife : float
        In bars.
    var0 : float or ndarray broadcastable to (..., n_assets)
        The value before the first return.

    Returns
    -------
    ndarray, shape (..., T + 1, n_assets)
        ``out[..., i, :]`` uses returns ``0 .. i-1`` only (``out[..., 0, :] = var0``).
    """
    from scipy.signal import lfilter

    r = np.asarray(ret, dtype=np.float64)
    lam = 0.5 ** (1.0 / float(halflife))
    v0 = np.broadcast_to(np.asarray(var0, dtype=np.float64),
                         r.shape[:-2] + r.shape[-1:]).copy()
    zi = (lam * v0)[..., None, :]
    y, _ = lfilter([1.0 - lam], [1.0, -lam], r * r, axis=-2, zi=zi)
    return np.concatenate([v0[..., None, :], y], axis=-2)


def garch_variance(ret: np.ndarray, omega: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                   h0: np.ndarray | float, gamma: np.ndarray | None = None,
                   cap: np.ndarray | None = None) -> np.ndarray:
    """Causal GJR-GARCH variance, one or more components per asset (`garch_step`).

    `ret` (..., T, A); parameters (A,) for one component or (K * A,) for K, component-major
    (component k of asset a at ``k * A + a``); `h0` broadcastable to (..., K * A). Returns the
    component variances (..., T + 1, K * A) with ``out[..., 0, :] = h0``; an asset's variance
    is the sum of its components (`total_variance`).
    """
    r = np.asarray(ret, dtype=np.float64)
    size = np.size(omega)
    h = np.broadcast_to(np.asarray(h0, dtype=np.float64), r.shape[:-2] + (size,)).copy()
    out = np.empty(r.shape[:-2] + (r.shape[-2] + 1, size))
    out[..., 0, :] = h
    for t in range(r.shape[-2]):
        h = garch_step(h, r[..., t, :], omega, alpha, beta, gamma, cap)
        out[..., t + 1, :] = h
    return out


def total_variance(h: np.ndarray, n_assets: int) -> np.ndarray:
    """An asset's variance from its component variances (..., K * A): (..., A)."""
    k = h.shape[-1] // n_assets
    return h if k == 1 else h.reshape(h.shape[:-1] + (k, n_assets)).sum(axis=-2)


def garch_step(h: np.ndarray, r: np.ndarray, omega: np.ndarray, alpha: np.ndarray,
               beta: np.ndarray, gamma: np.ndarray | None = None,
               cap: np.ndarray | None = None) -> np.ndarray:
    """The component variances after return `r` (..., A) from `h` (..., K * A):

        h_k <- omega_k + (alpha_k + gamma_k [r < 0]) r^2 + beta_k h_k

    per component k (one component: GJR-GARCH(1,1)). With `cap` (A,) an asset's variance
    (the sum of its components) stays at most `cap`, all components scaled alike.
    """
    n_assets = r.shape[-1]
    k = np.size(omega) // n_assets
    rk = np.tile(r, k)
    lever = alpha if gamma is None else alpha + gamma * (rk < 0)
    h = omega + lever * rk * rk + beta * h
    if cap is None:
        return h
    if k == 1:
        return np.minimum(h, cap)
    scale = np.minimum(1.0, cap / np.maximum(total_variance(h, n_assets), 1e-300))
    return h * np.tile(scale, k)


def fit_garch(ret: np.ndarray, components: int = 1
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(omega, alpha, gamma, beta)`` of a zero-mean GJR-GARCH with Student-t innovations,
    fitted by maximum likelihood per asset on log returns ``(T, A)``.

    ``components=1``: GJR-GARCH(1,1) (the `arch` package), its persistence ``alpha + gamma
    / 2 + beta`` capped at `PERSISTENCE_MAX`. ``components=2``: the sum of a fast GJR
    component and a slow GARCH component (`fit_two_components`); parameters (2 * A,),
    component-major (`garch_variance`). Either way ``omega`` is set so that the long-run
    variance is the sample's (variance targeting).
    """
    if components == 2:
        return fit_two_components(ret)
    if components != 1:
        raise ValueError(f"a GARCH filter has 1 or 2 components, got {components}")
    from arch import arch_model

    n_assets = ret.shape[1]
    omega, alpha, gamma, beta = (np.zeros(n_assets) for _ in range(4))
    for a in range(n_assets):
        r = np.asarray(ret[:, a], dtype=np.float64)
        sd = r.std()
        scale = 1.0 / sd if sd > 0 else 1.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = arch_model(r * scale, mean="Zero", vol="GARCH", p=1, o=1, q=1,
                               dist="t", rescale=False).fit(disp="off", show_warning=False).params
                alpha[a], gamma[a], beta[a] = (float(p[k]) for k in ("alpha[1]", "gamma[1]",
                                                                      "beta[1]"))
        except (ValueError, np.linalg.LinAlgError):  # e.g. a series without any move
            alpha[a] = gamma[a] = beta[a] = np.nan
        persistence = alpha[a] + gamma[a] / 2 + beta[a]
        if not np.isfinite(persistence):  # no recursion to fit: a constant variance
            alpha[a] = gamma[a] = beta[a] = persistence = 0.0
        elif persistence > PERSISTENCE_MAX:
            k = PERSISTENCE_MAX / max(persistence, 1e-12)  # keep it stationary
            alpha[a], gamma[a], beta[a] = alpha[a] * k, gamma[a] * k, beta[a] * k
            persistence = PERSISTENCE_MAX
        omega[a] = (1.0 - persistence) * float(np.mean(r * r))
    return omega, alpha, gamma, beta


def _fast_share_and_intercept(theta: np.ndarray, v: float) -> tuple[float, float]:
    """The fast component's share of the long-run variance `v`, and the slow component's
    intercept that makes `v` the long-run variance (variance targeting)."""
    a1, g1, b1, a2, b2 = theta[:5]
    m1 = (a1 + g1 / 2) / (1 - b1)
    return m1, (1 - b2) * v * (1 - m1) - a2 * v


def _two_component_variance(theta: np.ndarray, x2: np.ndarray, neg: np.ndarray,
                            v: float) -> np.ndarray:
    """``h_t`` of the two-component model on squared returns `x2` (negative where `neg`),
    long-run variance `v`, both components starting at their long-run means."""
    from scipy.signal import lfilter

    a1, g1, b1, a2, b2 = theta
    m1, o2 = _fast_share_and_intercept(theta, v)
    c1 = lfilter([1.0], [1.0, -b1], (a1 + g1 * neg) * x2, zi=[b1 * v * m1])[0]
    c2 = lfilter([1.0], [1.0, -b2], o2 + a2 * x2, zi=[b2 * v * (1 - m1)])[0]
    return np.concatenate([[v], (c1 + c2)[:-1]])


def fit_two_components(ret: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """A two-component GJR-GARCH with Student-t innovations per asset, by maximum likelihood:

        h_t = c1_t + c2_t
        c1_{t+1} = (alpha_1 + gamma_1 [r_t < 0]) r_t^2 + beta_1 c1_t            (fast)
        c2_{t+1} = omega_2 + alpha_2 r_t^2 + beta_2 c2_t                          (slow)

    with ``beta_1 <= beta_2``, ``alpha_2 + beta_2 <= PERSISTENCE_MAX`` and ``omega_2`` set so
    that the long-run variance is the sample's. A shock decays fast through the first
    component while the second keeps the slow level: the volatility of hourly crypto, whose
    shocks fade within hours on top of regimes lasting weeks, which one GARCH(1,1) component
    can only fit with a persistence at the edge of stationarity. Returns (omega, alpha,
    gamma, beta), each (2 * A,), component-major; a series without moves gets a constant
    variance.
    """
    from scipy.optimize import minimize
    from scipy.special import gammaln

    n_assets = ret.shape[1]
    out = np.zeros((4, 2, n_assets))  # omega, alpha, gamma, beta x component x asset

    def nll(theta: np.ndarray, x2: np.ndarray, neg: np.ndarray) -> float:
        a1, g1, b1, a2, b2, nu = theta
        if (min(a1, a2, b1) < 0 or a1 + g1 < 0 or b1 > b2 or a2 + b2 > PERSISTENCE_MAX
                or not 2.1 < nu < 100 or (a1 + g1 / 2) / (1 - b1) + a2 / (1 - b2) > 0.999):
            return 1e12
        h = _two_component_variance(theta[:5], x2, neg, 1.0)
        if not np.all(h > 0):
            return 1e12
        s2 = h * (nu - 2) / nu
        const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * math.log(math.pi * nu)
        return float(-len(x2) * const + 0.5 * np.log(s2).sum()
                     + (nu + 1) / 2 * np.log1p(x2 / (s2 * nu)).sum())

    for a in range(n_assets):
        r = np.asarray(ret[:, a], dtype=np.float64)
        v = float(np.mean(r * r))
        if not v > 0:
            continue  # no moves: a constant (zero) variance
        x = r / math.sqrt(v)
        x2, neg = x * x, (x < 0).astype(np.float64)
        best = None
        for start in ([0.10, 0.05, 0.60, 0.02, 0.96, 5.0], [0.15, 0.05, 0.30, 0.01, 0.985, 5.0],
                      [0.05, 0.03, 0.85, 0.03, 0.95, 5.0]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = minimize(nll, start, args=(x2, neg), method="Nelder-Mead",
                               options={"maxiter": 3000, "xatol": 1e-5, "fatol": 1e-4})
            if best is None or res.fun < best.fun:
                best = res
        a1, g1, b1, a2, b2 = (float(p) for p in best.x[:5])
        out[:, 0, a] = 0.0, a1, g1, b1
        out[:, 1, a] = _fast_share_and_intercept(best.x, v)[1], a2, 0.0, b2
    omega, alpha, gamma, beta = (p.ravel() for p in out)
    return omega, alpha, gamma, beta


def vol_scale(features: np.ndarray, rho: np.ndarray, *, inverse: bool = False) -> np.ndarray:
    """Divide (or, `inverse`, multiply) the price-unit features by a volatility ratio.

    ``ret``, ``gap``, ``up`` and ``down`` are log-price moves and scale with volatility;
    ``lvol`` does not. `features` has shape (n, L, n_assets, 5), `rho` (n, n_assets) (one
    ratio per window) or (n, L, n_assets) (one per bar).
    """
    out = np.array(features, dtype=np.float64)
    r = np.asarray(rho, dtype=np.float64)
    r = r[:, None, :, None] if r.ndim == 2 else r[..., None]
    out[..., :LVOL] = out[..., :LVOL] * r if inverse else out[..., :LVOL] / r
    return out


def _frozen(x: Any, dtype: type = np.float64) -> np.ndarray:
    a = np.array(x, dtype=dtype)
    a.setflags(write=False)
    return a


@functools.cache
def _mean_weights() -> np.ndarray:
    """The regressors' weights on the last `MEAN_MEMORY` values, most recent first: (P, K),
    column 0 the last value alone, then one exponentially weighted mean per half-life."""
    lag = np.arange(MEAN_MEMORY)
    cols = [np.eye(MEAN_MEMORY)[0]] + [0.5 ** (lag / h) for h in MEAN_HALFLIVES]
    w = np.stack([c / c.sum() for c in cols], axis=1)
    w.setflags(write=False)  # cached: shared by every call
    return w


def _trailing_means(y: np.ndarray, hist: np.ndarray | None) -> np.ndarray:
    """The regressors (`_mean_weights`) of each bar: weighted means of the values before it.

    `y` (..., T, A), `hist` (..., MEAN_MEMORY, A) the values before ``y[..., 0, :]`` (None:
    zeros). Returns (..., T, A, K).
    """
    from scipy.signal import lfilter

    p, t = MEAN_MEMORY, y.shape[-2]
    if hist is None:
        hist = np.zeros(y.shape[:-2] + (p,) + y.shape[-1:])
    full = np.concatenate([hist, y], axis=-2)  # full[p + i] = y[i]; bar i sees full[:p + i]
    w = _mean_weights()
    return np.stack([lfilter(w[:, k], [1.0], full, axis=-2)[..., p - 1:p - 1 + t, :]
                     for k in range(w.shape[1])], axis=-1)


@dataclass(frozen=True, eq=False)
class MeanFilter:
    """Conditional mean of volatility-scaled returns, per asset (see the module docstring):

        m_t = b_0 y_{t-1} + sum_h b_h ewm_h(y_{t-1}, y_{t-2}, ...) + b_rho log rho_t

    with exponentially weighted means of half-lives `MEAN_HALFLIVES` (2, 8 and 32 bars) over
    the last `MEAN_MEMORY` values: momentum and reversal at the scale of a bar, days and
    weeks.

    Attributes
    ----------
    coef : ndarray, shape (n_assets, len(MEAN_HALFLIVES) + 2)
        ``b`` per asset, fitted by least squares with an intercept on the regressors the
        Bayesian information criterion picks among all their subsets (the others get 0:
        structure the training span does not support is left to the network); the
        intercept (the drift) stays in the residuals the network models.
    """

    coef: np.ndarray

    def __post_init__(self) -> None:
        coef = _frozen(self.coef)
        if coef.ndim != 2 or coef.shape[1] != len(MEAN_HALFLIVES) + 2:
            raise ValueError(f"a mean filter needs coefficients (n_assets, "
                             f"{len(MEAN_HALFLIVES) + 2}), got shape {coef.shape}")
        object.__setattr__(self, "coef", coef)

    @property
    def memory(self) -> int:
        """Bars of past scaled returns the mean depends on."""
        return MEAN_MEMORY

    @classmethod
    def fit(cls, y: np.ndarray, log_rho: np.ndarray) -> MeanFilter:
        """Least squares on a training span: `y`, `log_rho` (T, A); bars before the span
        count as zeros. Per asset the subset of regressors with the lowest BIC is kept."""
        x = np.concatenate([_trailing_means(y, None), log_rho[..., None]], axis=-1)
        n, k = len(y), x.shape[-1]
        coef = np.zeros((y.shape[1], k))
        for a in range(y.shape[1]):
            best = math.inf
            for size in range(k + 1):
                for keep in itertools.combinations(range(k), size):
                    design = np.column_stack([np.ones(n), x[:, a, list(keep)]])
                    b = np.linalg.lstsq(design, y[:, a], rcond=None)[0]
                    rss = float(np.sum((y[:, a] - design @ b) ** 2))
                    bic = n * math.log(max(rss, 1e-300) / n) + (size + 1) * math.log(n)
                    if bic < best - 1e-9:
                        best = bic
                        coef[a] = 0.0
                        coef[a, list(keep)] = np.nan_to_num(b[1:])
        return cls(coef)

    def means(self, y: np.ndarray, log_rho: np.ndarray, hist: np.ndarray | None = None
              ) -> np.ndarray:
        """The mean of each bar of observed scaled returns `y` (..., T, A) with ratios
        `log_rho` (..., T, A) after history `hist` (..., memory, A) (None: zeros)."""
        x = np.concatenate([_trailing_means(y, hist), log_rho[..., None]], axis=-1)
        return np.einsum("...ak,ak->...a", x, self.coef)

    def step(self, hist: np.ndarray, log_rho: np.ndarray) -> np.ndarray:
        """The mean of the next bar after history `hist` (n, memory, A) at ratio `log_rho`
        (n, A): (n, A)."""
        x = np.einsum("npa,pk->nak", hist[:, ::-1], _mean_weights())
        x = np.concatenate([x, log_rho[..., None]], axis=-1)
        return np.einsum("nak,ak->na", x, self.coef)

    def to_dict(self) -> dict[str, Any]:
        return {"halflives": list(MEAN_HALFLIVES), "memory": MEAN_MEMORY,
                "coef": self.coef.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeanFilter:
        ours = {"halflives": list(MEAN_HALFLIVES), "memory": MEAN_MEMORY}
        theirs = {k: d.get(k) for k in ours} if "halflives" in d else {"lags": d.get("lags")}
        coef = np.asarray(d["coef"], dtype=np.float64)
        if theirs != ours and coef.ndim == 2 and not coef.any():  # no regressor was kept
            return cls(np.zeros((len(coef), len(MEAN_HALFLIVES) + 2)))
        if theirs != ours:
            raise ValueError(f"the model's mean filter has the regressors {theirs}, this "
                             f"version of diffbt {ours}; fit the model again")
        return cls(d["coef"])


def evenly_spaced(n: int, size: int) -> np.ndarray:
    """Indices of at most `size` of `n` rows, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, size)).round().astype(int))


@dataclass(frozen=True, eq=False)
class VolState:
    """The fitted volatility state (see the module docstring).

    Attributes
    ----------
    halflife : int
        Half-life of the EWMA, in bars.
    var0 : ndarray, shape (n_assets,)
        Training mean squared log return.
    bank : ndarray, shape (n, components * n_assets)
        ``log rho`` at the start of training windows (where fresh paths start); with two
        components, each component's ``0.5 log(var_k / var0)``.
    bank_regime : ndarray, shape (n,)
        Regime id of each of those windows.
    gain : ndarray, shape (n_assets,)
        Feedback gain of generated returns (1 = none).
    gain_sampler : str, optional
        The sampler (``"dpm/20"``) the gain was fitted for; None when not fitted.
    omega, alpha, gamma, beta : ndarray, shape (components * n_assets,), optional
        With the ``"garch"`` filter: the GJR-GARCH(1,1) recursion ``var_{t+1} = omega +
        (alpha + gamma [r_t < 0]) r_t^2 + beta var_t`` that replaces the EWMA (``"garch2"``:
        one such recursion per component, the variance their sum; `garch_step`), and every
        bar (not only a window's first) is scaled by its own ratio (`per_bar`). Fitted on
        the training span, stationary, with the training variance as its long-run level, so
        generated paths rebuild volatility clustering (and the leverage effect) bar by bar
        and return to the training level without a fitted gain.
    cap : ndarray, shape (n_assets,), optional
        The GARCH filter's largest variance: the training span's peak, times
        ``e^(2 CAP_MARGIN)`` (volatility at most 1.65x the most turbulent training bar's).
        A persistent fitted recursion fed with fat-tailed generated returns otherwise lets a
        few paths' volatility run away.
    mean : MeanFilter, optional
        With the GARCH filter: the conditional mean of the scaled returns; the network then
        models the residuals and `rebuild` adds the mean back.
    """

    halflife: int
    var0: np.ndarray
    bank: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    bank_regime: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    gain: np.ndarray | None = None
    gain_sampler: str | None = None
    omega: np.ndarray | None = None
    alpha: np.ndarray | None = None
    beta: np.ndarray | None = None
    gamma: np.ndarray | None = None
    cap: np.ndarray | None = None
    mean: MeanFilter | None = None

    def __post_init__(self) -> None:
        if (self.omega is None) != (self.alpha is None) or (self.omega is None) != (
                self.beta is None):
            raise ValueError("a GARCH filter needs omega, alpha and beta")
        if self.omega is not None:
            if self.gamma is None:
                object.__setattr__(self, "gamma", np.zeros(len(np.atleast_1d(self.omega))))
            if self.cap is None:
                object.__setattr__(self, "cap", np.full(len(np.atleast_1d(self.var0)),
                                                        np.inf))
            for name in ("omega", "alpha", "beta", "gamma", "cap"):
                object.__setattr__(self, name, _frozen(getattr(self, name)))
        var0 = _frozen(self.var0)
        object.__setattr__(self, "var0", var0)
        object.__setattr__(self, "bank", _frozen(self.bank).reshape(-1, self.components
                                                                     * len(var0)))
        object.__setattr__(self, "bank_regime", _frozen(self.bank_regime, np.int64))
        gain = np.ones(len(var0)) if self.gain is None else self.gain
        object.__setattr__(self, "gain", _frozen(gain))
        if self.omega is not None and len(self.omega) not in (len(var0), 2 * len(var0)):
            raise ValueError(f"a GARCH filter has 1 or 2 components per asset: "
                             f"{len(self.omega)} parameters for {len(var0)} assets")
        if self.mean is not None and self.omega is None:
            raise ValueError("a mean filter needs the GARCH filter")
        if self.halflife < 1 or len(self.bank) != len(self.bank_regime):
            raise ValueError("a volatility state needs halflife >= 1 and one regime per bank row")

    @classmethod
    def fit(cls, ret: np.ndarray, halflife: int, *, filter: str = "ewma",
            mean: bool = False) -> VolState:
        """The state's scale (and, ``filter="garch"``, its recursion; with `mean`, a
        `MeanFilter` on top) from training log returns ``(T, n_assets)`` (no bank yet)."""
        if filter not in FILTERS:
            raise ValueError(f"unknown volatility filter {filter!r}; options: {FILTERS}")
        if mean and filter == "ewma":
            raise ValueError("a mean filter needs a GARCH volatility filter")
        var0 = np.maximum(np.mean(np.asarray(ret) ** 2, axis=0), 1e-20)
        if filter != "ewma":
            omega, alpha, gamma, beta = fit_garch(ret, 2 if filter == "garch2" else 1)
            if filter == "garch":
                omega = np.maximum(omega, 1e-30)
            else:  # the slow component carries the intercept
                omega[len(var0):] = np.maximum(omega[len(var0):], 1e-30)
            out = cls(halflife=int(halflife), var0=var0, omega=omega, alpha=alpha, beta=beta,
                      gamma=gamma)
            peak = total_variance(out.series(ret), len(var0)).max(axis=0)
            out = replace(out, cap=peak * math.exp(2.0 * CAP_MARGIN))
            if mean:
                rho = out.rho(out.series(ret)[:-1])
                out = replace(out, mean=MeanFilter.fit(ret / rho, np.log(rho)))
            return out
        return cls(halflife=int(halflife), var0=var0)

    @property
    def filter(self) -> str:
        """``"ewma"``, ``"garch"`` or ``"garch2"``."""
        return "ewma" if self.omega is None else FILTERS[self.components]

    @property
    def components(self) -> int:
        """Variance components per asset: 2 for ``"garch2"``, else 1."""
        return 1 if self.omega is None else len(self.omega) // len(self.var0)

    @property
    def per_bar(self) -> bool:
        """Whether every bar is scaled by its own volatility ratio (the GARCH filter)."""
        return self.omega is not None

    def _recursion(self, ret: np.ndarray, var: np.ndarray | float) -> np.ndarray:
        if self.omega is None:
            return ewma_variance(ret, self.halflife, var)
        return garch_variance(ret, self.omega, self.alpha, self.beta, var, self.gamma,
                              self.cap)

    def with_bank(self, states: np.ndarray, regime_ids: np.ndarray) -> VolState:
        """The states training windows start in (`states` (n, components * A), at most
        `BANK_SIZE` of them kept, evenly spaced)."""
        keep = evenly_spaced(len(states), BANK_SIZE)
        if self.components == 1:
            log_ratio = np.log(self.rho(states[keep]))
        else:
            log_ratio = 0.5 * np.log(np.maximum(states[keep], 1e-30) / self._tiled(self.var0))
        return replace(self, bank=np.round(log_ratio.astype(np.float32), 5),
                       bank_regime=regime_ids[keep])

    def _tiled(self, x: np.ndarray) -> np.ndarray:
        """A per-asset array (..., A) repeated for each component (..., components * A)."""
        return np.tile(x, self.components)

    def with_gain(self, gain: np.ndarray, sampler: str | None) -> VolState:
        return replace(self, gain=np.asarray(gain, dtype=np.float64), gain_sampler=sampler)

    # -- the state along a series ----------------------------------------------------------
    def series(self, ret: np.ndarray) -> np.ndarray:
        """The state before each of the returns ``(T, A)``, and after the last: ``(T + 1,
        components * A)``, from the long-run state (`neutral`)."""
        return self._recursion(ret, self.neutral(1)[0])

    def rho(self, var: np.ndarray) -> np.ndarray:
        """Volatility ratio ``sqrt(var / var0)`` of states (..., components * A): (..., A),
        clipped to e^-4 .. e^4."""
        var = total_variance(var, len(self.var0))
        ratio = np.sqrt(np.maximum(var, 1e-30) / self.var0)
        return np.clip(ratio, math.exp(-RHO_LOG_LIMIT), math.exp(RHO_LOG_LIMIT))

    def advance(self, var: np.ndarray | None, ret: np.ndarray, *,
                generated: bool = True) -> np.ndarray | None:
        """The state after returns `ret` (n, k, A), from state `var` (n, A).

        Generated returns enter with the feedback gain, observed ones as they are.
        """
        if var is None or ret.shape[1] == 0:
            return var
        if generated:
            ret = ret * np.sqrt(self.gain)
        return self._recursion(ret, var)[:, -1]

    def series_from(self, var: np.ndarray, ret: np.ndarray) -> np.ndarray:
        """The state before each bar of paths `ret` (n, L, A) started in state `var` (n, A),
        and after the last: (n, L + 1, A). `ret` enters as given (no gain)."""
        return self._recursion(ret, var)

    def news_ratio(self, ret: np.ndarray, var: np.ndarray | None = None) -> np.ndarray:
        """What sets a GARCH filter's long-run level: the variance its news terms add, per
        unit of variance, over each series of returns `ret` (..., T, A) from states `var`
        (..., K * A) (default: the long-run state): (..., A). `news` gives its two sums.

        Each component k adds ``(alpha_k + gamma_k [r < 0]) r^2`` a bar and keeps it for
        ``1 / (1 - beta_k)`` bars, so at stationarity the variance is ``sum_k omega_k / (1 -
        beta_k)`` over ``1 - ratio``: series with the same ratio settle at the same level.
        """
        news, variance = self.news(ret, var)
        return news / variance

    def news(self, ret: np.ndarray, var: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """The sums over bars of the news terms and of the variance behind `news_ratio`,
        per series: (..., A) each."""
        r = np.asarray(ret, dtype=np.float64)
        h = total_variance(self._recursion(r, self.neutral(1)[0] if var is None else var
                                           )[..., :-1, :], len(self.var0))
        k, a = self.components, len(self.var0)
        memory = 1.0 / (1.0 - self.beta)
        lever = (self.alpha * memory).reshape(k, a).sum(axis=0) + (
            self.gamma * memory).reshape(k, a).sum(axis=0) * (r < 0)
        return (lever * r * r).sum(axis=-2), h.sum(axis=-2)

    def path_rho(self, var: np.ndarray, ret: np.ndarray) -> np.ndarray:
        """Volatility ratio before each bar of generated paths `ret` (n, L, A) started in
        state `var` (n, A)."""
        return self.rho(self.series_from(var, ret * np.sqrt(self.gain))[:, :-1])

    def filter_bars(self, features: np.ndarray, var: np.ndarray | float | None = None,
                    hist: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observed bars in the network's units (`per_bar`): each bar's price-unit features
        divided by its own ratio, and, with a mean filter, the return less its mean.

        `features` (..., T, A, 5), `var` the state before the first bar (default `var0`),
        `hist` (..., memory, A) the scaled returns before it (None: zeros). Returns the
        scaled features, the states (..., T + 1, A) and the scaled returns (..., T, A).
        """
        states = self._recursion(features[..., RET], self.neutral(1)[0] if var is None else var)
        rho = self.rho(states[..., :-1, :])
        scaled = np.array(features, dtype=np.float64)
        scaled[..., :LVOL] /= rho[..., None]
        y = scaled[..., RET].copy()
        if self.mean is not None:
            scaled[..., RET] -= self.mean.means(y, np.log(rho), hist)
        return scaled, states, y

    def history(self, features: np.ndarray, series: np.ndarray, starts: np.ndarray
                ) -> np.ndarray | None:
        """The scaled returns (len(starts), memory, A) before bars `starts` of an observed
        series `features` (T, A, 5) with states `series` (`series`), zeros before its first
        bar; None without a mean filter."""
        if self.mean is None:
            return None
        p = self.mean.memory
        y = features[..., RET] / self.rho(series[:-1])
        y = np.concatenate([np.zeros((p,) + y.shape[1:]), y])
        return np.stack([y[s:s + p] for s in np.asarray(starts)])

    def rebuild(self, scaled: np.ndarray, var: np.ndarray, hist: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Generated features from their values in the network's units, bar by bar
        (`per_bar`; the inverse of `filter_bars`).

        `scaled` (n, L, A, 5), `var` (n, components * A) the state before the first bar,
        `hist` (n,
        memory, A) the scaled returns before it (with a mean filter; None: zeros). Each bar
        gets its mean back, is multiplied by the ratio of the state before it, and its
        return then updates the state. Returns the features, the state after the last bar
        and the history after it (None without a mean filter).
        """
        out = np.array(scaled, dtype=np.float64)
        h = np.array(var, dtype=np.float64)
        if self.mean is not None and hist is None:
            hist = np.zeros((len(out), self.mean.memory, out.shape[2]))
        for t in range(out.shape[1]):
            rho = self.rho(h)
            if self.mean is not None:
                out[:, t, :, RET] += self.mean.step(hist, np.log(rho))
                hist = np.concatenate([hist[:, 1:], out[:, t, None, :, RET]], axis=1)
            out[:, t, :, :LVOL] *= rho[..., None]
            h = garch_step(h, out[:, t, :, RET], self.omega, self.alpha, self.beta,
                           self.gamma, self.cap)
        return out, h, (hist if self.mean is not None else None)

    def neutral(self, n: int) -> np.ndarray:
        """The training span's average state, for `n` paths: (n, components * A) (with two
        components each at its long-run mean)."""
        var = self.var0
        if self.components > 1:  # (omega + (alpha + gamma / 2) var0) / (1 - beta) each
            var = (self.omega + (self.alpha + self.gamma / 2) * self._tiled(self.var0)) / (
                1.0 - self.beta)
        return np.broadcast_to(var, (n, len(var))).copy()

    def initial(self, regime_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """States (n, A) for fresh paths: those of random training windows (of the regime
        asked for, ``-1`` = any)."""
        pick = rng.integers(len(self.bank), size=len(regime_ids))
        for r in np.unique(regime_ids[regime_ids >= 0]):
            rows = np.flatnonzero(self.bank_regime == r)
            if len(rows):
                sel = regime_ids == r
                pick[sel] = rows[rng.integers(len(rows), size=int(sel.sum()))]
        return self._tiled(self.var0) * np.exp(2.0 * self.bank[pick])

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"halflife": self.halflife, "var0": self.var0.tolist(),
             "bank": self.bank.tolist(), "bank_regime": self.bank_regime.tolist(),
             "gain": self.gain.tolist(), "gain_sampler": self.gain_sampler}
        if self.omega is not None:
            d["garch"] = {"omega": self.omega.tolist(), "alpha": self.alpha.tolist(),
                          "gamma": self.gamma.tolist(), "beta": self.beta.tolist(),
                          "cap": self.cap.tolist()}
        if self.mean is not None:
            d["mean"] = self.mean.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, default_sampler: str | None = None) -> VolState:
        """Inverse of `to_dict`; a file without ``gain_sampler`` had its gain fitted for
        `default_sampler`."""
        gain = d.get("gain")
        garch = d.get("garch") or {}
        return cls(halflife=int(d["halflife"]), var0=d["var0"], bank=d["bank"],
                   bank_regime=d["bank_regime"], gain=gain,
                   gain_sampler=d.get("gain_sampler", default_sampler if gain else None),
                   omega=garch.get("omega"), alpha=garch.get("alpha"),
                   beta=garch.get("beta"), gamma=garch.get("gamma"), cap=garch.get("cap"),
                   mean=MeanFilter.from_dict(d["mean"]) if d.get("mean") else None)
