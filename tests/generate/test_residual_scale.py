"""The residual scale of GARCH-filtered models (`calibrate_scale`): generated return residuals
get the training residuals' variance, so long paths keep the training volatility level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffbt.data.features import RET, FeatureScaler, to_features
from diffbt.generate.chain import DrawSpec, torch_generator
from diffbt.generate.generator import MarketGenerator
from diffbt.generate.state import GeneratorState, ResidualScale
from diffbt.model.checkpoint import load_checkpoint, save_checkpoint
from tests.helpers import market_from_returns, tiny


def _garch_market(n: int = 2500, seed: int = 0):
    """Two correlated assets with GJR-GARCH(1,1) volatility and Student-t(5) innovations
    (plain loop): a stationary market whose level a filter can be judged against."""
    rng = np.random.default_rng(seed)
    omega, alpha, gamma, beta = 4e-6, 0.05, 0.06, 0.90
    h = np.full(2, omega / (1 - alpha - gamma / 2 - beta))
    r = np.zeros(2)
    out = np.empty((n, 2))
    for t in range(n):
        h = omega + (alpha + gamma * (r < 0)) * r**2 + beta * h
        e = rng.standard_t(5, 2) * np.sqrt(3 / 5)
        e[1] = 0.5 * e[0] + np.sqrt(0.75) * e[1]
        r = np.sqrt(h) * e
        out[t] = r
    return market_from_returns(out)


@pytest.fixture(scope="module")
def market():
    return _garch_market()


@pytest.fixture(scope="module")
def train(market):
    return market.iloc(slice(0, 2000))


@pytest.fixture(scope="module")
def gen(train):
    return MarketGenerator(**tiny(window=32, overlap=8, hidden=16, n_blocks=2, steps=40,
                                  batch_size=32, timesteps=100, vol_filter="garch",
                                  mean_filter=True)).fit(train, seed=0)


def _narrowed(gen: MarketGenerator, factor: float) -> MarketGenerator:
    """`gen` whose network's return residuals come out `factor` times as wide."""
    std = np.array(gen.scaler.std)
    std[:, RET] *= factor
    return gen.with_state(gen.state.replace(scaler=FeatureScaler(gen.scaler.mean,
                                                                 tuple(map(tuple, std)))))


def _level(gen: MarketGenerator, seed: int) -> np.ndarray:
    """Mean square log return per asset of long unconditioned paths, past a burn-in."""
    r = gen.sample(64, 300, seed=seed, sampler_steps=4).log_returns()
    return (r[:, 60:] ** 2).mean(axis=(0, 1))


def test_narrow_residuals_make_calm_paths_and_the_scale_restores_the_training_level(
        gen, train):
    """Residuals drawn at 0.8x their width settle the GARCH recursion far below the
    training variance; the fitted factor (1 / 0.8 of the untouched model's) brings paths of
    a fresh seed back to the training span's mean square return."""
    target = (to_features(train.values)[..., RET] ** 2).mean(axis=0)
    g = _narrowed(gen, 0.8)
    before = _level(g, seed=11)
    assert (before < 0.7 * target).all(), (before, target)
    factor = np.asarray(g.calibrate_scale(train, seed=0, sampler_steps=4))
    plain = np.asarray(gen.with_state(gen.state).calibrate_scale(train, seed=0,
                                                                 sampler_steps=4))
    np.testing.assert_allclose(factor * 0.8, plain, rtol=0.1)
    after = _level(g, seed=12)  # a fresh seed: not the calibration's own paths
    np.testing.assert_allclose(after, target, rtol=0.25)
    assert g.state.scale.sampler == "dpm/4" and g.state.calibrated_for() == {"dpm/4"}


def test_the_scale_multiplies_the_residuals_of_generated_bars_exactly(gen):
    """One window drawn from the same noise with factors (1, 1) and (2, 0.5): filtered back
    into the network's units, each asset's residuals differ by its factor."""
    vol = gen.state.vol
    var = vol.neutral(6)
    spec = DrawSpec.unconditioned(6, sampler_steps=3)

    def residuals(scale: list[float]) -> np.ndarray:
        g = gen.with_state(gen.state.replace(scale=ResidualScale(scale, "dpm/3")))
        bars = g._chain().draw(spec.regime_ids, spec, context=None, var=var,
                               generator=torch_generator(3, g.device))
        return vol.filter_bars(bars, var)[0][..., RET]

    one, other = residuals([1.0, 1.0]), residuals([2.0, 0.5])
    np.testing.assert_allclose(other, one * [2.0, 0.5], rtol=1e-6, atol=1e-12)
    assert (np.abs(one) > 1e-4).mean() > 0.5


def test_fit_calibrates_the_scale_of_a_garch_model_and_it_survives_save_and_load(train,
                                                                                 tmp_path):
    g = MarketGenerator(**tiny(vol_filter="garch", calibrate_paths=True)).fit(train, seed=0)
    assert g.state.scale is not None and g.state.drift is not None
    assert g.state.calibrated_for() == {"dpm/20"}
    np.testing.assert_array_equal(g.state.vol.gain, 1.0)  # no feedback gain with GARCH
    assert ((g.state.scale.scale >= 0.5) & (g.state.scale.scale <= 2.0)).all()
    path = g.save(tmp_path / "m.diffbt")
    back = MarketGenerator.load(path)
    np.testing.assert_array_equal(back.state.scale.scale, g.state.scale.scale)
    np.testing.assert_array_equal(back.sample(3, 40, seed=1, sampler_steps=2).values,
                                  g.sample(3, 40, seed=1, sampler_steps=2).values)
    # a file of format 4 has no scale and loads without one
    tensors, meta = load_checkpoint(path)
    meta = json.loads(json.dumps(meta))
    meta["state"].pop("scale")
    meta["state"]["format"] = 4
    save_checkpoint(tmp_path / "old.diffbt", tensors, meta)
    assert MarketGenerator.load(tmp_path / "old.diffbt").state.scale is None
    assert GeneratorState.from_dict(meta["state"]).scale is None


def test_calibrate_paths_refits_scale_and_drift_for_another_sampler(gen, train, caplog):
    g = gen.with_state(gen.state)
    g.calibrate_paths(train, sampler="dpm-logsnr", sampler_steps=3)
    assert g.state.scale.sampler == g.state.drift.sampler == "dpm-logsnr/3"
    assert g.state.vol.gain_sampler is None  # no feedback gain with a GARCH filter
    with caplog.at_level("WARNING", logger="diffbt.generate.generator"):
        g.sample(1, 8, seed=0, sampler="dpm-logsnr", sampler_steps=3)
        assert not caplog.records
        g.sample(1, 8, seed=0, sampler_steps=3)
    assert "fitted for sampler dpm-logsnr/3, not dpm/3" in caplog.text
    assert "calibrate_paths(" in caplog.text


def test_the_ewma_state_has_no_residual_scale(train):
    g = MarketGenerator(**tiny(vol_filter="ewma")).fit(train, seed=0)
    with pytest.raises(ValueError, match="GARCH volatility filter.*calibrate_state"):
        g.calibrate_scale(train)
