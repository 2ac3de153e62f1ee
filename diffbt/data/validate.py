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
`check_calendar` and `check_outliers`. `check_outliers` changes nothing: it returns `Suspect`
notes, findings left in the data that `load_market` emits as `DataWarning`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffbt.data.calendar import bar_spacing
from diffbt.data.market import FIELDS
from diffbt.errors import DataError

__all__ = [
    "MAX_MISSING_BUSINESS_DAYS",
    "MAX_VOLUME",
    "MIN_SUSPECT_MOVE",
    "MIN_SUSPECT_RANGE",
    "OUTLIER_SD",
    "PRICE_RANGE",
    "Repair",
    "Suspect",
    "add_missing_volume",
    "calendar_kind",
    "check_bars",
    "check_calendar",
    "check_missing",
    "check_outliers",
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
PRICE_RANGE = (1e-12, 1e12)  # supported prices: far inside the float range the model needs
MAX_VOLUME = 1e18
OUTLIER_SD = 12.0  # robust standard deviations (1.4826 MAD) that make a bar suspicious
MIN_SUSPECT_MOVE = float(np.log(1.4))  # smaller one-bar moves are never suspicious: -29 %, +40 %
MIN_SUSPECT_RANGE = float(np.log(5.0))  # high/low below 5x is never suspicious
_MAX_SUSPECTS = 5  # findings listed per asset; more are counted in one note


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


@dataclass(frozen=True)
class Suspect(Repair):
    """A suspicious value left in the data (emitted as a `DataWarning`, never refused)."""


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
    """Prices (and ``adj_close``) strictly positive and within `PRICE_RANGE`."""
    cols = _present(frame, (*PRICES, "adj_close"))
    x = frame[cols].to_numpy(dtype=np.float64)
    lo, hi = PRICE_RANGE
    bad = ~((x >= lo) & (x <= hi))
    i = _first(bad.any(axis=1))
    if i is not None:
        c = cols[int(np.argmax(bad[i]))]
        value = frame[c].iloc[i]
        what = "is not positive (zero or negative price)" if value <= 0 else (
            f"is outside the supported price range {lo:g} .. {hi:g}; rescale the column "
            "(quote it in other units) or fix the value")
        raise _error(frame, i, c, f"{c} {value:g} {what}")


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
    """Volume, when present, is >= 0 and at most `MAX_VOLUME`."""
    if "volume" in frame:
        v = frame["volume"].to_numpy(dtype=np.float64)
        i = _first(v < 0)
        if i is not None:
            raise _error(frame, i, "volume", f"negative volume {v[i]}")
        i = _first(v > MAX_VOLUME)
        if i is not None:
            raise _error(frame, i, "volume", f"volume {v[i]:g} is above the supported maximum "
                                             f"{MAX_VOLUME:g}; rescale the column or fix the "
                                             "value")


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
    A ``utc_offset`` column (timestamps in UTC, written by `read_ohlcv` when the source
    mixes UTC offsets, e.g. across a daylight saving change) gives each row's local time.
    """
    t = frame["timestamp"]
    tz = getattr(t.dt, "tz", None)
    if tz is None:
        return frame, []
    mixed = "utc_offset" in frame
    if mixed:
        offset = frame["utc_offset"]
        local = t.dt.tz_convert("UTC").dt.tz_localize(None) + offset
        shown = [_offset_text(o) for o in pd.unique(offset.dropna())]
        what = f"mixed UTC offsets ({', '.join(shown[:4])}{', ...' if len(shown) > 4 else ''})"
    else:
        local, what = t.dt.tz_localize(None), f"time zone {tz}"
    freq = infer_freq(local.dropna())
    if freq is not None and freq >= pd.Timedelta(hours=20):
        naive = local
        how = "each bar keeps its local date and time (daily bars)" if mixed else \
            "local dates and times kept (daily bars)"
    else:
        naive = t.dt.tz_convert("UTC").dt.tz_localize(None)
        how = "converted to UTC (intraday bars)" if mixed else "converted to UTC"
    out = frame.assign(timestamp=naive)
    if mixed:
        out = out.drop(columns="utc_offset")
    return _with_attrs(out, frame), [Repair(f"{what} dropped: {how}", file=_file(frame),
                                            column=_col(frame, "timestamp"))]


def _offset_text(offset: object) -> str:
    minutes = int(pd.Timedelta(offset).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


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
    return bar_spacing(pd.DatetimeIndex(index))


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
    = low = close = previous close, volume 0) on the calendar and notes how many: daily
    business-day gaps get every business day, days missing from intraday sessions get the
    bar times that at least half of the days have.
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
                     f"gap in the {kind} calendar of {freq} bars: no bar {where}; to fill "
                     "gaps with flat bars (volume 0) pass gaps='ffill' (CLI: --gaps ffill)")
    return _fill_gaps(frame, t, np.flatnonzero(gap), freq, kind)


def _fill_gaps(frame: pd.DataFrame, t: pd.DatetimeIndex, gap_at: np.ndarray,
               freq: pd.Timedelta, kind: str) -> tuple[pd.DataFrame, list[Repair]]:
    pieces, new = [], 0
    session = _session_times(t) if kind == "sessions" else None
    for i in gap_at:
        lo, hi = t[i], t[i + 1]
        if kind in ("business", "sessions") and hi.normalize() > lo.normalize():
            days = pd.bdate_range(lo.normalize() + pd.Timedelta(days=1),
                                  hi.normalize() - pd.Timedelta(days=1))
            times = session if session is not None else [lo - lo.normalize()]
            stamps = pd.DatetimeIndex([d + k for d in days for k in times]).as_unit("ns")
        else:
            stamps = pd.date_range(lo + freq, hi - pd.Timedelta(1), freq=freq)
        if not len(stamps):
            continue
        prev = frame.iloc[int(i)]
        flat = {c: prev["close"] if c in PRICES else (prev[c] if c == "adj_close" else 0.0)
                for c in frame.columns if c != "timestamp"}
        pieces.append(pd.DataFrame({"timestamp": stamps, **flat},
                                   index=pd.Index([None] * len(stamps), name=frame.index.name)))
        new += len(stamps)
    filled = pd.concat([frame, *pieces]).sort_values("timestamp", kind="stable") if pieces \
        else frame
    out = _with_attrs(filled, frame)
    first = t[gap_at[0]]
    return out, [Repair(f"filled {new} missing bar(s) in {len(gap_at)} gap(s) of the {kind} "
                        f"calendar with flat bars (volume 0), the first after {first}",
                        file=_file(frame), column=_col(frame, "timestamp"),
                        row=frame.index[gap_at[0]])]


def _session_times(t: pd.DatetimeIndex) -> list[pd.Timedelta]:
    """Times of day (offsets from midnight) of at least half of the days' bars."""
    days = t.normalize()
    tod = pd.Series(t - days)
    counts = tod.value_counts()
    return sorted(counts.index[counts >= 0.5 * days.nunique()])


# -- suspicious values ------------------------------------------------------------------------
_SPLITS = (1.5, 2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 15.0, 20.0, 25.0, 50.0, 100.0)


def _robust_sd(x: np.ndarray) -> tuple[float, float]:
    """(median, 1.4826 * median absolute deviation): the mean and sd for normal data."""
    med = float(np.median(x))
    return med, 1.4826 * float(np.median(np.abs(x - med)))


def _split_guess(ratio: float) -> str:
    """What a lasting one-bar price ratio looks like: '2:1 split', '1:10 reverse split'."""
    big = 1.0 / ratio if ratio < 1 else ratio
    near = [k for k in _SPLITS if abs(big / k - 1.0) < 0.04]
    if not near:
        return "split" if ratio < 1 else "reverse split"
    k = f"{near[0]:g}"
    return f"{k}:1 split" if ratio < 1 else f"1:{k} reverse split"


def check_outliers(frame: pd.DataFrame, *, sd: float = OUTLIER_SD) -> list[Suspect]:
    """Find one-bar moves and bar ranges no market makes: unadjusted splits, bad ticks.

    On a sorted, unique frame. A bar is suspicious when its close-to-close log return is
    more than `sd` robust standard deviations (1.4826 times the median absolute deviation)
    from the median return and at least `MIN_SUSPECT_MOVE` in size, or when its log range
    ``log(high / low)`` is more than `sd` robust sd above the median range and the range is
    at least `MIN_SUSPECT_RANGE` (high five times low). A move that the next bar undoes is
    reported as a spike, one that stays as a possible split. Nothing is changed.

    Returns
    -------
    list of Suspect
        One per finding (at most 5, then one note counting the rest), located at the row.
    """
    n = len(frame)
    if n < 3:
        return []
    o, h, lo, c = (frame[f].to_numpy(dtype=np.float64) for f in PRICES)
    r = np.diff(np.log(c))
    med, s = _robust_sd(r)
    move = np.abs(r - med) > max(sd * s, MIN_SUSPECT_MOVE)
    rng = np.log(h / lo)
    rmed, rs = _robust_sd(rng)
    wide = (rng - rmed > sd * rs) & (rng >= MIN_SUSPECT_RANGE)
    found: list[tuple[int, str, str]] = []  # (position, field, message)
    skip = set()
    for k in np.flatnonzero(move):
        if k in skip:
            continue
        i = int(k) + 1  # the bar that moved
        z = abs(r[k] - med) / s if s > 0 else np.inf
        pct = 100.0 * np.expm1(r[k])
        how = f"suspicious{_when(frame, i)}: close {'rose' if r[k] > 0 else 'fell'} " \
              f"{abs(pct):.1f}% in one bar, from {c[i - 1]:.6g} to {c[i]:.6g} ({z:.0f} robust " \
              "sd of the log returns)"
        back = k + 1 < len(r) and move[k + 1] and abs(r[k] + r[k + 1]) < 0.5 * abs(r[k])
        if back:
            skip.add(k + 1)
            found.append((i, "close", f"{how}, and back the next bar: a bad value? "
                                      "Kept as is; fix or drop the row"))
        else:
            found.append((i, "close", f"{how}, and stayed there: an unadjusted "
                                      f"{_split_guess(float(np.exp(r[k])))}? Kept as is; "
                                      "for split-adjusted prices load with adjust='close' "
                                      "(CLI: --adjust close), which needs an Adj Close column"))
    moved = {i for i, _, _ in found}
    for k in np.flatnonzero(wide):
        i = int(k)
        if i in moved:  # a close far off moves the high or low with it: one finding
            continue
        body_hi, body_lo = max(o[i], c[i]), min(o[i], c[i])
        field = "high" if h[i] / body_hi >= body_lo / lo[i] else "low"
        z = (rng[i] - rmed) / rs if rs > 0 else np.inf
        value = h[i] if field == "high" else lo[i]
        found.append((i, field, f"suspicious{_when(frame, i)}: {field} {value:.6g}, the "
                                f"bar's high is {np.exp(rng[i]):.3g} times its low against a "
                                f"median of {np.exp(rmed):.3g} ({z:.0f} robust sd of "
                                "log(high/low)): a bad tick? Kept as is; fix or drop the row"))
    found.sort(key=lambda f: f[0])
    out = [Suspect(msg, file=_file(frame), column=_col(frame, field),
                   row=frame.index[i]) for i, field, msg in found[:_MAX_SUSPECTS]]
    if len(found) > _MAX_SUSPECTS:
        out.append(Suspect(f"{len(found) - _MAX_SUSPECTS} more suspicious bar(s) not listed",
                           file=_file(frame)))
    return out
