"""Load OHLCV bars from CSV, parquet or DataFrames into a validated `Market`.

>>> market = diffbt.load_market({"spy": "spy.csv", "qqq": "qqq.parquet"})   # doctest: +SKIP

Reading (`read_ohlcv`) finds the columns; validating (`diffbt.data.validate`) checks them;
`load_market` does both per asset, aligns the assets and builds the `Market`.

Files
    CSV (also ``.gz``, ``.bz2``, ``.xz``, ``.zip``) in UTF-8, UTF-16 or UTF-32 with a
    byte-order mark (Excel's "Unicode text"), UTF-16 without one, or else Latin-1; the
    separator (``, ; tab |``) is the one the header line uses most. Lines before the header
    (the first line naming three of open/high/low/close) are skipped. Recognised exports:
    yfinance (the ``Price``/``Ticker``/``Date`` header rows; a file of several tickers gives
    one asset per ticker), and, without a header, Binance klines (12 columns, open times in
    milliseconds or, since 2025, microseconds), Kraken OHLCVT (7 columns, unix seconds) and
    MetaTrader history (date, time, OHLC, volume). Other files without a header are an error
    that says so. Numbers may use thousands separators (``1,234.5``, ``1.234,5``), a decimal
    comma (``12,5``) or ``K``/``M``/``B`` suffixes (``1.2M``).
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
    Values are datetime strings (the format is inferred from the first row, every row must
    match it; read day first, ``31.12.2020``, when month first fails), ``YYYYMMDD``
    integers, or unix times in seconds, milliseconds, microseconds or nanoseconds (told
    apart by magnitude).
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

import bz2
import codecs
import csv
import difflib
import gzip
import logging
import lzma
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

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
_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_OTHER = (".json", ".xlsx", ".xls", ".h5", ".hdf5", ".feather", ".pkl", ".pickle", ".db")
_UNIX_UNITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", np.inf))  # unit, upper bound
_UNIX_MIN = 1e8  # 1973-03-03 in seconds; smaller numbers are not taken for unix times


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


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
    return _from_frame(raw, label, csv=not _is_parquet(path))


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


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
                            if p.suffix.lower() in _CSV + _PARQUET)[:3]
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
        parquet = _is_parquet(path)
    except OSError as e:
        raise DataError(f"cannot read the file: {e.strerror or e}", file=label) from e
    suffixes = [s.lower() for s in path.suffixes]
    compressed = len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED and suffixes[-2] in _CSV
    if parquet:
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
    if not compressed and suffixes and suffixes[-1] not in _CSV:
        logger.info("%s: unknown extension %r, reading it as CSV", label, suffixes[-1])
    return _read_csv(path, label, compression=suffixes[-1] if compressed else None,
                     ticker=ticker)


# -- CSV: encoding, layout ----------------------------------------------------------------------
_HEAD_BYTES = 1 << 16
_HEAD_LINES = 40


def _head_bytes(path: Path, compression: str | None, label: str) -> bytes:
    """The first bytes of the (decompressed) file."""
    try:
        if compression == ".zip":
            with zipfile.ZipFile(path) as z:
                members = [m for m in z.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise DataError(f"a zip archive must hold exactly one CSV file, found "
                                    f"{members[:5]}", file=label)
                with z.open(members[0]) as fh:
                    return fh.read(_HEAD_BYTES)
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(compression or "")
        if compression is not None and opener is None:
            return b""  # e.g. .zst: pandas decompresses it; no layout detection
        with (opener or open)(path, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as e:
        raise DataError(f"cannot decompress the {compression} file: {e}", file=label) from e


def _encoding(head: bytes, label: str) -> str:
    """The text encoding from the byte-order mark, else from NUL bytes; else UTF-8."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[: len(head) // 2 * 2]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    if b"\0" in head:
        raise DataError("not a CSV or parquet file (binary content)", file=label)
    try:
        head[: max(len(head) - 4, 0)].decode("utf-8")
    except UnicodeDecodeError:
        logger.info("%s: not UTF-8 text; reading it as Latin-1", label)
        return "latin-1"
    return "utf-8"


