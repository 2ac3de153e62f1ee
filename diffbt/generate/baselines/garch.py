"""GARCH(1,1) with Student-t innovations per asset and constant conditional correlation (CCC)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from diffbt.generate.baselines._base import (
    _Baseline,
    _correlated_normals,
    _frozen,
    _ParamsMixin,
    _psd_sqrt,
)

__all__ = ["GarchParams", "GarchT", "garch_simulate"]


@dataclass(frozen=True)
class GarchParams(_ParamsMixin):
    """GARCH(1,1)-t per asset with constant conditional correlation, in log-return units.

    ``r_t = mu + eps_t``, ``eps_t = sqrt(h_t) e_t``, ``h_t = omega + alpha eps_{t-1}^2 +
    beta h_{t-1}``, ``e_t`` unit-variance Student-t(``nu``), Gaussian copula with ``corr``.
    ``h_next`` is the conditional variance of the first bar after the training data.
    """

    mu: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    corr: np.ndarray
    h_next: np.ndarray


def garch_simulate(mu: np.ndarray, omega: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                   h0: np.ndarray, e: np.ndarray) -> np.ndarray:
    """GARCH(1,1) recursion vectorised over paths.

    Parameters
    ----------
    mu, omega, alpha, beta, h0 : ndarray, shape (n_assets,)
    e : ndarray, shape (n_paths, length, n_assets)
        Unit-variance innovations.

    Returns
    -------
    ndarray, shape (n_paths, length, n_assets)
        ``r_t = mu + sqrt(h_t) e_t``, ``h_{t+1} = omega + alpha (r_t - mu)^2 + beta h_t``,
        ``h_0 = h0``.
    """
    out = np.empty_like(e)
    h = np.broadcast_to(h0, e[:, 0].shape).astype(np.float64)
    for t in range(e.shape[1]):
        eps = np.sqrt(h) * e[:, t]
        out[:, t] = mu + eps
        h = omega + alpha * eps * eps + beta * h
    return out


class GarchT(_Baseline):
    """GARCH(1,1) with Student-t innovations per asset and constant conditional correlation.

    Notes
    -----
    Per asset ``arch_model(r * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="t")`` with
    ``scale = 1 / sd(r)`` (numerically well-conditioned for daily and hourly bars alike); the
    parameters are converted back to log-return units. The CCC matrix is the correlation of the
    standardized residuals. Innovations use a Gaussian copula: ``z ~ N(0, corr)``,
    ``e = F_nu^{-1}(Phi(z)) * sqrt((nu - 2) / nu)`` (unit variance, each asset its own ``nu``).
    The first simulated variance is the one-step forecast after the last training bar.
    """

    name = "garch"
    min_bars = 30
    _params_cls = GarchParams

    def _fit_returns(self, ret: np.ndarray) -> GarchParams:
        from arch import arch_model  # heavy import, only when fitting

        n_assets = ret.shape[1]
        cols = {k: np.zeros(n_assets) for k in ("mu", "omega", "alpha", "beta", "nu", "h")}
        std_resid = np.empty_like(ret)
        for a in range(n_assets):
            r = ret[:, a]
            sd = r.std()
            scale = 1.0 / sd if sd > 0 else 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = arch_model(r * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="t",
                                 rescale=False).fit(disp="off", show_warning=False)
            p = res.params
            vol = np.asarray(res.conditional_volatility)
            resid = np.asarray(res.resid)
            s2 = scale * scale
            cols["mu"][a] = p["mu"] / scale
            cols["omega"][a] = p["omega"] / s2
            cols["alpha"][a] = p["alpha[1]"]
            cols["beta"][a] = p["beta[1]"]
            cols["nu"][a] = p["nu"]
            cols["h"][a] = (p["omega"] + p["alpha[1]"] * resid[-1] ** 2
                            + p["beta[1]"] * vol[-1] ** 2) / s2
            std_resid[:, a] = resid / vol
        corr = np.atleast_2d(np.corrcoef(std_resid, rowvar=False)) if n_assets > 1 \
            else np.ones((1, 1))
        return GarchParams(mu=_frozen(cols["mu"]), omega=_frozen(cols["omega"]),
                           alpha=_frozen(cols["alpha"]), beta=_frozen(cols["beta"]),
                           nu=_frozen(cols["nu"]), corr=_frozen(corr), h_next=_frozen(cols["h"]))

    def _sample_returns(self, n_paths, length, rng):
        from scipy.special import ndtr, stdtrit

        p = self.params
        z = _correlated_normals(rng, (n_paths, length, len(p.mu)), _psd_sqrt(p.corr))
        # t quantile of the copula's uniform, computed on the tail side for accuracy
        tail = np.maximum(ndtr(-np.abs(z)), 1e-300)
        e = -np.sign(z) * stdtrit(p.nu, tail) * np.sqrt((p.nu - 2.0) / p.nu)
        return garch_simulate(p.mu, p.omega, p.alpha, p.beta, p.h_next, e)
