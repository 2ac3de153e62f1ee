from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from diffbt.data import datasets
from diffbt.generate.baselines import GBM, GarchT
from diffbt.generate.pathset import PathSet
from diffbt.metrics import facts
from diffbt.metrics.facts import FACTS, compare, stylized_facts


@pytest.fixture(scope="module")
def market():
    return datasets.load().loc("2004-01-01", "2008-12-31")


def _pathset(r: np.ndarray) -> PathSet:
    """A PathSet whose closes have log returns r (n, T, A)."""
    close = 100 * np.exp(np.concatenate([np.zeros(r[:, :1].shape), np.cumsum(r, axis=1)], 1))
    v = np.stack([close, close, close, close, np.ones_like(close)], axis=-1)
    idx = pd.date_range("2020-01-01", periods=close.shape[1], freq="D")
    return PathSet(v, idx, [f"a{j}" for j in range(r.shape[2])])


def test_wasserstein1_matches_scipy():
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (7, 13), (200, 50)]:
        u, v = rng.standard_t(3, n), rng.normal(0.3, 2, m)
        assert facts.wasserstein1(u, v) == pytest.approx(stats.wasserstein_distance(u, v),
                                                         rel=1e-12)
    assert facts.wasserstein1(np.array([1.0, 2.0]), np.array([2.0, 1.0])) == 0.0


def test_moments_match_scipy():
    x = np.random.default_rng(1).standard_t(4, size=(5, 300))
    np.testing.assert_allclose(facts.kurtosis(x), stats.kurtosis(x, axis=1), rtol=1e-10)
    np.testing.assert_allclose(facts.skew(x), stats.skew(x, axis=1), rtol=1e-10)
    assert np.isnan(facts.kurtosis(np.ones((1, 10))))[0]


def test_acf_and_leverage_match_pandas():
    x = np.random.default_rng(2).standard_normal((3, 120))
    got = facts.acf(x, 7)
    lev = facts.leverage(x, 5)
    for i in range(3):
        s = pd.Series(x[i])
        np.testing.assert_allclose(got[i], [s.autocorr(k) for k in range(1, 8)], rtol=1e-10)
        np.testing.assert_allclose(lev[i], [s.corr((s ** 2).shift(-k)) for k in range(1, 6)],
                                   rtol=1e-10)


def test_cross_correlation_matches_corrcoef():
    r = np.random.default_rng(3).standard_normal((4, 50, 3))
    got = facts.cross_correlation(r)
    for i in range(4):
        np.testing.assert_allclose(got[i], np.corrcoef(r[i], rowvar=False), rtol=1e-10)


def test_max_drawdowns_match_a_plain_loop():
    x = np.random.default_rng(4).normal(0, 0.02, (3, 47))
    got = facts.max_drawdowns(x, 10)
    assert got.shape == (3, 4)
    for i in range(3):
        for w in range(4):
            equity, peak, worst = 1.0, 1.0, 0.0
            for t in range(10):
                equity *= np.exp(x[i, w * 10 + t])
                peak = max(peak, equity)
                worst = max(worst, 1 - equity / peak)
            assert got[i, w] == pytest.approx(worst, rel=1e-10, abs=1e-15)


