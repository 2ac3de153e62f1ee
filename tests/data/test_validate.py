"""The checks of diffbt.data.validate on one asset's frame, called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diffbt.data import validate as v
from diffbt.data.io import read_ohlcv
from diffbt.errors import DataError


def _frame(bars, index: pd.DatetimeIndex, name: str = "x.csv") -> pd.DataFrame:
    """A frame as read_ohlcv returns it, with row labels 0..n-1."""
    return read_ohlcv(bars(index).rename_axis("timestamp").reset_index(), name=name)


def test_infer_freq_is_the_median_step():
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-10"])
    assert v.infer_freq(index) == pd.Timedelta(days=1)
    assert v.infer_freq(index[:1]) is None


@pytest.mark.parametrize(("index", "kind"), [
    (pd.bdate_range("2024-01-01", periods=30), "business"),
    (pd.date_range("2024-01-01", periods=30, freq="D"), "24/7"),
    (pd.date_range("2024-01-01", periods=300, freq="h"), "24/7"),
    (pd.bdate_range("2024-01-01", periods=30) + pd.Timedelta(hours=10), "business"),
    (pd.date_range("2024-01-01", periods=30, freq="W-FRI"), "coarse"),
    (pd.date_range("2024-01-31", periods=30, freq="ME"), "coarse"),
])
def test_calendar_kind(index, kind):
    assert v.calendar_kind(index, v.infer_freq(index)) == kind


def test_check_calendar_accepts_month_ends_and_rejects_a_missing_month(bars):
    months = pd.date_range("2020-01-31", periods=24, freq="ME")
    frame = _frame(bars, months)
    assert v.check_calendar(frame)[1] == []
    with pytest.raises(DataError, match="gap in the coarse calendar") as info:
        v.check_calendar(_frame(bars, months.delete(5)))
    assert info.value.row == 5 and info.value.column == "timestamp"


def test_check_calendar_rejects_a_missing_day_of_daily_crypto(bars):
    days = pd.date_range("2024-01-01", periods=30, freq="D").delete(12)
    with pytest.raises(DataError, match="24/7") as info:
        v.check_calendar(_frame(bars, days, name="btc.csv"))
    assert (info.value.file, info.value.row) == ("btc.csv", 12)
    assert "2024-01-12" in str(info.value) and "2024-01-14" in str(info.value)


def test_check_calendar_fills_a_long_business_day_gap_with_business_days(bars):
    days = pd.bdate_range("2024-01-01", periods=40)
    frame = _frame(bars, days.delete(range(10, 17)))  # 7 business days missing
    filled, repairs = v.check_calendar(frame, gaps="ffill")
    assert list(filled["timestamp"]) == list(days)
    assert "filled 7 missing bar(s) in 1 gap(s)" in str(repairs[0])
    new = filled.iloc[10:17]
    close = frame["close"].iloc[9]
    np.testing.assert_array_equal(new[["open", "high", "low", "close"]].to_numpy(), close)
    assert (new["volume"] == 0).all()


def test_check_calendar_rejects_irregular_spacing(bars):
    hours = pd.date_range("2024-01-01", periods=200, freq="h")
    odd = hours.insert(20, hours[19] + pd.Timedelta(minutes=30))
    with pytest.raises(DataError, match="irregular spacing") as info:
        v.check_calendar(_frame(bars, odd))
    assert info.value.row == 20


def test_check_calendar_rejects_an_unknown_option(bars):
    with pytest.raises(ValueError, match="gaps must be"):
        v.check_calendar(_frame(bars, pd.bdate_range("2024-01-01", periods=5)), gaps="drop")


def test_check_bars_reports_the_earliest_offending_row(bars):
    frame = _frame(bars, pd.bdate_range("2024-01-01", periods=10))
    frame.loc[7, "close"] = frame.loc[7, "high"] * 2  # close above high at row 7
    frame.loc[4, "open"] = frame.loc[4, "low"] / 2  # open below low at row 4, earlier
    with pytest.raises(DataError) as info:
        v.check_bars(frame)
    assert (info.value.column, info.value.row) == ("open", 4)


def test_drop_duplicates_keeps_the_first_of_identical_rows(bars):
    frame = _frame(bars, pd.bdate_range("2024-01-01", periods=6))
    doubled = pd.concat([frame.iloc[:3], frame.iloc[2:3], frame.iloc[3:]])
    doubled.attrs = frame.attrs
    out, repairs = v.drop_duplicates(doubled)
    pd.testing.assert_frame_equal(out, frame)
    assert len(repairs) == 1 and repairs[0].row == 2


def test_sort_by_time_names_the_row_that_breaks_the_order(bars):
    frame = _frame(bars, pd.bdate_range("2024-01-01", periods=6))
    newest_first = frame.iloc[::-1].copy()
    newest_first.attrs = frame.attrs
    swapped = newest_first.iloc[[0, 1, 3, 2, 4, 5]].copy()
    swapped.attrs = frame.attrs
    with pytest.raises(DataError, match="out of order") as info:
        v.sort_by_time(swapped)
    assert info.value.row == 3  # newest-first, then day 4 (row 3) follows day 3 (row 2)
    out, repairs = v.sort_by_time(newest_first)
    pd.testing.assert_frame_equal(out, frame)
    assert "newest-first" in str(repairs[0])


def test_repair_formats_like_a_data_error():
    r = v.Repair("dropped 2 rows", file="a.csv", column="date", row=5)
    assert str(r) == "a.csv, column 'date', row 5: dropped 2 rows"
    err = r.error()
    assert isinstance(err, DataError) and err.row == 5 and "strict=True" in str(err)


def test_check_prices_names_the_supported_range(bars):
    frame = _frame(bars, pd.bdate_range("2024-01-01", periods=10))
    v.check_prices(frame)
    lo, hi = v.PRICE_RANGE
    for value in (hi * 1.01, lo / 1.01):
        bad = frame.copy()
        bad.attrs = frame.attrs
        bad.loc[4, "low"] = value
        with pytest.raises(DataError, match="supported price range") as info:
            v.check_prices(bad)
        assert info.value.row == 4 and info.value.column == "low"


def test_check_outliers_flags_a_split_and_a_wide_bar_only(bars):
    index = pd.bdate_range("2024-01-01", periods=200)
    frame = _frame(bars, index)
    assert v.check_outliers(frame) == []
    split = frame.copy()
    split.attrs = frame.attrs
    split.loc[120:, list(v.PRICES)] /= 4
    (note,) = v.check_outliers(split)
    assert isinstance(note, v.Suspect) and note.row == 120 and note.column == "close"
    assert "4:1 split" in note.msg
    wide = frame.copy()
    wide.attrs = frame.attrs
    wide.loc[50, "low"] = wide.loc[50, "low"] / 6  # high/low just over 6x
    (note,) = v.check_outliers(wide)
    assert note.row == 50 and note.column == "low" and "bad tick" in note.msg
    wide.loc[50, "low"] = frame.loc[50, "low"] / 4  # 4x: below the 5x floor
    assert v.check_outliers(wide) == []


def test_check_outliers_ignores_moves_under_the_floor_even_in_calm_data():
    """A market that barely moves (robust sd ~ 0) still needs a -29 % / +40 % bar."""
    close = np.full(100, 100.0)
    close[50:] = 80.0  # -20 %: huge in robust sd, under the floor
    frame = pd.DataFrame({"timestamp": pd.bdate_range("2024-01-01", periods=100),
                          "open": close, "high": close, "low": close, "close": close})
    assert v.check_outliers(frame) == []
    frame.loc[70:, ["open", "high", "low", "close"]] = 40.0  # -50 %
    (note,) = v.check_outliers(frame)
    assert note.row == 70 and "inf robust sd" in note.msg
