"""Correlated multi-asset geometric Brownian motion: ``r_t ~ N(mu, Sigma)`` i.i.d."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffbt.generate.baselines._base import (
    _Baseline,
    _correlated_normals,
    _frozen,
    _ParamsMixin,
    _psd_sqrt,
)

__all__ = ["GBM", "GBMParams"]


@dataclass(frozen=True)
class GBMParams(_ParamsMixin):
    """Per-bar log-return mean ``mu`` (n_assets,) and covariance ``cov`` (n_assets, n_assets)."""

    mu: np.ndarray
    cov: np.ndarray


class GBM(_Baseline):
    """Correlated multi-asset geometric Brownian motion.

    Notes
    -----
    ``r_t = mu + L z_t``, ``z_t ~ N(0, I)``, ``L L^T = Sigma``; ``mu`` and ``Sigma`` are the
    sample mean and covariance of the training log returns (per bar).
    """

    name = "gbm"
    _params_cls = GBMParams

    def _fit_returns(self, ret: np.ndarray) -> GBMParams:
        cov = np.atleast_2d(np.cov(ret, rowvar=False))
        return GBMParams(mu=_frozen(ret.mean(axis=0)), cov=_frozen(cov))

    def _sample_returns(self, n_paths, length, rng):
        p = self.params
        return p.mu + _correlated_normals(rng, (n_paths, length, len(p.mu)), _psd_sqrt(p.cov))
