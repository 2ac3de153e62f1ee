"""backtrader data feeds from a `Market` or from one path of a `PathSet`.

Two feed families carry the same bars:

- `ArrayData`: reads numpy arrays (one row per bar, preloaded in bulk): what the path runner
  uses, about 2-3x faster than `PandasData`, which does one ``.iloc`` lookup per line per bar.
- `PandasData` subclasses (`pandas_feed_class`, `ForecastData`): the feed backtrader users
  know; extra lines are declared as ``lines`` plus a ``params`` column mapping.

Both declare extra lines the backtrader way (``lines = ("lo", "mid", "hi")``) and set
``timeframe``/``compression`` from the bar spacing (daily, hourly, minutes...).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from functools import lru_cache

import backtrader as bt
import numpy as np
import pandas as pd

from diffbt.bt import _compat  # noqa: F401  (backtrader fixes for Python >= 3.10)
from diffbt.data.calendar import bar_spacing
from diffbt.data.market import FIELDS, Market

__all__ = [
    "ArrayData",
    "ForecastData",
    "array_feed_class",
    "bar_timeframe",
    "bt_datetimes",
    "feed_market",
    "market_feeds",
    "pandas_feed_class",
    "path_feeds",
    "same_bar_spacing",
    "values_feeds",
]

_BASE_LINES = ("open", "high", "low", "close", "volume", "openinterest")


# -- calendar --------------------------------------------------------------------------------
def bar_timeframe(freq: pd.Timedelta | None) -> tuple[int, int]:
    """backtrader ``(timeframe, compression)`` for a bar spacing.

    Daily-ish spacing (20 h to 4 days, weekends skipped) -> ``(Days, 1)``; a week -> ``Weeks``;
    about a month -> ``Months``; below a day -> ``Minutes`` (or ``Seconds``) with the
    compression in those units, e.g. hourly -> ``(Minutes, 60)``.
    """
    if freq is None or pd.isna(freq):
        return bt.TimeFrame.Days, 1
    freq = pd.Timedelta(freq)
    if freq >= pd.Timedelta(hours=20):
        days = freq / pd.Timedelta(days=1)
        if days < 4.5:
            return bt.TimeFrame.Days, max(1, round(days)) if days > 1.5 else 1
        if days < 10:
            return bt.TimeFrame.Weeks, 1
        return bt.TimeFrame.Months, max(1, round(days / 30.4))
    seconds = freq / pd.Timedelta(seconds=1)
    if seconds >= 60 and seconds % 60 == 0:
        return bt.TimeFrame.Minutes, int(seconds // 60)
    return bt.TimeFrame.Seconds, max(1, int(round(seconds)))


def same_bar_spacing(a: pd.Timedelta | None, b: pd.Timedelta | None) -> bool:
    """Whether two bar spacings are the same kind of bar (`bar_timeframe` agrees).

    Daily bars on business days and on every day agree (both 1 day apart at the median);
    daily and hourly, or 1-hour and 4-hour bars do not. An unknown spacing (None) agrees with
    anything.
    """
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return True
    return bar_timeframe(a) == bar_timeframe(b)


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_localize(None) if index.tz is not None else index


def bt_datetimes(index: pd.DatetimeIndex) -> np.ndarray:
    """backtrader's float datetimes (``bt.date2num``) of an index; tz-aware -> wall clock.

    Computed with backtrader's own `date2num`, so values equal what `PandasData` stores.
    """
    return np.array([bt.date2num(ts) for ts in _naive(index).to_pydatetime()], dtype=np.float64)


def _index_from_bt(nums: np.ndarray) -> pd.DatetimeIndex:
    """Inverse of `bt_datetimes`, to the microsecond."""
    nums = np.asarray(nums, dtype=np.float64)
    us = np.round((nums - 719163.0) * 86_400_000_000.0).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(us, unit="us"))


# -- numpy-backed feed -----------------------------------------------------------------------
class ArrayData(bt.feed.DataBase):
    """A feed over numpy arrays: OHLCV plus any extra lines a subclass declares.

    Params
    ------
    dataname : ndarray, shape (n_bars, 5 + n_extra)
        ``open high low close volume`` then the extra lines in declaration order.
    datetimes : ndarray, shape (n_bars,)
        backtrader float datetimes (`bt_datetimes`).
    regime : str or None
        The regime label of the whole path (synthetic paths), readable as ``data.p.regime``.

    With ``preload`` (backtrader's default) all bars are copied into the line buffers at
    once; without it, bar by bar from Python lists.
    """

    params = (("datetimes", None), ("regime", None))

    def start(self) -> None:
        super().start()
        values = np.asarray(self.p.dataname, dtype=np.float64)
        names = self._data_lines()
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(f"feed array must have shape (n_bars, {len(names)}) for lines "
                             f"{names}, got {values.shape}")
        dts = np.asarray(self.p.datetimes, dtype=np.float64)
        if dts.shape != (values.shape[0],):
            raise ValueError(f"{len(dts)} datetimes for {values.shape[0]} bars")
        self._cols = [values[:, k] for k in range(values.shape[1])]
        self._dts = dts
        self._rows = None
        self._idx = -1

    @classmethod
    def _data_lines(cls) -> tuple[str, ...]:
        extra = tuple(a for a in cls.lines.getlinealiases() if a not in _BASE_LINES
                      and a != "datetime")
        return tuple(FIELDS) + extra

    def preload(self) -> None:
        # Bulk version of `DataBase.preload` (no filters, no tz shifts, no from/to dates on
        # this feed): the same line buffers `load()` would have built bar by bar.
        if self._filters or self._ffilters or self._tzinput or self._idx >= 0:
            return super().preload()
        n = len(self._dts)
        names = self._data_lines()
        lines = self.lines
        lines.datetime.array = array("d", self._dts.tobytes())
        for name, col in zip(names, self._cols, strict=True):
            getattr(lines, name).array = array("d", col.tobytes())
        lines.openinterest.array = array("d", bytes(8 * n))
        for k in range(lines.fullsize()):
            line = lines[k]
            line.idx = n - 1
            line.lencount = n
        self._idx = n - 1
        self._last()
        self.home()

    def _load(self) -> bool:
        if self._rows is None:
            self._rows = [c.tolist() for c in self._cols]
            self._dtl = self._dts.tolist()
            self._names = self._data_lines()
        self._idx += 1
        i = self._idx
        if i >= len(self._dtl):
            return False
        lines = self.lines
        for name, col in zip(self._names, self._rows, strict=True):
            getattr(lines, name)[0] = col[i]
        lines.openinterest[0] = 0.0
        lines.datetime[0] = self._dtl[i]
        return True


@lru_cache(maxsize=64)
def array_feed_class(extra_lines: tuple[str, ...] = ()) -> type[ArrayData]:
    """An `ArrayData` subclass declaring `extra_lines` (cached; ``()`` -> `ArrayData`)."""
    if not extra_lines:
        return ArrayData
    _check_line_names(extra_lines)
    name = "ArrayData_" + "_".join(extra_lines)
    return type(name, (ArrayData,), {"lines": tuple(extra_lines), "__module__": __name__})


# -- pandas feed -----------------------------------------------------------------------------
class ForecastData(bt.feeds.PandasData):
    """`PandasData` with forecast-interval lines ``lo mid hi`` (columns of the same names).

    The backtrader pattern for extra columns::

        class ForecastData(bt.feeds.PandasData):
            lines = ("lo", "mid", "hi")
            params = (("lo", -1), ("mid", -1), ("hi", -1))   # -1: find the column by name
    """

    lines = ("lo", "mid", "hi")
    params = (("lo", -1), ("mid", -1), ("hi", -1), ("regime", None))


@lru_cache(maxsize=64)
def pandas_feed_class(extra_lines: tuple[str, ...] = ()) -> type[bt.feeds.PandasData]:
    """A `PandasData` subclass with `extra_lines` read from columns of the same names."""
    if extra_lines == ("lo", "mid", "hi"):
        return ForecastData
    _check_line_names(extra_lines)
    name = "PandasData_" + "_".join(extra_lines) if extra_lines else "PandasData_ohlcv"
    params = tuple((n, -1) for n in extra_lines) + (("regime", None),)
    return type(name, (bt.feeds.PandasData,),
                {"lines": tuple(extra_lines), "params": params, "__module__": __name__})


def _check_line_names(names: Sequence[str]) -> None:
    reserved = set(_BASE_LINES) | {"datetime"}
    for n in names:
        if not str(n).isidentifier() or n in reserved:
            raise ValueError(f"extra line name {n!r} must be an identifier other than "
                             f"{sorted(reserved)}")
    if len(set(names)) != len(names):
        raise ValueError(f"extra line names must be unique, got {list(names)}")


# -- builders --------------------------------------------------------------------------------
ExtraLines = Mapping[str, Mapping[str, np.ndarray] | pd.DataFrame]


def _extra_for(extra: ExtraLines | None, asset: str, n: int) -> dict[str, np.ndarray]:
    if not extra or asset not in extra:
        return {}
    cols = extra[asset]
    items = cols.items() if isinstance(cols, pd.DataFrame) else cols.items()
    out = {}
    for name, col in items:
        col = np.asarray(col, dtype=np.float64)
        if col.shape != (n,):
            raise ValueError(f"extra line {name!r} of {asset!r} has shape {col.shape}, "
                             f"expected ({n},)")
        out[str(name)] = col
    return out


def values_feeds(values: np.ndarray, index: pd.DatetimeIndex, assets: Sequence[str], *,
                 extra: ExtraLines | None = None, fast: bool = True,
                 datetimes: np.ndarray | None = None,
                 regime: str | None = None) -> list[bt.feed.DataBase]:
    """One feed per asset from an OHLCV block of shape (n_bars, n_assets, 5).

    Parameters
    ----------
    values : ndarray, shape (n_bars, n_assets, 5)
    index : DatetimeIndex
    assets : sequence of str
        Feed names (``cerebro.adddata(feed, name=asset)`` is not needed: ``_name`` is set).
    extra : mapping, optional
        ``{asset: {line: array (n_bars,)}}`` or ``{asset: DataFrame}``: extra lines.
    fast : bool
        `ArrayData` (True) or `PandasData` subclasses (False).
    datetimes : ndarray, optional
        Precomputed `bt_datetimes(index)` (the runner computes them once for all paths).
    regime : str, optional
        Path regime label, available as ``feed.p.regime``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] != len(assets) or values.shape[2] != len(FIELDS):
        raise ValueError(f"values must have shape (n_bars, {len(assets)}, 5), got {values.shape}")
    n = values.shape[0]
    if len(index) != n:
        raise ValueError(f"{n} bars but an index of {len(index)}")
    timeframe, compression = bar_timeframe(bar_spacing(index))
    if fast and datetimes is None:
        datetimes = bt_datetimes(index)
    feeds = []
    for j, asset in enumerate(assets):
        cols = _extra_for(extra, asset, n)
        names = tuple(cols)
        if fast:
            block = np.column_stack([values[:, j, :], *cols.values()]) if cols else values[:, j, :]
            feed = array_feed_class(names)(
                dataname=np.ascontiguousarray(block), datetimes=datetimes, name=asset,
                timeframe=timeframe, compression=compression, regime=regime)
        else:
            frame = pd.DataFrame(values[:, j, :], index=_naive(index), columns=list(FIELDS))
            for k, col in cols.items():
                frame[k] = col
            feed = pandas_feed_class(names)(
                dataname=frame, name=asset, timeframe=timeframe, compression=compression,
                openinterest=None, regime=regime)
        feeds.append(feed)
    return feeds