def _split(line: str, sep: str) -> list[str]:
    try:
        return [f.strip() for f in next(csv.reader([line], delimiter=sep))]
    except (StopIteration, csv.Error):
        return [f.strip() for f in line.split(sep)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_OHLC_KEYS = {k for f in ("open", "high", "low", "close") for k in _FIELD_NAMES[f]} | \
    {"price", "last"}
_LAYOUTS = {  # headerless exports: column names, and a test on the first row's fields
    "binance": ("open_time open high low close volume close_time quote_volume trades "
                "taker_buy_base taker_buy_quote ignore").split(),
    "kraken": "timestamp open high low close volume trades".split(),
    "metatrader": "date time open high low close volume".split(),
}


def _headerless(fields: list[str]) -> str | None:
    """Which headerless export a first line of data comes from, if any."""
    numeric = all(_is_number(f) for f in fields)
    if len(fields) == 12 and numeric:
        t0, t1 = float(fields[0]), float(fields[6])
        if 1e11 <= t0 < 1e17 and t1 > t0:  # open time, close time in ms or us
            return "binance"
    if len(fields) == 7 and numeric and 1e8 <= float(fields[0]) < 1e11:
        return "kraken"
    if len(fields) == 7 and re.fullmatch(r"\d{4}[.\-/]\d{2}[.\-/]\d{2}", fields[0]) and \
            re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", fields[1]) and \
            all(_is_number(f) for f in fields[2:]):
        return "metatrader"
    return None


def _looks_like_data(fields: list[str]) -> bool:
    numbers = sum(_is_number(f) for f in fields)
    return len(fields) >= 4 and numbers >= len(fields) - 2 and numbers >= 4


_TIME_LABELS = {"date", "datetime", "time", "timestamp"}


def _layout(lines: list[str], label: str) -> dict:
    """How to read a CSV from its first lines: separator, header line, lines to skip."""
    first = next((ln for ln in lines if ln.strip()), "")
    sep = max([",", ";", "\t", "|"], key=first.count)
    rows = [_split(ln, sep) for ln in lines]
    header = next((k for k, r in enumerate(rows)
                   if len({_key(f) for f in r} & _OHLC_KEYS) >= 3), None)
    if header is None:
        k0 = next((k for k, ln in enumerate(lines) if ln.strip()), 0)
        kind = _headerless(rows[k0]) if rows else None
        if kind is not None:
            return {"sep": sep, "header": None, "skip": list(range(k0)), "layout": kind,
                    "names": _LAYOUTS[kind], "first": k0 + 1}
        if rows and _looks_like_data(rows[k0]):
            raise DataError(f"no header line: line {k0 + 1} ({first.strip()[:60]!r}) looks "
                            "like data; add a header such as "
                            f"{sep.join(['date', 'open', 'high', 'low', 'close', 'volume'])!r} "
                            "(Binance kline, Kraken OHLCVT and MetaTrader files without a "
                            "header are recognised by their columns)", file=label, row=k0 + 1)
        return {"sep": sep, "header": 0, "skip": [], "layout": None, "names": None,
                "first": 2}
    skip = list(range(header))
    if skip:
        logger.info("%s: skipping %d line(s) before the header (line %d)", label, len(skip),
                    header + 1)
    names, tickers, layout = None, None, None
    for r in rows[:header]:  # yfinance group_by="ticker": the tickers come first
        if r and r[0].lower() == "ticker":
            tickers = r[1:]
    k = header + 1
    while k < len(rows) and rows[k] and (
            rows[k][0].lower() == "ticker" or
            (rows[k][0].lower() in _TIME_LABELS and not any(rows[k][1:]))):
        if rows[k][0].lower() == "ticker":
            tickers = rows[k][1:]
        else:  # yfinance: "Date,,,,," names the index column
            names = [rows[k][0], *rows[header][1:]]
        skip.append(k)
        k += 1
    if rows[header] and rows[header][0].lower() == "price" and (tickers or names):
        layout = "yfinance"
        names = names or ["Date", *rows[header][1:]]
    return {"sep": sep, "header": header, "skip": skip, "layout": layout, "names": names,
            "tickers": tickers, "first": max([header, *skip]) + 2}


def _read_csv(path: Path, label: str, *, compression: str | None,
              ticker: str | None = None) -> pd.DataFrame:
    head = _head_bytes(path, compression, label)
    encoding = _encoding(head, label) if head else "utf-8-sig"
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    if head and len(head) == _HEAD_BYTES:
        text = text.rsplit("\n", 1)[0]  # drop a line cut short
    lines = text.splitlines()[:_HEAD_LINES]
    if head and not any(ln.strip() for ln in lines):
        raise DataError("empty file (no header)", file=label)
    how = _layout(lines, label) if lines else {"sep": ",", "header": 0, "skip": [],
                                                "layout": None, "names": None, "first": 2}
    if encoding.startswith("utf-16") or encoding == "utf-32":
        logger.info("%s: reading %s text", label, encoding.upper())
    names = how["names"]
    tickers = how.get("tickers")
    keep = None
    if how["layout"] == "yfinance" and tickers:
        found = list(dict.fromkeys(t for t in tickers if t))
        if len(found) > 1 or ticker is not None:
            if ticker is None:
                raise DataError(f"a yfinance export with several tickers {found}; "
                                "load_market reads each as an asset, read_ohlcv needs "
                                "ticker=", file=label)
            if ticker not in found:
                raise DataError(f"ticker {ticker!r} is not in this yfinance export "
                                f"(tickers: {found})", file=label)
            keep = [0, *[j + 1 for j, t in enumerate(tickers) if t == ticker]]
    for enc in (encoding, "latin-1"):
        try:
            df = pd.read_csv(path, sep=how["sep"], skip_blank_lines=False, encoding=enc,
                             header=None if how["header"] is None else 0,
                             skiprows=how["skip"] or None,
                             names=None if names is None or keep is not None else names,
                             usecols=keep, dtype=str if how["layout"] == "binance" else None)
            break
        except pd.errors.EmptyDataError as e:
            raise DataError("empty file (no header)", file=label) from e
        except pd.errors.ParserError as e:
            line = re.search(r"line (\d+)", str(e))
            raise DataError(f"not a well-formed CSV: {e}", file=label,
                            row=int(line.group(1)) if line else None) from e
        except UnicodeError as e:
            if enc != "utf-8":
                raise DataError(f"cannot decode the file as {enc} text ({e}); save it as "
                                "UTF-8 CSV (Excel: 'CSV UTF-8')", file=label) from e
            logger.info("%s: not UTF-8 text; reading it as Latin-1", label)
        except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as e:
            raise DataError(f"cannot read the file: {e}", file=label) from e
        except ValueError as e:  # e.g. duplicate names, usecols out of range
            raise DataError(f"cannot read the CSV: {e}", file=label) from e
    if keep is not None:
        df.columns = [names[0], *[names[j] for j in keep[1:]]]
    if df.empty:
        raise DataError("no data rows (only a header)", file=label)
    df.index = pd.RangeIndex(how["first"], len(df) + how["first"], name="line")
    df.attrs["layout"] = how["layout"]
    if how["layout"] == "yfinance" and tickers:
        df.attrs["ticker"] = ticker or next((t for t in tickers if t), None)
    if how["layout"] is not None:
        logger.info("%s: read as a %s export", label, how["layout"])
    keys = {_key(c) for c in df.columns}
    if how["layout"] is None and {"opentime", "closetime"} <= keys:
        df.attrs["layout"] = how["layout"] = "binance"  # Binance klines with a header
    if how["layout"] == "binance":
        _binance_times(df, label)
    return df


def _yfinance_tickers(path: str | Path) -> list[str]:
    """The tickers a yfinance CSV export holds (empty for any other file)."""
    path = Path(path).expanduser()
    if not path.is_file() or _is_parquet(path):
        return []
    try:
        head = _head_bytes(path, None, str(path)) if path.suffix.lower() not in _COMPRESSED \
            else b""
        if not head:
            return []
        text = head.decode(_encoding(head, str(path)), errors="replace").lstrip("\ufeff")
        how = _layout(text.splitlines()[:_HEAD_LINES], str(path))
    except DataError:
        return []
    if how["layout"] != "yfinance" or not how.get("tickers"):
        return []
    return list(dict.fromkeys(t for t in how["tickers"] if t))


def _binance_times(df: pd.DataFrame, label: str) -> None:
    """Binance open times: milliseconds, microseconds since 2025; read each by magnitude."""
    col = next((c for c in df.columns if _key(c) == "opentime"), None)
    if col is None:
        return
    t = pd.to_numeric(df[col].astype("string").str.strip(), errors="coerce")
    if t.isna().any() or not ((t >= 1e11) & (t < 1e17)).all():
        return  # leave it to the generic parser, which locates the bad row
    us = (t >= 1e14).to_numpy()
    ms = t.to_numpy(dtype=np.float64)
    ns = np.where(us, ms * 1_000, ms * 1_000_000).astype(np.int64)
    df[col] = pd.to_datetime(ns, unit="ns")
    if us.any() and not us.all():
        i = int(np.flatnonzero(us != us[0])[0])
        df.attrs["read_repairs"] = [(
            f"open times switch from {'micro' if us[0] else 'milli'}seconds to "
            f"{'milli' if us[0] else 'micro'}seconds at this row (Binance moved to "
            "microseconds in 2025); each read by its magnitude", str(col), df.index[i])]


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
    for field, names in _FALLBACK_NAMES.items():  # e.g. Investing.com's "Price"
        found = [c for n in names for c in keys.get(n, [])]
        if field not in cols and len(found) == 1:
            cols[field] = found[0]
            logger.info("%s: using column %r as %r", label, str(found[0]), field)
    if "volume" not in cols:  # "Volume BTC", "Volume USDT": the first is the base asset's
        vols = [c for c in df.columns if _key(c).startswith(("volume", "vol"))
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
    out["timestamp"], offsets = _parse_times(times, label, time_name)
    if offsets is not None:
        out["utc_offset"] = offsets
    for field, c in cols.items():
        out[field] = _parse_numbers(df[c], label, str(c))
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


def _parse_numbers(s: pd.Series, label: str, column: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    text = s.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (s.notna() & num.isna()).to_numpy()
    if bad.any():
        num = _lenient_numbers(text, num, bad)
        bad = (s.notna() & num.isna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        why = " (a thousands separator or a decimal comma? ambiguous: write it as 2000 or " \
            "2.0)" if re.fullmatch(r"-?\d{1,3}(,\d{3})+", str(text.iloc[i])) else ""
        raise DataError(f"cannot read {s.iloc[i]!r} as a number{why}", file=label,
                        column=column, row=s.index[i])
    return num


_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}


def _lenient_numbers(text: pd.Series, num: pd.Series, bad: np.ndarray) -> pd.Series:
    """Numbers as spreadsheets and sites write them: ``1,234.5`` or ``1.234,5`` (thousands
    separators), ``12,5`` (decimal comma, when no cell of the column has a point and not
    all look like ``12,345``, which is ambiguous) and ``1.2M`` / ``3.4K`` / ``5B``
    (volumes). Cells that fit none stay NaN."""
    t = text.fillna("")
    comma = t.str.contains(",", regex=False)
    point = t.str.contains(".", regex=False)
    thousands = t.str.fullmatch(r"-?\d{1,3}(,\d{3})+")
    if comma.any() and not point.any() and not thousands[comma].all():
        fixed = t.str.replace(",", ".", regex=False)  # decimal comma ("12,345" is ambiguous)
    elif (comma & point).any():
        euro = t.str.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?|-?\d+,\d+")
        if euro[comma].all():
            fixed = t.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            fixed = t.where(~t.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?"),
                            t.str.replace(",", "", regex=False))
    else:
        fixed = t
    suffix = fixed.str.fullmatch(r"-?\d+(\.\d+)?[kKmMbB]")
    scale = pd.Series(1.0, index=t.index)
    if suffix.any():
        scale[suffix] = fixed[suffix].str[-1].str.lower().map(_SUFFIX)
        fixed = fixed.where(~suffix, fixed.str[:-1])
    again = pd.to_numeric(fixed, errors="coerce").astype("float64") * scale
    return num.where(~bad, again)


Times = tuple[pd.Series, pd.Series | None]  # (timestamps, UTC offsets where they are mixed)


def _parse_times(s: pd.Series, label: str, column: str) -> Times:
    """Datetime strings, YYYYMMDD or unix numbers -> datetime64[ns] (tz kept if given)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.as_unit("ns"), None
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
    return _parse_unix(number, present, label, column), None


_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)\s*$"  # after a time


def _to_datetime(text: pd.Series, fmt: str | None, **kw: object) -> tuple[pd.Series, bool]:
    """(parsed, mixed UTC offsets?); unparseable cells NaT."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        warnings.filterwarnings("ignore", "Parsing dates in", UserWarning)
        try:
            return pd.to_datetime(text, format=fmt, errors="coerce", **kw), False
        except ValueError:  # mixed UTC offsets: put them on one clock
            return pd.to_datetime(text, format=fmt, errors="coerce", utc=True, **kw), True


def _parse_strings(text: pd.Series, present: np.ndarray, label: str, column: str,
                   fmt: str | None = None) -> Times:
    t, mixed = _to_datetime(text, fmt)
    bad = present & t.isna().to_numpy()
    if bad.any() and fmt is None:
        t2, mixed2 = _to_datetime(text, fmt, dayfirst=True)  # 31/12/2020, 31.12.2020
        if not (present & t2.isna().to_numpy()).any():
            logger.info("%s: column %r read day first", label, column)
            t, mixed, bad = t2, mixed2, np.zeros_like(bad)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        first = t[present].iloc[0] if present[:i].any() else None
        like = f"; the first row reads as {first}" if first is not None else ""
        if first is not None and getattr(t.dt, "tz", None) is not None and \
                not re.search(_OFFSET, str(text.iloc[i])):
            like += " (with a UTC offset, this row has none)"
        raise DataError(f"cannot parse {text.iloc[i]!r} as a date{like}", file=label,
                        column=column, row=text.index[i])
    return t.dt.as_unit("ns"), _utc_offsets(text, present, label, column) if mixed \
        else None


def _utc_offsets(text: pd.Series, present: np.ndarray, label: str, column: str) -> pd.Series:
    """Each timestamp string's UTC offset (timedelta; NaT where empty)."""
    suffix = text.str.extract(_OFFSET, expand=False)
    out = pd.Series(pd.NaT, index=text.index, dtype="timedelta64[ns]")
    for suf in suffix.dropna().unique():
        off = pd.Timedelta(0) if suf == "Z" else \
            pd.Timestamp("2000-01-01T00:00:00" + suf).utcoffset()
        out[suffix == suf] = off
    for i in np.flatnonzero(present & out.isna().to_numpy()):  # offsets in another notation
        try:
            off = pd.Timestamp(str(text.iloc[i])).utcoffset()
        except (ValueError, TypeError):
            off = None
        if off is None:
            raise DataError(f"cannot read the UTC offset of {text.iloc[i]!r} (other rows have "
                            "one)", file=label, column=column, row=text.index[i])
        out.iloc[i] = off
    return out


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
        tickers = [] if isinstance(src, pd.DataFrame) else _yfinance_tickers(src)
        if len(tickers) > 1:
            base = label or Path(src).name
            out += [(t, src, f"{base} [{t}]", t) for t in tickers]
        else:
            out.append((asset, src, label, None))
    return out
