"""`Market`: aligned per-asset OHLCV bars on one calendar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from diffbt.data.calendar import bar_spacing, periods_per_year

__all__ = ["FIELDS", "Market"]

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class Market:
    """Aligned OHLCV bars of one or more assets on a common calendar.

    Parameters
    ----------
    values : ndarray, shape (length, n_assets, 5)
        Fields in the order of `FIELDS` (open, high, low, close, volume), float64.
    index : DatetimeIndex
        Sorted, unique timestamps, one per bar.
    assets : sequence of str
        Asset names, one per entry of axis 1.
    freq : Timedelta or None
        The regular bar spacing (the median step); None with fewer than two bars.
    repairs : tuple of str
        Human-readable repairs made while loading (re-sorting, duplicates dropped, ...).
    sources : tuple of str
        The files (or dataset names) the bars were read from, for messages.

    Use `diffbt.load_market` to build one from files or frames; it validates the data.
    """

    values: np.ndarray
    index: pd.DatetimeIndex
    assets: tuple[str, ...]
    freq: pd.Timedelta | None = None
    repairs: tuple[str, ...] = field(default=())
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        values = np.ascontiguousarray(self.values, dtype=np.float64)
        if values.ndim != 3 or values.shape[2] != len(FIELDS):
            raise ValueError(f"values must have shape (length, n_assets, 5), got {values.shape}")
        if values.shape[0] != len(self.index):
            raise ValueError(f"{values.shape[0]} bars but an index of {len(self.index)}")
        if values.shape[1] != len(self.assets):
            raise ValueError(f"{values.shape[1]} assets in values but names {list(self.assets)}")
        if len(set(self.assets)) != len(self.assets):
            raise ValueError(f"asset names must be unique, got {list(self.assets)}")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "index", pd.DatetimeIndex(self.index))
        object.__setattr__(self, "assets", tuple(str(a) for a in self.assets))
        object.__setattr__(self, "repairs", tuple(self.repairs))
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        if self.freq is None:
            object.__setattr__(self, "freq", bar_spacing(self.index))

    # -- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def periods_per_year(self) -> float:
        """Bars per year (`diffbt.data.calendar.periods_per_year`: 252 for business days,
        365 for every day, bars per day times those for intraday bars)."""
        return periods_per_year(self.index)

    def frame(self, asset: str) -> pd.DataFrame:
        """OHLCV DataFrame of one asset, columns ``open high low close volume``."""
        try:
            j = self.assets.index(asset)
        except ValueError:
            raise KeyError(f"unknown asset {asset!r}; assets are {list(self.assets)}") from None
        return pd.DataFrame(self.values[:, j, :].copy(), index=self.index, columns=list(FIELDS))

    def frames(self) -> dict[str, pd.DataFrame]:
        """All assets as ``{asset: OHLCV DataFrame}``."""
        return {a: self.frame(a) for a in self.assets}

    def field(self, name: str) -> pd.DataFrame:
        """One field (e.g. ``"close"``) of all assets: time x assets."""
        k = FIELDS.index(name)
        return pd.DataFrame(self.values[:, :, k].copy(), index=self.index,
                            columns=list(self.assets))

    # -- slicing -------------------------------------------------------------------------
    def loc(self, start: object = None, end: object = None) -> Market:
        """Bars with ``start <= timestamp <= end`` (either may be None)."""
        mask = np.ones(len(self.index), dtype=bool)
        if start is not None:
            mask &= self.index >= pd.Timestamp(start)
        if end is not None:
            mask &= self.index <= pd.Timestamp(end)
        return self.iloc(np.flatnonzero(mask))

    def iloc(self, rows: slice | Sequence[int] | np.ndarray) -> Market:
        """Bars by position."""
        return Market(self.values[rows], self.index[rows], self.assets, self.freq, self.repairs,
                      self.sources)

    def select(self, assets: Sequence[str]) -> Market:
        """A market with only the named assets, in that order."""
        cols = [self.assets.index(a) for a in assets]
        return Market(self.values[:, cols], self.index, tuple(assets), self.freq, self.repairs,
                      self.sources)

    def split(self, train_end: object) -> tuple[Market, Market]:
        """(bars <= train_end, bars > train_end)."""
        ts = pd.Timestamp(train_end)
        if ts.tz is not None:  # compare in UTC, as the index's integers are
            ts = ts.tz_convert("UTC").tz_localize(None)
        # the index's integers are in its own unit (pandas 3: often "us")
        cut = int(np.searchsorted(self.index.asi8, ts.as_unit(self.index.unit).asm8.view("i8"),
                                  side="right"))
        return self.iloc(slice(0, cut)), self.iloc(slice(cut, None))

    def split_fraction(self, fraction: float) -> tuple[Market, Market]:
        """Chronological split: the first `fraction` of bars, then the rest."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        cut = int(round(len(self) * fraction))
        return self.iloc(slice(0, cut)), self.iloc(slice(cut, None))

    def __repr__(self) -> str:
        span = f"{self.index[0]} .. {self.index[-1]}" if len(self) else "empty"
        return f"Market({len(self)} bars x {list(self.assets)}, {span}, freq={self.freq})"
