"""backtest_paths: backends agree, fast settings agree with plain ones, failures stay isolated."""

from __future__ import annotations

import importlib.util
import os
import time

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from diffbt.bt import backtest_paths, path_feeds, periods_per_year
from diffbt.bt.runner import StrategyError, check_params
from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet
from strategies import SmaCross


def _paths(n: int = 20, length: int = 300, seed: int = 0, regimes: bool = True) -> PathSet:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(2e-4, 0.012, (n, length, 2)), axis=1))
    opn = close * np.exp(rng.normal(0, 0.003, close.shape))
    v = np.stack([opn, np.maximum(opn, close) * 1.004, np.minimum(opn, close) * 0.996, close,
                  np.full(close.shape, 1e6)], axis=-1)
    labels = [f"r{i}" for i in range(n)] if regimes else None
    return PathSet(v, pd.bdate_range("2019-01-01", periods=length), ("sp500", "nasdaq"),
                   regimes=labels)


def _real(length: int = 300) -> Market:
    ps = _paths(1, length, seed=99)
    return Market(ps.values[0], ps.index, ps.assets)


class FailsOnPath3(SmaCross):
    """Raises on the path whose regime label is r3 (the runner passes it on the feed)."""

    def next(self) -> None:
        if self.data.p.regime == "r3" and len(self) > 50:
            raise RuntimeError("boom on path 3")
        super().next()


class CrashesOnPath3(SmaCross):
    """Kills its worker process outright on path 3 (like a segfault in native code)."""

    def next(self) -> None:
        if self.data.p.regime == "r3" and len(self) > 50:
            os._exit(3)
        super().next()


class Sleepy(SmaCross):
    def next(self) -> None:
        if self.data.p.regime == "r1":
            time.sleep(0.05)
        super().next()


def test_process_backend_equals_serial():
    ps = _paths(n=12, length=250)
    serial = backtest_paths(SmaCross, ps, real=_real(250), backend="serial", progress=False)
    proc = backtest_paths(SmaCross, ps, real=_real(250), backend="process", workers=2,
                          chunk_size=3, progress=False)
    np.testing.assert_array_equal(proc.returns, serial.returns)
    np.testing.assert_array_equal(proc.trades, serial.trades)
    np.testing.assert_array_equal(proc.real_returns, serial.real_returns)
    assert serial.returns.shape == (12, 250) and not serial.errors
    assert (serial.trades > 0).all() and serial.regimes.tolist() == [f"r{i}" for i in range(12)]


def test_fast_settings_equal_backtrader_defaults():
    ps = _paths(n=4)
    fast = backtest_paths(SmaCross, ps, backend="serial", progress=False, commission=0.001,
                          slippage=0.0005)
    plain = backtest_paths(SmaCross, ps, backend="serial", progress=False, commission=0.001,
                           slippage=0.0005, fast=False)
    np.testing.assert_array_equal(fast.final_value, plain.final_value)
    np.testing.assert_array_equal(fast.returns, plain.returns)


@pytest.mark.parametrize("kw", [{"preload": False}, {"runonce": False}, {"exactbars": 1}])
def test_fast_settings_equal_slow_engine_modes(kw):
    """preload/runonce/no observers do not change results: compare with the slow modes."""
    ps = _paths(n=1, length=200)
    fast = backtest_paths(SmaCross, ps, backend="serial", progress=False)
    cerebro = bt.Cerebro(**kw)
    for f in path_feeds(ps, 0):
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(100_000.0)
    cerebro.run()
    assert cerebro.broker.getvalue() == fast.final_value[0]


def test_returns_match_an_independent_timereturn_run():
    """Path 0 through a bare Cerebro with PandasData and backtrader's TimeReturn analyzer."""
    ps = _paths(n=2)
    res = backtest_paths(SmaCross, ps, backend="serial", progress=False, cash=50_000)
    cerebro = bt.Cerebro()
    for a, frame in ps.to_frame(0).items():
        cerebro.adddata(bt.feeds.PandasData(dataname=frame, openinterest=None), name=a)
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(50_000)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr", timeframe=bt.TimeFrame.Days)
    strat = cerebro.run()[0]
    want = np.array(list(strat.analyzers.tr.get_analysis().values()))
    np.testing.assert_allclose(res.returns[0], want, rtol=0, atol=1e-15)
    assert res.final_value[0] == pytest.approx(cerebro.broker.getvalue(), rel=1e-12)
    np.testing.assert_allclose(50_000 * np.prod(1 + res.returns, axis=1), res.final_value)


