"""Suspicious but valid data: kept, reported as a DataWarning naming file, column and row."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import median_abs_deviation

from diffbt import datasets
from diffbt.data.io import load_market
from diffbt.errors import DataError, DataRepairWarning, DataWarning

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _daily(seed: int = 0, n: int = 250, sd: float = 0.012) -> pd.DataFrame:
    """A plain daily stock file: Date, Open, High, Low, Close, Adj Close, Volume."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, sd, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, sd / 4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, sd / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, sd / 2, n)))
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                         "Adj Close": close, "Volume": rng.integers(1000, 9000, n) * 1.0},
                        index=pd.bdate_range("2022-01-03", periods=n, name="Date"))


def _suspicions(market) -> list[str]:
    return [r for r in market.repairs if "suspicious" in r]


def _load(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        market = load_market(path, **kw)
    return market, [w for w in caught if w.category is DataWarning]


def test_an_unadjusted_split_warns_naming_file_column_and_row(tmp_path):
    frame = _daily()
    frame.iloc[150:, :4] /= 2  # a 2:1 split the prices were not adjusted for
    frame["Adj Close"] = frame["Close"]
    frame.iloc[:150, 4] /= 2  # Adj Close is
    frame.to_csv(tmp_path / "acme.csv")
    market, caught = _load(tmp_path / "acme.csv")
    assert len(caught) == 1 and _suspicions(market) == [str(caught[0].message)]
    text = str(caught[0].message)
    # line 152 of the file: header line 1, bar k on line k + 2
    assert text.startswith("acme.csv, column 'Close', row 152: suspicious (at 2022-08-01")
    assert "2:1 split" in text and "adjust='close'" in text and "--adjust close" in text
    # the robust sd in the message, against scipy's MAD
    r = np.diff(np.log(frame["Close"].to_numpy()))
    z = abs(r[149] - np.median(r)) / median_abs_deviation(r, scale="normal")
    assert f"({z:.0f} robust sd" in text
    np.testing.assert_array_equal(market.frame("acme")["close"], frame["Close"])  # kept
    adjusted, caught = _load(tmp_path / "acme.csv", adjust="close")
    assert caught == [] and _suspicions(adjusted) == []
    np.testing.assert_allclose(adjusted.frame("acme")["close"], frame["Adj Close"])


def test_a_split_warns_also_under_strict_and_without_adj_close(tmp_path):
    frame = _daily().drop(columns="Adj Close")
    frame.iloc[100:, :4] /= 3
    frame.to_csv(tmp_path / "acme.csv")
    market, caught = _load(tmp_path / "acme.csv", strict=True)
    assert len(caught) == 1 and "3:1 split" in str(caught[0].message)
    with pytest.raises(DataError, match="needs an adjusted close column") as info:
        load_market(tmp_path / "acme.csv", adjust="close")
    assert info.value.file == "acme.csv"


def test_a_reverse_split_is_named_as_such(tmp_path):
    frame = _daily()
    frame.iloc[100:, :4] *= 10
    frame.to_csv(tmp_path / "acme.csv")
    _, caught = _load(tmp_path / "acme.csv")
    assert len(caught) == 1 and "1:10 reverse split" in str(caught[0].message)


def test_a_spike_in_the_high_warns_naming_the_high_column(tmp_path):
    frame = _daily()
    frame.iloc[80, frame.columns.get_loc("High")] = 1e7
    frame.to_csv(tmp_path / "spy.csv")
    market, caught = _load(tmp_path / "spy.csv")
    assert len(caught) == 1
    text = str(caught[0].message)
    assert text.startswith("spy.csv, column 'High', row 82: suspicious")
    assert "bad tick" in text and "high 1e+07" in text
    assert market.frame("spy")["high"].iloc[80] == 1e7


def test_a_one_bar_spike_in_the_close_is_a_bad_value_not_a_split(tmp_path):
    frame = _daily()
    frame.iloc[60, [1, 3]] = frame.iloc[60, 3] * 50  # close and high 50x for one bar
    frame.to_csv(tmp_path / "spy.csv")
    _, caught = _load(tmp_path / "spy.csv")
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "row 62" in text and "back the next bar" in text and "split" not in text


def test_a_dataframe_spike_is_located_by_its_timestamp():
    frame = _daily()
    frame.iloc[40, frame.columns.get_loc("Low")] = frame.iloc[40]["Low"] / 1000
    market, caught = _load({"x": frame})
    assert len(caught) == 1
    assert str(caught[0].message).startswith(
        f"DataFrame 'x', column 'Low', row {frame.index[40]}: suspicious")


def test_many_suspicious_bars_are_listed_up_to_five_then_counted():
    frame = _daily(n=300)
    for k in range(20, 280, 30):  # 9 spikes
        frame.iloc[k, frame.columns.get_loc("High")] *= 40
    market, caught = _load({"x": frame})
    assert len(caught) == 6 and "4 more suspicious bar(s)" in str(caught[-1].message)


def test_a_repair_warning_is_a_data_warning_too():
    assert issubclass(DataRepairWarning, DataWarning) and issubclass(DataWarning, UserWarning)


def test_heavy_tailed_normal_data_gives_no_warning():
    """Hourly crypto-like bars: t(3) returns, wide-tailed ranges, 20,000 bars."""
    rng = np.random.default_rng(3)
    n = 20_000
    r = 0.004 * rng.standard_t(3, n)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = 0.003 * np.abs(rng.standard_t(3, (2, n)))
    frame = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * np.exp(wick[0]),
                          "low": np.minimum(open_, close) * np.exp(-wick[1]), "close": close,
                          "volume": 1.0}, index=pd.date_range("2023-01-01", periods=n,
                                                               freq="h"))
    market, caught = _load({"btc": frame})
    assert caught == [] and market.repairs == ()


def test_the_bundled_data_gives_no_warning():
    for asset in ("sp500", "nasdaq"):
        market, caught = _load(datasets._arch_file(asset))
        assert caught == [] and market.repairs == (), asset


@pytest.mark.skipif(not (SHARED / "crypto_binance_1h_2024_2026").is_dir(),
                    reason="reference data ../shared/data not on this machine")
def test_real_hourly_and_daily_crypto_gives_no_warning():
    files = sorted((SHARED / "crypto_binance_1h_2024_2026").glob("*.csv"))
    market, caught = _load(files)
    assert caught == [] and _suspicions(market) == []
    for name, frame in market.frames().items():
        daily = frame.resample("D").agg({"open": "first", "high": "max", "low": "min",
                                         "close": "last", "volume": "sum"})
        _, caught = _load({name: daily})
        assert caught == [], name


@pytest.mark.skipif(not (SHARED / "stocks_goog_daily").is_dir(),
                    reason="reference data ../shared/data not on this machine")
def test_real_daily_stock_gives_no_warning():
    goog = pd.read_csv(SHARED / "stocks_goog_daily" / "stock_data.csv")
    goog.index = pd.bdate_range("2004-08-19", periods=len(goog))
    market, caught = _load({"goog": goog})
    assert caught == [] and market.repairs == ()
    assert re.search("adj", " ".join(goog.columns), re.I)  # the file has Adj_Close
