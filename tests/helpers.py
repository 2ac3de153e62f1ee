"""What many test files share: the settings of a tiny generator and synthetic markets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from diffbt.data.io import load_market
from diffbt.data.market import Market
from diffbt.errors import DataError

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


# -- CSV files as the loader sees them ---------------------------------------------------------
HEADER = "date,open,high,low,close,volume\n"
GOOD = """
    date,open,high,low,close,volume
    2024-01-01,10,11,9,10.5,100
    2024-01-02,10.5,12,10,11,200
    2024-01-03,11,11.5,10.5,11.2,150
    2024-01-04,11.2,11.8,11,11.5,120
    2024-01-05,11.5,12,11.1,11.9,130
    """
EXPECTED_CLOSE = [10.5, 11, 11.2, 11.5, 11.9]


def load_error(write: Any, text: str, name: str = "spy.csv", **kw: Any) -> DataError:
    """The `DataError` that loading `text` written as `name` raises."""
    path = write(name, text)
    with pytest.raises(DataError) as info:
        load_market(path, **kw)
    return info.value


def assert_located(err: DataError, *, file: str = "spy.csv", column: str | None = None,
                   row: Any = None) -> None:
    """The error names exactly this file, column and row, and its text says them."""
    assert (err.file, err.column, err.row) == (file, column, row)
    text = str(err)
    assert text.startswith(file)
    if column is not None:
        assert f"column {column!r}" in text
    if row is not None:
        assert f"row {row}" in text
