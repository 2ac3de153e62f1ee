"""Load OHLCV bars from CSV, parquet or DataFrames into a validated `Market`.

>>> market = diffbt.load_market({"spy": "spy.csv", "qqq": "qqq.parquet"})   # doctest: +SKIP

Reading (`read_ohlcv`) finds the columns; validating (`diffbt.data.validate`) checks them;
`load_market` does both per asset, aligns the assets and builds the `Market`.

Files
    CSV (plain or compressed) or parquet; the encoding, the CSV layout (separator, preamble
    lines, yfinance's header rows, headerless Binance / Kraken / MetaTrader exports) and
    the number formats (``1,234.5``, ``1.234,5``, ``12,5``, ``1.2M``) are recognised as
    `diffbt.data.formats` lists. A yfinance file of several tickers gives one asset per
    ticker. Other files without a header are an error that says so.
Columns
    Matched case-insensitively, ignoring spaces, ``_``, ``-`` and ``<>``: ``open``/``o``,
    ``high``/``h``, ``low``/``l``, ``close``/``c`` (else a single ``price`` or ``last``),
    ``volume``/``vol``/``v`` (else the first column named ``volume ...``, e.g. ``Volume
    BTC``), ``adj close`` (``Adj Close``, ``Adj_Close``, ``adjusted close``). Other columns are
    ignored (logged).
Timestamp
    A column named ``timestamp``, ``datetime``, ``date``, ``time``, ``open time``, ``ts``,
    ``unix`` or ``t`` (separate ``date`` and ``time`` columns are joined); else a
    DataFrame's DatetimeIndex; else (CSV) the first column when it is not a price column.
    Values are datetime strings, ``YYYYMMDD`` integers or unix times in s, ms, us or ns
    (see `diffbt.data.formats`).
Time zones
    Everything is tz-naive. Unix times are UTC. Time-zone-aware timestamps lose their time
    zone (a reported repair): intraday bars are converted to UTC; daily and slower bars keep
    their local dates and times, so daily bars of exchanges in different time zones align.
    The same holds for strings with mixed UTC offsets (``+01:00`` in winter, ``+02:00`` in
    summer): each daily bar keeps its own local date, intraday bars go to UTC.
    Naive timestamps are kept as they are.
Rows in errors
    ``DataError.row`` is, for CSV files, the line number an editor shows (the header is
    line 1, the first data row line 2; quoted cells must not contain line breaks); for
    parquet files and DataFrames, the frame's index label (0-based position for a default
    RangeIndex; the timestamp for a DatetimeIndex). Messages add the timestamp when known.

Every dirty case ends in a reported repair (listed in ``Market.repairs`` and emitted as a
`DataRepairWarning`; ``strict=True`` turns each into a `DataError`) or in a `DataError`
naming the file, the column and the first offending row:

===========================================  ==============================================
case                                         outcome
===========================================  ==============================================
rows newest-first                            repair: re-sorted oldest-first
rows in any other order                      error at the first row out of order
exact duplicate rows                         repair: dropped, counted
duplicate timestamp, different values        error naming the differing column
unix times mixing seconds and milliseconds   error (ambiguous) at the first row that differs
Binance open times: ms, then microseconds    repair: each read by its magnitude
unparseable date                             error with the row and the value
blank CSV line (every cell empty)            repair: dropped, listed
NaN / empty / infinite cell                  error (no silent fill)
zero or negative price                       error
price outside 1e-12 .. 1e12, volume > 1e18   error (the bounds in the message)
high < low; open or close outside the bar    error
negative volume                              error
no volume column                             repair: volume 0
time-zone-aware timestamps                   repair: tz dropped (intraday: UTC)
gap in a regular calendar                    error at the first gap; ``gaps="ffill"`` (CLI
                                             ``--gaps ffill``): repair, flat bars with
                                             volume 0 filled in
irregular spacing (step < bar frequency)     error
bars outside the assets' common span         repair: dropped, counted per asset
bars inside it not shared by all assets      repair if >= 50% of the asset's bars there
                                             are shared, else error naming the asset
spans that do not overlap                    error naming the assets
too few common bars (< ``min_length``, or   error
< ``window + 1`` with a model window)
assets with different bar frequencies        error
not CSV/parquet, unreadable, empty           error naming the file
a directory; a missing file                  error saying so, with the closest file or
                                             bundled dataset name
missing open/high/low/close column           error naming the file and the columns found
CSV without a header line                    error (unless a recognised export)
===========================================  ==============================================

Suspicious values are kept but reported (`diffbt.data.validate.check_outliers`; listed in
``Market.repairs``, text starting ``suspicious``, and emitted as a `DataWarning`, also under
``strict=True``): a one-bar move of over 12 robust standard deviations of the log returns
(and at least -29 % / +40 %), reported as a possible unadjusted split when it lasts (the
fix: ``adjust="close"``, CLI ``--adjust close``, with an Adj Close column) or a bad value
when the next bar undoes it; a bar whose ``log(high / low)`` is over 12 robust sd above the
median (and high at least 5 times low), a bad tick.

Calendars (see `diffbt.data.validate.check_calendar`): data with any Saturday bar trades
24/7 and every missing bar is a gap (for daily bars: a step over 1.5 days); daily data
otherwise follows business days, where weekends and holidays are not gaps but more than 5
business days without a bar are; intraday data otherwise follows sessions: a missing bar
inside a day is a gap, the nights, weekends and holidays between sessions are not (a
session's first or last missing bars are not detected); weekly and slower data gaps at a
step over 1.5 bars.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from diffbt.data import formats
from diffbt.data import validate as v
from diffbt.data.market import FIELDS, Market
from diffbt.errors import DataError, DataRepairWarning, DataWarning

__all__ = ["load_market", "read_ohlcv"]

logger = logging.getLogger(__name__)

Source = str | Path | pd.DataFrame

_TIME_NAMES = ("timestamp", "datetime", "date", "time", "opentime", "ts", "unix", "t")
_FIELD_NAMES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adjclose", "adjustedclose"),
}
_FALLBACK_NAMES = {"close": ("price", "last")}  # used when there is no "close" column


# -- reading ----------------------------------------------------------------------------------
def read_ohlcv(source: Source, *, name: str | None = None,
               ticker: str | None = None) -> pd.DataFrame:
    """Read one asset's bars and find its timestamp and OHLC(V) columns; no validation.

    Parameters
    ----------
    source : path or DataFrame
        A CSV or parquet file (by extension, else by content), or a DataFrame.
    name : str, optional
        Label of the source in errors; default the file name, or ``"DataFrame"``.
    ticker : str, optional
        Which ticker of a yfinance export holding several (`load_market` reads each as an
        asset); the only ticker by default.

    Returns
    -------
    DataFrame
        Rows in source order (nothing dropped), indexed by the row label errors use (see
        the module docstring), with a ``timestamp`` column (datetime64, NaT where empty) and
        float64 ``open high low close`` (+ ``volume`` and ``adj_close`` where present, NaN
        where empty). Timestamps with mixed UTC offsets are in UTC with a ``utc_offset``
        column (timedelta) giving each row's offset. ``attrs["file"]`` is the label,
        ``attrs["columns"]`` maps each field to the source's column name,
        ``attrs["layout"]`` names a recognised export (``"yfinance"``, ``"binance"``, ...),
        ``attrs["ticker"]`` the ticker a yfinance export names.

    Raises
    ------
    DataError
        Missing, empty or unreadable file; not CSV/parquet; no timestamp or price column;
        a number or date that cannot be parsed; unix times mixing units.
    """
    if isinstance(source, pd.DataFrame):
        label = name or "DataFrame"
        return _from_frame(source.copy(), label, csv=False)
    path = Path(source).expanduser()
    label = name or path.name
    raw = _read_file(path, label, ticker=ticker)
    return _from_frame(raw, label, csv=not formats.is_parquet(path))


def _missing(path: Path, label: str) -> DataError:
    """The error for a path that is not there, with the closest names that are."""
    from diffbt.data import datasets

    if not path.suffix and len(path.parts) == 1:  # a bare word: maybe a dataset name
        close = difflib.get_close_matches(path.name, datasets.names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return DataError(f"no such file, and not a bundled dataset (bundled: "
                         f"{', '.join(datasets.names())}){hint}", file=label)
    parent = path.parent
    hint = ""
    if parent.is_dir():
        try:
            names = sorted(p.name for p in parent.iterdir() if p.is_file())
        except OSError:
            names = []
        close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
        hint = f"; did you mean {str(parent / close[0])!r}?" if close else ""
    elif str(parent) not in ("", "."):
        hint = f"; the folder {str(parent)!r} does not exist either"
    return DataError("no such file" + hint, file=label)


def _read_file(path: Path, label: str, *, ticker: str | None = None) -> pd.DataFrame:
    if path.is_dir():
        try:
            inside = sorted(p.name for p in path.iterdir()
                            if p.suffix.lower() in formats.CSV + formats.PARQUET)[:3]
        except OSError:
            inside = []
        shown = f" (it holds {', '.join(inside)}{', ...' if len(inside) == 3 else ''})" \
            if inside else ""
        raise DataError(f"is a directory, not a data file{shown}; pass the CSV/parquet files "
                        "themselves, one per asset", file=label)
    if not path.exists():
        raise _missing(path, label)
    if not path.is_file():
        raise DataError("not a regular file", file=label)
    try:
        if path.stat().st_size == 0:
            raise DataError("empty file", file=label)
        parquet = formats.is_parquet(path)
    except OSError as e:
        raise DataError(f"cannot read the file: {e.strerror or e}", file=label) from e
    suffixes = [s.lower() for s in path.suffixes]
    compressed = len(suffixes) >= 2 and suffixes[-1] in formats.COMPRESSED and \
        suffixes[-2] in formats.CSV
    if parquet:
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for damaged files
            raise DataError(f"cannot read parquet file: {e}", file=label) from e
        if df.empty:
            raise DataError("parquet file has no rows", file=label)
        return df
    if suffixes and suffixes[-1] in formats.PARQUET:
        raise DataError("not a parquet file (no PAR1 magic bytes)", file=label)
    if suffixes and suffixes[-1] in formats.OTHER:
        raise DataError(f"not a CSV or parquet file ({suffixes[-1]}); save it as CSV or "
                        "parquet", file=label)
    if not compressed and suffixes and suffixes[-1] not in formats.CSV:
        logger.info("%s: unknown extension %r, reading it as CSV", label, suffixes[-1])
    return formats.read_csv(path, label, compression=suffixes[-1] if compressed else None,
                            ticker=ticker)


def _from_frame(df: pd.DataFrame, label: str, *, csv: bool) -> pd.DataFrame:
    if df.empty:
        raise DataError("no data rows", file=label)
    keys: dict[str, list[object]] = {}
    for c in df.columns:
        keys.setdefault(formats.column_key(c), []).append(c)
    cols: dict[str, object] = {}
    for field, names in _FIELD_NAMES.items():
        found = [c for n in names for c in keys.get(n, [])]
        if len(found) > 1:
            raise DataError(f"columns {found} all look like {field!r}; keep one",
                            file=label, column=str(found[1]))
        if found:
            cols[field] = found[0]
    for field, names in _FALLBACK_NAMES.items():  # e.g. Investing.com's "Price"
        found = [c for n in names for c in keys.get(n, [])]
        if field not in cols and len(found) == 1:
            cols[field] = found[0]
            logger.info("%s: using column %r as %r", label, str(found[0]), field)
    if "volume" not in cols:  # "Volume BTC", "Volume USDT": the first is the base asset's
        vols = [c for c in df.columns if formats.column_key(c).startswith(("volume", "vol"))
                and c not in cols.values()]
        if vols:
            cols["volume"] = vols[0]
            logger.info("%s: using column %r as 'volume'", label, str(vols[0]))
    missing = [f for f in ("open", "high", "low", "close") if f not in cols]
    if missing:
        hint = "; 'adj close' is only used to adjust with adjust='close'" if \
            "adj_close" in cols and "close" in missing else ""
        raise DataError(f"no {missing} column(s); found columns {list(map(str, df.columns))}"
                        + hint, file=label)

    time_col = next((c for n in _TIME_NAMES for c in keys.get(n, [])), None)
    date_and_time = [keys[n][0] for n in ("date", "time") if n in keys]
    if len(date_and_time) == 2 and not any(n in keys for n in ("timestamp", "datetime")):
        d, t = date_and_time  # separate date and time columns (e.g. MetaTrader exports)
        time_col = f"{d} + {t}"
        df[time_col] = df[d].astype("string") + " " + df[t].astype("string")
        cols_used = {d, t}
    else:
        cols_used = set()
    if time_col is None and isinstance(df.index, pd.DatetimeIndex):
        times, time_name = pd.Series(df.index, index=df.index), "index"
    elif time_col is None and csv and df.columns[0] not in cols.values():
        time_col = df.columns[0]
    elif time_col is None:
        raise DataError("no timestamp: expected a column named one of "
                        f"{list(_TIME_NAMES)} or a DatetimeIndex; found columns "
                        f"{list(map(str, df.columns))}", file=label)
    if time_col is not None:
        times, time_name = df[time_col], str(time_col)

    out = pd.DataFrame(index=df.index)
    out["timestamp"], offsets = formats.parse_times(times, label, time_name)
    if offsets is not None:
        out["utc_offset"] = offsets
    for field, c in cols.items():
        out[field] = formats.parse_numbers(df[c], label, str(c))
    ignored = [str(c) for c in df.columns
               if c not in cols.values() and c != time_col and c not in cols_used]
    if ignored:
        logger.info("%s: ignoring columns %s", label, ignored)
    out.attrs = {"file": label,
                 "columns": {"timestamp": time_name, **{f: str(c) for f, c in cols.items()}},
                 "source_columns": list(map(str, df.columns)),
                 **{k: df.attrs[k] for k in ("layout", "ticker", "read_repairs")
                    if df.attrs.get(k) is not None}}
    return out


# -- loading ----------------------------------------------------------------------------------
def _named_sources(source: object) -> list[tuple[str, Source, str | None]]:
    """-> [(asset name, source, label for errors)]."""
    def stem(p: Path) -> str:
        name = p.name
        for s in reversed(p.suffixes):
            if s.lower() in formats.CSV + formats.PARQUET + formats.COMPRESSED:
                name = name[: -len(s)]
        return name

    if isinstance(source, pd.DataFrame):
        return [("asset", source, "DataFrame")]
    if isinstance(source, str | Path):
        return [(stem(Path(source)), source, None)]
    if isinstance(source, Mapping):
        items = [(str(k), s) for k, s in source.items()]
    elif isinstance(source, Sequence) and len(source) > 0:
        items = [(stem(Path(s)), s) if isinstance(s, str | Path) else (f"asset{i}", s)
                 for i, s in enumerate(source)]
    else:
        raise TypeError("source must be a path, a DataFrame, a mapping name -> path/DataFrame "
                        f"or a non-empty list of paths, got {type(source).__name__}")
    names = [n for n, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"asset names {dupes} appear twice; pass a mapping name -> path")
    return [(n, s, f"DataFrame {n!r}" if isinstance(s, pd.DataFrame) else None)
            for n, s in items]


def _load_one(source: Source, label: str | None, *, adjust: Literal[False, "close"],
              start: object, end: object, gaps: str, ticker: str | None = None
              ) -> tuple[pd.DataFrame, list[v.Repair]]:
    frame = read_ohlcv(source, name=label, ticker=ticker)
    file = frame.attrs["file"]
    if adjust is False and "adj_close" in frame:  # unused: not validated either
        attrs, frame = frame.attrs, frame.drop(columns="adj_close")
        frame.attrs = attrs
    if adjust == "close" and "adj_close" not in frame:
        done = "; a yfinance export made with auto_adjust=True (its default) is adjusted " \
            "already: load it without adjust" if frame.attrs.get("layout") == "yfinance" else ""
        raise DataError("adjust='close' (CLI: --adjust close) needs an adjusted close column "
                        "('Adj Close' or 'adj_close'); this file has none (columns: "
                        f"{frame.attrs.get('source_columns')}){done}", file=file,
                        column="adj close")
    repairs = [v.Repair(msg, file=file, column=col, row=row)
               for msg, col, row in frame.attrs.get("read_repairs", [])]
    frame, r = v.drop_blank_rows(frame)
    repairs += r
    v.check_missing(frame)
    v.check_prices(frame)
    v.check_bars(frame)
    v.check_volume(frame)
    for step in (v.add_missing_volume, v.drop_timezone, v.sort_by_time, v.drop_duplicates):
        frame, r = step(frame)
        repairs += r
    if adjust == "close":
        ratio = frame["adj_close"] / frame["close"]
        attrs, frame = frame.attrs, frame.assign(**{f: frame[f] * ratio for f in v.PRICES})
        frame.attrs = attrs
        v.check_prices(frame)
    t = frame["timestamp"]
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (t >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        keep &= (t <= pd.Timestamp(end)).to_numpy()
    if not keep.all():
        attrs = frame.attrs
        frame = frame.iloc[np.flatnonzero(keep)]
        frame.attrs = attrs
    if frame.empty:
        raise DataError(f"no bars between start={start} and end={end}", file=file)
    frame, r = v.check_calendar(frame, gaps=gaps)
    repairs += r
    repairs += v.check_outliers(frame)
    out = frame.set_index("timestamp")[list(FIELDS)].astype("float64")
    out.index = pd.DatetimeIndex(out.index).as_unit("ns")
    out.attrs = frame.attrs
    return out, repairs


def _align(frames: dict[str, pd.DataFrame]) -> tuple[pd.DatetimeIndex, list[v.Repair]]:
    names = list(frames)
    label = {a: f.attrs["file"] for a, f in frames.items()}
    freqs = {a: v.infer_freq(f.index) for a, f in frames.items()}
    if len({f for f in freqs.values() if f is not None}) > 1:
        raise DataError(f"assets have different bar frequencies: {freqs}")
    latest = max(names, key=lambda a: frames[a].index[0])
    earliest = min(names, key=lambda a: frames[a].index[-1])
    lo, hi = frames[latest].index[0], frames[earliest].index[-1]
    if lo > hi:
        raise DataError(f"no overlap: asset {earliest!r} ends at {hi}, before asset {latest!r} "
                        f"starts at {lo}", file=label[earliest])
    index = frames[names[0]].index
    for a in names[1:]:
        index = index.intersection(frames[a].index)
    repairs = []
    for a, f in frames.items():
        outside = int(((f.index < lo) | (f.index > hi)).sum())
        inside = len(f) - outside
        if len(index) < 0.5 * inside:
            raise DataError(f"asset {a!r}: only {len(index)} of its {inside} bars in the common "
                            f"span {lo} .. {hi} share a timestamp with all other assets "
                            "(need 50%)", file=label[a])
        if outside:
            repairs.append(v.Repair(f"asset {a!r}: dropped {outside} bar(s) outside the span "
                                    f"{lo} .. {hi} that all assets cover", file=label[a]))
        unmatched = f.index[(f.index >= lo) & (f.index <= hi)].difference(index)
        if len(unmatched):
            repairs.append(v.Repair(f"asset {a!r}: dropped {len(unmatched)} bar(s) that other "
                                    f"assets lack, the first at {unmatched[0]}", file=label[a]))
    return index, repairs


def load_market(
    source: Source | Mapping[str, Source] | Sequence[Source],
    *,
    min_length: int = 2,
    window: int | None = None,
    start: object = None,
    end: object = None,
    adjust: Literal[False, "close"] = False,
    gaps: Literal["error", "ffill"] = "error",
    strict: bool = False,
) -> Market:
    """Read, validate and align OHLCV bars of one or more assets into a `Market`.

    Parameters
    ----------
    source : path, DataFrame, mapping or list
        A CSV/parquet path or a DataFrame (one asset, named after the file stem, or
        ``"asset"``), a mapping ``name -> path or DataFrame``, or a list of paths. A yfinance
        export of several tickers gives one asset per ticker, named after it.
    min_length : int
        Fewest common bars accepted.
    window : int, optional
        The model window; the market must then have at least ``window + 1`` bars (one bar
        gives the first previous close of the features).
    start, end : timestamp-like, optional
        Keep bars with ``start <= timestamp <= end``.
    adjust : False or "close"
        ``"close"`` scales open, high, low and close by ``Adj Close / Close`` per row (a
        `DataError` naming the file when it has no such column).
    gaps : "error" or "ffill"
        A gap in the calendar raises, or is filled with flat bars (a reported repair).
    strict : bool
        Raise a `DataError` instead of making any repair (suspicious values still only
        warn).

    Returns
    -------
    Market
        Bars on the assets' common timestamps; ``repairs`` lists every repair made, each
        also emitted as a `DataRepairWarning`, and every suspicious value, each also
        emitted as a `DataWarning`.

    Raises
    ------
    DataError
        See the module docstring's table.
    """
    if adjust not in (False, "close"):
        raise ValueError(f"adjust must be False or 'close', got {adjust!r}")
    if gaps not in ("error", "ffill"):
        raise ValueError(f"gaps must be 'error' or 'ffill', got {gaps!r}")
    frames: dict[str, pd.DataFrame] = {}
    repairs: list[v.Repair] = []

    def note(rs: list[v.Repair]) -> None:
        if strict:
            refused = [r for r in rs if not isinstance(r, v.Suspect)]
            if refused:
                raise refused[0].error()
        repairs.extend(rs)

    for asset, src, label, ticker in _expand_tickers(_named_sources(source)):
        if asset in frames:
            raise DataError(f"asset name {asset!r} appears twice; pass a mapping name -> path",
                            file=label or str(src))
        frame, r = _load_one(src, label, adjust=adjust, start=start, end=end, gaps=gaps,
                             ticker=ticker)
        note(r)
        frames[asset] = frame
    index, r = _align(frames)
    note(r)
    need = max(min_length, 0 if window is None else window + 1)
    if len(index) < need:
        what = f"window={window} needs" if window is not None and need > min_length \
            else f"min_length={min_length} needs"
        files = [f.attrs["file"] for f in frames.values()]
        raise DataError(f"only {len(index)} common bars; {what} at least {need}",
                        file=files[0] if len(files) == 1 else ", ".join(files))
    values = np.stack([frames[a].loc[index].to_numpy(dtype=np.float64) for a in frames], axis=1)
    for r in repairs:
        warnings.warn(str(r), DataWarning if isinstance(r, v.Suspect) else DataRepairWarning,
                      stacklevel=2)
    return Market(values, index, tuple(frames), repairs=tuple(str(r) for r in repairs),
                  sources=tuple(dict.fromkeys(f.attrs["file"] for f in frames.values())))


def _expand_tickers(named: list[tuple[str, Source, str | None]]
                    ) -> list[tuple[str, Source, str | None, str | None]]:
    """A yfinance export with several tickers -> one asset per ticker, named after it."""
    out: list[tuple[str, Source, str | None, str | None]] = []
    for asset, src, label in named:
        tickers = [] if isinstance(src, pd.DataFrame) else formats.yfinance_tickers(src)
        if len(tickers) > 1:
            base = label or Path(src).name
            out += [(t, src, f"{base} [{t}]", t) for t in tickers]
        else:
            out.append((asset, src, label, None))
    return out
