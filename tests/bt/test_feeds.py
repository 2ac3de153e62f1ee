"""Feeds: the numpy feed delivers exactly PandasData's bars; calendars; extra lines."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from diffbt.bt import ForecastData, bar_timeframe, market_feeds, path_feeds, values_feeds
from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet


def _market(n: int = 120, assets=("a", "b"), freq: str = "B", seed: int = 0) -> Market:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, len(assets))), axis=0))
    opn = close * np.exp(rng.normal(0, 0.002, close.shape))
    v = np.stack([opn, np.maximum(opn, close) * 1.003, np.minimum(opn, close) * 0.997, close,
                  rng.uniform(1e5, 2e5, close.shape)], axis=-1)
    index = pd.date_range("2021-01-04", periods=n, freq=freq)
    return Market(v, index, assets)


class _Record(bt.Strategy):
    """Records every line of every feed on every bar (next mode and once mode alike)."""

    params = (("extra", ()),)

    def __init__(self) -> None:
        self.rows = {d._name: [] for d in self.datas}
        self.times = {d._name: [] for d in self.datas}

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        for d in self.datas:
            fields = [d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0]]
            fields += [getattr(d.lines, x)[0] for x in self.p.extra if hasattr(d.lines, x)]
            self.rows[d._name].append(fields)
            self.times[d._name].append(d.datetime.datetime(0))


def _run(feeds, extra=(), **cerebro_kw):
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    for f in feeds:
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(_Record, extra=extra)
    return cerebro.run()[0]


@pytest.mark.parametrize("kw", [{}, {"preload": False}, {"runonce": False}])
def test_market_feeds_deliver_every_bar_like_pandasdata(kw):
    m = _market()
    fast = _run(market_feeds(m), **kw)
    plain = _run(market_feeds(m, fast=False), **kw)
    for j, a in enumerate(m.assets):
        np.testing.assert_array_equal(np.array(fast.rows[a]), m.values[:, j, :])
        np.testing.assert_array_equal(np.array(plain.rows[a]), m.values[:, j, :])
        assert pd.DatetimeIndex(fast.times[a]).equals(m.index)
        assert fast.times[a] == plain.times[a]


def test_hourly_feed_has_minute_timeframe_and_exact_hours():
    m = _market(n=72, freq="h")
    feeds = market_feeds(m)
    assert (feeds[0].p.timeframe, feeds[0].p.compression) == (bt.TimeFrame.Minutes, 60)
    strat = _run(feeds)
    assert pd.DatetimeIndex(strat.times["a"]).equals(m.index)


def test_bar_timeframe_per_spacing():
    assert bar_timeframe(pd.Timedelta(days=1)) == (bt.TimeFrame.Days, 1)
    assert bar_timeframe(pd.Timedelta(hours=1)) == (bt.TimeFrame.Minutes, 60)
    assert bar_timeframe(pd.Timedelta(minutes=5)) == (bt.TimeFrame.Minutes, 5)
    assert bar_timeframe(pd.Timedelta(days=7)) == (bt.TimeFrame.Weeks, 1)
    assert bar_timeframe(pd.Timedelta(seconds=30)) == (bt.TimeFrame.Seconds, 30)


@pytest.mark.parametrize("fast", [True, False])
def test_extra_lines_travel_on_the_feed(fast):
    m = _market(n=50)
    rng = np.random.default_rng(1)
    lo, regime = rng.normal(size=50), rng.integers(0, 3, 50).astype(float)
    feeds = values_feeds(m.values, m.index, m.assets, fast=fast,
                         extra={"b": {"lo": lo, "regime_code": regime}})
    assert not hasattr(feeds[0].lines, "lo")
    strat = _run(feeds, extra=("lo", "regime_code"))
    got = np.array(strat.rows["b"])
    np.testing.assert_array_equal(got[:, 5], lo)
    np.testing.assert_array_equal(got[:, 6], regime)


def test_forecast_data_reads_lo_mid_hi_columns_by_name():
    m = _market(n=40, assets=("a",))
    frame = m.frame("a")
    frame["mid"], frame["hi"] = frame.close * 1.01, frame.close * 1.1
    frame["lo"] = frame.close * 0.9
    strat = _run([ForecastData(dataname=frame, name="a", openinterest=None)],
                 extra=("lo", "mid", "hi"))
    got = np.array(strat.rows["a"])
    np.testing.assert_array_equal(got[:, 5:], frame[["lo", "mid", "hi"]].to_numpy())


def test_path_feeds_name_assets_and_carry_the_regime():
    m = _market(n=30)
    ps = PathSet(np.stack([m.values, m.values * 2]), m.index, m.assets, regimes=["bull", "bear"])
    feeds = path_feeds(ps, 1)
    assert [f._name for f in feeds] == ["a", "b"] and feeds[0].p.regime == "bear"
    strat = _run(feeds)
    np.testing.assert_array_equal(np.array(strat.rows["b"]), 2 * m.values[:, 1, :])
    with pytest.raises(IndexError):
        path_feeds(ps, 2)


def test_values_feeds_reject_bad_shapes():
    m = _market(n=10)
    with pytest.raises(ValueError, match="shape"):
        values_feeds(m.values[:, :1], m.index, m.assets)
    with pytest.raises(ValueError, match="extra line"):
        values_feeds(m.values, m.index, m.assets, extra={"a": {"lo": np.zeros(3)}})
    with pytest.raises(ValueError, match="identifier"):
        values_feeds(m.values, m.index, m.assets, extra={"a": {"close": np.zeros(10)}})
