"""Load OHLCV bars from CSV, parquet or DataFrames into a validated `Market`.

>>> market = diffbt.load_market({"spy": "spy.csv", "qqq": "qqq.parquet"})   # doctest: +SKIP

Reading (`read_ohlcv`) finds the columns; validating (`diffbt.data.validate`) checks them;
`load_market` does both per asset, aligns the assets and builds the `Market`.

Columns
    Matched case-insensitively, ignoring spaces, ``_``, ``-`` and ``<>``: ``open``/``o``,
    ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``, ``adj close``
    (``Adj Close``, ``Adj_Close``, ``adjusted close``). Other columns are ignored (logged).
Timestamp
    A column named ``timestamp``, ``datetime``, ``date``, ``time``, ``open time``, ``ts``,
    ``unix`` or ``t`` (separate ``date`` and ``time`` columns are joined); else a
    DataFrame's DatetimeIndex; else (CSV) the first column when it is not a price column.
    Values are datetime strings (the format is inferred from the first row, every row must
    match it), ``YYYYMMDD`` integers, or unix times in seconds, milliseconds, microseconds
    or nanoseconds (told apart by magnitude).
Time zones
    Everything is tz-naive. Unix times are UTC. Time-zone-aware timestamps lose their time
    zone (a reported repair): intraday bars are converted to UTC; daily and slower bars keep
    their local dates and times, so daily bars of exchanges in different time zones align.
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
unparseable date                             error with the row and the value
blank CSV line (every cell empty)            repair: dropped, listed
NaN / empty / infinite cell                  error (no silent fill)
zero or negative price                       error
high < low; open or close outside the bar    error
negative volume                              error
no volume column                             repair: volume 0
time-zone-aware timestamps                   repair: tz dropped (intraday: UTC)
gap in a regular calendar                    error at the first gap; ``gaps="ffill"``:
                                             repair, flat bars with volume 0 filled in
irregular spacing (step < bar frequency)     error
bars outside the assets' common span         repair: dropped, counted per asset
bars inside it not shared by all assets      repair if >= 50% of the asset's bars there
                                             are shared, else error naming the asset
spans that do not overlap                    error naming the assets
too few common bars (< ``min_length``, or   error
< ``window + 1`` with a model window)
assets with different bar frequencies        error
not CSV/parquet, unreadable, empty           error naming the file
missing open/high/low/close column           error naming the file and the columns found
===========================================  ==============================================

Calendars (see `diffbt.data.validate.check_calendar`): data with any Saturday bar trades
24/7 and every missing bar is a gap (for daily bars: a step over 1.5 days); daily data
otherwise follows business days, where weekends and holidays are not gaps but more than 5
business days without a bar are; intraday data otherwise follows sessions: a missing bar
inside a day is a gap, the nights, weekends and holidays between sessions are not (a
session's first or last missing bars are not detected); weekly and slower data gaps at a
step over 1.5 bars.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from diffbt.data import validate as v
from diffbt.data.market import FIELDS, Market
from diffbt.errors import DataError, DataRepairWarning

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
_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_OTHER = (".json", ".xlsx", ".xls", ".h5", ".hdf5", ".feather", ".pkl", ".pickle", ".db")
_UNIX_UNITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", np.inf))  # unit, upper bound
_UNIX_MIN = 1e8  # 1973-03-03 in seconds; smaller numbers are not taken for unix times


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# -- reading ----------------------------------------------------------------------------------
def read_ohlcv(source: Source, *, name: str | None = None) -> pd.DataFrame:
    """Read one asset's bars and find its timestamp and OHLC(V) columns; no validation.

    Parameters
    ----------
    source : path or DataFrame
        A CSV or parquet file (by extension, else by content), or a DataFrame.
    name : str, optional
        Label of the source in errors; default the file name, or ``"DataFrame"``.

    Returns
    -------
    DataFrame
        Rows in source order (nothing dropped), indexed by the row label errors use (see
        the module docstring), with a ``timestamp`` column (datetime64, NaT where empty) and
        float64 ``open high low close`` (+ ``volume`` and ``adj_close`` where present, NaN
        where empty). ``attrs["file"]`` is the label, ``attrs["columns"]`` maps each field to
        the source's column name.

    Raises
    ------
    DataError
        Missing, empty or unreadable file; not CSV/parquet; no timestamp or price column;
        a number or date that cannot be parsed; unix times mixing units.
    """
    if isinstance(source, pd.DataFrame):
        label = name or "DataFrame"
        return _from_frame(source.copy(), label, csv=False)
    path = Path(source)
    label = name or path.name
    raw = _read_file(path, label)
    return _from_frame(raw, label, csv=not _is_parquet(path))


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_file(path: Path, label: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError("no such file", file=label)
    if path.stat().st_size == 0:
        raise DataError("empty file", file=label)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED and suffixes[-2] in _CSV
    if _is_parquet(path):
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for damaged files
            raise DataError(f"cannot read parquet file: {e}", file=label) from e
        if df.empty:
            raise DataError("parquet file has no rows", file=label)
        return df
    if suffixes and suffixes[-1] in _PARQUET:
        raise DataError("not a parquet file (no PAR1 magic bytes)", file=label)
    if suffixes and suffixes[-1] in _OTHER:
        raise DataError(f"not a CSV or parquet file ({suffixes[-1]}); save it as CSV or "
                        "parquet", file=label)
    if not compressed:
        with path.open("rb") as fh:
            head = fh.read(4096)
        if b"\0" in head:
            raise DataError("not a CSV or parquet file (binary content)", file=label)
        if suffixes and suffixes[-1] not in _CSV:
            logger.info("%s: unknown extension %r, reading it as CSV", label, suffixes[-1])
    return _read_csv(path, label)


def _sniff_sep(path: Path) -> str:
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    return max([",", ";", "\t", "|"], key=header.count)


def _read_csv(path: Path, label: str) -> pd.DataFrame:
    try:
        sep = "," if path.suffix.lower() in _COMPRESSED else _sniff_sep(path)
        df = pd.read_csv(path, sep=sep, skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as e:
        raise DataError("empty file (no header)", file=label) from e
    except pd.errors.ParserError as e:
        line = re.search(r"line (\d+)", str(e))
        raise DataError(f"not a well-formed CSV: {e}", file=label,
                        row=int(line.group(1)) if line else None) from e
    except UnicodeDecodeError as e:
        raise DataError(f"not a CSV or parquet file (not UTF-8 text: {e})", file=label) from e
    if df.empty:
        raise DataError("no data rows (only a header)", file=label)
    df.index = pd.RangeIndex(2, len(df) + 2, name="line")
    return df


def _from_frame(df: pd.DataFrame, label: str, *, csv: bool) -> pd.DataFrame:
    if df.empty:
        raise DataError("no data rows", file=label)
    keys: dict[str, list[object]] = {}
    for c in df.columns:
        keys.setdefault(_key(c), []).append(c)
    cols: dict[str, object] = {}
    for field, names in _FIELD_NAMES.items():
        found = [c for n in names for c in keys.get(n, [])]
        if len(found) > 1:
            raise DataError(f"columns {found} all look like {field!r}; keep one",
                            file=label, column=str(found[1]))
        if found:
            cols[field] = found[0]
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
    out["timestamp"] = _parse_times(times, label, time_name)
    for field, c in cols.items():
        out[field] = _parse_numbers(df[c], label, str(c))
    ignored = [str(c) for c in df.columns
               if c not in cols.values() and c != time_col and c not in cols_used]
    if ignored:
        logger.info("%s: ignoring columns %s", label, ignored)
    out.attrs = {"file": label,
                 "columns": {"timestamp": time_name, **{f: str(c) for f, c in cols.items()}}}
    return out


def _parse_numbers(s: pd.Series, label: str, column: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    num = pd.to_numeric(s.astype("string").str.strip(), errors="coerce").astype("float64")
    bad = np.flatnonzero((s.notna() & num.isna()).to_numpy())
    if len(bad):
        i = bad[0]
        raise DataError(f"cannot read {s.iloc[i]!r} as a number", file=label, column=column,
                        row=s.index[i])
    return num


def _parse_times(s: pd.Series, label: str, column: str) -> pd.Series:
    """Datetime strings, YYYYMMDD or unix numbers -> datetime64[ns] (tz kept if given)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.as_unit("ns")
    present = s.notna().to_numpy()
    if not present.any():
        raise DataError("timestamp column is empty", file=label, column=column)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        number = s
    else:
        text = s.astype("string").str.strip()
        if not text[present].str.fullmatch(r"-?\d+(\.\d*)?").all():
            return _parse_strings(text, present, label, column)
        number = pd.to_numeric(text, dtype_backend="numpy_nullable")  # Int64: exact ns
    x = number.to_numpy(dtype=np.float64, na_value=np.nan)[present]
    if ((x >= 19000101) & (x <= 21001231) & (x == np.round(x))).all():
        return _parse_strings(number.astype("Int64").astype("string"), present, label, column,
                              fmt="%Y%m%d")
    return _parse_unix(number, present, label, column)


