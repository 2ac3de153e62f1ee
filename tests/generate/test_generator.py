from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diffbt.data import datasets
from diffbt.data.features import FeatureScaler, from_features, to_features
from diffbt.errors import DataError
from diffbt.generate.config import GeneratorConfig
from diffbt.generate.generator import MarketGenerator
from diffbt.generate.state import DriftShift
from diffbt.generate.volstate import VolState
from diffbt.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.helpers import tiny

# the EWMA volatility state and its long-path calibrations (the GARCH filter, the default,
# has its own fixture below)
TINY = tiny(hidden=16, n_blocks=2, steps=8, batch_size=32, timesteps=100, calibrate=True,
            calibrate_paths=True, vol_filter="ewma")


@pytest.fixture(scope="module")
def market():
    return datasets.load().loc("2006-01-01", "2009-12-31")


@pytest.fixture(scope="module")
def gen(market):
    return MarketGenerator(**TINY).fit(market, train_end="2008-12-31", seed=0)


def _valid(values: np.ndarray) -> bool:
    o, h, lo, c, v = (values[..., k] for k in range(5))
    return bool((h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
                and (lo > 0).all() and (v >= 0).all() and np.isfinite(values).all())


def test_generator_sample_shapes_calendar_and_valid_bars(gen, market):
    ps = gen.sample(5, 40, seed=1, sampler_steps=4)
    assert ps.values.shape == (5, 40, 2, 5)
    assert ps.assets == ("sp500", "nasdaq")
    assert ps.index[0] > gen.train_end and ps.index.is_monotonic_increasing
    assert _valid(ps.values)


def test_generator_same_seed_same_paths_and_other_seed_differs(gen):
    a = gen.sample(4, 20, seed=3, sampler_steps=3, regime="bear", jumps=1)
    b = gen.sample(4, 20, seed=3, sampler_steps=3, regime="bear", jumps=1)
    c = gen.sample(4, 20, seed=4, sampler_steps=3, regime="bear", jumps=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)


def test_generator_batch_size_does_not_change_paths_count_or_validity(gen):
    ps = gen.sample(7, 20, seed=0, batch_size=3, sampler_steps=3)
    assert ps.n_paths == 7 and _valid(ps.values)


def test_generator_long_paths_chain_windows_with_context(gen):
    # length 50 with window 16 and 8 bars of context needs 1 + ceil(34 / 8) = 6 windows
    ps = gen.sample(2, 50, seed=0, sampler_steps=2, regime=["bull", "bear"])
    assert ps.length == 50 and _valid(ps.values)
    assert list(ps.regimes) == ["bull->bear", "bull->bear"]


def test_generator_rejects_unknown_regime_and_bad_sizes(gen):
    with pytest.raises(ValueError, match="unknown regime"):
        gen.sample(2, 10, regime="moon")
    with pytest.raises(ValueError, match="n_paths"):
        gen.sample(0, 10)
    with pytest.raises(ValueError, match="length"):
        gen.sample(2, -1)


def test_generator_streams_to_file(gen, tmp_path):
    mem = gen.sample(6, 20, seed=5, sampler_steps=3, batch_size=4)
    disk = gen.sample(6, 20, seed=5, sampler_steps=3, batch_size=4, out=tmp_path / "p.npz")
    assert isinstance(disk.values, np.memmap)
    np.testing.assert_array_equal(np.asarray(disk.values), mem.values)


def test_generator_save_load_round_trip_samples_identically(gen, tmp_path):
    path = gen.save(tmp_path / "m.safetensors")
    back = MarketGenerator.load(path, device="cpu")
    assert back.assets == gen.assets and back.scaler == gen.scaler
    assert back.regimes == gen.regimes and back.jumps == gen.jumps
    np.testing.assert_array_equal(back.sample(3, 20, seed=9, sampler_steps=3).values,
                                  gen.sample(3, 20, seed=9, sampler_steps=3).values)


def test_generator_load_rejects_damaged_and_foreign_files(gen, tmp_path):
    path = gen.save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        MarketGenerator.load(tmp_path / "cut.safetensors")
    (tmp_path / "x.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(CheckpointError):
        MarketGenerator.load(tmp_path / "x.safetensors")


def test_generator_fit_uses_training_span_only(market):
    """No look-ahead: changing bars after train_end changes no fitted scaler or threshold."""
    a = MarketGenerator(**TINY).fit(market, train_end="2008-12-31", seed=0, steps=2)
    values = market.values.copy()
    after = market.index > np.datetime64("2008-12-31")
    values[after, :, :4] *= 3.0
    values[after, :, 4] += 1e6
    changed = type(market)(values, market.index, market.assets)
    b = MarketGenerator(**TINY).fit(changed, train_end="2008-12-31", seed=0, steps=2)
    assert a.scaler == b.scaler and a.regimes == b.regimes and a.jumps == b.jumps
    np.testing.assert_array_equal(a.sample(2, 10, seed=0, sampler_steps=2).values,
                                  b.sample(2, 10, seed=0, sampler_steps=2).values)


def test_generator_fit_rejects_too_short_history(market):
    with pytest.raises(DataError, match="window"):
        MarketGenerator(**TINY).fit(market.iloc(slice(0, 15)))


def test_generator_forecast_quantiles_ordered_and_positive(gen, market):
    fc = gen.forecast(market.loc(end="2009-06-30"), 5, n_samples=30, seed=0, sampler_steps=3)
    assert fc.shape == (5, 2 * 3)
    for asset in gen.assets:
        lo, mid, hi = (fc[(asset, q)].to_numpy() for q in (0.05, 0.5, 0.95))
        assert (lo <= mid).all() and (mid <= hi).all() and (lo > 0).all()


def test_generator_forecast_series_has_no_look_ahead(gen, market):
    """A forecast at bar t is unchanged when any bar after t changes."""
    m = market.iloc(slice(0, 60))
    kw = dict(horizon=3, n_samples=8, seed=0, sampler_steps=2)
    base = gen.forecast_series(m, **kw)
    t = 40
    values = m.values.copy()
    values[t + 1:, :, :4] *= 1.5
    changed = gen.forecast_series(type(m)(values, m.index, m.assets), **kw)
    np.testing.assert_array_equal(base[: t + 1], changed[: t + 1])
    assert not np.allclose(base[t + 2:], changed[t + 2:])
    assert np.isnan(base[: gen.config.context_bars]).all()


def test_generator_forecast_series_every_skips_bars(gen, market):
    m = market.iloc(slice(0, 30))
    out = gen.forecast_series(m, horizon=2, n_samples=4, seed=1, sampler_steps=2, every=5)
    k = gen.config.context_bars
    filled = np.flatnonzero(~np.isnan(out[:, 0]))
    np.testing.assert_array_equal(filled, np.arange(k, 30, 5))
    assert (out[filled, 0] <= out[filled, 2]).all()


def test_features_of_samples_match_training_scale(gen):
    """Sanity: sampled returns are in the range of the data, not blown up."""
    ps = gen.sample(4, 30, seed=0, sampler_steps=4)
    r = to_features(ps.values)[..., 0]
    assert np.abs(r).max() < 1.0


def test_generator_redraws_windows_until_labels_match(gen):
    """With max_tries > 1 every kept window carries the regime asked for (when found)."""
    ps = gen.sample(6, gen.config.window, regime="bear_volatile", seed=2, sampler_steps=2,
                    start_price=1.0)
    # all `window` returns, the first bar's (from the start close) included, as in training
    ret = np.diff(np.log(ps.field("close")), axis=1, prepend=0.0)
    trend, vol = gen.regimes.label_windows(ret)
    assert gen.last_acceptance is not None and 0.0 <= gen.last_acceptance <= 1.0
    matched = (trend == 0) & (vol == 1)
    # the acceptance the generator reports is what an independent labelling finds
    assert matched.mean() == pytest.approx(gen.last_acceptance)


def test_jump_detector_count_batch_equals_per_window_loop(gen):
    rng = np.random.default_rng(0)
    windows = rng.standard_t(3, size=(5, 16, 2)) * 0.01
    det = gen.jumps
    loop = [det.count_windows(det.flags(w), 16)[0] for w in windows]
    np.testing.assert_array_equal(det.count_batch(windows), loop)


def test_generator_fit_resumes_after_interruption_to_the_same_model(market, tmp_path):
    """A fit killed mid-way and resumed from its checkpoint ends with the same model."""
    kw = dict(train_end="2008-12-31", seed=0, steps=12)
    full = MarketGenerator(**TINY).fit(market, **kw)

    def crash(step, info):
        if step == 7:
            raise KeyboardInterrupt

    ckpt = tmp_path / "fit.train"
    with pytest.raises(KeyboardInterrupt):
        MarketGenerator(**TINY).fit(market, checkpoint=ckpt, progress=crash, **kw)
    assert ckpt.is_file()
    resumed = MarketGenerator(**TINY).fit(market, checkpoint=ckpt, resume=True, **kw)
    for (k, a), (_, b) in zip(full.diffusion.state_dict().items(),
                              resumed.diffusion.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), k


def test_forecast_calibration_scales_spread_from_the_given_span_only(gen, market):
    import copy

    g = copy.deepcopy(gen)
    train = market.loc(end="2008-12-31")
    spread = g.calibrate_forecasts(train, last_bars=120, n_origins=16, n_samples=8,
                                   sampler_steps=2)
    assert spread["horizons"][0] == 1 and len(spread["scale"]) == len(spread["horizons"])
    assert all(0.5 <= s <= 3.0 for s in spread["scale"])
    # the scale depends only on the span given: changing later bars changes nothing
    values = market.values.copy()
    values[market.index > np.datetime64("2008-12-31"), :, :4] *= 2.0
    g2 = copy.deepcopy(gen)
    assert g2.calibrate_forecasts(type(market)(values, market.index, market.assets)
                                  .loc(end="2008-12-31"), last_bars=120, n_origins=16,
                                  n_samples=8, sampler_steps=2) == spread
    # intervals widen (or narrow) around the median by exactly the fitted scale
    m = market.iloc(slice(0, 40))
    kw = dict(horizon=1, n_samples=16, seed=0, sampler_steps=2)
    plain = gen.with_state(gen.state.replace(spread=None))  # the fixture's own calibration
    assert plain.spread_scale(1) == 1.0
    raw = plain.forecast_series(m, **kw)
    cal = g.forecast_series(m, **kw)
    ok = ~np.isnan(raw[:, 0])
    s = g.spread_scale(1)
    np.testing.assert_allclose(np.log(cal[ok] / cal[ok, 1:2]), s * np.log(raw[ok] / raw[ok, 1:2]),
                               rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def gen_novol(market):
    return MarketGenerator(**TINY, vol_state=False).fit(market, train_end="2008-12-31", seed=0)


def _wilder_past(m, k: int):
    """`m` with the log moves of every bar before its last ``k + 1`` tripled."""
    feats = to_features(m.values)
    feats[: len(feats) - k, :, :4] *= 3.0
    values = np.concatenate([m.values[:1], from_features(feats, m.values[0, :, 3])])
    return type(m)(values, m.index, m.assets)


def test_volatility_state_carries_history_beyond_the_context(gen, gen_novol, market):
    """The bars before the context set the volatility state: a wilder past widens the
    forecast; a model without the state ignores them (same context, same forecast)."""
    m = market.loc(end="2009-06-30")
    kw = dict(n_samples=40, seed=0, sampler_steps=3)

    def spread(g, mk):
        fc = g.forecast(mk, 4, **kw)
        last = mk.values[-1, :, 3]
        lo = np.stack([fc[(a, 0.05)].to_numpy() for a in g.assets], axis=1) / last
        hi = np.stack([fc[(a, 0.95)].to_numpy() for a in g.assets], axis=1) / last
        return hi - lo

    k = gen.config.context_bars
    wild = _wilder_past(m, k)
    np.testing.assert_allclose(to_features(wild.values)[-k:], to_features(m.values)[-k:],
                               rtol=1e-9, atol=1e-12)
    assert gen.config.vol_state and not gen_novol.config.vol_state
    assert (spread(gen, wild) > spread(gen, m)).all()
    np.testing.assert_allclose(spread(gen_novol, wild), spread(gen_novol, m), rtol=1e-6)


def test_volatility_state_follows_the_generated_path(gen):
    """Paths started in a volatile regime stay more volatile than calm ones for many windows:
    the state is carried along the path, not reset per window."""
    w = gen.config.window
    calm = gen.sample(24, 6 * w, regime="calm", seed=0, sampler_steps=3)
    wild = gen.sample(24, 6 * w, regime="volatile", seed=0, sampler_steps=3)
    r_calm = np.abs(to_features(calm.values)[:, :, :, 0])
    r_wild = np.abs(to_features(wild.values)[:, :, :, 0])
    assert r_wild[:, : w].mean() > 1.5 * r_calm[:, : w].mean()
    assert r_wild[:, 4 * w:].mean() > r_calm[:, 4 * w:].mean()


def test_model_files_without_volatility_state_still_load(gen_novol, tmp_path):
    """Files written before `vol_state` existed (no key in their JSON) load as vol_state=False."""
    path = gen_novol.save(tmp_path / "new.safetensors")
    tensors, meta = load_checkpoint(path)
    # as format 1 wrote it: one flat dict of settings, and no format in the state
    nested = meta["generator"]
    flat = {k: v for k, v in nested.items() if k not in ("diffusion", "train", "vol_state",
                                                          "vol_halflife")}
    flat.update({k: nested["diffusion"][k] for k in ("hidden", "n_blocks", "stride",
                                                     "attention", "timesteps")})
    flat.update({k: nested["train"][k] for k in ("steps", "batch_size", "lr")})
    meta["generator"] = flat
    meta["state"].pop("format")
    meta["state"]["drift"] = meta["state"]["drift"]["shift"]
    meta["config"].pop("state")
    meta["state"].pop("vol")
    old = save_checkpoint(tmp_path / "old.safetensors", tensors, meta)
    back = MarketGenerator.load(old, device="cpu")
    assert back.config.vol_state is False
    np.testing.assert_array_equal(back.sample(2, 30, seed=5, sampler_steps=2).values,
                                  gen_novol.sample(2, 30, seed=5, sampler_steps=2).values)


@pytest.mark.parametrize("kw", [dict(guidance=float("nan")), dict(guidance=float("inf")),
                                dict(seed=-1), dict(seed=1.5)])
def test_generator_sample_rejects_non_finite_guidance_and_bad_seeds(gen, kw):
    with pytest.raises(ValueError, match="guidance|seed"):
        gen.sample(2, 10, sampler_steps=2, **kw)


def test_label_matching_redraws_the_starting_state_of_fresh_paths(market, monkeypatch):
    """Windows of a fresh path that miss the regime asked for are redrawn together with a new
    starting volatility state (only for those rows); continued windows keep theirs."""
    g = MarketGenerator(**TINY, max_tries=4).fit(market, train_end="2008-12-31", seed=0)
    calls = []
    draw = VolState.initial

    def spy(self, regime_ids, rng):
        calls.append(len(regime_ids))
        return draw(self, regime_ids, rng)

    monkeypatch.setattr(VolState, "initial", spy)
    ps = g.sample(20, 3 * g.config.window, regime="bull_volatile", seed=0, sampler_steps=2)
    assert _valid(ps.values)
    assert calls[0] == 20  # one state per fresh path
    assert len(calls) > 1  # the tiny model misses the regime: its states were redrawn
    assert all(0 < b <= a for a, b in zip(calls, calls[1:], strict=False))  # failing rows only
    assert len(calls) <= g.config.max_tries  # the first window only, at most max_tries rounds
    calls.clear()
    g.config = replace(g.config, max_tries=1)  # guidance only: no redraw
    g.sample(20, 3 * g.config.window, regime="bull_volatile", seed=0, sampler_steps=2)
    assert calls == [20]


def test_calibrate_drift_removes_a_drift_bias(market):
    """A network biased by +0.2 sd per bar drifts away; calibrate_drift brings the paths back
    to the training span's mean log return (the only input the calibration sees)."""
    g = MarketGenerator(**tiny(calibrate_paths=False, calibrate=False)).fit(
        market, train_end="2008-12-31", seed=0)
    train = market.split("2008-12-31")[0]
    target = to_features(train.values)[:, :, 0].mean(axis=0)
    sd = np.asarray(g.scaler.std)[:, 0]
    mean = np.array(g.scaler.mean)
    mean[:, 0] += 0.2 * sd  # bias the network's return channel
    g = g.with_state(g.state.replace(scaler=FeatureScaler(tuple(map(tuple, mean)),
                                                          g.scaler.std)))

    def drift(seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = g.sample(128, 16 + 15 * 8, seed=seed, sampler_steps=10).log_returns()
        return r.mean(axis=(0, 1)), r.mean(axis=1).std(axis=0) / np.sqrt(len(r))

    before, se = drift(7)
    assert (before - target > 10 * se).all()
    shift = np.asarray(g.calibrate_drift(train, seed=0, sampler_steps=10))
    assert (shift < 0).all()
    after, se = drift(8)  # a fresh seed: not the calibration's own paths
    assert (np.abs(after - target) < 4 * se).all()


def test_drift_shift_moves_returns_of_new_bars_only(gen, market):
    """The calibrated shift adds a constant (times the window's volatility ratio) to every
    bar's log return of a fresh window."""
    w = gen.config.window
    a = gen.with_state(gen.state.replace(drift=DriftShift([0.0, 0.0], "dpm/2"))).sample(
        3, w, seed=4, sampler_steps=2, start_price=1.0)
    b = gen.with_state(gen.state.replace(drift=DriftShift([0.001, 0.002], "dpm/2"))).sample(
        3, w, seed=4, sampler_steps=2, start_price=1.0)
    d = np.log(b.field("close")) - np.log(a.field("close"))  # cumulative shift per bar
    step = np.diff(d, axis=1, prepend=0.0)
    np.testing.assert_allclose(step, np.broadcast_to(step[:, :1], step.shape), rtol=1e-6)
    assert (step[:, 0, 1] > step[:, 0, 0]).all() and (step > 0).all()


def test_generator_samples_with_the_logsnr_grid_sampler(gen):
    a = gen.sample(2, 20, seed=1, sampler="dpm-logsnr", sampler_steps=4)
    b = gen.sample(2, 20, seed=1, sampler="dpm-logsnr", sampler_steps=4)
    c = gen.sample(2, 20, seed=1, sampler="dpm", sampler_steps=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert _valid(a.values) and not np.allclose(a.values, c.values)


def test_fit_progress_reports_the_calibration_stage_last(market):
    calls = []
    MarketGenerator(**TINY).fit(market, train_end="2008-12-31", seed=0, steps=6,
                                progress=lambda step, info: calls.append((step, dict(info))))
    assert calls[-1][0] == 6 and calls[-1][1]["stage"] == "calibrating"
    assert all("stage" not in info for _, info in calls[:-1]) and len(calls) > 1


def test_state_gain_enters_only_through_generated_returns(gen, market):
    """Observed bars feed the volatility state as they are; the calibrated gain scales only
    generated ones: a forecast within two windows (whose states come from observed bars)
    ignores it, long sampled paths do not."""
    step = gen.config.window - gen.config.context_bars
    ctx = market.loc(end="2009-06-30")
    vol = gen.state.vol
    g1 = gen.with_state(gen.state.replace(vol=vol.with_gain([1.0, 1.0], "dpm/3")))
    g2 = gen.with_state(gen.state.replace(vol=vol.with_gain([2.0, 2.0], "dpm/3")))
    f1 = g1.forecast(ctx, 2 * step, n_samples=8, seed=0, sampler_steps=3)
    p1 = g1.sample(2, 5 * step, seed=0, sampler_steps=3)
    f2 = g2.forecast(ctx, 2 * step, n_samples=8, seed=0, sampler_steps=3)
    p2 = g2.sample(2, 5 * step, seed=0, sampler_steps=3)
    pd.testing.assert_frame_equal(f1, f2)
    np.testing.assert_array_equal(p1.values[:, :gen.config.window],
                                  p2.values[:, :gen.config.window])
    assert not np.array_equal(p1.values, p2.values)


def test_calibrate_state_stores_a_bounded_gain_that_survives_save_and_load(gen, tmp_path):
    import copy

    g = copy.deepcopy(gen)
    gain = g.calibrate_state(n_paths=8, windows=6, skip=2, rounds=2, sampler_steps=2)
    assert len(gain) == 2 and all(0.5 <= x <= 2.0 for x in gain)
    assert g.state.vol.gain.tolist() == gain and g.state.vol.gain_sampler == "dpm/2"
    back = MarketGenerator.load(g.save(tmp_path / "m.diffbt")).state.vol
    assert back.gain.tolist() == gain and back.gain_sampler == "dpm/2"
    plain = MarketGenerator(**TINY, vol_state=False).fit(
        datasets.load().loc("2006-01-01", "2008-12-31"), seed=0)
    with pytest.raises(ValueError, match="volatility state"):
        plain.calibrate_state()


DATA = Path(__file__).parent / "data"


def test_a_model_file_of_format_1_loads_and_samples_the_same_paths():
    """tests/generate/data/model_v1.diffbt was written by the generator before its state was
    a typed value; its paths (seed 1) were saved beside it by that version. Another CPU's
    float kernels round differently (up to 3e-7 relative after 40 chained bars, measured);
    a change in behaviour moves prices by whole percents."""
    g = MarketGenerator.load(DATA / "model_v1.diffbt")
    assert g.assets == ("AAA", "BBB") and g.state.vol.gain_sampler == "dpm/20"
    np.testing.assert_allclose(g.sample(3, 40, seed=1).values,
                               np.load(DATA / "model_v1_sample.npy"), rtol=1e-5)


def test_files_of_a_newer_format_or_retired_settings_are_refused_by_name(tmp_path):
    tensors, meta = load_checkpoint(DATA / "model_v1.diffbt")
    newer = json.loads(json.dumps(meta))
    newer["state"]["format"] = 99
    save_checkpoint(tmp_path / "newer.diffbt", tensors, newer)
    with pytest.raises(CheckpointError, match="format 99 is newer"):
        MarketGenerator.load(tmp_path / "newer.diffbt")
    retired = json.loads(json.dumps(meta))
    retired["generator"]["relative_volume"] = True
    save_checkpoint(tmp_path / "rv.diffbt", tensors, retired)
    with pytest.raises(CheckpointError, match="relative_volume"):
        MarketGenerator.load(tmp_path / "rv.diffbt")


@pytest.mark.parametrize("bad", [dict(hidden=0), dict(lr=-1.0), dict(steps=0),
                                 dict(window=18), dict(overlap=16, window=16),
                                 dict(vol_state="yes"), dict(jump_k=0)])
def test_generator_config_rejects_bad_values_at_construction(bad):
    with pytest.raises(ValueError):
        MarketGenerator(**bad)


def test_generator_config_names_unknown_settings_and_composes_the_model_configs():
    with pytest.raises(TypeError, match="relative_volume"):
        MarketGenerator(relative_volume=True)
    g = MarketGenerator(hidden=24, steps=7, window=32)
    assert g.config.diffusion.hidden == 24 and g.config.diffusion.window == 32
    assert g.config.train.steps == 7
    back = GeneratorConfig.from_dict(json.loads(json.dumps(g.config.to_dict())))
    assert back == g.config


def test_fitted_state_is_a_frozen_value_and_calibrations_return_new_ones(gen):
    st = gen.state
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.assets = ("x",)
    with pytest.raises(ValueError):
        st.last_close[0] = 1.0  # read-only arrays
    g = gen.with_state(st)
    g.calibrate_drift(gen_market_train(), n_paths=4, windows=3, rounds=1, sampler_steps=2)
    assert gen.state is st and g.state is not st and g.state.drift.sampler == "dpm/2"


def test_sampling_with_another_sampler_than_the_calibrations_warns(gen, caplog):
    assert gen.state.calibrated_for() == {"dpm/20"}
    with caplog.at_level("WARNING", logger="diffbt.generate.generator"):
        gen.sample(1, 8, seed=0, sampler_steps=20)
        assert not caplog.records
        gen.sample(1, 8, seed=0, sampler_steps=2)
    assert "fitted for sampler dpm/20, not dpm/2" in caplog.text
    with pytest.raises(ValueError, match="unknown sampler 'ddim'"):
        gen.sample(1, 8, sampler="ddim")


def gen_market_train():
    return datasets.load().loc("2006-01-01", "2008-12-31")


def test_fit_names_the_files_and_the_dates_when_the_training_span_is_wrong(caplog):
    m = datasets.load().loc("2006-01-01", "2006-03-01")  # 40 bars
    with pytest.raises(DataError, match=r"sp500.*only 40 training bars.*smaller window"):
        MarketGenerator(window=64).fit(m)
    with pytest.raises(DataError, match=r"train_end 2001-01-01.*before the first bar "
                                        r"\(2006-01-03"):
        MarketGenerator(**TINY).fit(m, train_end="2001-01-01")
    with caplog.at_level("WARNING", logger="diffbt.generate.generator"), \
            pytest.raises(DataError, match="only 40"):
        MarketGenerator(window=64).fit(m, train_end="2030-01-01")
    assert "after the last bar" in caplog.text and "none is left for testing" in caplog.text


@pytest.fixture(scope="module", params=["garch", "garch2"])
def gen_garch(market, request):
    return MarketGenerator(**tiny(hidden=16, n_blocks=2, steps=8, batch_size=32,
                                  timesteps=100, vol_filter=request.param, calibrate=True,
                                  calibrate_paths=True)).fit(market, train_end="2008-12-31",
                                                             seed=0)


def test_the_garch_filter_is_fitted_saved_and_needs_no_gain(gen_garch, market, tmp_path):
    vol = gen_garch.state.vol
    kind = gen_garch.config.vol_filter
    assert vol.filter == kind and (vol.alpha + vol.gamma / 2 + vol.beta < 1).all()
    assert vol.components == (2 if kind == "garch2" else 1)
    assert vol.bank.shape[1] == vol.components * 2  # the window starts' full states
    np.testing.assert_array_equal(vol.gain, 1.0)  # fit skipped the feedback gain
    with pytest.raises(ValueError, match="no feedback gain"):
        gen_garch.calibrate_state()
    a = gen_garch.sample(4, 50, seed=2, sampler_steps=3)
    assert _valid(a.values)
    assert _valid(gen_garch.sample(4, 80, regime="bear", seed=3, sampler_steps=3).values)
    back = MarketGenerator.load(gen_garch.save(tmp_path / "g.diffbt"))
    assert back.config.vol_filter == kind and back.state.vol.filter == kind
    np.testing.assert_array_equal(back.sample(4, 50, seed=2, sampler_steps=3).values,
                                  a.values)


def test_garch_filtered_paths_carry_the_volatility_of_the_context(gen_garch, market):
    """Along a forecast each bar's volatility comes from the state the observed history left:
    after a turbulent history the sampled futures are wider than after a calm one."""
    m = market.iloc(slice(0, 200))
    calm = m.values.copy()
    wild = m.values.copy()
    r = np.diff(np.log(m.values[:, :, 3]), axis=0)
    for values, k in ((calm, 0.3), (wild, 3.0)):  # the same path, returns scaled by k
        close = m.values[0, :, 3] * np.exp(np.concatenate([np.zeros((1, 2)),
                                                           np.cumsum(k * r, axis=0)]))
        values[:, :, :4] = m.values[:, :, :4] / m.values[:, :, 3:4] * close[..., None]
    kw = dict(n_samples=64, seed=0, sampler_steps=3)
    width = {}
    for name, values in (("calm", calm), ("wild", wild)):
        q = gen_garch.forecast(type(m)(values, m.index, m.assets), 5, **kw)
        last = values[-1, 0, 3]
        width[name] = (q[("sp500", 0.95)].iloc[-1] - q[("sp500", 0.05)].iloc[-1]) / last
    assert width["wild"] > 1.5 * width["calm"]


def _assert_forecasts_see_the_past_only(gen, m, cut: int) -> None:
    """Changing bars from `cut` on leaves the forecasts of every earlier bar as they were."""
    kw = dict(horizon=3, n_samples=8, seed=0, sampler_steps=2)
    base = gen.forecast_series(m, **kw)
    values = m.values.copy()
    values[cut:, :, :4] *= 1.5
    changed = gen.forecast_series(type(m)(values, m.index, m.assets), **kw)
    np.testing.assert_array_equal(base[:cut], changed[:cut])
    assert np.isfinite(base[-10:]).all()


def test_forecasts_of_the_garch_filter_have_no_look_ahead(gen_garch, market):
    _assert_forecasts_see_the_past_only(gen_garch, market.iloc(slice(0, 60)), 41)


def test_an_unknown_volatility_filter_is_refused():
    with pytest.raises(ValueError, match="vol_filter must be one of"):
        MarketGenerator(vol_filter="egarch")


def _momentum_market(phi: float, n: int = 1500, seed: int = 0):
    """Two assets with lag-1 autocorrelation `phi` and GARCH(1,1) volatility (plain loop)."""
    from tests.helpers import market_from_returns

    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.08, 0.90
    h = np.full(2, omega / (1 - alpha - beta))
    e, r = np.zeros(2), np.zeros(2)
    out = np.empty((n, 2))
    for t in range(n):
        h = omega + alpha * e**2 + beta * h
        e = np.sqrt(h) * rng.standard_normal(2)
        r = phi * r + e
        out[t] = r
    return market_from_returns(out)


def _lag1(ret: np.ndarray) -> float:
    """Pooled lag-1 autocorrelation of returns (paths, L, A) about zero."""
    return float((ret[:, 1:] * ret[:, :-1]).sum() / (ret * ret).sum())


@pytest.fixture(scope="module")
def gen_mean():
    m = _momentum_market(0.25)
    return m, MarketGenerator(**tiny(window=32, hidden=16, n_blocks=2, steps=30,
                                     batch_size=32, timesteps=100, vol_filter="garch",
                                     mean_filter=True)).fit(m, seed=0)


def test_the_mean_filter_carries_the_training_autocorrelation_into_the_paths(gen_mean,
                                                                             tmp_path):
    """Momentum of the training span (lag-1 autocorrelation 0.25) is in long generated paths
    by construction, even from a barely trained network; the model file keeps it."""
    m, g = gen_mean
    real = _lag1(np.diff(np.log(m.values[:, :, 3]), axis=0)[None])
    paths = g.sample(64, 252, seed=1, sampler_steps=4)
    assert _valid(paths.values)
    got = _lag1(np.diff(np.log(paths.values[..., 3]), axis=1))
    assert abs(got - real) < 0.1, (got, real)
    path = g.save(tmp_path / "m.diffbt")
    back = MarketGenerator.load(path)
    assert back.config.mean_filter
    np.testing.assert_array_equal(back.state.vol.mean.coef, g.state.vol.mean.coef)
    np.testing.assert_array_equal(back.sample(4, 60, seed=2, sampler_steps=3).values,
                                  g.sample(4, 60, seed=2, sampler_steps=3).values)


def test_forecasts_of_the_mean_filter_have_no_look_ahead(gen_mean):
    m, g = gen_mean
    _assert_forecasts_see_the_past_only(g, m.iloc(slice(0, 80)), 61)


def test_the_mean_filter_needs_the_garch_filter():
    with pytest.raises(ValueError, match="mean_filter=True needs vol_filter='garch'"):
        MarketGenerator(mean_filter=True)
