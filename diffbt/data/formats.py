"""Recognise how a file writes its bars: file type, encoding, CSV layout, number and date formats.

`diffbt.data.io.read_ohlcv` reads a file with these; it then matches the columns. Recognised:

File types
    Parquet by its ``PAR1`` magic bytes (whatever the extension); CSV (``.csv .txt .tsv``,
    also compressed ``.gz .bz2 .xz``, ``.zip`` holding one file, and ``.zst``, whose layout
    is not recognised); other extensions (``.json .xlsx .h5 .feather .pkl`` ...) are
    refused by name, unknown ones read as CSV.
Encodings
    UTF-8, UTF-16 or UTF-32 with a byte-order mark (Excel's "Unicode text"), UTF-16 LE/BE
    without one (told by its NUL bytes), else Latin-1; binary content is refused.
CSV layouts
    The separator (``, ; tab |``) is the one the first non-blank line uses most. Lines
    before the header (the first line naming three of open/high/low/close), preambles, are
    skipped. yfinance exports: the ``Price``/``Ticker``/``Date`` header rows, grouped by
    field or by ticker, one asset per ticker. Without a header: Binance klines (12 columns,
    open times in milliseconds or, since 2025, microseconds, both in one file), Kraken
    OHLCVT (7 columns, unix seconds), MetaTrader history (date, time, OHLC, volume); other
    files without a header are refused with a message saying so. Binance klines with a
    header (``open_time``, ``close_time``) are recognised too.
Numbers
    Plain floats, thousands separators (``1,234.5``, ``1.234,5``), a decimal comma (``12,5``,
    when no cell of the column has a point; a column whose commas all read like ``12,345``
    is ambiguous and refused) and ``K``/``M``/``B`` suffixes (``1.2M``), as Investing.com
    and spreadsheets write them.
Timestamps
    Datetime strings (the format inferred from the first row, every row must match it; read
    day first, ``31.12.2020``, when month first fails; mixed UTC offsets put in UTC with each
    row's offset), ``YYYYMMDD`` integers, or unix times in seconds, milliseconds,
    microseconds or nanoseconds (told apart by magnitude; a file mixing them is refused).
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import logging
import lzma
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from diffbt.errors import DataError

__all__ = [
    "COMPRESSED", "CSV", "OTHER", "PARQUET", "Times",
    "column_key", "is_parquet", "parse_numbers", "parse_times", "read_csv", "yfinance_tickers",
]

logger = logging.getLogger(__name__)

# file-name suffixes
CSV = (".csv", ".txt", ".tsv")
PARQUET = (".parquet", ".pq")
COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
OTHER = (".json", ".xlsx", ".xls", ".h5", ".hdf5", ".feather", ".pkl", ".pickle",
                  ".db")  # refused by name


def column_key(name: object) -> str:
    """A column name as matched: lower case, letters and digits only (``Adj_Close`` ->
    ``adjclose``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_parquet(path: Path) -> bool:
    """Whether the file starts with parquet's ``PAR1`` magic bytes."""
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


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


# a header line names three of these (the open/high/low/close names, and close's fallbacks,
# that diffbt.data.io matches columns by)
_HEADER_KEYS = {"open", "o", "high", "h", "low", "l", "close", "c", "price", "last"}
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
                   if len({column_key(f) for f in r} & _HEADER_KEYS) >= 3), None)
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


def read_csv(path: Path, label: str, *, compression: str | None,
             ticker: str | None = None) -> pd.DataFrame:
    """Read a CSV as its recognised encoding and layout say; the cells as pandas parses them.

    Parameters
    ----------
    path : Path
        The file.
    label : str
        The file's name in errors.
    compression : str or None
        The compression suffix (``".gz"`` ...), or None.
    ticker : str, optional
        Which ticker of a yfinance export holding several.

    Returns
    -------
    DataFrame
        The source columns, indexed by each row's line number in the file (1-based, as an
        editor shows it). Binance open times are datetime64. ``attrs["layout"]`` names the
        recognised export (None for a plain CSV), ``attrs["ticker"]`` a yfinance export's
        ticker, ``attrs["read_repairs"]`` lists ``(message, column, row)`` of repairs made
        while reading.

    Raises
    ------
    DataError
        Binary, undecodable, empty or malformed file; no header line (and no recognised
        headerless export); a ticker missing or not given for a several-ticker export.
    """
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
    keys = {column_key(c) for c in df.columns}
    if how["layout"] is None and {"opentime", "closetime"} <= keys:
        df.attrs["layout"] = how["layout"] = "binance"  # Binance klines with a header
    if how["layout"] == "binance":
        _binance_times(df, label)
    return df


def yfinance_tickers(path: str | Path) -> list[str]:
    """The tickers a yfinance CSV export holds (empty for any other file)."""
    path = Path(path).expanduser()
    if not path.is_file() or is_parquet(path):
        return []
    try:
        head = b"" if path.suffix.lower() in COMPRESSED else \
            _head_bytes(path, None, str(path))
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
    col = next((c for c in df.columns if column_key(c) == "opentime"), None)
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


# -- numbers ----------------------------------------------------------------------------------
def parse_numbers(s: pd.Series, label: str, column: str) -> pd.Series:
    """Cells -> float64 (NaN where empty), in any of the number formats recognised.

    Raises
    ------
    DataError
        At the first cell that is not a number in any of them.
    """
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


# -- timestamps -------------------------------------------------------------------------------
_UNIX_UNITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", np.inf))  # unit, upper bound
_UNIX_MIN = 1e8  # 1973-03-03 in seconds; smaller numbers are not taken for unix times
Times = tuple[pd.Series, pd.Series | None]  # (timestamps, UTC offsets where they are mixed)


def parse_times(s: pd.Series, label: str, column: str) -> Times:
    """Datetime strings, YYYYMMDD or unix numbers -> datetime64[ns] (tz kept if given).

    Returns
    -------
    (timestamps, offsets)
        NaT where empty; with mixed UTC offsets the timestamps are in UTC and ``offsets``
        (timedelta) gives each row's, else ``offsets`` is None.

    Raises
    ------
    DataError
        An empty column, an unparseable date (at its row), unix times mixing units.
    """
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