def _parse_strings(text: pd.Series, present: np.ndarray, label: str, column: str,
                   fmt: str | None = None) -> pd.Series:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        try:
            t = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError:  # mixed UTC offsets: put them on one clock (reported later)
            t = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    bad = np.flatnonzero(present & t.isna().to_numpy())
    if len(bad):
        i = bad[0]
        first = t[present].iloc[0] if present[:i].any() else None
        like = f"; the first row reads as {first}" if first is not None else ""
        raise DataError(f"cannot parse {text.iloc[i]!r} as a date{like}", file=label,
                        column=column, row=text.index[i])
    return t.dt.as_unit("ns")


def _parse_unix(x: pd.Series, present: np.ndarray, label: str, column: str) -> pd.Series:
    mag = np.abs(x.to_numpy(dtype=np.float64, na_value=np.nan))
    small = np.flatnonzero(present & (mag < _UNIX_MIN))
    if len(small):
        i = small[0]
        raise DataError(f"{x.iloc[i]:g} is not a unix time (numbers below 1e8 would be before "
                        "1973 in seconds)", file=label, column=column, row=x.index[i])
    unit = np.searchsorted(np.array([b for _, b in _UNIX_UNITS]), mag, side="right")
    first = int(np.flatnonzero(present)[0])
    other = np.flatnonzero(present & (unit != unit[first]))
    if len(other):
        i = other[0]
        names = {"s": "seconds", "ms": "milliseconds", "us": "microseconds",
                 "ns": "nanoseconds"}
        a, b = (names[_UNIX_UNITS[unit[k]][0]] for k in (first, i))
        raise DataError(f"unix times mix units: {x.iloc[i]:.0f} looks like {b} but the first "
                        f"row ({x.iloc[first]:.0f}, row {x.index[first]}) like {a}; "
                        "ambiguous, use one unit", file=label, column=column, row=x.index[i])
    u = _UNIX_UNITS[unit[first]][0]
    return pd.to_datetime(x, unit=u).dt.as_unit("ns")


