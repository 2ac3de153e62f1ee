"""QuantStats tear-sheet: rendered offline, numbers against numpy, wrapper plumbing."""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _html import remote_urls

from diffbt.bt.runner import BacktestResult
from diffbt.errors import DataError
from diffbt.report.tearsheet import median_path, tearsheet, tearsheet_from_result


@pytest.fixture
def offline(monkeypatch):
    """No network: sockets refuse to connect, QuantStats' downloaders fail the test."""
    import quantstats as qs

    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    def no_download(*args, **kwargs):
        pytest.fail("QuantStats tried to download a benchmark")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(qs.utils, "download_returns", no_download)
    monkeypatch.setattr(qs._compat, "safe_yfinance_download", no_download)


def _sharpe(x: np.ndarray, ppy: int = 252) -> float:
    return float(x.mean() / x.std(ddof=1) * np.sqrt(ppy))


def _row(html: str, metric: str) -> list[str]:
    m = re.search(rf"<td>{re.escape(metric)}</td>((?:<td>[^<]*</td>)+)</tr>", html)
    assert m, metric
    return re.findall(r"<td>([^<]*)</td>", m.group(1))


def _result(seed: int = 0, n_paths: int = 21, n_steps: int = 300):
    rng = np.random.default_rng(seed)
    r = rng.normal(4e-4, 0.01, (n_paths, n_steps))
    r[2] = np.nan  # a failed path
    real = rng.normal(6e-4, 0.012, n_steps)
    real[:15] = 0.0  # warm-up: must not be trimmed
    idx = pd.bdate_range("2021-01-04", periods=n_steps, tz="UTC")
    return BacktestResult(returns=r, real_returns=real, index=idx,
                          trades=np.zeros(n_paths, dtype=int), errors=[], regimes=None,
                          periods_per_year=252, final_value=np.ones(n_paths))


# ---------------------------------------------------------------------------------------------
# the real thing (one QuantStats render, 2-4 s)
# ---------------------------------------------------------------------------------------------


def test_tearsheet_from_result_renders_offline_against_median_sharpe_path(offline, tmp_path,
                                                                          caplog, recwarn):
    caplog.set_level(logging.WARNING)
    res = _result()
    out = tearsheet_from_result(res, out=tmp_path / "sub" / "tearsheet.html", title="demo")
    assert "findfont" not in caplog.text  # ~130 font-manager lines without the silencing
    assert not [w for w in recwarn if re.search(r"quantstats|seaborn", w.filename)]
    assert out == tmp_path / "sub" / "tearsheet.html" and out.is_file()
    html = out.read_text(encoding="utf-8")
    assert "Key Performance Metrics" in html and "demo" in html
    assert remote_urls(html) == []
    assert "<svg" in html  # figures inline
    row = median_path(res.returns)
    assert f"SYNTHETIC MEDIAN SHARPE (PATH {row})" in html
    # columns: benchmark, strategy; values against numpy
    bench_sharpe, strat_sharpe = (float(v) for v in _row(html, "Sharpe"))
    assert strat_sharpe == pytest.approx(_sharpe(res.real_returns), abs=0.006)
    assert bench_sharpe == pytest.approx(_sharpe(res.returns[row]), abs=0.006)
    cum = float(_row(html, "Cumulative Return")[1].rstrip("%"))
    assert cum == pytest.approx(100 * (np.prod(1 + res.real_returns) - 1), abs=0.006)
    # full history kept: the 15 flat warm-up bars are not trimmed (match_dates=True would)
    assert _row(html, "Time in Market")[1] == f"{100 * (1 - 15 / 300):.1f}%"


# ---------------------------------------------------------------------------------------------
# wrapper plumbing (QuantStats replaced by a recorder)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fake_qs(monkeypatch):
    import quantstats as qs

    calls = []

    def html(returns, benchmark=None, **kwargs):
        calls.append({"returns": returns, "benchmark": benchmark, **kwargs})
        Path(kwargs["output"]).write_text(
            '<head><link rel="shortcut icon" href="https://qtpylib.io/favicon.ico" '
            'type="image/x-icon">\n<title>t</title></head>', encoding="utf-8")

    monkeypatch.setattr(qs.reports, "html", html)
    return calls