def test_a_failing_path_is_reported_and_the_others_run():
    ps = _paths(n=8)
    res = backtest_paths(FailsOnPath3, ps, backend="process", workers=2, chunk_size=2,
                         progress=False)
    good = backtest_paths(SmaCross, ps, backend="serial", progress=False)
    assert [e.index for e in res.errors] == [3]
    assert "boom on path 3" in res.errors[0].message
    assert "RuntimeError" in res.errors[0].traceback and "next" in res.errors[0].traceback
    assert np.isnan(res.returns[3]).all() and res.trades[3] == -1
    ok = np.arange(8) != 3
    np.testing.assert_array_equal(res.returns[ok], good.returns[ok])
    np.testing.assert_array_equal(res.failed, [3])


def test_a_crashing_worker_fails_only_its_path():
    ps = _paths(n=8, length=120)
    res = backtest_paths(CrashesOnPath3, ps, backend="process", workers=2, chunk_size=2,
                         progress=False)
    good = backtest_paths(SmaCross, ps, backend="serial", progress=False)
    assert [e.index for e in res.errors] == [3] and "worker process died" in res.errors[0].message
    ok = np.arange(8) != 3
    np.testing.assert_array_equal(res.returns[ok], good.returns[ok])


@pytest.mark.slow
def test_paths_file_is_memory_mapped_by_spawned_workers(tmp_path):
    ps = _paths(n=4, length=120)
    ps.save(tmp_path / "p.npz")
    res = backtest_paths(SmaCross, str(tmp_path / "p.npz"), backend="process", workers=1,
                         start_method="spawn", progress=False, params={"fast": 5, "slow": 20})
    want = backtest_paths(SmaCross, ps, backend="serial", progress=False,
                          params={"fast": 5, "slow": 20})
    np.testing.assert_array_equal(res.returns, want.returns)


def test_worker_memory_map_source_reads_the_saved_paths(tmp_path):
    """What a spawned worker does: map the PathSet file and run its chunk of path indices."""
    from diffbt.bt import runner

    ps = _paths(n=3, length=80)
    source = runner._memmap_source(ps, str(tmp_path))  # in-memory PathSet -> temporary file
    assert source[0] == "memmap"
    spec = runner._Spec(
        strategy=SmaCross, params={}, cash=1e5, commission=0.0, slippage=0.0, sizer=None,
        analyzers=(), fast=True, timeout=None, index=ps.index, assets=ps.assets,
        datetimes=runner.bt_datetimes(ps.index), regimes=ps.regimes)
    runner._init_worker(spec, source)
    try:
        out = runner._run_chunk_worker(1, 3)
    finally:
        runner._WORKER.clear()
    want = backtest_paths(SmaCross, ps, backend="serial", progress=False)
    prev = np.concatenate([np.full((2, 1), 1e5), out["values"][:, :-1]], axis=1)
    np.testing.assert_array_equal(out["values"] / prev - 1, want.returns[1:3])


def test_progress_callback_and_analyzers():
    calls = []
    res = backtest_paths(SmaCross, _paths(n=3, length=100), real=_real(100), backend="serial",
                         progress=lambda done, total: calls.append((done, total)),
                         analyzers={"dd": bt.analyzers.DrawDown})
    assert calls[-1] == (4, 4) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert set(res.analyses[0]) == {"dd"} and "max" in res.analyses[0]["dd"]
    assert res.real_analyses["dd"]["max"]["drawdown"] >= 0


def test_timeout_fails_only_the_slow_path():
    res = backtest_paths(Sleepy, _paths(n=3, length=100), backend="serial", progress=False,
                         timeout=0.5)
    assert [e.index for e in res.errors] == [1] and "TimeoutError" in res.errors[0].message


def test_to_frame_and_periods_per_year():
    res = backtest_paths(SmaCross, _paths(n=2, length=60, regimes=False), backend="serial",
                         progress=False)
    frame = res.to_frame()
    assert frame.shape == (60, 2) and frame.index.equals(res.index) and res.regimes is None
    assert res.periods_per_year == 252
    assert periods_per_year(pd.date_range("2024-01-01", periods=500, freq="h")) == 24 * 365
    assert periods_per_year(pd.date_range("2024-01-01", periods=100, freq="D")) == 365


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="Strategy"):
        backtest_paths(object, _paths(n=1, length=30), progress=False)
    with pytest.raises(ValueError, match="backend"):
        backtest_paths(SmaCross, _paths(n=1, length=30), backend="dask", progress=False)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
