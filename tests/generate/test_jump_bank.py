"""Jump counts drawn given the volatility state (`GeneratorConfig.draw_jumps`, `JumpBank`)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from diffbt.data import datasets
from diffbt.data.features import RET, to_features
from diffbt.generate.codec import training_windows
from diffbt.generate.generator import MarketGenerator
from diffbt.generate.state import GeneratorState, JumpBank
from diffbt.model.checkpoint import load_checkpoint, save_checkpoint
from tests.helpers import tiny


@pytest.fixture(scope="module")
def market():
    return datasets.load().loc("2006-01-01", "2008-12-31")


@pytest.fixture(scope="module", params=["ewma", "garch2"])
def gen(market, request):
    return MarketGenerator(**tiny(vol_filter=request.param, draw_jumps=True)).fit(
        market, train_end="2007-12-31", seed=0)


def _labels_seen(g: MarketGenerator, **sample_kw) -> np.ndarray:
    """The jump labels the network was given while `g` sampled (NaN = the null label)."""
    seen = []
    hook = g.diffusion.model.register_forward_pre_hook(
        lambda _m, args: seen.append(args[2]["jumps"].clone()))
    try:
        g.sample(5, 40, seed=3, sampler_steps=2, **sample_kw)
    finally:
        hook.remove()
    return np.concatenate([s.numpy() for s in seen])


def test_draw_picks_among_the_nearest_training_states_brute_force():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(300, 2))
    bank = JumpBank(states, np.arange(300.0))  # a count per row names the row drawn
    query = rng.normal(size=(40, 2))
    k = 7
    near = np.argsort(((query[:, None] - states[None]) ** 2).sum(-1), axis=1)[:, :k]
    drawn = np.stack([bank.draw(query, np.random.default_rng(s), k=k) for s in range(200)])
    for i in range(len(query)):
        # only the k nearest rows are ever drawn, and every one of them is
        assert set(drawn[:, i].astype(int)) == set(near[i])


def test_windows_in_a_turbulent_state_get_the_counts_of_turbulent_training_windows():
    calm, hot = np.full((50, 1), -0.5), np.full((50, 1), 0.7)
    bank = JumpBank(np.vstack([calm, hot]), np.r_[np.zeros(50), np.full(50, 3.0)])
    got = bank.draw(np.array([[-0.4], [0.6], [0.8]]), np.random.default_rng(1), k=50)
    np.testing.assert_array_equal(got, [0.0, 3.0, 3.0])


def test_fit_keeps_the_training_windows_counts_by_their_start_state(gen, market):
    st = gen.state
    feats = to_features(market.loc(None, "2007-12-31").values)
    _, _, counts, log_rho = training_windows(feats, gen.config, st.scaler, st.vol,
                                             st.regimes, st.jumps)
    bank = st.jump_bank
    assert len(counts) <= 4096  # all of them kept at this size
    np.testing.assert_array_equal(bank.counts, counts)
    np.testing.assert_allclose(bank.log_rho, log_rho, atol=1e-5)
    # the counts are those of the fitted detector, not of any window (ret is not constant)
    assert bank.counts.max() > 0 and feats[..., RET].std() > 0


def test_unconditioned_windows_get_drawn_counts_and_an_asked_count_wins(gen):
    drawn = _labels_seen(gen)
    assert np.isfinite(drawn).all() and set(drawn) <= set(gen.state.jump_bank.counts)
    assert np.isin(_labels_seen(gen, jumps=2), [2.0]).all()
    off = gen.with_state(gen.state)
    off.config = replace(gen.config, draw_jumps=False)
    assert np.isnan(_labels_seen(off)).all()


def test_drawn_counts_are_seeded_and_survive_save_and_load(gen, tmp_path):
    a = gen.sample(4, 40, seed=5, sampler_steps=2).values
    np.testing.assert_array_equal(gen.sample(4, 40, seed=5, sampler_steps=2).values, a)
    back = MarketGenerator.load(gen.save(tmp_path / "m.diffbt"))
    np.testing.assert_array_equal(back.state.jump_bank.counts, gen.state.jump_bank.counts)
    np.testing.assert_array_equal(back.sample(4, 40, seed=5, sampler_steps=2).values, a)


def test_a_file_without_a_jump_bank_loads_and_uses_the_null_label(gen, tmp_path):
    path = gen.save(tmp_path / "m.diffbt")
    tensors, meta = load_checkpoint(path)
    meta = json.loads(json.dumps(meta))
    meta["state"].pop("jump_bank")
    meta["state"]["format"] = 3
    save_checkpoint(tmp_path / "old.diffbt", tensors, meta)
    old = MarketGenerator.load(tmp_path / "old.diffbt")
    assert old.state.jump_bank is None and old.config.draw_jumps
    assert np.isnan(_labels_seen(old)).all()
    assert GeneratorState.from_dict(meta["state"]).jump_bank is None


def test_draw_keeps_to_the_windows_whose_context_held_as_many_jumps_brute_force():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(300, 2))
    ctx = rng.choice([0.0, 1.0, 2.0, 3.0], size=300, p=[0.5, 0.2, 0.2, 0.1])
    ctx[:4] = 1.0  # class 1 (one jump) has more than k windows; class 2 is "2 or more"
    bank = JumpBank(states, np.arange(300.0), ctx)
    query = rng.normal(size=(30, 2))
    mine = rng.choice([0.0, 1.0, 2.0, 5.0], size=30)
    k = 7
    d = ((query[:, None] - states[None]) ** 2).sum(-1)
    drawn = np.stack([bank.draw(query, np.random.default_rng(s), k=k, context_counts=mine)
                      for s in range(200)])
    for i in range(len(query)):
        own = np.flatnonzero(np.minimum(ctx, 2) == min(mine[i], 2))
        assert set(drawn[:, i].astype(int)) == set(own[np.argsort(d[i, own])[:k]])
    # a class smaller than k is topped up with the nearest windows of the others
    small = JumpBank(states[:10], np.arange(10.0), np.r_[np.ones(3), np.zeros(7)])
    q = np.zeros((1, 2))
    got = {int(small.draw(q, np.random.default_rng(s), k=5, context_counts=[1.0])[0])
           for s in range(300)}
    rest = 3 + np.argsort(((states[3:10] - q) ** 2).sum(-1))[:2]
    assert got == {0, 1, 2} | set(rest.tolist())
    # without a context count (a fresh window) the state alone decides
    np.testing.assert_array_equal(bank.draw(query, np.random.default_rng(1), k=k),
                                  JumpBank(states, np.arange(300.0)).draw(
                                      query, np.random.default_rng(1), k=k))


def test_fit_records_the_jumps_of_each_training_windows_context(gen, market):
    st, c = gen.state, gen.config
    ret = to_features(market.loc(None, "2007-12-31").values)[..., RET]
    starts = np.arange(0, len(ret) - c.window + 1, c.window_stride)
    expect = [st.jumps.count_batch(ret[s:s + c.context_bars][None])[0] for s in starts]
    np.testing.assert_array_equal(gen.state.jump_bank.context_counts, expect)
    assert max(expect) > 0


def test_each_continued_window_is_drawn_given_its_own_contexts_jumps(gen, monkeypatch):
    seen = []
    draw = JumpBank.draw

    def spy(self, log_rho, rng, k=50, context_counts=None):
        seen.append(None if context_counts is None else np.array(context_counts))
        return draw(self, log_rho, rng, k, context_counts)

    monkeypatch.setattr(JumpBank, "draw", spy)
    gen = gen.with_state(gen.state.replace(jumps=replace(gen.state.jumps, k=0.15)))
    ps = gen.sample(6, 40, seed=2, sampler_steps=2)  # a threshold so low that contexts have jumps
    w, cb = gen.config.window, gen.config.context_bars
    assert (w, cb) == (16, 8) and seen[0] is None and len(seen) == 4
    r = ps.log_returns()  # r[:, t - 1] is bar t's return: bar 0's is not in the path
    for j, got in enumerate(seen[1:]):
        first = w - cb + j * (w - cb)  # the context of window j + 2 starts at this bar
        piece = r[:, first - 1:first - 1 + cb]
        np.testing.assert_array_equal(got, gen.state.jumps.count_batch(piece))
    assert len(np.unique(np.concatenate(seen[1:]))) > 1
