"""The bundled datasets: shapes, valid bars, and the same numbers as the raw file."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pandas as pd
import pytest

from diffbt import datasets
from diffbt.data.io import load_market
from diffbt.errors import DataError


def _assert_valid(values: np.ndarray) -> None:
    o, h, lo, c, v = (values[..., k] for k in range(5))
    assert np.isfinite(values).all()
    assert (lo > 0).all() and (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    assert (v >= 0).all()


def test_load_default_is_sp500_and_nasdaq_daily(bundled):
    assert datasets.names()[0] == datasets.DEFAULT == "sp500_nasdaq"
    assert len(bundled) == 5031 and bundled.assets == ("sp500", "nasdaq")
    assert bundled.index[0] == pd.Timestamp("1999-01-04")
    assert bundled.index[-1] == pd.Timestamp("2018-12-31")
    assert bundled.index.is_monotonic_increasing and bundled.index.is_unique
    assert bundled.freq == pd.Timedelta(days=1) and bundled.periods_per_year == 252.0
    assert bundled.repairs == ()
    _assert_valid(bundled.values)


def test_bundled_bars_equal_the_raw_file(bundled):
    # an independent read of the file arch ships: stdlib gzip + csv, no pandas
    path = datasets._arch_file("nasdaq")
    with gzip.open(path, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5031
    frame = bundled.frame("nasdaq")
    for field in ("Open", "High", "Low", "Close", "Volume"):
        expected = np.array([float(r[field]) for r in rows])
        np.testing.assert_array_equal(frame[field.lower()].to_numpy(), expected)
    month, day, year = rows[-1]["Date"].split("/")
    assert bundled.index[-1] == pd.Timestamp(int(year), int(month), int(day))


def test_bundled_data_passes_load_market_unchanged(bundled):
    again = load_market(bundled.frames(), strict=True)
    np.testing.assert_array_equal(again.values, bundled.values)
    assert again.index.equals(bundled.index)


def test_load_wti_is_close_only_with_a_repair_note():
    wti = datasets.load("wti")
    assert wti.assets == ("wti",) and len(wti) > 8000
    v = wti.values[:, 0]
    np.testing.assert_array_equal(v[:, :4], np.repeat(v[:, 3:4], 4, axis=1))
    assert (v[:, 4] == 0).all()
    assert "dropped" in wti.repairs[0]
    _assert_valid(wti.values)


def test_unknown_dataset_lists_the_bundled_ones():
    with pytest.raises(ValueError, match="sp500_nasdaq"):
        datasets.load("ftse")
    assert "5,031" in datasets.describe("sp500")


def test_misspelt_dataset_suggests_the_closest_name():
    with pytest.raises(DataError, match="did you mean 'sp500_nasdaq'") as info:
        datasets.load("sp500_nasdq")
    assert "wti" in str(info.value)
    with pytest.raises(DataError, match="did you mean 'nasdaq'"):
        datasets.describe("nasdak")
    with pytest.raises(DataError) as info:
        datasets.load("ftse")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_market_split_cuts_at_train_end_whatever_the_index_unit(unit):
    from diffbt.data.market import Market

    index = pd.bdate_range("2020-01-01", periods=10).as_unit(unit)
    values = np.ones((10, 1, 5))
    train, test = Market(values, index, ("a",)).split("2020-01-07")
    assert train.index[-1] == pd.Timestamp("2020-01-07") and len(train) + len(test) == 10
    aware = Market(values, index.tz_localize("UTC"), ("a",))
    assert len(aware.split(pd.Timestamp("2020-01-07", tz="UTC"))[0]) == len(train)