def test_table_matches_hand_computed_facts():
    rng = np.random.default_rng(5)
    real = _pathset(rng.standard_t(4, (1, 300, 2)) * 0.01)
    syn = _pathset(rng.standard_normal((6, 300, 2)) * 0.01)
    res = stylized_facts(real, syn, horizons=(1, 5), acf_lags=4, abs_acf_lags=6,
                         leverage_lags=3, dd_horizon=30)
    t = res.table.set_index("fact")
    assert list(t.index) == ["w1_ret_1", "w1_ret_5", *FACTS[3:]]
    rr, rs = real.log_returns(), syn.log_returns()
    # W1 of 5-bar returns per asset (overlapping sums, pooled over paths), mean over assets
    w5 = np.mean([stats.wasserstein_distance(
        pd.Series(rr[0, :, a]).rolling(5).sum().dropna(),
        np.concatenate([pd.Series(p).rolling(5).sum().dropna() for p in rs[:, :, a]]))
        for a in range(2)])
    assert res.distances["w1_ret_5"] == pytest.approx(w5, rel=1e-9)
    # kurtosis: per path, mean over paths, |diff| per asset, mean over assets
    k_syn = np.array([np.mean([stats.kurtosis(p[:, a]) for p in rs]) for a in range(2)])
    k_real = stats.kurtosis(rr[0], axis=0)
    assert res.distances["kurtosis"] == pytest.approx(np.abs(k_real - k_syn).mean(), rel=1e-9)
    assert t.loc["kurtosis", "real"] == pytest.approx(k_real.mean(), rel=1e-9)
    # abs ACF: mean |difference| over lags and assets
    ac_r = np.array([[pd.Series(np.abs(rr[0, :, a])).autocorr(k) for a in range(2)]
                     for k in range(1, 7)])
    ac_s = np.array([[np.mean([pd.Series(np.abs(p[:, a])).autocorr(k) for p in rs])
                      for a in range(2)] for k in range(1, 7)])
    assert res.distances["acf_abs"] == pytest.approx(np.abs(ac_r - ac_s).mean(), rel=1e-9)
    np.testing.assert_allclose(res.curves["acf_abs"][0], ac_r, rtol=1e-9)
    # cross-correlation: Frobenius norm / n of the (path-averaged) matrices
    c_s = np.mean([np.corrcoef(p, rowvar=False) for p in rs], axis=0)
    c_r = np.corrcoef(rr[0], rowvar=False)
    assert res.distances["cross_corr"] == pytest.approx(np.linalg.norm(c_r - c_s) / 2,
                                                        rel=1e-9)
    assert res.settings["dd_horizon"] == 30


def test_pathset_against_itself_has_zero_distances(market):
    ps = GBM().fit(market).sample(5, 200, seed=0)
    res = stylized_facts(ps, ps)
    assert set(res.distances) == set(FACTS)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in res.distances.values())
    real = stylized_facts(market, PathSet.from_market(market))
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in real.distances.values())


def test_gbm_has_no_volatility_clustering_but_garch_has(market):
    train, test = market.split("2007-12-31")
    gbm = GBM().fit(market, train_end="2007-12-31").sample(30, 400, seed=0)
    garch = GarchT().fit(market, train_end="2007-12-31").sample(30, 400, seed=0)
    table = compare(test, {"gbm": gbm, "garch": garch}, stats=True)
    assert list(table.columns) == ["real", "gbm", "garch"]
    assert abs(table.loc["acf_abs", "gbm"]) < 0.01
    assert table.loc["acf_abs", "garch"] > 0.03
    assert table.loc["kurtosis", "garch"] > table.loc["kurtosis", "gbm"] + 0.2
    dist = compare(test, {"gbm": gbm, "garch": garch})
    assert list(dist.index) == list(FACTS)
    assert dist.loc["acf_abs", "garch"] < dist.loc["acf_abs", "gbm"]
    assert dist.loc["w1_ret_1", "gbm"] == pytest.approx(
        stylized_facts(test, gbm).distances["w1_ret_1"], rel=1e-12)


def test_bad_inputs_raise_clear_errors(market):
    ps = GBM().fit(market).sample(2, 100, seed=0)
    with pytest.raises(ValueError, match="assets differ"):
        stylized_facts(market.select(["nasdaq", "sp500"]), ps)
    with pytest.raises(ValueError, match="too short"):
        stylized_facts(market, ps.subset(slice(0, 2)), abs_acf_lags=150)
    with pytest.raises(ValueError, match="too short"):
        stylized_facts(market, GBM().fit(market).sample(2, 30, seed=0))
    with pytest.raises(TypeError):
        stylized_facts(market, market)
    with pytest.raises(ValueError, match="at least one"):
        compare(market, {})


def test_single_asset_cross_corr_is_nan(market):
    one = market.select(["sp500"])
    res = stylized_facts(one, GBM().fit(one).sample(3, 120, seed=1))
    assert np.isnan(res.distances["cross_corr"])
    assert np.isfinite(res.distances["acf_abs"])
