"""Checks and documented repairs on one asset's OHLCV frame.

The functions take the frame that `diffbt.data.io.read_ohlcv` returns: one row per source row,
in source order, indexed by the row label used in error messages, with a ``timestamp`` column
and the fields ``open high low close`` (+ ``volume``, ``adj_close`` when the source has them).
``frame.attrs["file"]`` names the source and ``frame.attrs["columns"]`` maps each field to the
column name the source used; errors quote both.

Each check either raises a `DataError` at the *first* offending row (file order) or returns
the repaired frame together with a list of `Repair` notes. Nothing is dropped or changed
without a note. `diffbt.data.io.load_market` runs them in this order: `drop_blank_rows`,
`check_missing`, `check_prices`, `check_bars`, `check_volume`, `add_missing_volume`,
`drop_timezone`, `sort_by_time`, `drop_duplicates`, then (after any start/end cut)
`check_calendar`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffbt.data.market import FIELDS
from diffbt.errors import DataError

__all__ = [
    "MAX_MISSING_BUSINESS_DAYS",
    "Repair",
    "add_missing_volume",
    "calendar_kind",
    "check_bars",
    "check_calendar",
    "check_missing",
    "check_prices",
    "check_volume",
    "drop_blank_rows",
    "drop_duplicates",
    "infer_freq",
    "drop_timezone",
    "sort_by_time",
]

PRICES: tuple[str, ...] = ("open", "high", "low", "close")
MAX_MISSING_BUSINESS_DAYS = 5  # longer market closures than this are gaps (9/11 closed NYSE 4)


@dataclass(frozen=True)
class Repair:
    """One documented repair, located like a `DataError`."""

    msg: str
    file: str | None = None
    column: str | None = None
    row: object | None = None

    def __str__(self) -> str:
        return str(DataError(self.msg, file=self.file, column=self.column, row=self.row))

    def error(self) -> DataError:
        """The `DataError` raised instead of this repair under ``strict=True``."""
        return DataError(self.msg + " (refused: strict=True)", file=self.file,
                         column=self.column, row=self.row)


# -- helpers ----------------------------------------------------------------------------------
def _file(frame: pd.DataFrame) -> str | None:
    return frame.attrs.get("file")


def _col(frame: pd.DataFrame, field: str) -> str:
    return frame.attrs.get("columns", {}).get(field, field)


def _when(frame: pd.DataFrame, i: int) -> str:
    t = frame["timestamp"].iloc[i] if "timestamp" in frame else pd.NaT
    return "" if pd.isna(t) else f" (at {t})"


def _error(frame: pd.DataFrame, i: int, field: str | None, msg: str) -> DataError:
    """DataError at position `i`; messages about other columns add the row's timestamp."""
    column = None if field is None else _col(frame, field)
    when = "" if field == "timestamp" else _when(frame, i)
    return DataError(msg + when, file=_file(frame), column=column, row=frame.index[i])


def _with_attrs(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    new.attrs = dict(old.attrs)
    return new


def _present(frame: pd.DataFrame, fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if f in frame.columns]


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _ns(frame: pd.DataFrame) -> np.ndarray:
    """Timestamps as int64 nanoseconds (no NaT by the time this is called)."""
    return frame["timestamp"].dt.as_unit("ns").to_numpy().view(np.int64)


# -- row checks -------------------------------------------------------------------------------
def drop_blank_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Repair]]:
    """Drop rows whose every cell is empty (blank CSV lines), with a note listing them."""
    blank = frame.isna().all(axis=1).to_numpy()
    if not blank.any():
        return frame, []
    rows = list(frame.index[blank])
    shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
    out = _with_attrs(frame.iloc[np.flatnonzero(~blank)], frame)
    return out, [Repair(f"dropped {len(rows)} blank row(s): {shown}", file=_file(frame),
                        row=rows[0])]


def check_missing(frame: pd.DataFrame) -> None:
    """No empty, NaN or infinite cell in the timestamp or any field (no silent fill)."""
    cols = _present(frame, ("timestamp", *FIELDS, "adj_close"))
    bad = np.column_stack([frame[c].isna().to_numpy() if c == "timestamp"
                           else ~np.isfinite(frame[c].to_numpy(dtype=np.float64))
                           for c in cols])
    i = _first(bad.any(axis=1))
    if i is None:
        return
    c = cols[int(np.argmax(bad[i]))]
    value = frame[c].iloc[i]
    what = "empty or missing value" if pd.isna(value) else f"value {value} is not finite"
    raise _error(frame, i, c, what)


def check_prices(frame: pd.DataFrame) -> None:
    """Prices (and ``adj_close``) strictly positive."""
    cols = _present(frame, (*PRICES, "adj_close"))
    bad = frame[cols].to_numpy(dtype=np.float64) <= 0
    i = _first(bad.any(axis=1))
    if i is not None:
        c = cols[int(np.argmax(bad[i]))]
        raise _error(frame, i, c, f"{c} {frame[c].iloc[i]} is not positive (zero or negative "
                                  "price)")


