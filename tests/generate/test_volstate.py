"""The volatility state: EWMA against a loop, causality, scaling, bank draws, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffbt.generate.volstate import (
    VolState,
    ewma_variance,
    fit_garch,
    garch_variance,
    total_variance,
    vol_scale,
)


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


def _garch_path(n: int, omega: float, alpha: float, beta: float, seed: int,
                gamma: float = 0.0) -> np.ndarray:
    """Returns (n, 1) of a GJR-GARCH(1,1) with Student-t(6) innovations, a plain loop."""
    rng = np.random.default_rng(seed)
    z = rng.standard_t(6, size=n) / np.sqrt(6 / 4)
    r, h = np.empty(n), omega / (1 - alpha - gamma / 2 - beta)
    for t in range(n):
        r[t] = np.sqrt(h) * z[t]
        h = omega + (alpha + gamma * (r[t] < 0)) * r[t] ** 2 + beta * h
    return r[:, None]


def test_garch_variance_equals_a_plain_loop_and_is_causal():
    rng = np.random.default_rng(2)
    r = rng.normal(scale=0.01, size=(3, 40, 2))
    omega, alpha, beta = np.array([1e-6, 2e-6]), np.array([0.1, 0.05]), np.array([0.85, 0.9])
    gamma = np.array([0.0, 0.08])
    h0 = np.array([[1e-4, 2e-4]] * 3)
    out = garch_variance(r, omega, alpha, beta, h0, gamma)
    ref = np.empty((3, 41, 2))
    ref[:, 0] = h0
    for i in range(40):
        ref[:, i + 1] = (omega + (alpha + gamma * (r[:, i] < 0)) * r[:, i] ** 2
                         + beta * ref[:, i])
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    moved = r.copy()
    moved[:, 20:] *= 10.0
    np.testing.assert_array_equal(garch_variance(moved, omega, alpha, beta, h0, gamma)[:, :21],
                                  out[:, :21])


def test_fit_garch_recovers_a_simulated_process_and_targets_its_variance():
    r = np.hstack([_garch_path(20_000, 2e-6, 0.08, 0.90, seed=3),
                   _garch_path(20_000, 1e-5, 0.05, 0.70, seed=4, gamma=0.2)])
    omega, alpha, gamma, beta = fit_garch(r)
    np.testing.assert_allclose(alpha, [0.08, 0.05], atol=0.03)
    np.testing.assert_allclose(gamma, [0.0, 0.2], atol=0.05)
    np.testing.assert_allclose(beta, [0.90, 0.70], atol=0.06)
    # variance targeting: the long-run variance of the fitted recursion is the sample's
    np.testing.assert_allclose(omega / (1 - alpha - gamma / 2 - beta), np.mean(r ** 2, axis=0),
                               rtol=1e-9)


def test_news_ratio_equals_a_plain_loop_and_sets_the_long_run_level():
    """Two components per asset (component-major parameters): the ratio against a loop over
    bars; on a long stationary GJR-GARCH path it is the level's own ``1 - omega / (1 - beta)
    / variance``."""
    r = np.hstack([_garch_path(40_000, 2e-6, 0.05, 0.90, seed=5, gamma=0.06),
                   _garch_path(40_000, 4e-6, 0.08, 0.88, seed=6)])
    omega = np.array([0.0, 0.0, 2e-6, 4e-6])
    alpha, gamma = np.array([0.02, 0.03, 0.03, 0.05]), np.array([0.03, 0.0, 0.03, 0.0])
    beta = np.array([0.5, 0.6, 0.95, 0.93])
    var0 = np.mean(r**2, axis=0)
    vol = VolState(halflife=10, var0=var0, omega=omega, alpha=alpha, beta=beta, gamma=gamma)
    paths = r[:3000].reshape(3, 1000, 2)
    starts = np.array([[1e-4, 1e-4, 2e-4, 1e-4]] * 3)
    got = vol.news_ratio(paths, starts)
    for i in range(3):
        h, news, total = starts[i].copy(), np.zeros(2), np.zeros(2)
        for t in range(1000):
            x = paths[i, t]
            total += h[:2] + h[2:]
            for k in range(2):
                c = slice(2 * k, 2 * k + 2)
                news += (alpha[c] + gamma[c] * (x < 0)) / (1 - beta[c]) * x**2
                h[c] = omega[c] + (alpha[c] + gamma[c] * (x < 0)) * x**2 + beta[c] * h[c]
        np.testing.assert_allclose(got[i], news / total, rtol=1e-10)
    # one component: the stationary path's ratio is the recursion's at its variance
    one = VolState(halflife=10, var0=var0, omega=np.array([2e-6, 4e-6]),
                   alpha=np.array([0.05, 0.08]), beta=np.array([0.90, 0.88]),
                   gamma=np.array([0.06, 0.0]))
    np.testing.assert_allclose(one.news_ratio(r), 1 - one.omega / (1 - one.beta) / var0,
                               rtol=0.03)


def test_fit_garch_on_a_series_without_moves_is_stationary_and_silent():
    import warnings

    r = np.zeros((500, 2))
    r[:, 1] = np.random.default_rng(0).normal(0, 0.01, 500)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        omega, alpha, gamma, beta = fit_garch(r)
    assert caught == []  # the optimiser's convergence warning does not reach the user
    assert np.all(np.isfinite([omega, alpha, gamma, beta]))
    assert np.all(alpha + gamma / 2 + beta < 1) and omega[0] == 0.0


def test_garch_state_scales_each_bar_and_rebuild_inverts_it_exactly():
    """Scaling each bar of a real series by the state before it, then rebuilding the series
    from the scaled values (as generation does), gives the series back."""
    r = np.hstack([_garch_path(300, 2e-6, 0.08, 0.90, seed=5),
                   _garch_path(300, 4e-6, 0.05, 0.85, seed=6, gamma=0.1)])
    vs = VolState.fit(r, 64, filter="garch")
    assert vs.filter == "garch" and vs.per_bar
    rng = np.random.default_rng(7)
    feats = rng.normal(size=(300, 2, 5))
    feats[..., 0] = r
    states = vs.series(r)
    rho = vs.rho(states[:-1])  # the state before each bar
    scaled = vol_scale(feats[None], rho[None])
    np.testing.assert_allclose(scaled[0, ..., 1:4], feats[..., 1:4] / rho[..., None])
    back, after, hist = vs.rebuild(scaled, states[:1])
    assert hist is None  # no mean filter
    np.testing.assert_allclose(back[0], feats, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(after[0], states[-1], rtol=1e-10)
    # JSON keeps the recursion
    import json

    again = VolState.from_dict(json.loads(json.dumps(vs.to_dict())))
    for name in ("omega", "alpha", "gamma", "beta"):
        np.testing.assert_array_equal(getattr(again, name), getattr(vs, name))
    assert VolState.from_dict(VolState.fit(r, 64).to_dict()).filter == "ewma"
    with pytest.raises(ValueError, match="unknown volatility filter"):
        VolState.fit(r, 64, filter="egarch")


def test_the_garch_filter_keeps_its_variance_below_the_cap_and_the_training_peak_below_it():
    r = np.hstack([_garch_path(2000, 2e-6, 0.08, 0.90, seed=8),
                   _garch_path(2000, 4e-6, 0.05, 0.85, seed=9, gamma=0.1)])
    vs = VolState.fit(r, 64, filter="garch")
    peak = vs.series(r).max(axis=0)
    np.testing.assert_allclose(vs.cap, peak * np.exp(1.0), rtol=1e-12)  # 1.65x in volatility
    crash = np.full((3, 50, 2), -0.5)  # fifty -40 % bars in a row
    states = vs.series_from(vs.neutral(3), crash)
    assert (states <= vs.cap).all() and np.allclose(states[:, -1], vs.cap)
    scaled = np.zeros((3, 50, 2, 5))
    scaled[..., 0] = -20.0  # generated innovations of -20 sd, bar after bar
    after = vs.rebuild(scaled, vs.neutral(3))[1]
    np.testing.assert_allclose(after, np.broadcast_to(vs.cap, (3, 2)))


def test_fit_garch_on_a_series_without_any_move_stays_finite_and_stationary():
    r = np.hstack([_garch_path(500, 2e-6, 0.08, 0.90, seed=10), np.zeros((500, 1))])
    omega, alpha, gamma, beta = fit_garch(r)
    for x in (omega, alpha, gamma, beta):
        assert np.isfinite(x).all()
    assert (alpha + gamma / 2 + beta <= 0.995 + 1e-12).all()
    vs = VolState.fit(r, 64, filter="garch")
    assert np.isfinite(vs.series(r)).all() and np.isfinite(vs.rho(vs.series(r))).all()


def _two_component_path(n: int, fast: tuple[float, float, float], slow: tuple[float, float],
                        var: float, seed: int) -> np.ndarray:
    """Returns (n, 1) of ``h = c1 + c2``, ``c1 <- (a1 + g1 [r < 0]) r^2 + b1 c1`` and ``c2 <-
    o2 + a2 r^2 + b2 c2`` with long-run variance `var`, Student-t(6) innovations, a plain
    loop."""
    (a1, g1, b1), (a2, b2) = fast, slow
    m1 = (a1 + g1 / 2) / (1 - b1)
    o2 = (1 - b2) * var * (1 - m1) - a2 * var
    rng = np.random.default_rng(seed)
    z = rng.standard_t(6, size=n) / np.sqrt(6 / 4)
    r, c1, c2 = np.empty(n), var * m1, var * (1 - m1)
    for t in range(n):
        r[t] = np.sqrt(c1 + c2) * z[t]
        c1 = (a1 + g1 * (r[t] < 0)) * r[t] ** 2 + b1 * c1
        c2 = o2 + a2 * r[t] ** 2 + b2 * c2
    return r[:, None]


def test_two_component_variance_is_the_sum_of_two_plain_loops_and_is_causal():
    rng = np.random.default_rng(20)
    r = rng.normal(scale=0.01, size=(3, 40, 2))
    # component-major: fast components of both assets, then slow ones
    omega = np.array([0.0, 0.0, 1e-6, 2e-6])
    alpha, gamma = np.array([0.15, 0.1, 0.02, 0.01]), np.array([0.05, 0.0, 0.0, 0.0])
    beta = np.array([0.5, 0.6, 0.95, 0.97])
    h0 = np.array([[3e-5, 4e-5, 1e-4, 2e-4]] * 3)
    out = garch_variance(r, omega, alpha, beta, h0, gamma)
    ref = np.empty((3, 41, 4))
    ref[:, 0] = h0
    for i in range(40):
        r2 = np.concatenate([r[:, i], r[:, i]], axis=-1)
        ref[:, i + 1] = omega + (alpha + gamma * (r2 < 0)) * r2 ** 2 + beta * ref[:, i]
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(total_variance(out, 2), ref[..., :2] + ref[..., 2:])
    moved = r.copy()
    moved[:, 20:] *= 10.0
    np.testing.assert_array_equal(garch_variance(moved, omega, alpha, beta, h0, gamma)[:, :21],
                                  out[:, :21])
    # the cap bounds an asset's total variance, both components scaled alike
    cap = np.array([2e-4, 3e-4])
    crash = np.full((3, 30, 2), -0.5)
    capped = total_variance(garch_variance(crash, omega, alpha, beta, h0, gamma, cap), 2)
    assert (capped <= cap * (1 + 1e-12)).all() and np.allclose(capped[:, -1], cap)


def test_fit_two_components_recovers_a_fast_and_a_slow_component_and_targets_the_variance():
    r = np.hstack([_two_component_path(30_000, (0.15, 0.08, 0.55), (0.02, 0.96), 1e-4, seed=21),
                   _two_component_path(30_000, (0.10, 0.0, 0.70), (0.01, 0.98), 4e-4, seed=22)])
    vs = VolState.fit(r, 64, filter="garch2")
    omega, alpha, gamma, beta = vs.omega, vs.alpha, vs.gamma, vs.beta
    assert omega.shape == (4,) and (omega[:2] == 0).all() and (omega[2:] > 0).all()
    np.testing.assert_allclose(alpha, [0.15, 0.10, 0.02, 0.01], atol=0.04)
    np.testing.assert_allclose(gamma[:2], [0.08, 0.0], atol=0.05)
    np.testing.assert_array_equal(gamma[2:], 0.0)
    np.testing.assert_allclose(beta, [0.55, 0.70, 0.96, 0.98], atol=0.1)
    assert (beta[:2] < beta[2:]).all()  # which component is fast is not left to chance
    # variance targeting: the components' long-run means add up to the sample's variance
    assert vs.filter == "garch2" and vs.components == 2
    np.testing.assert_allclose(total_variance(vs.neutral(1), 2)[0], np.mean(r ** 2, axis=0),
                               rtol=1e-6)
    # one GJR-GARCH(1,1) component on the same data needs a persistence near 1 to fit the
    # slow level and then keeps every shock too long: its alpha lies below the fast one's
    o1, a1, g1, b1 = fit_garch(r)
    assert (a1 + g1 / 2 + b1 > 0.97).all() and (a1 < alpha[:2]).all()


def test_two_component_state_rebuilds_the_series_exactly_and_round_trips_through_json():
    r = np.hstack([_two_component_path(600, (0.15, 0.05, 0.5), (0.02, 0.95), 1e-4, seed=23),
                   _two_component_path(600, (0.1, 0.0, 0.6), (0.01, 0.97), 2e-4, seed=24)])
    vs = VolState.fit(r, 64, filter="garch2", mean=True)
    feats = np.random.default_rng(25).normal(size=(600, 2, 5))
    feats[..., 0] = r
    scaled, states, y = vs.filter_bars(feats)
    assert states.shape == (601, 4)
    np.testing.assert_allclose(y, r / vs.rho(states[:-1]))
    back, after, hist = vs.rebuild(scaled[None], states[None, 0])
    np.testing.assert_allclose(back[0], feats, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(after[0], states[-1], rtol=1e-9)
    np.testing.assert_allclose(hist[0], y[-vs.mean.memory:], rtol=1e-9)
    # the bank keeps each component of the window starts; fresh paths start in them
    banked = vs.with_bank(states[:-1:50], np.zeros(12, dtype=np.int64))
    assert banked.bank.shape == (12, 4)
    start = banked.initial(np.full(200, -1), np.random.default_rng(0))
    assert {tuple(x) for x in np.round(np.log(start / states[0]), 3)} <= {
        tuple(x) for x in np.round(np.log(states[:-1:50] / states[0]), 3)}
    again = VolState.from_dict(json.loads(json.dumps(banked.to_dict())))
    assert again.filter == "garch2" and again.mean is not None
    for name in ("omega", "alpha", "gamma", "beta", "cap", "bank"):
        np.testing.assert_array_equal(getattr(again, name), getattr(banked, name))
    with pytest.raises(ValueError, match="1 or 2 components"):
        VolState(halflife=4, var0=[1.0, 1.0], omega=[0.1] * 3, alpha=[0.1] * 3,
                 beta=[0.5] * 3)


def _ar_garch(n: int, phi: float, c: float, seed: int) -> np.ndarray:
    """(n, 1) log returns ``r_t = phi r_{t-1} + c (1 - s_t / s_bar) s_bar + s_t z_t`` with a
    GARCH(1,1) volatility ``s_t`` (a plain loop)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.08, 0.90
    h = omega / (1 - alpha - beta)
    s_bar = np.sqrt(h)
    r, e_prev, out = 0.0, 0.0, np.empty(n)
    for t in range(n):
        h = omega + alpha * e_prev**2 + beta * h
        s = np.sqrt(h)
        e_prev = s * rng.standard_normal()
        r = phi * r + c * (s_bar - s) + e_prev
        out[t] = r
    return out[:, None]


