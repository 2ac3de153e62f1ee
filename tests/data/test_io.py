"""load_market / read_ohlcv: happy paths and every dirty case, each with a tiny file."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

import diffbt
from diffbt.data.io import load_market, read_ohlcv
from diffbt.errors import DataError, DataRepairWarning
from tests.helpers import EXPECTED_CLOSE, GOOD, HEADER, assert_located, load_error


# -- happy paths ------------------------------------------------------------------------------
def test_load_market_reads_csv_with_date_strings(write):
    market = load_market(write("spy.csv", GOOD))
    assert market.assets == ("spy",)
    assert list(market.index) == list(pd.date_range("2024-01-01", periods=5, freq="D"))
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE
    assert market.frame("spy")["volume"].tolist() == [100, 200, 150, 120, 130]
    assert market.freq == pd.Timedelta(days=1)
    assert market.repairs == ()


def test_load_market_is_exported_at_top_level():
    assert diffbt.load_market is load_market


def test_load_market_reads_timestamps_from_the_index(write, bars):
    frame = bars(pd.bdate_range("2024-01-01", periods=10))
    path = write("idx.csv", "")
    frame.to_csv(path)  # header ",open,high,..." -> an unnamed first column
    market = load_market(path)
    np.testing.assert_array_equal(market.frame("idx").to_numpy(), frame.to_numpy())
    assert list(market.index) == list(frame.index)
    from_frame = load_market(frame)  # a DataFrame with a DatetimeIndex
    assert from_frame.assets == ("asset",)
    np.testing.assert_array_equal(from_frame.values, market.values)


def test_load_market_reads_parquet(tmp_path, bars):
    frame = bars(pd.date_range("2024-01-01", periods=30, freq="h"))
    frame.index.name = "Datetime"
    frame.to_parquet(tmp_path / "eth.parquet")
    market = load_market(tmp_path / "eth.parquet")
    assert market.assets == ("eth",)
    np.testing.assert_array_equal(market.frame("eth").to_numpy(), frame.to_numpy())


def test_load_market_reads_a_dataframe_with_a_date_column(bars):
    frame = bars(pd.bdate_range("2024-01-01", periods=8)).rename(columns=str.upper)
    frame = frame.rename_axis("Date").reset_index()
    market = load_market({"spy": frame})
    np.testing.assert_allclose(market.frame("spy")["close"], frame["CLOSE"])


def test_load_market_aligns_two_assets_on_common_timestamps(write, bars):
    a = bars(pd.bdate_range("2024-01-01", periods=20), seed=1)
    b = bars(pd.bdate_range("2024-01-08", periods=20), seed=2)
    pa, pb = write("a.csv", ""), write("b.parquet", "")
    a.rename_axis("Date").to_csv(pa)
    b.rename_axis("Date").to_parquet(pb)
    with pytest.warns(DataRepairWarning, match="outside the span"):
        market = load_market([pa, pb])
    common = a.index.intersection(b.index)
    assert market.assets == ("a", "b")
    assert list(market.index) == list(common) and len(common) == 15
    np.testing.assert_allclose(market.frame("a").to_numpy(), a.loc[common].to_numpy())
    np.testing.assert_allclose(market.frame("b").to_numpy(), b.loc[common].to_numpy())
    assert any("'a': dropped 5 bar(s) outside" in r for r in market.repairs)
    assert any("'b': dropped 5 bar(s) outside" in r for r in market.repairs)


def test_load_market_uses_adj_close_only_when_asked(write):
    text = """
        Date,Open,High,Low,Close,Adj Close,Volume
        2024-01-01,10,11,9,10,5,100
        2024-01-02,10,12,10,11,5.5,100
        2024-01-03,11,12,10,12,6,100
        """
    plain = load_market(write("spy.csv", text))
    assert plain.frame("spy")["close"].tolist() == [10, 11, 12]
    adj = load_market(write("spy.csv", text.replace("Adj Close", "Adj_Close")), adjust="close")
    np.testing.assert_allclose(adj.frame("spy")["close"], [5, 5.5, 6])
    np.testing.assert_allclose(adj.frame("spy")["high"], [5.5, 6, 6])
    np.testing.assert_allclose(adj.frame("spy")["volume"], [100, 100, 100])


def test_load_market_requires_adj_close_to_adjust_and_ignores_it_otherwise(write):
    text = GOOD.replace("volume", "volume,Adj Close").replace(",100", ",100,")  # empty adj
    assert load_market(write("spy.csv", text)).frame("spy")["close"].tolist()[0] == 10.5
    err = load_error(write, GOOD, adjust="close")
    assert err.column == "adj close" and err.file == "spy.csv"


def test_load_market_joins_separate_date_and_time_columns(write):
    text = """
        <DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>
        2024.01.02,09:00:00,10,11,9,10.5,100
        2024.01.02,10:00:00,10.5,12,10,11,200
        2024.01.02,11:00:00,11,11.5,10.5,11.2,150
        """
    with pytest.warns(DataRepairWarning, match="no volume column"):
        market = load_market(write("eurusd.csv", text))
    assert list(market.index) == list(pd.date_range("2024-01-02 09:00", periods=3, freq="h"))


def test_load_market_matches_columns_case_insensitively(write):
    text = GOOD.replace("date,open,high,low,close,volume", "<DATE>;<OPEN>;HIGH;Low;CLOSE;Vol")
    market = load_market(write("spy.txt", text.replace(",", ";")))
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE


def test_load_market_infers_hourly_frequency(bars):
    index = pd.date_range("2024-01-01", periods=24 * 9, freq="h")  # 24/7, Saturdays included
    market = load_market({"btc": bars(index)})
    assert market.freq == pd.Timedelta(hours=1)
    assert market.periods_per_year == 24 * 365  # hourly bars on every day


def test_load_market_accepts_weekends_and_holidays_in_daily_data(bars):
    index = pd.bdate_range("2024-01-01", periods=60).delete([10, 11, 12])  # 3-day closure
    market = load_market({"spy": bars(index)})
    assert len(market) == 57 and market.repairs == ()


def test_read_ohlcv_keeps_rows_in_file_order_labelled_by_line(write):
    frame = read_ohlcv(write("spy.csv", GOOD))
    assert list(frame.index) == [2, 3, 4, 5, 6]
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert frame.attrs["file"] == "spy.csv"


# -- repairs ----------------------------------------------------------------------------------
def test_load_market_resorts_newest_first_rows(write):
    lines = textwrap.dedent(GOOD).strip().splitlines()
    path = write("spy.csv", "\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with pytest.warns(DataRepairWarning, match="newest-first"):
        market = load_market(path)
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE
    assert market.repairs == ("spy.csv, column 'date': rows were newest-first; re-sorted "
                              "oldest-first",)
    with pytest.raises(DataError, match="newest-first.*strict=True"):
        load_market(path, strict=True)


def test_load_market_drops_exact_duplicate_rows_and_counts_them(write):
    lines = textwrap.dedent(GOOD).strip().splitlines()
    path = write("spy.csv", "\n".join(lines[:3] + [lines[2], lines[2]] + lines[3:]) + "\n")
    with pytest.warns(DataRepairWarning, match="dropped 2 exact duplicate"):
        market = load_market(path)
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE
    assert "row 4" in market.repairs[0]


def test_load_market_sets_missing_volume_to_zero(write):
    lines = textwrap.dedent(GOOD).strip().splitlines()
    text = "\n".join(",".join(line.split(",")[:5]) for line in lines)
    with pytest.warns(DataRepairWarning, match="no volume column"):
        market = load_market(write("spy.csv", text + "\n"))
    assert market.frame("spy")["volume"].tolist() == [0.0] * 5


def test_load_market_drops_blank_lines_with_a_note(write):
    text = textwrap.dedent(GOOD).strip().replace("150\n", "150\n\n")
    path = write("spy.csv", text + "\n\n")  # blank lines 5 and 8
    with pytest.warns(DataRepairWarning, match="blank row"):
        market = load_market(path)
    assert len(market) == 5
    assert "dropped 2 blank row(s): 5, 8" in market.repairs[0]


def test_load_market_keeps_local_dates_of_tz_aware_daily_bars(write, bars):
    text = GOOD
    for day in range(1, 6):
        text = text.replace(f"2024-01-0{day},", f"2024-01-0{day}T00:00:00-05:00,")
    with pytest.warns(DataRepairWarning, match="time zone UTC-05:00 dropped: local dates"):
        market = load_market(write("spy.csv", text))
    assert market.index[0] == pd.Timestamp("2024-01-01") and market.index.tz is None
    # yfinance-style: exchange time zones, across a daylight saving change
    days = pd.bdate_range("2024-03-01", periods=30)
    ny = bars(days.tz_localize("America/New_York"), seed=1)
    tokyo = bars(days.tz_localize("Asia/Tokyo"), seed=2)
    with pytest.warns(DataRepairWarning, match="dropped: local dates"):
        market = load_market({"spy": ny, "nikkei": tokyo})
    assert list(market.index) == list(days)
    assert len(market.repairs) == 2 and "Asia/Tokyo" in market.repairs[1]


def test_load_market_converts_tz_aware_intraday_bars_to_utc(bars):
    hours = pd.date_range("2024-03-08 09:00", periods=24 * 5, freq="h", tz="Europe/Berlin")
    with pytest.warns(DataRepairWarning, match="converted to UTC"):
        market = load_market({"btc": bars(hours)})
    assert market.index[0] == pd.Timestamp("2024-03-08 08:00") and market.index.tz is None


def test_load_market_fills_gaps_only_when_asked(bars):
    index = pd.date_range("2024-01-01", periods=24 * 8, freq="h").delete([50, 51])
    frame = bars(index)
    with pytest.warns(DataRepairWarning, match="filled 2 missing bar"):
        market = load_market({"btc": frame}, gaps="ffill")
    assert len(market) == 24 * 8
    filled = market.frame("btc").loc["2024-01-03 02:00":"2024-01-03 03:00"]
    prev_close = frame["close"].iloc[49]
    np.testing.assert_array_equal(filled[["open", "high", "low", "close"]], prev_close)
    np.testing.assert_array_equal(filled["volume"], 0.0)


# -- errors -----------------------------------------------------------------------------------
def test_load_market_rejects_duplicate_timestamps_with_conflicting_values(write):
    err = load_error(write, GOOD.replace("2024-01-03,11,11.5", "2024-01-02,11,11.5"))
    assert_located(err, column="open", row=4)
    assert "conflicting" in str(err) and "row 3" in str(err)


@pytest.mark.parametrize("cell", ["", "NaN", "inf"])
def test_load_market_rejects_empty_nan_and_infinite_cells(write, cell):
    err = load_error(write, GOOD.replace("11.5,120", f"{cell},120"))
    assert_located(err, column="close", row=5)


def test_load_market_rejects_a_missing_timestamp(write):
    assert_located(load_error(write, GOOD.replace("2024-01-03", "")), column="date", row=4)


@pytest.mark.parametrize("price", ["0", "-1"])
def test_load_market_rejects_zero_or_negative_prices(write, price):
    err = load_error(write, GOOD.replace("2024-01-02,10.5,12,10,11",
                                         f"2024-01-02,10.5,12,{price},11"))
    assert_located(err, column="low", row=3)
    assert "not positive" in str(err)


def test_load_market_rejects_high_below_low(write):
    err = load_error(write, GOOD.replace("11,11.5,10.5,11.2", "11,10.4,10.5,11.2"))
    assert_located(err, column="high", row=4)
    assert "high 10.4 < low 10.5" in str(err)


@pytest.mark.parametrize(("line", "column"), [
    ("2024-01-03,11,11.5,10.5,11.6,150", "close"),
    ("2024-01-03,10.4,11.5,10.5,11.2,150", "open"),
])
def test_load_market_rejects_open_or_close_outside_the_bar(write, line, column):
    err = load_error(write, GOOD.replace("2024-01-03,11,11.5,10.5,11.2,150", line))
    assert_located(err, column=column, row=4)
    assert "outside [low 10.5, high 11.5]" in str(err)


def test_load_market_rejects_negative_volume(write):
    assert_located(load_error(write, GOOD.replace(",150", ",-150")), column="volume", row=4)


def test_load_market_rejects_a_gap_in_a_247_calendar(bars, write):
    index = pd.date_range("2024-01-01", periods=24 * 8, freq="h").delete(50)
    path = write("btc.csv", "")
    bars(index).rename_axis("time").to_csv(path)
    err = load_error(write, path.read_text(), name="btc.csv")
    assert_located(err, file="btc.csv", column="time", row=52)  # bar 50 (line 52) is missing
    assert "gap" in str(err) and "2024-01-03 01:00:00" in str(err)


def test_load_market_rejects_a_gap_inside_an_intraday_session(bars):
    days = pd.bdate_range("2024-01-01", periods=10)
    index = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in range(9, 16)])
    assert len(load_market({"spy": bars(index)})) == 70  # nights and weekends are no gaps
    frame = bars(index.delete(17))
    with pytest.raises(DataError, match="gap in the sessions calendar") as info:
        load_market({"spy": frame})
    assert info.value.row == index[18] and info.value.column == "index"
    assert info.value.file == "DataFrame 'spy'"


def test_load_market_rejects_a_long_gap_in_daily_business_data(bars):
    index = pd.bdate_range("2024-01-01", periods=60).delete(range(20, 26))  # 6 business days
    with pytest.raises(DataError, match="gap in the business calendar") as info:
        load_market({"spy": bars(index)})
    assert info.value.row == index[20]


def test_load_market_rejects_out_of_order_rows(write):
    lines = textwrap.dedent(GOOD).strip().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    err = load_error(write, "\n".join(lines) + "\n")
    assert_located(err, column="date", row=4)
    assert "out of order" in str(err)


def test_load_market_rejects_assets_without_overlap(bars):
    a = bars(pd.bdate_range("2024-01-01", periods=10))
    b = bars(pd.bdate_range("2024-03-01", periods=10))
    with pytest.raises(DataError, match="no overlap") as info:
        load_market({"a": a, "b": b})
    assert info.value.file == "DataFrame 'a'"


def test_load_market_rejects_assets_with_little_overlap(bars):
    a = bars(pd.bdate_range("2024-01-01", periods=20))
    shifted = a.iloc[9:].set_axis(a.index[9:] + pd.Timedelta(hours=16))
    b = pd.concat([a.iloc[:9], shifted])  # the same days, but only 9 at the same clock time
    with pytest.raises(DataError, match="only 9 of its 20 bars") as info:
        load_market({"a": a, "b": b})
    assert "asset 'a'" in str(info.value) and info.value.file == "DataFrame 'a'"
    other_clock = bars(a.index + pd.Timedelta(hours=16))
    with pytest.raises(DataError, match="only 0 of its 19"):
        load_market({"a": a, "b": other_clock})


def test_load_market_rejects_history_shorter_than_the_window(write):
    err = load_error(write, GOOD, window=8)
    assert err.file == "spy.csv"
    assert "only 5 common bars" in str(err) and "window=8" in str(err)
    assert len(load_market(write("spy.csv", GOOD), window=4)) == 5
    assert "min_length=10" in str(load_error(write, GOOD, min_length=10))


def test_load_market_rejects_files_that_are_not_csv_or_parquet(write, tmp_path):
    (tmp_path / "spy.xlsx").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DataError, match="not a CSV or parquet") as info:
        load_market(tmp_path / "spy.xlsx")
    assert info.value.file == "spy.xlsx"
    (tmp_path / "spy.dat").write_bytes(b"\x00\x01binary\x00")
    with pytest.raises(DataError, match="binary content") as info:
        load_market(tmp_path / "spy.dat")
    assert info.value.file == "spy.dat"
    assert_located(load_error(write, GOOD, name="spy.parquet"), file="spy.parquet")
    err = load_error(write, '{"open": [1]}', name="spy.json")
    assert err.file == "spy.json" and "not a CSV or parquet file (.json)" in str(err)


@pytest.mark.parametrize(("text", "match"), [
    ("", "empty file"),
    ("\n\n", "empty file"),
    (HEADER, "no data rows"),
])
def test_load_market_rejects_empty_files(write, text, match):
    err = load_error(write, text)
    assert err.file == "spy.csv" and match in str(err)


def test_load_market_rejects_missing_files_and_columns(write, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_market(tmp_path / "nope.csv")
    err = load_error(write, GOOD.replace("high", "hi"))
    assert "no ['high'] column" in str(err) and err.file == "spy.csv"


def test_load_market_rejects_a_ragged_csv_line(write):
    err = load_error(write, GOOD.replace("11.2,150", "11.2,150,7"))
    assert err.file == "spy.csv" and err.row == 4


def test_load_market_keeps_bars_between_start_and_end(write):
    market = load_market(write("spy.csv", GOOD), start="2024-01-02", end="2024-01-04")
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE[1:4]
    with pytest.raises(DataError, match="no bars between"):
        load_market(write("spy.csv", GOOD), start="2025-01-01")


# -- time zones: mixed UTC offsets ------------------------------------------------------------
def test_load_market_keeps_daily_dates_across_mixed_utc_offsets(write):
    """yfinance and Excel exports write each day's own offset: +01:00 in winter, +02:00 after
    the change to summer time. Every bar keeps its local date."""
    days = ["2020-03-26", "2020-03-27", "2020-03-30", "2020-03-31", "2020-04-01"]
    offsets = ["+01:00", "+01:00", "+02:00", "+02:00", "+02:00"]
    text = GOOD
    for k, (day, off) in enumerate(zip(days, offsets, strict=True)):
        text = text.replace(f"2024-01-0{k + 1},", f"{day}T00:00:00{off},")
    with pytest.warns(DataRepairWarning, match=r"mixed UTC offsets \(\+01:00, \+02:00\) "
                                               "dropped: each bar keeps its local date"):
        market = load_market(write("dax.csv", text))
    assert list(market.index) == list(pd.to_datetime(days))
    assert market.frame("dax")["close"].tolist() == EXPECTED_CLOSE
    # the same file as New York writes it (-05:00, then -04:00)
    ny = text.replace("+01:00", "-05:00").replace("+02:00", "-04:00")
    with pytest.warns(DataRepairWarning, match=r"\(-05:00, -04:00\)"):
        assert list(load_market(write("spy.csv", ny)).index) == list(pd.to_datetime(days))


def test_load_market_converts_intraday_bars_with_mixed_offsets_to_utc(write, bars):
    hours = pd.date_range("2024-03-30 12:00", periods=30, freq="h", tz="Europe/Berlin")
    frame = bars(hours.tz_convert("UTC").tz_localize(None))
    stamps = [t.isoformat() for t in hours]  # ...+01:00, then +02:00 from 2024-03-31 03:00
    assert stamps[0].endswith("+01:00") and stamps[-1].endswith("+02:00")
    csv = "time,open,high,low,close,volume\n" + "".join(
        f"{s},{r.open},{r.high},{r.low},{r.close},{r.volume}\n"
        for s, (_, r) in zip(stamps, frame.iterrows(), strict=True))
    with pytest.warns(DataRepairWarning, match="mixed UTC offsets .* converted to UTC"):
        market = load_market(write("dax_1h.csv", csv))
    assert list(market.index) == list(frame.index)  # the true instants, hourly, no gap
    np.testing.assert_allclose(market.frame("dax_1h").to_numpy(), frame.to_numpy())


# -- supported range ------------------------------------------------------------------------
@pytest.mark.parametrize(("line", "column"), [
    ("2024-01-03,11,1e300,10.5,1e300,150", "high"),
    ("2024-01-03,1e-300,11.5,1e-300,11.2,150", "open"),
    ("2024-01-03,11,11.5,10.5,11.2,1e30", "volume"),
])
def test_load_market_rejects_values_beyond_the_supported_range(write, line, column):
    err = load_error(write, GOOD.replace("2024-01-03,11,11.5,10.5,11.2,150", line))
    assert_located(err, column=column, row=4)
    assert ("1e-12 .. 1e+12" if column != "volume" else "1e+18") in str(err)


def test_load_market_accepts_prices_near_the_bounds(bars):
    frame = bars(pd.date_range("2024-01-01", periods=48, freq="h"))
    tiny = frame.assign(**{f: frame[f] * 1e-10 for f in ("open", "high", "low", "close")})
    assert load_market({"shib_btc": tiny}).frame("shib_btc")["close"].max() < 1e-7
    big = frame.assign(**{f: frame[f] * 1e8 for f in ("open", "high", "low", "close")})
    assert load_market({"idx": big}).frame("idx")["close"].min() > 1e9


# -- files and names --------------------------------------------------------------------------
def test_load_market_says_a_directory_is_a_directory(tmp_path, write):
    write("spy.csv", GOOD)
    with pytest.raises(DataError, match="is a directory") as info:
        load_market(tmp_path)
    assert "spy.csv" in str(info.value) and "no such file" not in str(info.value)


def test_load_market_suggests_a_bundled_dataset_or_a_nearby_file(tmp_path, write, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        load_market("sp500_nasdq")
    msg = str(info.value)
    assert "not a bundled dataset" in msg and "did you mean 'sp500_nasdaq'?" in msg
    assert "sp500, nasdaq, wti" in msg
    write("spy_daily.csv", GOOD)
    with pytest.raises(DataError, match="did you mean 'spy_daily.csv'") as info:
        load_market("spy_dialy.csv")
    assert info.value.file == "spy_dialy.csv"
    with pytest.raises(DataError, match="folder 'nodir' does not exist"):
        load_market("nodir/spy.csv")


# -- gaps="ffill" on every calendar -----------------------------------------------------------
def _sessions(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([d + pd.Timedelta(minutes=570 + 30 * k)
                             for d in days for k in range(13)])  # 09:30 .. 15:30


@pytest.mark.parametrize(("full", "drop", "kind"), [
    (pd.date_range("2024-01-01", periods=60, freq="D"), [20, 21], "24/7"),
    (pd.date_range("2024-01-01", periods=200, freq="h"), [50], "24/7"),
    (pd.bdate_range("2024-01-01", periods=60), range(20, 27), "business"),
    (_sessions(pd.bdate_range("2024-01-01", periods=10)), [30, 31], "sessions"),
    (_sessions(pd.bdate_range("2024-01-01", periods=10)), range(13, 13 * 8), "sessions"),
    (pd.date_range("2024-01-07", periods=40, freq="W"), [10], "coarse"),
], ids=["daily-24/7", "hourly-24/7", "business", "session-hours", "session-days", "weekly"])
def test_gap_error_suggests_ffill_and_ffill_restores_the_calendar(bars, full, drop, kind):
    frame = bars(full.delete(list(drop)))
    with pytest.raises(DataError, match=f"gap in the {kind} calendar") as info:
        load_market({"x": frame})
    assert "gaps='ffill'" in str(info.value) and "--gaps ffill" in str(info.value)
    with pytest.warns(DataRepairWarning, match=f"filled {len(drop)} missing bar"):
        market = load_market({"x": frame}, gaps="ffill")
    assert list(market.index) == list(full)
    again = load_market(market.frames(), strict=True)  # the filled calendar is clean
    assert list(again.index) == list(full)
    filled = market.frame("x").loc[full[list(drop)]]
    prev = frame["close"].loc[:full[drop[0]]].iloc[-1]
    np.testing.assert_array_equal(filled[["open", "high", "low", "close"]], prev)
    assert (filled["volume"] == 0).all()
