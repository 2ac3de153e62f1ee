"""Bad-input battery: corrupted OHLCV files end in a repair report or a located DataError,
never in an exception from pandas, numpy or deeper."""

from __future__ import annotations

import warnings
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffbt.data.io import load_market
from diffbt.data.market import Market
from diffbt.errors import DataError

N = 40


def _valid_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    open_ = close * np.exp(rng.normal(0, 0.003, N))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, N))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, N))
    vol = rng.uniform(1e3, 1e4, N)
    ts = pd.date_range("2024-01-01", periods=N, freq="h")
    return pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "open": open_,
                         "high": high, "low": low, "close": close, "volume": vol})


CORRUPTIONS = ["nan_cell", "empty_cell", "negative_price", "zero_price", "high_below_low",
               "close_above_high", "negative_volume", "bad_date", "duplicate_conflict",
               "duplicate_exact", "reverse", "shuffle", "drop_row", "text_in_number",
               "drop_column", "mixed_unix", "header_only", "bytes", "huge_price", "tiny_price",
               "huge_volume"]


def _corrupt(df: pd.DataFrame, kind: str, row: int, data: bytes) -> str | bytes:
    df = df.copy()
    cols = ["open", "high", "low", "close", "volume"]
    if kind == "nan_cell":
        df.loc[row, cols[row % 5]] = np.nan
    elif kind == "empty_cell":
        df[cols[row % 5]] = df[cols[row % 5]].astype(object)
        df.loc[row, cols[row % 5]] = ""
    elif kind == "negative_price":
        df.loc[row, ["open", "high", "low", "close"][row % 4]] *= -1
    elif kind == "zero_price":
        df.loc[row, "close"] = 0.0
    elif kind == "high_below_low":
        df.loc[row, ["high", "low"]] = df.loc[row, ["low", "high"]].to_numpy()
    elif kind == "close_above_high":
        df.loc[row, "close"] = df.loc[row, "high"] * 1.5
    elif kind == "negative_volume":
        df.loc[row, "volume"] = -5.0
    elif kind == "bad_date":
        df.loc[row, "timestamp"] = "not a date"
    elif kind == "duplicate_conflict":
        dup = df.iloc[[row]].copy()
        dup["close"] = dup["close"] * 1.0001
        dup["high"] = dup[["high", "close"]].max(axis=1)
        df = pd.concat([df, dup])
    elif kind == "duplicate_exact":
        df = pd.concat([df, df.iloc[[row]]])
    elif kind == "reverse":
        df = df.iloc[::-1]
    elif kind == "shuffle":
        df = df.sample(frac=1.0, random_state=row)
    elif kind == "drop_row":
        df = df.drop(index=row)
    elif kind == "text_in_number":
        df["open"] = df["open"].astype(object)
        df.loc[row, "open"] = "12,5x"
    elif kind == "drop_column":
        df = df.drop(columns=cols[row % 4])
    elif kind == "mixed_unix":
        ts = pd.to_datetime(df["timestamp"]).astype("int64") // 10**9
        ts = ts.astype(object)
        ts.iloc[row] = ts.iloc[row] * 1000
        df["timestamp"] = ts
    elif kind == "huge_price":
        df.loc[row, ["high", "close"]] = 1e300
    elif kind == "tiny_price":
        df.loc[row, ["low"]] = 1e-300
    elif kind == "huge_volume":
        df.loc[row, "volume"] = 1e300
    elif kind == "header_only":
        df = df.iloc[:0]
    elif kind == "bytes":
        text = df.to_csv(index=False).encode()
        k = row * len(text) // N
        return text[:k] + data + text[k + len(data):]
    return df.to_csv(index=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(CORRUPTIONS), row=st.integers(1, N - 2), seed=st.integers(0, 5),
       data=st.binary(min_size=1, max_size=12))
def test_corrupted_csv_ends_in_repair_or_located_data_error(tmp_path, kind, row, seed, data):
    content = _corrupt(_valid_frame(seed), kind, row, data)
    path = tmp_path / "asset.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            market = load_market(path)
        except DataError as exc:
            assert exc.file is not None and "asset.csv" in str(exc)
            return
    assert isinstance(market, Market)
    v = market.values
    assert np.isfinite(v).all() and (v[..., :4] > 0).all() and (v[..., 4] >= 0).all()
    assert (v[..., 1] >= np.maximum(v[..., 0], v[..., 3])).all()
    assert (v[..., 2] <= np.minimum(v[..., 0], v[..., 3])).all()
    assert market.index.is_monotonic_increasing and market.index.is_unique
    if kind in ("reverse", "duplicate_exact", "shuffle"):
        assert market.repairs, "a repair was made, so it must be reported"


@pytest.mark.parametrize("kind", ["nan_cell", "negative_price", "high_below_low", "bad_date",
                                  "duplicate_conflict", "negative_volume", "huge_price",
                                  "tiny_price", "huge_volume"])
def test_each_corruption_names_file_column_and_row(tmp_path, kind):
    path = tmp_path / "btc.csv"
    path.write_text(_corrupt(_valid_frame(0), kind, 7, b""))
    with pytest.raises(DataError) as info:
        load_market(path)
    exc = info.value
    assert exc.file is not None and exc.row is not None and exc.column is not None, str(exc)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "utf-32", "latin-1"])
@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_the_same_bars_in_any_text_encoding_load_the_same(tmp_path, encoding, sep):
    frame = _valid_frame(3)
    (tmp_path / "ref.csv").write_text(frame.to_csv(index=False))
    (tmp_path / "asset.csv").write_bytes(frame.to_csv(index=False, sep=sep).encode(encoding))
    ref, got = load_market(tmp_path / "ref.csv"), load_market(tmp_path / "asset.csv")
    np.testing.assert_array_equal(got.values, ref.values)
    assert got.index.equals(ref.index)


@pytest.mark.parametrize("kind", ["huge_price", "tiny_price", "huge_volume"])
def test_out_of_range_values_in_a_dataframe_are_located_errors(kind):
    frame = pd.read_csv(StringIO(_corrupt(_valid_frame(1), kind, 9, b"")))
    with pytest.raises(DataError, match="supported") as info:
        load_market({"btc": frame})
    assert info.value.row == 9 and info.value.file == "DataFrame 'btc'"