def test_mean_filter_regressors_are_weighted_means_of_a_plain_loop():
    from diffbt.generate.volstate import MEAN_HALFLIVES, MEAN_MEMORY, MeanFilter

    rng = np.random.default_rng(3)
    y, lr = rng.normal(size=(2, 30, 2)), rng.normal(size=(2, 30, 2))
    p = MEAN_MEMORY
    hist = rng.normal(size=(2, p, 2))
    mf = MeanFilter(rng.normal(size=(2, len(MEAN_HALFLIVES) + 2)))
    got = mf.means(y, lr, hist)
    full = np.concatenate([hist, y], axis=1)
    for t in range(30):
        past = full[:, p + t - 1::-1][:, :p]  # the last p values before bar t, newest first
        x = [past[:, 0]]
        for h in MEAN_HALFLIVES:
            w = np.array([0.5 ** (j / h) for j in range(p)])
            x.append(np.einsum("j,nja->na", w / w.sum(), past))
        x.append(lr[:, t])
        ref = sum(xi * mf.coef[:, i] for i, xi in enumerate(x))
        np.testing.assert_allclose(got[:, t], ref, rtol=1e-10)
        # the step used bar by bar in generation agrees
        np.testing.assert_allclose(mf.step(full[:, t:p + t], lr[:, t]), ref, rtol=1e-10)
    # a model file with other regressors is refused with a clear message
    with pytest.raises(ValueError, match="fit the model again"):
        MeanFilter.from_dict({"lags": [1, 5, 20], "coef": [[0.0] * 4, [0.1, 0, 0, 0]]})
    # one that kept no regressor is the same filter under any regressors: it loads
    none = MeanFilter.from_dict({"lags": [1, 5, 20], "coef": [[0.0] * 4] * 2})
    np.testing.assert_array_equal(none.coef, np.zeros((2, 5)))
    assert MeanFilter.from_dict(json.loads(json.dumps(mf.to_dict()))).coef.shape == (2, 5)


