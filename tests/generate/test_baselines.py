from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from diffbt.data import datasets
from diffbt.data.features import to_features
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate import baselines
from diffbt.generate.baselines import (
    GBM,
    BlockBootstrap,
    GarchT,
    MertonJumpDiffusion,
    garch_simulate,
)
from tests.helpers import market_from_returns

ALL = [GBM, MertonJumpDiffusion, BlockBootstrap, GarchT]
TRAIN_END = "2006-12-29"


@pytest.fixture(scope="module")
def market() -> Market:
    return datasets.load().loc("2003-01-01", "2008-12-31")


@pytest.fixture(scope="module")
def fitted(market):
    return {cls: cls().fit(market, train_end=TRAIN_END) for cls in ALL}


@pytest.mark.parametrize("cls", ALL)
def test_sample_gives_valid_pathset_continuing_the_calendar(cls, fitted, market):
    gen = fitted[cls]
    ps = gen.sample(7, 30, seed=1)
    v = ps.values
    assert v.shape == (7, 30, 2, 5)
    assert np.isfinite(v).all() and (v[..., :4] > 0).all() and (v[..., 4] >= 0).all()
    assert (v[..., 1] >= np.maximum(v[..., 0], v[..., 3])).all()
    assert (v[..., 2] <= np.minimum(v[..., 0], v[..., 3])).all()
    last = market.split(TRAIN_END)[0].index[-1]
    assert ps.index[0] > last and ps.index.is_monotonic_increasing and ps.index.is_unique
    assert (ps.index.day_of_week < 5).all()
    assert ps.assets == market.assets
    assert ps.meta["generator"] == gen.name and ps.meta["seed"] == 1
    # starts at the last training close
    first_ret = np.log(v[:, 0, :, 3] / market.split(TRAIN_END)[0].values[-1, :, 3])
    assert np.all(np.abs(first_ret) < 0.5)


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_paths(cls, fitted):
    gen = fitted[cls]
    a, b, c = (gen.sample(3, 40, seed=s).values for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", ALL)
def test_fit_has_no_look_ahead(cls, market):
    changed = market.values.copy()
    after = market.index > pd.Timestamp(TRAIN_END)
    changed[after, :, :4] *= np.linspace(0.5, 3.0, after.sum())[:, None, None]
    changed[after, :, 4] = 1.0
    other = Market(changed, market.index, market.assets)
    a = cls().fit(market, train_end=TRAIN_END)
    b = cls().fit(other, train_end=TRAIN_END)
    assert a.params.to_dict() == b.params.to_dict()
    np.testing.assert_array_equal(a.sample(2, 10, seed=0).values, b.sample(2, 10, seed=0).values)


@pytest.mark.parametrize("cls", ALL)
def test_baselines_refuse_conditioning_and_unfitted_use(cls, fitted, tmp_path):
    with pytest.raises(ValueError, match="cannot condition"):
        fitted[cls].sample(2, 5, regime="bear")
    with pytest.raises(ValueError, match="cannot condition"):
        fitted[cls].sample(2, 5, jumps=1.0)
    with pytest.raises(ValueError):
        fitted[cls].sample(0, 5)
    with pytest.raises(RuntimeError, match="fit"):
        cls().sample(2, 5)
    with pytest.raises(RuntimeError, match="fit"):
        cls().save(tmp_path / "x.npz")


@pytest.mark.parametrize("cls", ALL)
def test_params_are_read_only(cls, fitted):
    p = fitted[cls].params
    f = dataclasses.fields(p)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(p, f, 0)
    for v in vars(p).values():
        if isinstance(v, np.ndarray):
            assert not v.flags.writeable


@pytest.mark.parametrize("cls", ALL)
def test_save_load_round_trip(cls, fitted, tmp_path):
    gen = fitted[cls]
    path = gen.save(tmp_path / f"{cls.name}.npz")
    back = cls.load(path)
    again = baselines.load(path)
    assert type(back) is cls and type(again) is cls
    assert back.params.to_dict() == gen.params.to_dict()
    np.testing.assert_array_equal(back.sample(2, 15, seed=3).values,
                                  gen.sample(2, 15, seed=3).values)
    assert back.sample(1, 3).index.equals(gen.sample(1, 3).index)
    for name in ("fit", "sample", "save", "load"):  # the generators' shared interface
        assert callable(getattr(gen, name))


def test_load_rejects_foreign_or_wrong_files(fitted, tmp_path):
    path = fitted[GBM].save(tmp_path / "gbm.npz")
    with pytest.raises(DataError, match="not GarchT"):
        GarchT.load(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        baselines.load(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no such"):
        baselines.load(tmp_path / "missing.npz")


def test_fit_rejects_too_little_history(market):
    with pytest.raises(DataError, match="training bars"):
        GBM().fit(market, train_end="1990-01-01")
    with pytest.raises(DataError, match="training bars"):
        GarchT().fit(market.iloc(slice(0, 10)))
    with pytest.raises(TypeError):
        GBM().fit(market.frame("sp500"))


def test_gbm_params_are_sample_moments_and_samples_match_them(market):
    gen = GBM().fit(market, train_end=TRAIN_END)
    close = market.split(TRAIN_END)[0].field("close")
    r = np.log(close).diff().dropna()
    np.testing.assert_allclose(gen.params.mu, r.mean().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(gen.params.cov, r.cov().to_numpy(), rtol=1e-10)
    sim = gen.sample(400, 250, seed=0).log_returns()   # drops the first bar's return
    x = sim.reshape(-1, 2)
    se = np.sqrt(np.diag(gen.params.cov) / len(x))
    assert (np.abs(x.mean(0) - gen.params.mu) < 4 * se).all()
    np.testing.assert_allclose(np.cov(x, rowvar=False), gen.params.cov, rtol=0.02)


def test_merton_recovers_known_jumps():
    rng = np.random.default_rng(0)
    t = 20000
    diff = rng.multivariate_normal([2e-4, 1e-4], [[1e-4, 5e-5], [5e-5, 1e-4]], size=t)
    n = rng.poisson(0.01, size=(t, 2))
    r = diff + n * -0.08 + np.sqrt(n) * 0.015 * rng.standard_normal((t, 2))
    p = MertonJumpDiffusion(threshold=4.0).fit(market_from_returns(r)).params
    np.testing.assert_allclose(p.lam, 0.01, rtol=0.15)
    np.testing.assert_allclose(p.jump_mean, -0.08, rtol=0.1)
    np.testing.assert_allclose(p.jump_std, 0.015, rtol=0.3)
    np.testing.assert_allclose(p.cov, [[1e-4, 5e-5], [5e-5, 1e-4]], rtol=0.08)
    # the mean log return of the training data is kept
    np.testing.assert_allclose(p.mu + p.lam * p.jump_mean, r.mean(0), rtol=1e-8)


def test_bootstrap_resamples_whole_bars_in_geometric_blocks(market):
    gen = BlockBootstrap(mean_block=10).fit(market, train_end=TRAIN_END)
    feats = to_features(market.split(TRAIN_END)[0].values)
    rows = gen.rows(200, 300, np.random.default_rng(0))
    steps = np.diff(rows, axis=1)
    continues = (steps == 1) | (steps == 1 - len(feats))
    assert 0.87 < continues.mean() < 0.93          # new block w.p. 1/10 (or same row by chance)
    ps = gen.sample(3, 50, seed=2)
    got = to_features(np.concatenate([market.split(TRAIN_END)[0].values[-1:][None].repeat(
        3, 0), ps.values], axis=1))
    # every synthetic bar (all assets, all features) is one real training bar
    idx = gen.rows(3, 50, np.random.default_rng(2))
    np.testing.assert_allclose(got, feats[idx], rtol=1e-9, atol=1e-10)


def test_intrabar_fields_come_from_training_bars_of_similar_size(fitted, market):
    gen = fitted[GBM]
    feats = to_features(market.split(TRAIN_END)[0].values)
    ps = gen.sample(20, 50, seed=0)
    got = to_features(np.concatenate([np.repeat(market.split(TRAIN_END)[0].values[-1:][None],
                                                20, 0), ps.values], axis=1))
    for a in range(2):
        real_lvol = set(np.round(feats[:, a, 4], 9))
        assert set(np.round(got[..., a, 4].ravel(), 9)) <= real_lvol
        # the high-low range grows with |ret| as in the real data
        big = np.abs(got[..., a, 0]) > np.quantile(np.abs(got[..., a, 0]), 0.8)
        width = np.log(ps.values[..., a, 1] / ps.values[..., a, 2])
        assert width[big].mean() > 1.5 * width[~big].mean()


def test_garch_simulate_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    e = rng.standard_normal((3, 40, 2))
    mu, om, al, be, h0 = (np.array(x) for x in ([1e-4, 0.0], [1e-6, 2e-6], [0.1, 0.05],
                                                 [0.85, 0.9], [1e-4, 3e-4]))
    out = garch_simulate(mu, om, al, be, h0, e)
    for i in range(3):
        for a in range(2):
            h = h0[a]
            for t in range(40):
                eps = np.sqrt(h) * e[i, t, a]
                assert out[i, t, a] == pytest.approx(mu[a] + eps, rel=1e-12, abs=1e-15)
                h = om[a] + al[a] * eps ** 2 + be[a] * h


def test_garch_params_match_arch_and_innovations_are_unit_t(fitted, market):
    gen = fitted[GarchT]
    r = to_features(market.split(TRAIN_END)[0].values)[:, 0, 0]
    ref = arch_model(r * 100, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    p = gen.params
    assert p.alpha[0] == pytest.approx(ref.params["alpha[1]"], abs=0.01)
    assert p.beta[0] == pytest.approx(ref.params["beta[1]"], abs=0.01)
    assert p.omega[0] == pytest.approx(ref.params["omega"] / 1e4, rel=0.1)
    assert p.nu[0] == pytest.approx(ref.params["nu"], rel=0.1)
    r1 = to_features(market.split(TRAIN_END)[0].values)[:, 1, 0]
    ref1 = arch_model(r1 * 100, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    assert p.corr[0, 1] == pytest.approx(np.corrcoef(ref.std_resid, ref1.std_resid)[0, 1],
                                         abs=0.01)
    # long simulated paths: unconditional variance omega / (1 - alpha - beta)
    sim = gen.sample(100, 1000, seed=0).log_returns()[:, 200:]
    uncond = p.omega / (1 - p.alpha - p.beta)
    np.testing.assert_allclose(sim.reshape(-1, 2).var(0), uncond, rtol=0.15)
    abs_r = np.abs(sim[..., 0])
    lag1 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in abs_r])
    assert lag1 > 0.03                                    # volatility clustering
