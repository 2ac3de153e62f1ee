"""Helpers for the data tests: tiny OHLCV files written to tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write("spy.csv", text) -> path; the text is dedented, its first newline dropped."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


def _make_bars(index: pd.DatetimeIndex, *, seed: int = 0) -> pd.DataFrame:
    """Valid random OHLCV bars on `index` (a random walk around 100)."""
    rng = np.random.default_rng(seed)
    n = len(index)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.005, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.005, n)))
    volume = rng.integers(100, 1000, n).astype(np.float64)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": volume}, index=index)


@pytest.fixture
def bars() -> Callable[..., pd.DataFrame]:
    """bars(index, seed=0) -> valid random OHLCV DataFrame on that index."""
    return _make_bars


@pytest.fixture(scope="session")
def bundled():
    """The default bundled dataset (S&P 500 + NASDAQ daily), loaded once per session."""
    from diffbt import datasets

    return datasets.load()