def check_bars(frame: pd.DataFrame) -> None:
    """``low <= high`` and ``open``, ``close`` inside ``[low, high]``."""
    o, h, lo, c = (frame[f].to_numpy(dtype=np.float64) for f in PRICES)
    checks = [
        ("high", h < lo, lambda i: f"high {h[i]} < low {lo[i]}"),
        ("open", (o < lo) | (o > h), lambda i: f"open {o[i]} outside [low {lo[i]}, high {h[i]}]"),
        ("close", (c < lo) | (c > h),
         lambda i: f"close {c[i]} outside [low {lo[i]}, high {h[i]}]"),
    ]
    firsts = [(_first(mask), k) for k, (_, mask, _) in enumerate(checks)]
    firsts = [(i, k) for i, k in firsts if i is not None]
    if firsts:
        i, k = min(firsts)
        field, _, msg = checks[k]
        raise _error(frame, i, field, msg(i))


def check_volume(frame: pd.DataFrame) -> None:
    """Volume, when present, is >= 0."""
    if "volume" in frame:
        v = frame["volume"].to_numpy(dtype=np.float64)
        i = _first(v < 0)
        if i is not None:
            raise _error(frame, i, "volume", f"negative volume {v[i]}")


def add_missing_volume(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Repair]]:
    """A source without a volume column gets volume 0, with a note."""
    if "volume" in frame:
        return frame, []
    out = _with_attrs(frame.assign(volume=0.0), frame)
    return out, [Repair("no volume column; volume set to 0", file=_file(frame))]


# -- timestamps -------------------------------------------------------------------------------
def drop_timezone(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Repair]]:
    """Time-zone-aware timestamps -> tz-naive (all of diffbt is tz-naive), with a note.

    Intraday bars are converted to UTC. Daily and slower bars keep their local wall-clock
    time, so a bar stays on its trading date and assets from different time zones align.
    """
    t = frame["timestamp"]
    tz = getattr(t.dt, "tz", None)
    if tz is None:
        return frame, []
    freq = infer_freq(t.dropna())
    if freq is not None and freq >= pd.Timedelta(hours=20):
        naive, how = t.dt.tz_localize(None), "local dates and times kept (daily bars)"
    else:
        naive, how = t.dt.tz_convert("UTC").dt.tz_localize(None), "converted to UTC"
    out = _with_attrs(frame.assign(timestamp=naive), frame)
    return out, [Repair(f"time zone {tz} dropped: {how}", file=_file(frame),
                        column=_col(frame, "timestamp"))]


def sort_by_time(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Repair]]:
    """Accept oldest-first; re-sort newest-first (a note); any other order is an error."""
    step = np.diff(_ns(frame))
    if (step >= 0).all():
        return frame, []
    if (step <= 0).all():
        out = _with_attrs(frame.iloc[::-1], frame)
        return out, [Repair("rows were newest-first; re-sorted oldest-first", file=_file(frame),
                            column=_col(frame, "timestamp"))]
    i = int(np.flatnonzero(step < 0)[0]) + 1
    up = int(np.flatnonzero(step > 0)[0]) + 1
    j = max(i, up)  # the first row that breaks the direction the file started with
    prev = frame["timestamp"].iloc[j - 1]
    raise _error(frame, j, "timestamp",
                 f"timestamps out of order: {frame['timestamp'].iloc[j]} follows {prev} "
                 f"(row {frame.index[j - 1]}); rows must be oldest-first or newest-first")


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Repair]]:
    """On a sorted frame: drop exact duplicate rows (a note counting them); a repeated
    timestamp with different values is an error naming the first differing column."""
    t = _ns(frame)
    dup = np.concatenate([[False], t[1:] == t[:-1]])
    if not dup.any():
        return frame, []
    cols = _present(frame, (*FIELDS, "adj_close"))
    v = frame[cols].to_numpy(dtype=np.float64)
    first = np.maximum.accumulate(np.where(dup, 0, np.arange(len(t))))  # group's first row
    differs = dup[:, None] & (v != v[first])
    i = _first(differs.any(axis=1))
    if i is not None:
        c = cols[int(np.argmax(differs[i]))]
        k = first[i]
        raise _error(frame, i, c, f"duplicate timestamp with conflicting values: {c} "
                                  f"{v[i, cols.index(c)]} here but {v[k, cols.index(c)]} "
                                  f"in row {frame.index[k]}")
    i = int(np.flatnonzero(dup)[0])
    out = _with_attrs(frame.iloc[np.flatnonzero(~dup)], frame)
    return out, [Repair(f"dropped {int(dup.sum())} exact duplicate row(s), the first at "
                        f"{frame['timestamp'].iloc[i]}", file=_file(frame),
                        row=frame.index[i])]


# -- calendar ---------------------------------------------------------------------------------
def infer_freq(index: pd.DatetimeIndex | pd.Series) -> pd.Timedelta | None:
    """The bar frequency: the median step between consecutive timestamps (None if < 2)."""
    ns = pd.DatetimeIndex(index).as_unit("ns").asi8
    if len(ns) < 2:
        return None
    return pd.Timedelta(int(np.median(np.diff(ns))), unit="ns")