def test_ray_backend_equals_serial():
    import ray

    ps = _paths(n=6, length=150)
    try:
        res = backtest_paths(FailsOnPath3, ps, backend="ray", workers=2, chunk_size=2,
                             progress=False)
    finally:
        ray.shutdown()
    want = backtest_paths(FailsOnPath3, ps, backend="serial", progress=False)
    np.testing.assert_array_equal(res.returns, want.returns)
    assert [e.index for e in res.errors] == [3]


# -- a strategy at fault is stopped once, before the other paths -------------------------------
class BoomInInit(SmaCross):
    calls = 0

    def __init__(self) -> None:
        type(self).calls += 1
        raise ZeroDivisionError("division by zero")


class FailsOnPath0(SmaCross):
    def next(self) -> None:
        if self.data.p.regime == "r0":
            raise RuntimeError("boom on path 0")
        super().next()


@pytest.mark.parametrize("real", [True, False])
def test_a_strategy_failing_on_the_first_runs_stops_before_the_others(real):
    BoomInInit.calls = 0
    with pytest.raises(StrategyError, match=r"^BoomInInit failed: ZeroDivisionError: division "
                                            r"by zero \(on ") as exc:
        backtest_paths(BoomInInit, _paths(n=8, length=60), real=_real(60) if real else None,
                       backend="serial", progress=False)
    assert BoomInInit.calls == 2  # the real history and path 0, or paths 0 and 1
    where = "the real history and path 0" if real else "path 0 and path 1"
    assert where in str(exc.value) and "path -1" not in str(exc.value)
    assert "ZeroDivisionError" in exc.value.traceback


def test_a_strategy_failing_everywhere_is_stopped_by_the_process_backend_too():
    with pytest.raises(StrategyError, match="BoomInInit failed"):
        backtest_paths(BoomInInit, _paths(n=8, length=60), real=_real(60), backend="process",
                       workers=2, chunk_size=2, progress=False)


def test_check_first_false_runs_every_path():
    res = backtest_paths(BoomInInit, _paths(n=5, length=60), backend="serial", progress=False,
                         check_first=False)
    assert [e.index for e in res.errors] == list(range(5))


def test_a_failure_on_path_0_only_does_not_stop_the_run():
    res = backtest_paths(FailsOnPath0, _paths(n=6, length=100), real=_real(100),
                         backend="process", workers=2, progress=False)
    assert [e.index for e in res.errors] == [0] and res.real_returns is not None
    assert np.isfinite(res.returns[1:]).all()


def test_paths_shorter_than_the_warm_up_are_named_as_such():
    with pytest.raises(StrategyError, match="SmaCross needs 31 bars before its first next"):
        backtest_paths(SmaCross, _paths(n=4, length=20), real=_real(100), backend="serial",
                       progress=False)
    res = backtest_paths(SmaCross, _paths(n=2, length=20), backend="serial", progress=False,
                         check_first=False)
    assert all(e.message.startswith("WarmupError: SmaCross needs 31 bars") and
               "the data has 20" in e.message for e in res.errors)
    # the warm-up follows the parameters: slow=10 needs 11 bars, and 20 are enough
    ok = backtest_paths(SmaCross, _paths(n=2, length=20), backend="serial", progress=False,
                        params={"fast": 3, "slow": 10})
    assert not ok.errors


def test_a_real_history_shorter_than_the_warm_up_fails_only_itself():
    res = backtest_paths(SmaCross, _paths(n=3, length=100), real=_real(25), backend="serial",
                         progress=False)
    assert [(e.where, e.message.split(":")[0]) for e in res.errors] == [
        ("the real history", "WarmupError")]
    assert np.isfinite(res.returns).all()


def test_unknown_parameters_are_refused_before_any_run():
    with pytest.raises(ValueError, match=r"SmaCross has no parameter 'fsat'; its parameters: "
                                         r"fast=10, slow=30, weight=0.95"):
        backtest_paths(SmaCross, _paths(n=2, length=60), params={"fsat": 3}, progress=False)
    check_params(SmaCross, {"fast": 3, "slow": 8})

    class WithKw(bt.Strategy):
        def __init__(self, extra=None):
            self.extra = extra

    check_params(WithKw, {"extra": 1})  # a keyword of __init__ is a parameter too
    with pytest.raises(ValueError, match="its parameters: none"):
        check_params(WithKw, {"other": 1})

    class NoInit(bt.Strategy):  # backtrader would silently ignore an unknown keyword here
        params = (("a", 1),)

    with pytest.raises(ValueError, match="NoInit has no parameter 'b'; its parameters: a=1"):
        check_params(NoInit, {"b": 2})