def test_tearsheet_strips_timezone_and_aligns_array_benchmark(fake_qs, tmp_path):
    idx = pd.date_range("2022-03-01", periods=5, freq="D", tz="US/Eastern")
    real = pd.Series([0.01, np.nan, -0.02, 0.0, 0.03], index=idx)
    out = tearsheet(real, benchmark=np.arange(5) / 100, out=tmp_path / "t.html")
    (call,) = fake_qs
    r, b = call["returns"], call["benchmark"]
    assert r.index.tz is None and b.index.equals(r.index)
    assert r.index[0] == pd.Timestamp("2022-03-01 05:00")  # UTC wall time
    np.testing.assert_allclose(r.to_numpy(), [0.01, 0.0, -0.02, 0.0, 0.03])  # NaN bar flat
    np.testing.assert_allclose(b.to_numpy(), np.arange(5) / 100)
    assert b.name == "synthetic median" and call["match_dates"] is False
    assert "favicon" not in out.read_text(encoding="utf-8")


def test_tearsheet_reindexes_series_benchmark_missing_bars_flat(fake_qs, tmp_path, caplog):
    idx = pd.bdate_range("2023-01-02", periods=6)
    bench = pd.Series([0.1, 0.2, 0.3], index=idx[[0, 2, 5]].tz_localize("UTC"))
    tearsheet(np.full(6, 0.01), index=idx, benchmark=bench, out=tmp_path / "t.html")
    np.testing.assert_allclose(fake_qs[0]["benchmark"].to_numpy(), [0.1, 0, 0.2, 0, 0, 0.3])
    assert "lacks 3" in caplog.text


def test_tearsheet_from_result_pads_short_paths_with_flat_bars(fake_qs, tmp_path):
    res = _result(n_steps=40)
    res = dataclasses.replace(res, real_returns=np.r_[res.real_returns, 0.01 * np.ones(10)])
    tearsheet_from_result(res, out=tmp_path / "t.html", by="comp")
    b = fake_qs[0]["benchmark"].to_numpy()
    row = median_path(res.returns, by="comp")
    np.testing.assert_allclose(b, np.r_[res.returns[row], np.zeros(10)])
    assert len(fake_qs[0]["returns"]) == 50


def test_tearsheet_refuses_ticker_benchmark(tmp_path):
    with pytest.raises(TypeError, match="download"):
        tearsheet(np.zeros(10), benchmark="SPY", out=tmp_path / "t.html")


@pytest.mark.parametrize("bad", [np.array([0.1, np.inf, 0.0]), np.zeros((2, 3)), np.zeros(1)])
def test_tearsheet_rejects_bad_returns(bad, tmp_path):
    with pytest.raises(DataError):
        tearsheet(bad, out=tmp_path / "t.html")


def test_tearsheet_from_result_needs_real_returns(tmp_path):
    res = dataclasses.replace(_result(), real_returns=None)
    with pytest.raises(ValueError, match="real_returns"):
        tearsheet_from_result(res, out=tmp_path / "t.html")


# ---------------------------------------------------------------------------------------------
# median path
# ---------------------------------------------------------------------------------------------


def test_median_path_is_lower_median_of_numpy_sharpe_skipping_failed_paths():
    r = _result(seed=4, n_paths=10, n_steps=120).returns  # row 2 failed -> 9 paths
    sharpe = {i: _sharpe(r[i]) for i in range(len(r)) if i != 2}
    order = sorted(sharpe, key=sharpe.get)
    assert median_path(r) == order[4]
    r = np.delete(r, 2, axis=0)[:8]  # even count: lower median
    sharpe = [_sharpe(x) for x in r]
    assert median_path(r) == int(np.argsort(sharpe)[3])


def test_median_path_by_total_return():
    r = _result(seed=5, n_paths=7, n_steps=50).returns
    comp = np.array([np.prod(1 + x) - 1 if np.isfinite(x).all() else np.nan for x in r])
    ok = np.flatnonzero(np.isfinite(comp))
    assert median_path(r, by="comp") == ok[np.argsort(comp[ok])][(ok.size - 1) // 2]


def test_median_path_rejects_unknown_metric_and_all_failed():
    with pytest.raises(ValueError, match="unknown metric"):
        median_path(np.zeros((3, 5)), by="alpha")
    with pytest.raises(ValueError, match="no synthetic path"):
        median_path(np.full((3, 5), np.nan))
