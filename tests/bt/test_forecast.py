"""ForecastInterval: batched forecasts served bar by bar, provably without look-ahead."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from diffbt.bt import (
    EmpiricalQuantileForecaster,
    ForecastInterval,
    check_no_lookahead,
    forecast_lines,
    market_feeds,
    values_feeds,
)
from diffbt.data.market import Market
from tests.helpers import tiny

Q = (0.1, 0.5, 0.9)


def _market(n: int = 160, assets=("a", "b"), seed: int = 0) -> Market:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, len(assets))), axis=0))
    v = np.stack([close, close * 1.002, close * 0.998, close, np.full(close.shape, 1e5)], axis=-1)
    return Market(v, pd.bdate_range("2020-01-01", periods=n), assets)


class BruteForceForecaster:
    """Reference: for each t, slice the history to bars <= t and compute the quantiles."""

    def __init__(self, window: int = 30) -> None:
        self.window = window
        self.calls = 0

    def forecast_series(self, market, *, horizon, quantiles, asset, n_samples, seed):
        self.calls += 1
        j = market.assets.index(asset) if asset else 0
        out = np.full((len(market), len(quantiles)), np.nan)
        for t in range(len(market)):
            past = np.log(market.values[: t + 1, j, 3])  # bars <= t only
            rh = past[horizon:] - past[:-horizon]
            if len(rh) >= self.window:
                out[t] = past[-1] + np.quantile(rh[-self.window:], quantiles)
        return np.exp(out)


class LeakyForecaster:
    """Wrong on purpose: peeks at close[t + horizon]."""

    def forecast_series(self, market, *, horizon, quantiles, asset, n_samples, seed):
        c = market.values[:, 0, 3]
        fut = np.concatenate([c[horizon:], np.full(horizon, np.nan)])
        return fut[:, None] * np.asarray(quantiles)[None] * 2


class TwoAssetModel:
    """Multi-asset model: forecast = own close scaled by the other asset's last return."""

    assets = ("a", "b")

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def forecast_series(self, market, *, horizon, quantiles, asset, n_samples, seed):
        self.seen.append(market.assets)
        j = market.assets.index(asset)
        other = market.values[:, 1 - j, 3]
        ratio = np.concatenate([[np.nan], other[1:] / other[:-1]])
        return market.values[:, j, 3, None] * ratio[:, None] * np.asarray(quantiles)[None]


class _Record(bt.Strategy):
    params = (("model", None), ("horizon", 3), ("quantiles", Q), ("only", None))

    def __init__(self) -> None:
        datas = [d for d in self.datas if self.p.only in (None, d._name)]
        self.fc = {d._name: ForecastInterval(d, model=self.p.model, horizon=self.p.horizon,
                                             quantiles=self.p.quantiles) for d in datas}
        self.rows = {k: [] for k in self.fc}

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        for k, fc in self.fc.items():
            self.rows[k].append([fc.lo[0], fc.mid[0], fc.hi[0]])


def _served(market, model, *, only=None, feeds=None, **kw):
    cerebro = bt.Cerebro(stdstats=False, **kw)
    for f in feeds or market_feeds(market):
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(_Record, model=model, only=only)
    strat = cerebro.run()[0]
    return {k: np.array(v) for k, v in strat.rows.items()}


def test_empirical_forecaster_equals_brute_force_loop():
    m = _market()
    fast = EmpiricalQuantileForecaster(window=30).forecast_series(m, horizon=3, quantiles=Q,
                                                                  asset="b")
    slow = BruteForceForecaster(30).forecast_series(m, horizon=3, quantiles=Q, asset="b",
                                                    n_samples=0, seed=0)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    assert np.isnan(fast[:32]).all() and not np.isnan(fast[32:]).any()


@pytest.mark.parametrize("model", [EmpiricalQuantileForecaster(30), BruteForceForecaster(30)])
def test_check_no_lookahead_passes_for_causal_models(model):
    check_no_lookahead(model, _market(), asset="a", horizon=3, quantiles=Q)


def test_check_no_lookahead_catches_a_leaky_model():
    with pytest.raises(AssertionError, match="look-ahead"):
        check_no_lookahead(LeakyForecaster(), _market(assets=("a",)), horizon=3, quantiles=Q)


@pytest.mark.parametrize("kw", [{}, {"runonce": False}])
def test_indicator_serves_row_t_at_bar_t_from_one_batched_call(kw):
    m = _market()
    model = BruteForceForecaster(30)
    served = _served(m, model, **kw)
    assert model.calls == 2  # one batched call per feed, none per bar
    for a in m.assets:
        want = BruteForceForecaster(30).forecast_series(m, horizon=3, quantiles=Q, asset=a,
                                                        n_samples=0, seed=0)
        np.testing.assert_array_equal(served[a], want)


