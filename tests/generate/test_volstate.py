"""The volatility state: EWMA against a loop, causality, scaling, bank draws, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from diffbt.generate.volstate import VolState, ewma_variance, vol_scale


def test_ewma_variance_equals_a_plain_loop_and_is_causal():
    rng = np.random.default_rng(0)
    r = rng.normal(scale=0.01, size=(3, 40, 2))
    var0 = np.array([1e-4, 4e-4])
    out = ewma_variance(r, 5, var0)
    lam = 0.5 ** (1 / 5)
    ref = np.empty((3, 41, 2))
    ref[:, 0] = var0
    for i in range(40):
        ref[:, i + 1] = lam * ref[:, i] + (1 - lam) * r[:, i] ** 2
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    moved = r.copy()
    moved[:, 20:] *= 10.0  # returns from row 20 on must not move the state before row 20
    np.testing.assert_array_equal(ewma_variance(moved, 5, var0)[:, :21], out[:, :21])


def test_vol_scale_divides_price_features_only_and_inverts():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(4, 6, 2, 5))
    rho = rng.uniform(0.5, 2.0, size=(4, 2))
    g = vol_scale(f, rho)
    np.testing.assert_allclose(g[..., :4], f[..., :4] / rho[:, None, :, None])
    np.testing.assert_array_equal(g[..., 4], f[..., 4])  # log volume is not a price move
    np.testing.assert_allclose(vol_scale(g, rho, inverse=True), f)


def test_volstate_rho_is_clipped_and_advance_applies_the_gain_to_generated_returns_only():
    vs = VolState(halflife=4, var0=[1e-4, 1e-4], gain=[4.0, 1.0])
    var = vs.neutral(2)
    np.testing.assert_allclose(vs.rho(var), 1.0)
    assert vs.rho(var * 1e9).max() == pytest.approx(np.exp(4.0))
    r = np.full((2, 3, 2), 0.02)
    observed = vs.advance(var, r, generated=False)
    generated = vs.advance(var, r)
    np.testing.assert_allclose(observed, ewma_variance(r, 4, var)[:, -1])
    # gain 4 on asset 0: generated returns enter doubled; asset 1 (gain 1) is unchanged
    np.testing.assert_allclose(generated[:, 0], ewma_variance(2 * r, 4, var)[:, -1, 0])
    np.testing.assert_allclose(generated[:, 1], observed[:, 1])


def test_volstate_initial_draws_the_bank_rows_of_the_regime_asked_for():
    bank = np.array([[0.1, 0.2], [-0.3, 0.0], [0.5, 0.5]])
    vs = VolState(halflife=4, var0=[1.0, 2.0], bank=bank, bank_regime=[0, 1, 1])
    var = vs.initial(np.array([0, 0, 0]), np.random.default_rng(0))
    expected = np.array([1.0, 2.0]) * np.exp(2 * np.array([0.1, 0.2]))  # bank row 0
    np.testing.assert_allclose(var, np.broadcast_to(expected, (3, 2)))
    var1 = vs.initial(np.array([1] * 50), np.random.default_rng(1))
    logs = np.log(var1 / vs.var0) / 2
    assert {tuple(np.round(x, 6)) for x in logs} == {(-0.3, 0.0), (0.5, 0.5)}


def test_volstate_round_trips_through_json():
    import json

    vs = VolState(halflife=8, var0=[1e-4, 2e-4], bank=[[0.1, -0.1]], bank_regime=[3],
                  gain=[1.1, 0.9], gain_sampler="dpm/20")
    back = VolState.from_dict(json.loads(json.dumps(vs.to_dict())))
    for name in ("var0", "bank", "bank_regime", "gain"):
        np.testing.assert_array_equal(getattr(back, name), getattr(vs, name))
    assert back.halflife == 8 and back.gain_sampler == "dpm/20"
