"""The calendar of bars: their spacing, bars per year, and timestamps that continue them.

The one place that reads a bar spacing off timestamps; `Market`, `PathSet`, the generators
and the backtest runner all ask it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bar_spacing", "continue_calendar", "periods_per_year", "spacing_name"]


def bar_spacing(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The regular bar spacing of `index`: the median step (None with fewer than two bars)."""
    index = pd.DatetimeIndex(index)
    if len(index) < 2:
        return None
    return pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")


def spacing_name(freq: pd.Timedelta | None) -> str:
    """``"1-day"``, ``"4-hour"``, ``"15-minute"``, ``"30-second"`` (``"unknown"`` for None)."""
    if freq is None or pd.isna(freq):
        return "unknown"
    freq = pd.Timedelta(freq)
    for unit, name in ((pd.Timedelta(days=1), "day"), (pd.Timedelta(hours=1), "hour"),
                       (pd.Timedelta(minutes=1), "minute")):
        if freq >= unit and freq % unit == pd.Timedelta(0):
            return f"{freq // unit}-{name}"
    return f"{freq.total_seconds():g}-second"


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year of a calendar.

    Daily bars on business days -> 252; daily bars on every day (crypto) -> 365; intraday:
    bars per day (the median per date) times 252 (no weekend bars) or 365 (24/7), so hourly
    24/7 data -> 24 * 365.
    """
    index = pd.DatetimeIndex(index)
    step = bar_spacing(index)
    if step is None:
        return 252.0
    weekends = bool((index.day_of_week >= 5).any())
    days_per_year = 365.0 if weekends else 252.0
    if step >= pd.Timedelta(hours=20):
        days = step / pd.Timedelta(days=1)
        if days < 4.5:
            return days_per_year / max(1, round(days)) if weekends else 252.0 / max(
                1, round(days) if days > 1.5 else 1)
        return 365.25 / days
    per_day = float(pd.Series(index.normalize()).value_counts().median())
    if not weekends and len(index) < 3:
        per_day = pd.Timedelta(days=1) / step
    return per_day * days_per_year


def continue_calendar(index: pd.DatetimeIndex, length: int,
                      freq: pd.Timedelta | None = None) -> pd.DatetimeIndex:
    """`length` timestamps continuing `index`: business days for daily data, else fixed steps."""
    index = pd.DatetimeIndex(index)
    if freq is None:
        freq = bar_spacing(index) or pd.Timedelta(days=1)
    last = index[-1] if len(index) else pd.Timestamp("2000-01-03")
    bdays = pd.Timedelta(hours=20) <= freq <= pd.Timedelta(days=3) and (
        len(index) < 3 or (index.day_of_week < 5).all())
    try:
        # refuse before allocating `length` timestamps that cannot all exist
        step = pd.Timedelta(days=1.4) if bdays else freq
        if step * max(length - 8, 0) > pd.Timestamp.max - _naive_utc(last):
            raise OverflowError
        if bdays:
            out = pd.bdate_range(last + pd.Timedelta(days=1), periods=length)
        else:
            out = pd.date_range(last + freq, periods=length, freq=freq)
        if len(out) and _naive_utc(out[-1]) > pd.Timestamp.max:  # PathSet files hold ns
            raise OverflowError
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        raise ValueError(f"{length} bars of {freq} after {last} run past the last date a "
                         f"PathSet can hold ({pd.Timestamp.max.date()})") from None
    if index.tz is not None and out.tz is None:
        out = out.tz_localize(index.tz)
    return pd.DatetimeIndex(out, name=index.name)



def _naive_utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts if ts.tz is None else ts.tz_convert(None)
