"""load_market on files as common tools export them (yfinance, Binance, Excel, sites), and on
their timestamp and number formats."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from diffbt.data.io import load_market, read_ohlcv
from diffbt.errors import DataError, DataRepairWarning
from tests.helpers import EXPECTED_CLOSE, GOOD, HEADER, assert_located, load_error


def _quiet_load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        return load_market(*args, **kw)


def _ohlcv(bars, index):
    return bars(index).rename(columns=str.capitalize)


# -- yfinance ---------------------------------------------------------------------------------
def _yfinance_csv(frames: dict[str, pd.DataFrame], *, group_by_ticker: bool = False) -> str:
    """What ``yf.download(...).to_csv()`` writes: (Price, Ticker) column levels, a Date row."""
    fields = ["Close", "High", "Low", "Open", "Volume"]
    parts = {(f, t): frame[f] for t, frame in frames.items() for f in fields}
    wide = pd.DataFrame(parts)
    wide.columns = pd.MultiIndex.from_tuples(wide.columns, names=["Price", "Ticker"])
    if group_by_ticker:
        wide = wide.swaplevel(axis=1)
    wide.index.name = "Date"
    return wide.to_csv()


def test_load_market_reads_a_yfinance_export(write, bars):
    days = pd.bdate_range("2024-01-02", periods=30)
    spy = _ohlcv(bars, days)
    text = _yfinance_csv({"SPY": spy})
    assert text.splitlines()[:3] == ["Price,Close,High,Low,Open,Volume",
                                     "Ticker,SPY,SPY,SPY,SPY,SPY", "Date,,,,,"]
    path = write("spy.csv", text)
    market = load_market(path)
    assert market.assets == ("spy",) and market.repairs == ()
    assert list(market.index) == list(days)
    np.testing.assert_allclose(market.frame("spy")["close"], spy["Close"])
    np.testing.assert_allclose(market.frame("spy")["open"], spy["Open"])
    frame = read_ohlcv(path)
    assert frame.attrs["ticker"] == "SPY" and frame.attrs["layout"] == "yfinance"
    assert frame.index[0] == 4  # the first data row is line 4 of the file
    lines = text.splitlines()
    lines[6] = lines[6].split(",")[0] + ",oops," + ",".join(lines[6].split(",")[2:])
    bad = write("spy.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_market(bad)
    assert info.value.row == 7 and info.value.column == "Close"


def test_load_market_reads_each_ticker_of_a_yfinance_export_as_an_asset(write, bars):
    days = pd.bdate_range("2024-01-02", periods=30)
    spy, qqq = _ohlcv(bars, days), _ohlcv(lambda i: bars(i, seed=7), days)
    for group in (False, True):
        path = write("two.csv", _yfinance_csv({"SPY": spy, "QQQ": qqq}, group_by_ticker=group))
        market = load_market(path)
        assert sorted(market.assets) == ["QQQ", "SPY"]
        np.testing.assert_allclose(market.frame("SPY")["close"], spy["Close"])
        np.testing.assert_allclose(market.frame("QQQ")["high"], qqq["High"])
    with pytest.raises(DataError, match="several tickers"):
        read_ohlcv(path)
    assert read_ohlcv(path, ticker="QQQ")["low"].tolist() == qqq["Low"].tolist()


def test_load_market_reads_a_yfinance_export_grouped_by_ticker(write, bars):
    days = pd.bdate_range("2024-01-02", periods=20)
    spy = _ohlcv(bars, days)
    text = _yfinance_csv({"SPY": spy}, group_by_ticker=True)
    assert text.startswith("Ticker,SPY")
    market = load_market(write("spy.csv", text))
    np.testing.assert_allclose(market.frame("spy")["close"], spy["Close"])


def test_adjust_close_on_a_yfinance_export_without_adj_close_says_why(write, bars):
    path = write("spy.csv", _yfinance_csv({"SPY": _ohlcv(bars, pd.bdate_range("2024-01-02",
                                                                              periods=20))}))
    with pytest.raises(DataError, match="auto_adjust") as info:
        load_market(path, adjust="close")
    assert info.value.file == "spy.csv" and "--adjust close" in str(info.value)


# -- Binance ----------------------------------------------------------------------------------
def _kline_csv(frame: pd.DataFrame, unit_of=lambda t: "ms", header: bool = False) -> str:
    """A data.binance.vision kline file: 12 columns, open/close times in ms (us from 2025)."""
    lines = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,"
             "taker_buy_volume,taker_buy_quote_volume,ignore"] if header else []
    for t, r in frame.iterrows():
        scale = 1000 if unit_of(t) == "ms" else 1
        start = t.value // 10**9 * 10**6 // scale
        end = start + 3_600_000_000 // scale - 1
        lines.append(f"{start},{r.open:.8f},{r.high:.8f},{r.low:.8f},{r.close:.8f},"
                     f"{r.volume:.8f},{end},{r.volume * r.close:.8f},{int(r.volume)},"
                     f"{r.volume / 2:.8f},{r.volume * r.close / 2:.8f},0")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_load_market_reads_a_binance_kline_file_without_header(write, bars, unit):
    hours = pd.date_range("2025-01-01", periods=48, freq="h")
    frame = bars(hours)
    text = _kline_csv(frame, lambda t: unit)
    assert len(text.splitlines()[0].split(",")) == 12
    market = load_market(write("BTCUSDT-1h-2025-01.csv", text))
    assert list(market.index) == list(hours) and market.repairs == ()
    np.testing.assert_allclose(market.frame("BTCUSDT-1h-2025-01")["close"],
                               frame["close"].round(8))
    np.testing.assert_allclose(market.frame("BTCUSDT-1h-2025-01")["volume"],
                               frame["volume"].round(8))


def test_load_market_reads_binance_files_that_switch_to_microseconds(write, bars):
    hours = pd.date_range("2024-12-31 12:00", periods=36, freq="h")
    text = _kline_csv(bars(hours), lambda t: "ms" if t.year == 2024 else "us")
    with pytest.warns(DataRepairWarning, match="milliseconds to microseconds"):
        market = load_market(write("btc.csv", text))
    assert list(market.index) == list(hours)
    assert "row 13" in market.repairs[0]  # 2025-01-01 00:00 is the 13th line
    with pytest.warns(DataRepairWarning, match="microseconds"):
        assert len(load_market(write("btc.csv", _kline_csv(
            bars(hours), lambda t: "ms" if t.year == 2024 else "us", header=True)))) == 36


# -- encodings --------------------------------------------------------------------------------
@pytest.mark.parametrize(("encoding", "sep"), [("utf-16", "\t"), ("utf-16", ","),
                                               ("utf-16-le", "\t"), ("utf-8-sig", ";"),
                                               ("cp1252", ",")])
def test_load_market_reads_excel_text_encodings(tmp_path, bars, encoding, sep):
    frame = _ohlcv(bars, pd.bdate_range("2024-01-02", periods=25)).rename_axis("Date")
    frame = frame.rename(columns={"Volume": "Volume (€)"}) if encoding == "cp1252" else frame
    path = tmp_path / "spy.txt"
    path.write_bytes(frame.to_csv(sep=sep).encode(encoding))
    market = load_market(path)
    np.testing.assert_allclose(market.frame("spy").to_numpy(), frame.to_numpy())
    assert list(market.index) == list(frame.index)


def test_load_market_rejects_binary_content_still(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"date,open\x00\x01\x02\xff\x00garbage" * 20)
    with pytest.raises(DataError, match="binary") as info:
        load_market(tmp_path / "x.csv")
    assert info.value.file == "x.csv"


# -- other sites ------------------------------------------------------------------------------
def test_load_market_skips_a_preamble_line_and_picks_the_base_volume(write, bars):
    """CryptoDataDownload: a URL line, newest-first rows, 'Volume BTC' and 'Volume USDT'."""
    hours = pd.date_range("2024-01-01", periods=30, freq="h")
    frame = bars(hours)
    rows = [f"{t.value // 10**6},{t:%Y-%m-%d %H:%M:%S},BTC/USDT,{r.open},{r.high},{r.low},"
            f"{r.close},{r.volume},{r.volume * r.close},7" for t, r in frame[::-1].iterrows()]
    text = ("https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,"
            "Volume BTC,Volume USDT,tradecount\n" + "\n".join(rows) + "\n")
    with pytest.warns(DataRepairWarning, match="newest-first"):
        market = load_market(write("Binance_BTCUSDT_1h.csv", text))
    np.testing.assert_allclose(market.frame("Binance_BTCUSDT_1h").to_numpy(), frame.to_numpy())
    assert read_ohlcv(write("x.csv", text)).index[0] == 3  # the first data row is line 3


def test_load_market_reads_investing_com_style_numbers(write):
    text = '''"Date","Price","Open","High","Low","Vol.","Change %"
"01/06/2020","3,246.28","3,217.55","3,246.84","3,214.64","1.23M","0.35%"
"01/03/2020","3,234.85","3,226.36","3,246.15","3,222.34","845.50K","-0.71%"
"01/02/2020","3,257.85","3,244.67","3,258.14","3,235.53","2.10B","0.84%"
'''
    with pytest.warns(DataRepairWarning, match="newest-first"):
        frame = load_market(write("spx.csv", text)).frame("spx")
    assert list(frame.index) == list(pd.to_datetime(["2020-01-02", "2020-01-03",
                                                     "2020-01-06"]))
    assert frame["close"].tolist() == [3257.85, 3234.85, 3246.28]
    assert frame["volume"].tolist() == pytest.approx([2.10e9, 845.5e3, 1.23e6])


def test_load_market_reads_decimal_commas_and_day_first_dates(write):
    text = """
        Date;Open;High;Low;Close;Volume
        30.12.2019;10,5;11,25;10;11;1200
        31.12.2019;11;12;10,75;11,5;900
        02.01.2020;11,5;12,5;11;12;1000
        """
    frame = load_market(write("dax.csv", text)).frame("dax")
    assert list(frame.index) == list(pd.to_datetime(["2019-12-30", "2019-12-31",
                                                     "2020-01-02"]))
    assert frame["open"].tolist() == [10.5, 11, 11.5] and frame["high"].tolist()[0] == 11.25


def test_load_market_refuses_an_ambiguous_thousands_or_decimal_comma(write):
    text = '''date,open,high,low,close
2020-01-01,"1,250","1,300","1,200","1,250"
2020-01-02,"1,250","1,300","1,200","1,250"
'''
    with pytest.raises(DataError, match="ambiguous") as info:
        load_market(write("x.csv", text))
    assert info.value.column == "open" and info.value.row == 2


def test_load_market_reads_headerless_metatrader_and_kraken_files(write):
    mt = "2024.01.02,09:00,1.1050,1.1060,1.1040,1.1055,120\n" \
         "2024.01.02,10:00,1.1055,1.1070,1.1050,1.1065,98\n"
    market = load_market(write("EURUSD60.csv", mt))
    assert list(market.index) == [pd.Timestamp("2024-01-02 09:00"),
                                  pd.Timestamp("2024-01-02 10:00")]
    assert market.frame("EURUSD60")["volume"].tolist() == [120, 98]
    kraken = "1704067200,42000.1,42100,41900.5,42050,12.5,300\n" \
             "1704070800,42050,42200,42000,42150.2,8.25,210\n"
    frame = load_market(write("XBTUSD_60.csv", kraken)).frame("XBTUSD_60")
    assert frame.index[0] == pd.Timestamp("2024-01-01") and frame["close"].iloc[1] == 42150.2


def test_load_market_says_when_a_csv_has_no_header(write):
    text = "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11,200\n"
    with pytest.raises(DataError, match="no header line") as info:
        load_market(write("spy.csv", text))
    assert info.value.file == "spy.csv" and info.value.row == 1
    assert "date,open,high,low,close,volume" in str(info.value)


# -- timestamp and number formats ---------------------------------------------------------------
@pytest.mark.parametrize("scale", [1, 1000], ids=["seconds", "milliseconds"])
def test_load_market_reads_unix_times_as_utc(write, scale):
    t0 = 1_704_067_200  # 2024-01-01 00:00 UTC
    rows = "".join(f"{(t0 + 3600 * i) * scale},10,11,9,10.5,1\n" for i in range(4))
    market = load_market(write("btc.csv", "timestamp," + HEADER.split(",", 1)[1] + rows))
    assert list(market.index) == list(pd.date_range("2024-01-01", periods=4, freq="h"))
    assert market.index.tz is None
    assert market.freq == pd.Timedelta(hours=1)


def test_load_market_reads_yyyymmdd_integers(write):
    market = load_market(write("spy.csv", GOOD.replace("2024-01-0", "2024010")
                                                 .replace("date", "Date")))
    assert market.index[0] == pd.Timestamp("2024-01-01")
    assert market.frame("spy")["close"].tolist() == EXPECTED_CLOSE


def test_load_market_keeps_unix_nanoseconds_exact(write):
    t0 = 1_704_067_200 * 10**9
    rows = "".join(f"{t0 + 60 * 10**9 * i + 1},10,11,9,10.5,1\n" for i in range(3))
    market = load_market(write("x.csv", "ts,o,h,l,c,v\n" + rows))
    assert market.index[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(1, unit="ns")


def test_load_market_rejects_unix_times_mixing_seconds_and_milliseconds(write):
    text = """
        timestamp,open,high,low,close
        1704067200,10,11,9,10
        1704070800,10,11,9,10
        1704074400000,10,11,9,10
        """
    err = load_error(write, text)
    assert_located(err, column="timestamp", row=4)
    assert "milliseconds" in str(err) and "seconds" in str(err)


def test_load_market_rejects_an_unparseable_date(write):
    err = load_error(write, GOOD.replace("2024-01-04", "2024-01-4x"))
    assert_located(err, column="date", row=5)
    assert "'2024-01-4x'" in str(err)


def test_load_market_rejects_text_in_a_price_column(write):
    err = load_error(write, GOOD.replace("11.5,120", "n/a?,120"))
    assert_located(err, column="close", row=5)
    assert "'n/a?'" in str(err)


def test_load_market_says_which_row_lacks_the_utc_offset(write):
    text = GOOD.replace("2024-01-01,", "2024-01-01T00:00:00+01:00,")
    text = text.replace("2024-01-02,", "2024-01-02T00:00:00+02:00,")
    err = load_error(write, text)
    assert_located(err, column="date", row=4)
    assert "this row has none" in str(err)
