from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest

from diffbt.data import datasets
from diffbt.data.calendar import continue_calendar
from diffbt.data.features import from_features
from diffbt.errors import DataError
from diffbt.generate.pathset import PathSet, PathSetWriter


def _paths(n=6, length=30, assets=("a", "b"), seed=0) -> PathSet:
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.02, size=(n, length, len(assets), 5))
    values = from_features(f, 100.0)
    index = pd.bdate_range("2020-01-01", periods=length)
    return PathSet(values, index, assets, regimes=["bull"] * n, meta={"seed": seed})


def test_pathset_save_load_round_trip_is_exact(tmp_path):
    ps = _paths()
    out = ps.save(tmp_path / "p.npz")
    assert out == tmp_path / "p.npz" and out.is_file()
    back = PathSet.load(out)
    assert isinstance(back.values, np.memmap)
    np.testing.assert_array_equal(np.asarray(back.values), ps.values)
    assert back.index.equals(ps.index) and back.assets == ps.assets
    assert list(back.regimes) == ["bull"] * ps.n_paths and back.meta == {"seed": 0}


def test_pathset_file_is_plain_npz_without_pickle(tmp_path):
    ps = _paths()
    ps.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["values"], ps.values)


def test_pathset_to_frame_gives_ohlcv_per_asset():
    ps = _paths()
    frames = ps.to_frame(2)
    assert list(frames) == ["a", "b"]
    np.testing.assert_array_equal(frames["b"].to_numpy(), ps.values[2, :, 1, :])
    assert list(frames["a"].columns) == ["open", "high", "low", "close", "volume"]


def test_pathset_writer_streams_chunks_and_is_atomic(tmp_path):
    ps = _paths(n=10)
    target = tmp_path / "s.npz"
    with PathSetWriter(target, 10, ps.index, ps.assets) as w:
        for s in range(0, 10, 3):
            w.write(ps.values[s:s + 3])
            assert not target.exists()  # nothing that looks complete before the end
    np.testing.assert_array_equal(np.asarray(PathSet.load(target).values), ps.values)


def test_pathset_writer_interrupted_leaves_no_file(tmp_path):
    ps = _paths(n=4)
    target = tmp_path / "s.npz"
    with pytest.raises(RuntimeError):
        with PathSetWriter(target, 4, ps.index, ps.assets) as w:
            w.write(ps.values[:2])
            raise RuntimeError("killed")
    assert not target.exists() and not list(tmp_path.iterdir())


def test_pathset_load_rejects_truncated_file(tmp_path):
    p = _paths(n=8).save(tmp_path / "p.npz")
    data = p.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.npz"):
        PathSet.load(tmp_path / "t.npz")


def test_pathset_load_rejects_pickle_and_foreign_files(tmp_path):
    evil = tmp_path / "evil.npz"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(DataError, match="evil.npz"):
        PathSet.load(evil)
    np.savez(tmp_path / "foreign.npz", values=np.zeros((1, 2, 1, 5)))
    with pytest.raises(DataError, match="not a diffbt PathSet"):
        PathSet.load(tmp_path / "foreign.npz")


def test_pathset_load_rejects_newer_version(tmp_path):
    p = _paths().save(tmp_path / "p.npz")
    newer = tmp_path / "newer.npz"
    with zipfile.ZipFile(p) as src, zipfile.ZipFile(newer, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "meta.json":
                meta = json.loads(data)
                meta["version"] = 99
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    with pytest.raises(DataError, match="version 99"):
        PathSet.load(newer)


def test_continue_calendar_daily_uses_business_days_and_hourly_fixed_steps():
    m = datasets.load()
    cal = continue_calendar(m.index, 5)
    assert cal[0] > m.index[-1] and (cal.day_of_week < 5).all() and len(cal) == 5
    hourly = pd.date_range("2024-01-01", periods=48, freq="h")
    nxt = continue_calendar(hourly, 3)
    assert list(nxt) == list(pd.date_range(hourly[-1] + pd.Timedelta(hours=1), periods=3,
                                           freq="h"))


def test_market_split_has_no_overlap():
    m = datasets.load()
    train, test = m.split("2014-12-31")
    assert train.index[-1] <= pd.Timestamp("2014-12-31") < test.index[0]
    assert len(train) + len(test) == len(m)