# -- loading ----------------------------------------------------------------------------------
def _named_sources(source: object) -> list[tuple[str, Source, str | None]]:
    """-> [(asset name, source, label for errors)]."""
    def stem(p: Path) -> str:
        name = p.name
        for s in reversed(p.suffixes):
            if s.lower() in _CSV + _PARQUET + _COMPRESSED:
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
              start: object, end: object, gaps: str) -> tuple[pd.DataFrame, list[v.Repair]]:
    frame = read_ohlcv(source, name=label)
    if adjust is False and "adj_close" in frame:  # unused: not validated either
        attrs, frame = frame.attrs, frame.drop(columns="adj_close")
        frame.attrs = attrs
    repairs: list[v.Repair] = []
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
        if "adj_close" not in frame:
            raise DataError("adjust='close' needs an 'Adj Close' column", file=frame.attrs["file"],
                            column="adj close")
        ratio = frame["adj_close"] / frame["close"]
        frame = frame.assign(**{f: frame[f] * ratio for f in ("open", "high", "low", "close")})
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
        raise DataError(f"no bars between start={start} and end={end}", file=frame.attrs["file"])
    frame, r = v.check_calendar(frame, gaps=gaps)
    repairs += r
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
        ``"asset"``), a mapping ``name -> path or DataFrame``, or a list of paths.
    min_length : int
        Fewest common bars accepted.
    window : int, optional
        The model window; the market must then have at least ``window + 1`` bars (one bar
        gives the first previous close of the features).
    start, end : timestamp-like, optional
        Keep bars with ``start <= timestamp <= end``.
    adjust : False or "close"
        ``"close"`` scales open, high, low and close by ``Adj Close / Close`` per row.
    gaps : "error" or "ffill"
        A gap in the calendar raises, or is filled with flat bars (a reported repair).
    strict : bool
        Raise a `DataError` instead of making any repair.

    Returns
    -------
    Market
        Bars on the assets' common timestamps; ``repairs`` lists every repair made, each
        also emitted as a `DataRepairWarning`.

    Raises
    ------
    DataError
        See the module docstring's table.
    """
    if adjust not in (False, "close"):
        raise ValueError(f"adjust must be False or 'close', got {adjust!r}")
    frames: dict[str, pd.DataFrame] = {}
    repairs: list[v.Repair] = []

    def note(rs: list[v.Repair]) -> None:
        if strict and rs:
            raise rs[0].error()
        repairs.extend(rs)

    for asset, src, label in _named_sources(source):
        frame, r = _load_one(src, label, adjust=adjust, start=start, end=end, gaps=gaps)
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
    messages = tuple(str(r) for r in repairs)
    for m in messages:
        warnings.warn(m, DataRepairWarning, stacklevel=2)
    return Market(values, index, tuple(frames), repairs=messages)
