"""Politis-Romano stationary bootstrap of whole bars, geometric block lengths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffbt.data.features import RET
from diffbt.generate.baselines._base import _Baseline, _ParamsMixin

__all__ = ["BlockBootstrap", "BootstrapParams"]


@dataclass(frozen=True)
class BootstrapParams(_ParamsMixin):
    """Stationary bootstrap: mean block length (bars) and the number of real bars resampled."""

    mean_block: float
    n_rows: int


class BlockBootstrap(_Baseline):
    """Politis-Romano stationary bootstrap of whole bars (all assets, all five features).

    Parameters
    ----------
    mean_block : float
        Mean block length in bars (block lengths are geometric with ``p = 1 / mean_block``).

    Notes
    -----
    Row ``t`` of a path is training row ``(s + t - t0) mod T`` where ``t0`` is the first bar of
    the block holding ``t`` and ``s`` that block's uniform random start; a new block starts at
    bar 0 and then at each bar with probability ``1 / mean_block`` (circular wrap-around).
    """

    name = "bootstrap"
    _params_cls = BootstrapParams

    def __init__(self, *, mean_block: float = 20.0, n_buckets: int = 20,
                 start_price: float | np.ndarray | None = None) -> None:
        super().__init__(n_buckets=n_buckets, start_price=start_price)
        if not mean_block >= 1:
            raise ValueError(f"mean_block must be >= 1, got {mean_block}")
        self.mean_block = float(mean_block)

    def _config(self):
        return {"mean_block": self.mean_block, **super()._config()}

    def _fit_returns(self, ret: np.ndarray) -> BootstrapParams:
        return BootstrapParams(mean_block=self.mean_block, n_rows=int(ret.shape[0]))

    def rows(self, n_paths: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """Training row indices (n_paths, length) of a stationary-bootstrap draw."""
        n_rows = self._features.shape[0]
        new = rng.random((n_paths, length)) < 1.0 / self.mean_block
        new[:, 0] = True
        starts = rng.integers(0, n_rows, (n_paths, length))
        t = np.arange(length)
        t0 = np.maximum.accumulate(np.where(new, t, 0), axis=1)
        s = np.take_along_axis(starts, t0, axis=1)
        return (s + t - t0) % n_rows

    def _sample_features(self, n_paths, length, rng):
        self.params  # noqa: B018
        return self._features[self.rows(n_paths, length, rng)]

    def _sample_returns(self, n_paths, length, rng):  # pragma: no cover - not used
        return self._sample_features(n_paths, length, rng)[..., RET]
