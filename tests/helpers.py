"""What many test files share: the settings of a tiny generator and synthetic markets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from diffbt.data.market import Market

#: the smallest MarketGenerator that exercises every part (calibrations off: they dominate
#: the cost of a tiny fit); `tiny(**changes)` for a file's own variant
TINY: dict[str, Any] = dict(window=16, hidden=8, n_blocks=1, attention=False, steps=2,
                            batch_size=8, timesteps=20, calibrate=False, calibrate_paths=False)


def tiny(**changes: Any) -> dict[str, Any]:
    """`TINY` with `changes` applied."""
    return TINY | changes


def market_from_returns(r: np.ndarray, *, start: str = "2000-01-03", freq: str = "B",
                        assets: Sequence[str] | None = None, wick: float = 0.001,
                        volume: float = 1e6) -> Market:
    """Valid OHLCV bars with close log returns `r` (T, A): open = previous close, wicks of
    `wick` around the body, constant volume; T + 1 bars from `start`."""
    r = np.asarray(r, dtype=np.float64)
    close = 100 * np.exp(np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)]))
    opn = np.vstack([close[:1], close[:-1]])
    v = np.stack([opn, np.maximum(opn, close) * (1 + wick), np.minimum(opn, close) * (1 - wick),
                  close, np.full_like(close, volume)], axis=-1)
    names = tuple(f"a{j}" for j in range(r.shape[1])) if assets is None else tuple(assets)
    return Market(v, pd.date_range(start, periods=len(close), freq=freq), names)


def random_walk(n: int = 200, assets: Sequence[str] = ("a", "b"), *, seed: int = 0,
                vol: float = 0.01, drift: float = 0.0, common: float = 0.0, **kw: Any) -> Market:
    """Correlated Gaussian random walks of `n` bars (`common`: sd of a shared factor);
    `kw` goes to `market_from_returns`."""
    rng = np.random.default_rng(seed)
    r = rng.normal(drift, vol, (n - 1, len(assets))) + rng.normal(0, common, (n - 1, 1))
    return market_from_returns(r, assets=assets, **kw)