def test_mean_filter_recovers_planted_autocorrelation_and_volatility_premium():
    """On a long AR(1) series with a volatility-dependent mean the fitted lag-1 weight is
    phi and the log-ratio weight is negative (calm bars drift up); a martingale gets no
    regressor at all."""
    r = np.hstack([_ar_garch(20000, 0.2, 0.0, seed=1), _ar_garch(20000, 0.0, 0.3, seed=2),
                   _ar_garch(20000, 0.0, 0.0, seed=3)])
    vs = VolState.fit(r, 64, filter="garch", mean=True)
    coef = vs.mean.coef  # lag weights are unitless, the log-ratio weight in return units
    s_bar = 0.01  # the series' mean volatility: E[y_t] ~ -c s_bar log rho_t
    assert abs(coef[0, 0] - 0.2) < 0.03 and np.all(np.abs(coef[0, 1:4]) < 0.1)
    assert -1.5 < coef[1, 4] / (0.3 * s_bar) < -0.5 and abs(coef[1, 0]) < 0.03
    np.testing.assert_array_equal(coef[2], 0.0)  # the criterion keeps nothing there


def test_mean_filter_bars_and_rebuild_are_inverse_across_a_split():
    """Filtering a series, then rebuilding its second half from the state and history the
    first half ends in (as a chained window does), gives the series back exactly."""
    r = np.hstack([_ar_garch(400, 0.2, 0.2, seed=4), _ar_garch(400, -0.1, 0.0, seed=5)])
    vs = VolState.fit(r, 64, filter="garch", mean=True)
    rng = np.random.default_rng(8)
    feats = rng.normal(size=(400, 2, 5))
    feats[..., 0] = r
    scaled, states, y = vs.filter_bars(feats)
    p = vs.mean.memory
    assert not np.allclose(scaled[..., 0] * vs.rho(states[:-1]), r)  # the mean is removed
    hist = vs.history(feats, states, [250])
    np.testing.assert_allclose(hist[0], y[250 - p:250])
    back, after, hist_after = vs.rebuild(scaled[None, 250:], states[None, 250], hist)
    np.testing.assert_allclose(back[0], feats[250:], rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(after[0], states[-1], rtol=1e-9)
    np.testing.assert_allclose(hist_after[0], y[-p:], rtol=1e-9)
    again = VolState.from_dict(json.loads(json.dumps(vs.to_dict())))
    np.testing.assert_array_equal(again.mean.coef, vs.mean.coef)


def test_mean_filter_needs_the_garch_filter():
    r = _ar_garch(300, 0.1, 0.0, seed=6)
    with pytest.raises(ValueError, match="GARCH"):
        VolState.fit(r, 64, filter="ewma", mean=True)


def test_two_component_filter_on_a_series_without_any_move_stays_finite():
    r = np.hstack([_two_component_path(800, (0.15, 0.05, 0.5), (0.02, 0.95), 1e-4, seed=26),
                   np.zeros((800, 1))])
    vs = VolState.fit(r, 64, filter="garch2")
    states = vs.series(r)
    assert np.isfinite(states).all() and np.isfinite(vs.rho(states)).all()
    np.testing.assert_array_equal(vs.alpha[[1, 3]], 0.0)  # nothing to fit on the flat asset
