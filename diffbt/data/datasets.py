"""Real market data that a dependency ships, so everything runs offline.

The `arch` package bundles daily OHLCV of the S&P 500 and the NASDAQ Composite
(1999-01-04 to 2018-12-31, 5,031 aligned days: the dot-com crash and 2008 are in it) and
WTI crude oil daily closes.

>>> from diffbt import datasets
>>> datasets.names()
['sp500_nasdaq', 'sp500', 'nasdaq', 'wti']
>>> market = datasets.load()          # sp500_nasdaq, the default   # doctest: +SKIP
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd

from diffbt.data.market import FIELDS, Market

__all__ = ["DEFAULT", "describe", "load", "names"]

DEFAULT = "sp500_nasdaq"

_DESCRIPTIONS = {
    "sp500_nasdaq": "S&P 500 and NASDAQ Composite, daily OHLCV 1999-2018 (5,031 aligned days)",
    "sp500": "S&P 500, daily OHLCV 1999-2018 (5,031 days)",
    "nasdaq": "NASDAQ Composite, daily OHLCV 1999-2018 (5,031 days)",
    "wti": "WTI crude oil, daily close 1986-2019 (close only: open=high=low=close, volume 0)",
}


def names() -> list[str]:
    """Names of the bundled datasets, the default first."""
    return list(_DESCRIPTIONS)


def describe(name: str) -> str:
    """One line about a bundled dataset."""
    _check(name)
    return _DESCRIPTIONS[name]


def _check(name: str) -> None:
    if name not in _DESCRIPTIONS:
        raise ValueError(f"unknown dataset {name!r}; bundled datasets are {names()}")


def _arch_frame(module: str) -> pd.DataFrame:
    df = importlib.import_module(f"arch.data.{module}").load()
    df.index = pd.DatetimeIndex(df.index).as_unit("ns")
    return df


def _ohlcv(df: pd.DataFrame) -> np.ndarray:
    cols = {c.lower(): c for c in df.columns}
    return df[[cols[f] for f in FIELDS]].to_numpy(dtype=np.float64)


def load(name: str = DEFAULT) -> Market:
    """Load a bundled dataset as a `Market`.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the bundled ones).
    """
    _check(name)
    if name == "wti":
        s = _arch_frame("wti").iloc[:, 0].dropna()
        s = s[s > 0]
        v = np.repeat(s.to_numpy(dtype=np.float64)[:, None], 5, axis=1)
        v[:, 4] = 0.0
        return Market(v[:, None, :], s.index, ("wti",),
                      repairs=("wti: close-only series, open/high/low set to close, volume to 0; "
                               "missing and non-positive closes dropped",))
    assets = ["sp500", "nasdaq"] if name == "sp500_nasdaq" else [name]
    frames = {a: _arch_frame(a) for a in assets}
    index = frames[assets[0]].index
    for a in assets[1:]:
        index = index.intersection(frames[a].index)
    values = np.stack([_ohlcv(frames[a].loc[index]) for a in assets], axis=1)
    return Market(values, index, tuple(assets))
