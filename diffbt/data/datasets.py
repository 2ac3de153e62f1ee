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

import difflib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from diffbt.data.market import Market
from diffbt.errors import DataError

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
        close = difflib.get_close_matches(str(name), names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown dataset {name!r}; bundled datasets are {names()}{hint}")


def _arch_file(name: str) -> Path:
    """The ``.csv.gz`` that `arch` ships, found without importing arch (a slow import)."""
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the bundled datasets come with the 'arch' package: pip install arch")
    return Path(spec.submodule_search_locations[0]) / "data" / name / f"{name}.csv.gz"


def _wti() -> Market:
    df = pd.read_csv(_arch_file("wti"), dtype=str)
    index = pd.DatetimeIndex(pd.to_datetime(df["Date"], format="%m/%d/%Y")).as_unit("ns")
    close = pd.to_numeric(df["DCOILWTICO"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(close) & (close > 0)  # FRED marks missing days with "."
    v = np.repeat(close[keep, None], 5, axis=1)
    v[:, 4] = 0.0
    return Market(v[:, None, :], index[keep], ("wti",),
                  repairs=("wti: close-only series, open/high/low set to close, volume to 0; "
                           f"{int((~keep).sum())} missing or non-positive closes dropped",))


def load(name: str = DEFAULT) -> Market:
    """Load a bundled dataset as a `Market`.

    Raises
    ------
    DataError
        For an unknown name (a `ValueError`; the message lists the bundled ones and the
        closest).
    """
    _check(name)
    if name == "wti":
        return _wti()
    from diffbt.data.io import load_market

    assets = ["sp500", "nasdaq"] if name == "sp500_nasdaq" else [name]
    return load_market({a: _arch_file(a) for a in assets}, strict=True)