def calendar_kind(index: pd.DatetimeIndex | pd.Series, freq: pd.Timedelta) -> str:
    """``"24/7"``, ``"sessions"`` (intraday, closes overnight/weekends), ``"business"``
    (daily, Mon-Fri) or ``"coarse"`` (weekly and slower).

    A market trades 24/7 when any bar falls on a Saturday.
    """
    if freq >= pd.Timedelta(days=1.5):
        return "coarse"
    saturday = (pd.DatetimeIndex(index).day_of_week == 5).any()
    if saturday:
        return "24/7"
    return "sessions" if freq < pd.Timedelta(hours=20) else "business"


def _missing_business_days(t: pd.DatetimeIndex) -> np.ndarray:
    days = t.normalize().to_numpy().astype("datetime64[D]")
    return np.busday_count(days[:-1] + np.timedelta64(1, "D"), days[1:])


def check_calendar(frame: pd.DataFrame, *, gaps: str = "error"
                   ) -> tuple[pd.DataFrame, list[Repair]]:
    """Regular spacing on the bar frequency; missing bars are gaps.

    On a sorted, unique frame. ``freq`` is the median step. A step shorter than ``freq``
    (half of it for daily and slower bars: daylight saving shifts them by an hour) is an
    error. A gap is

    - 24/7 calendar: a step longer than ``freq`` (1.5 ``freq`` for daily bars);
    - intraday sessions: a step longer than ``freq`` within one calendar day, or more than
      `MAX_MISSING_BUSINESS_DAYS` business days without a bar;
    - daily business days: more than `MAX_MISSING_BUSINESS_DAYS` business days without a bar
      (weekends and holidays are not gaps);
    - weekly and slower: a step longer than 1.5 ``freq``.

    ``gaps="error"`` raises at the first gap; ``gaps="ffill"`` inserts flat bars (open = high
    = low = close = previous close, volume 0) on the calendar and notes how many.
    """
    if gaps not in ("error", "ffill"):
        raise ValueError(f"gaps must be 'error' or 'ffill', got {gaps!r}")
    t = pd.DatetimeIndex(frame["timestamp"]).as_unit("ns")
    freq = infer_freq(t)
    if freq is None:
        return frame, []
    kind = calendar_kind(t, freq)
    step = np.diff(t.asi8)
    f = freq.value
    daily = freq >= pd.Timedelta(hours=20)
    short = step < (f / 2 if daily else f)
    i = _first(short)
    if i is not None:
        raise _error(frame, i + 1, "timestamp",
                     f"irregular spacing: {pd.Timedelta(int(step[i]))} after "
                     f"{t[i]} (row {frame.index[i]}) is shorter than the bar frequency {freq}")
    if kind == "24/7":
        gap = step > (1.5 * f if daily else f)
    elif kind == "coarse":
        gap = step > 1.5 * f
    else:
        gap = _missing_business_days(t) > MAX_MISSING_BUSINESS_DAYS
        if kind == "sessions":
            gap |= (step > f) & (t[1:].normalize() == t[:-1].normalize())
    i = _first(gap)
    if i is None:
        return frame, []
    where = f"between {t[i]} (row {frame.index[i]}) and {t[i + 1]}"
    if gaps == "error":
        raise _error(frame, i + 1, "timestamp",
                     f"gap in the {kind} calendar of {freq} bars: no bar {where}; "
                     "pass gaps='ffill' to fill it with flat bars")
    return _fill_gaps(frame, t, np.flatnonzero(gap), freq, kind)


def _fill_gaps(frame: pd.DataFrame, t: pd.DatetimeIndex, gap_at: np.ndarray,
               freq: pd.Timedelta, kind: str) -> tuple[pd.DataFrame, list[Repair]]:
    pieces, new = [], 0
    for i in gap_at:
        lo, hi = t[i], t[i + 1]
        if kind in ("business", "sessions") and hi.normalize() > lo.normalize():
            if kind == "sessions":
                raise _error(frame, int(i) + 1, "timestamp",
                             f"gaps='ffill' cannot fill a gap of several days in intraday "
                             f"session data (between {lo} and {hi})")
            stamps = pd.bdate_range(lo + pd.Timedelta(days=1), hi - pd.Timedelta(days=1))
            stamps = stamps + (lo - lo.normalize())
        else:
            stamps = pd.date_range(lo + freq, hi - pd.Timedelta(1), freq=freq)
        prev = frame.iloc[int(i)]
        flat = {c: prev["close"] if c in PRICES else (prev[c] if c == "adj_close" else 0.0)
                for c in frame.columns if c != "timestamp"}
        pieces.append(pd.DataFrame({"timestamp": stamps, **flat},
                                   index=pd.Index([None] * len(stamps), name=frame.index.name)))
        new += len(stamps)
    filled = pd.concat([frame, *pieces]).sort_values("timestamp", kind="stable")
    out = _with_attrs(filled, frame)
    first = t[gap_at[0]]
    return out, [Repair(f"filled {new} missing bar(s) in {len(gap_at)} gap(s) of the {kind} "
                        f"calendar with flat bars (volume 0), the first after {first}",
                        file=_file(frame), column=_col(frame, "timestamp"),
                        row=frame.index[gap_at[0]])]