def test_indicator_has_no_lookahead_end_to_end():
    """Changing any bar after t leaves every served forecast at or before t unchanged."""
    m = _market()
    model = EmpiricalQuantileForecaster(30)
    base = _served(m, model)
    rng = np.random.default_rng(5)
    for t in (40, 90, 150):
        v = np.array(m.values)
        v[t + 1:, :, :4] *= np.exp(rng.normal(0, 0.05, (len(m) - t - 1, 2)))[..., None]
        moved = _served(Market(v, m.index, m.assets), model)
        for a in m.assets:
            np.testing.assert_array_equal(moved[a][: t + 1], base[a][: t + 1])
            assert not np.array_equal(moved[a][t + 4:], base[a][t + 4:])  # the change shows


def test_multi_asset_model_gets_the_other_feeds_history():
    m = _market()
    model = TwoAssetModel()
    served = _served(m, model, only="b")
    assert model.seen == [("a", "b")]
    want = TwoAssetModel().forecast_series(m, horizon=3, quantiles=Q, asset="b", n_samples=0,
                                           seed=0)
    np.testing.assert_array_equal(served["b"], want)
    check_no_lookahead(TwoAssetModel(), m, asset="b", horizon=3, quantiles=Q)


def test_indicator_reads_precomputed_lines_from_the_feed():
    m = _market(assets=("a",))
    model = EmpiricalQuantileForecaster(30)
    lines = forecast_lines(model, m, horizon=3, quantiles=Q)
    feeds = values_feeds(m.values, m.index, m.assets, extra={"a": lines})
    for kw in ({}, {"preload": False}):
        served = _served(m, None, feeds=feeds, **kw)["a"]
        np.testing.assert_array_equal(served, np.column_stack(list(lines.values())))


def test_indicator_with_model_needs_preload():
    with pytest.raises(RuntimeError, match="preload"):
        _served(_market(), EmpiricalQuantileForecaster(30), preload=False)


def test_indicator_rejects_wrong_model_output_shape():
    class Bad:
        def forecast_series(self, market, **kw):
            return np.zeros((3, 3))

    with pytest.raises(ValueError, match="shape"):
        _served(_market(), Bad())


# -- a fitted MarketGenerator on a plain backtrader feed, as a backtrader user writes it -----
TINY = tiny(hidden=16, steps=5, attention=True, batch_size=128, timesteps=1000)