def market_feeds(market: Market, *, extra: ExtraLines | None = None,
                 fast: bool = True) -> list[bt.feed.DataBase]:
    """One feed per asset of a `Market`, named by asset.

    >>> for feed in market_feeds(market):          # doctest: +SKIP
    ...     cerebro.adddata(feed)
    """
    return values_feeds(market.values, market.index, market.assets, extra=extra, fast=fast)


def path_feeds(paths, i: int, *, extra: ExtraLines | None = None,
               fast: bool = True) -> list[bt.feed.DataBase]:
    """One feed per asset of path `i` of a `PathSet`, named by asset (regime in ``p.regime``)."""
    if not -paths.n_paths <= i < paths.n_paths:
        raise IndexError(f"path {i} out of range for {paths.n_paths} paths")
    regime = None if paths.regimes is None else str(paths.regimes[i])
    return values_feeds(np.asarray(paths.values[i]), paths.index, paths.assets, extra=extra,
                        fast=fast, regime=regime)


def feed_market(datas: Sequence[bt.feed.DataBase]) -> Market:
    """The preloaded bars of some feeds as a `Market` (they must share one calendar)."""
    if not datas:
        raise ValueError("no feeds")
    dts = np.asarray(datas[0].datetime.array, dtype=np.float64)
    blocks = []
    for d in datas:
        if len(d.datetime.array) != len(dts) or not np.array_equal(
                np.asarray(d.datetime.array), dts):
            raise ValueError(f"feeds {datas[0]._name!r} and {d._name!r} are not on one calendar")
        blocks.append(np.column_stack([np.asarray(getattr(d.lines, f).array, dtype=np.float64)
                                       for f in FIELDS]))
    values = np.stack(blocks, axis=1)
    values[..., 4] = np.where(np.isnan(values[..., 4]), 0.0, values[..., 4])
    names = tuple(d._name or f"data{k}" for k, d in enumerate(datas))
    return Market(values, _index_from_bt(dts), names)

