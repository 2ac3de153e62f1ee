"""Merton (1976) jump-diffusion: correlated Gaussian diffusion plus Poisson jumps per asset."""

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

__all__ = ["MertonJumpDiffusion", "MertonParams"]


@dataclass(frozen=True)
class MertonParams(_ParamsMixin):
    """Merton jump-diffusion, per bar.

    ``r = mu + sqrt(cov) z + sum_{i<=N} J_i``, ``N ~ Poisson(lam)``,
    ``J_i ~ N(jump_mean, jump_std^2)``; jumps independent across assets.
    """

    mu: np.ndarray          # (n_assets,) diffusion drift
    cov: np.ndarray         # (n_assets, n_assets) diffusion covariance
    lam: np.ndarray         # (n_assets,) jump intensity per bar
    jump_mean: np.ndarray   # (n_assets,)
    jump_std: np.ndarray    # (n_assets,)
    threshold: float        # jumps: |r - mu| > threshold * diffusion sd


class MertonJumpDiffusion(_Baseline):
    """Merton jump-diffusion: correlated Gaussian diffusion plus Poisson jumps per asset.

    Parameters
    ----------
    threshold : float
        A return is a jump when ``|r - m| > threshold * s``, ``m, s`` the mean and sd of the
        non-jump returns (found iteratively, starting from the median and 1.4826 MAD).

    Notes
    -----
    Per asset: ``lam = n_jumps / T``; ``jump_mean = mean(r_jump) - m``,
    ``jump_std^2 = max(var(r_jump) - s^2, 0)`` (a jump bar carries one bar of diffusion too).
    The diffusion covariance is the sample covariance over bars where no asset jumped; the
    drift ``mu = mean(r) - lam * jump_mean`` keeps the mean log return of the training data.
    Jumps are independent across assets (co-jumps are not modelled).
    """

    name = "merton"
    _params_cls = MertonParams

    def __init__(self, *, threshold: float = 4.0, n_buckets: int = 20,
                 start_price: float | np.ndarray | None = None) -> None:
        super().__init__(n_buckets=n_buckets, start_price=start_price)
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)

    def _config(self):
        return {"threshold": self.threshold, **super()._config()}

    def _fit_returns(self, ret: np.ndarray) -> MertonParams:
        n_rows, n_assets = ret.shape
        is_jump = np.zeros_like(ret, dtype=bool)
        lam, jm, js = (np.zeros(n_assets) for _ in range(3))
        for a in range(n_assets):
            r = ret[:, a]
            m = np.median(r)
            s = 1.4826 * np.median(np.abs(r - m))
            if s <= 0:
                s = r.std()
            jump = np.zeros(n_rows, dtype=bool)
            for _ in range(50):
                new = np.abs(r - m) > self.threshold * s if s > 0 else np.zeros(n_rows, bool)
                if new.sum() > n_rows - 3:
                    break
                m, s = r[~new].mean(), r[~new].std(ddof=1)
                if (new == jump).all():
                    break
                jump = new
            is_jump[:, a] = jump
            k = int(jump.sum())
            lam[a] = k / n_rows
            if k:
                jm[a] = r[jump].mean() - m
                js[a] = np.sqrt(max(r[jump].var(ddof=1) - s * s, 0.0)) if k > 1 else 0.0
        calm = ~is_jump.any(axis=1)
        calm_ret = ret[calm] if calm.sum() > 2 else ret
        cov = np.atleast_2d(np.cov(calm_ret, rowvar=False))
        mu = ret.mean(axis=0) - lam * jm
        return MertonParams(mu=_frozen(mu), cov=_frozen(cov), lam=_frozen(lam),
                            jump_mean=_frozen(jm), jump_std=_frozen(js),
                            threshold=self.threshold)

    def _sample_returns(self, n_paths, length, rng):
        p = self.params
        shape = (n_paths, length, len(p.mu))
        diff = p.mu + _correlated_normals(rng, shape, _psd_sqrt(p.cov))
        n = rng.poisson(p.lam, shape)
        jumps = n * p.jump_mean + np.sqrt(n) * p.jump_std * rng.standard_normal(shape)
        return diff + jumps