def _frame(index, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
    return pd.DataFrame({"open": close, "high": close * 1.004, "low": close * 0.996,
                         "close": close, "volume": np.full(len(index), 1e5)}, index=index)


@pytest.fixture(scope="session")
def fitted():
    """Tiny generators: one on daily 'BTC', one on daily 'a' + 'b', one on hourly 'BTC'."""
    from diffbt.data.io import load_market
    from diffbt.generate.generator import MarketGenerator

    days = pd.bdate_range("2020-01-01", periods=150)
    hours = pd.date_range("2020-01-01", periods=150, freq="h")
    out = {}
    for key, frames in (("btc", {"BTC": _frame(days, 0)}),
                        ("pair", {"a": _frame(days, 1), "b": _frame(days, 2)}),
                        ("hourly", {"BTC": _frame(hours, 3)})):
        out[key] = MarketGenerator(**TINY).fit(load_market(frames), seed=0)
    out["df"] = _frame(days, 5)
    return out


class _UsesForecast(bt.Strategy):
    """What a user writes: the indicator on self.data, its lines read in next()."""

    params = (("model", None), ("asset", None))

    def __init__(self) -> None:
        self.fc = ForecastInterval(self.data, model=self.p.model, horizon=5, n_samples=16,
                                   asset=self.p.asset)
        self.rows = []

    def next(self) -> None:
        self.rows.append((self.fc.lo[0], self.fc.mid[0], self.fc.hi[0]))


def _run_user(model, df, names=(None,), asset=None):
    cerebro = bt.Cerebro()
    for name in names:
        feed = bt.feeds.PandasData(dataname=df)
        cerebro.adddata(feed) if name is None else cerebro.adddata(feed, name=name)
    cerebro.addstrategy(_UsesForecast, model=model, asset=asset)
    return np.array(cerebro.run()[0].rows)


@pytest.mark.parametrize("names", [(None,), ("ETH",), ("BTC",)])
def test_a_single_asset_model_serves_any_single_feed(fitted, names):
    gen, df = fitted["btc"], fitted["df"]
    served = _run_user(gen, df, names)
    market = Market(df.to_numpy()[:, None, :], df.index, ("BTC",))
    want = gen.forecast_series(market, horizon=5, quantiles=(0.05, 0.5, 0.95), asset="BTC",
                               n_samples=16, seed=0)
    np.testing.assert_array_equal(served, want)
    ok = ~np.isnan(served).any(axis=1)
    assert ok[-100:].all() and (served[ok, 0] <= served[ok, 2]).all()


def test_a_multi_asset_model_on_an_unnamed_feed_says_how_to_name_it(fitted):
    with pytest.raises(ValueError, match=r"adddata\(feed, name='a'\).*asset='a'"):
        _run_user(fitted["pair"], fitted["df"], (None, None))


def test_a_multi_asset_model_needs_a_feed_for_each_of_its_assets(fitted):
    with pytest.raises(ValueError, match=r"no feed named \['b'\]"):
        _run_user(fitted["pair"], fitted["df"], ("a",))
    with pytest.raises(ValueError, match="not one the model was trained on"):
        _run_user(fitted["pair"], fitted["df"], ("a", "b"), asset="c")
    served = _run_user(fitted["pair"], fitted["df"], ("a", "b"))
    assert np.isfinite(served[-100:]).all()


def test_a_model_of_another_bar_spacing_is_refused(fitted):
    with pytest.raises(ValueError, match="fitted on 1-hour bars but the feed .* has 1-day bars"):
        _run_user(fitted["hourly"], fitted["df"])


class TableModel(TwoAssetModel):
    """`TwoAssetModel` that also answers several (asset, horizon) pairs in one call."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[tuple[str, int]]] = []

    def forecast_table(self, market, requests, *, quantiles, n_samples, seed):
        self.tables.append(list(requests))
        return {(a, h): self.forecast_series(market, horizon=h, quantiles=quantiles, asset=a,
                                             n_samples=n_samples, seed=seed) * h
                for a, h in requests}


class _Horizons(bt.Strategy):
    """Several ForecastIntervals on one model: two horizons on feed a, one on feed b."""

    params = (("model", None), ("n_samples", 8))

    def __init__(self) -> None:
        a, b = self.getdatabyname("a"), self.getdatabyname("b")
        kw = dict(model=self.p.model, quantiles=Q, n_samples=self.p.n_samples)
        self.fc = {("a", 2): ForecastInterval(a, horizon=2, **kw),
                   ("a", 6): ForecastInterval(a, horizon=6, **kw),
                   ("b", 2): ForecastInterval(b, horizon=2, **kw)}
        self.rows = {k: [] for k in self.fc}

    def next(self) -> None:
        for k, fc in self.fc.items():
            self.rows[k].append([fc.lo[0], fc.mid[0], fc.hi[0]])


def _run_horizons(model, market, **params):
    cerebro = bt.Cerebro(stdstats=False)
    for f in market_feeds(market):
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(_Horizons, model=model, **params)
    strat = cerebro.run()[0]
    return {k: np.array(v) for k, v in strat.rows.items()}


def test_indicators_sharing_a_model_are_served_by_one_table_call():
    m = _market()
    model = TableModel()
    served = _run_horizons(model, m)
    assert model.tables == [[("a", 2), ("a", 6), ("b", 2)]]
    for (a, h), rows in served.items():
        want = TableModel().forecast_series(m, horizon=h, quantiles=Q, asset=a, n_samples=8,
                                            seed=0) * h
        np.testing.assert_array_equal(rows, want[-len(rows):])


def test_indicators_with_other_sampling_settings_are_not_shared():
    class Two(bt.Strategy):
        params = (("model", None),)

        def __init__(self) -> None:
            model = self.p.model
            self.x = ForecastInterval(self.datas[0], model=model, horizon=2, n_samples=8)
            self.y = ForecastInterval(self.datas[0], model=model, horizon=2, n_samples=9)

    model = TableModel()
    cerebro = bt.Cerebro(stdstats=False)
    for f in market_feeds(_market()):
        cerebro.adddata(f, name=f._name)
    cerebro.addstrategy(Two, model=model)
    cerebro.run()
    assert model.tables == [[("a", 2)], [("a", 2)]]


def test_a_generator_serves_several_horizons_and_assets_from_one_sampling(fitted):
    gen, df = fitted["pair"], fitted["df"]
    m = Market(np.stack([df.to_numpy(), df.to_numpy() * 1.5], axis=1), df.index, ("a", "b"))
    served = _run_horizons(gen, m)
    for (a, h), rows in served.items():
        # the futures are one window long, so each pair equals its own sampling exactly
        want = gen.forecast_series(m, horizon=h, quantiles=Q, asset=a, n_samples=8, seed=0)
        np.testing.assert_array_equal(rows, want[-len(rows):])
        assert np.isfinite(rows[-100:]).all()
    lo, hi = served[("a", 2)][-100:, 2] - served[("a", 2)][-100:, 0], \
        served[("a", 6)][-100:, 2] - served[("a", 6)][-100:, 0]
    assert np.median(hi) > np.median(lo)  # six bars ahead are wider than two
