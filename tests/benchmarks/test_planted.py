"""Planted-truth harness: the markets carry what was planted, the vectorized rules are the
backtrader strategies without look-ahead, and a small run tells a strong edge from no edge."""

from __future__ import annotations

import json
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from benchmarks import planted as P
from diffbt.bt.runner import run_one
from diffbt.metrics.robustness import VerdictThresholds

TWO = P.MarketSpec("two", (P.AssetSpec("MOM", "momentum", 0.2), P.AssetSpec("NUL", "null")))


def _acf(x: np.ndarray, lag: int) -> float:
    """Mean over chains of the lag-`lag` autocorrelation of each row of x (chains, T)."""
    d = x - x.mean(axis=1, keepdims=True)
    return float(np.mean((d[:, lag:] * d[:, :-lag]).sum(1) / (d * d).sum(1)))


# ---------------------------------------------------------------------------------------------
# planted markets
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    spec = P.MarketSpec("s", (P.AssetSpec("MOM", "momentum", 0.2), P.AssetSpec("NUL", "null"),
                              P.AssetSpec("REV", "meanrev", 0.6),
                              P.AssetSpec("VOL", "voltiming", 0.8),
                              P.AssetSpec("REG", "regime", 0.25)))
    return P.simulate_returns(spec, 2000, n_chains=100, seed=1)


def test_planted_market_has_zero_drift(sim):
    r = sim["ret"]
    for a in range(r.shape[-1]):
        x = r[..., a]
        # standard error of the mean, widened for the autocorrelation of the momentum asset
        se = x.std() / math.sqrt(x.size) * math.sqrt((1 + 0.2) / (1 - 0.2))
        assert abs(x.mean()) < 4 * se, a


def test_planted_autocorrelation_is_the_set_value(sim):
    r = sim["ret"]
    assert _acf(r[..., 0], 1) == pytest.approx(0.2, abs=0.015)  # momentum phi = 0.2
    assert _acf(r[..., 1], 1) == pytest.approx(0.0, abs=0.01)   # null
    assert _acf(r[..., 2], 1) < -0.05                           # OU component: reversal
    turb = sim["turbulent"]
    reg = r[..., 4]
    # momentum only while turbulent: the lag-1 slope inside each regime
    prev, cur, t = reg[:, :-1].ravel(), reg[:, 1:].ravel(), turb[:, 1:].ravel()
    slope_t = np.dot(prev[t], cur[t]) / np.dot(prev[t], prev[t])
    slope_c = np.dot(prev[~t], cur[~t]) / np.dot(prev[~t], prev[~t])
    assert slope_t == pytest.approx(0.25, abs=0.03)
    assert abs(slope_c) < 0.03


def test_planted_market_has_garch_clustering_fat_tails_and_correlation(sim):
    nul = sim["ret"][..., 1]
    acf_abs = np.mean([_acf(np.abs(nul), k) for k in range(1, 6)])
    assert acf_abs > 0.1
    shuffled = np.random.default_rng(0).permuted(np.abs(nul), axis=1)
    assert abs(np.mean([_acf(shuffled, k) for k in range(1, 6)])) < 0.01
    assert pd.Series(nul.ravel()).kurt() > 1.0
    corr = np.corrcoef(sim["ret"][..., 1].ravel(), sim["ret"][..., 3].ravel())[0, 1]
    assert corr == pytest.approx(0.4, abs=0.05)
    # turbulent regime: half of the time, volatility x 1.8 on the regime asset only
    turb = sim["turbulent"]
    assert turb.mean() == pytest.approx(0.5, abs=0.1)
    reg = sim["ret"][..., 4]
    assert reg[turb].std() / reg[~turb].std() == pytest.approx(1.8, rel=0.1)


def test_planted_market_is_a_valid_market_with_the_simulated_returns():
    m, truth = P.planted_market(TWO, 300, seed=4)
    assert m.assets == ("MOM", "NUL") and len(m) == 300
    v = m.values
    assert np.all(v[..., 1] >= np.maximum(v[..., 0], v[..., 3]))
    assert np.all(v[..., 2] <= np.minimum(v[..., 0], v[..., 3])) and np.all(v[..., :4] > 0)
    np.testing.assert_allclose(np.diff(np.log(v[..., 3]), axis=0), truth["ret"][1:],
                               atol=1e-12)
    assert len(m.split(m.index[99])[0]) == 100


def test_true_sharpe_of_an_edge_and_of_no_edge():
    strats = [P.StrategySpec("momentum", "MOM", "skill", "s"),
              P.StrategySpec("momentum", "NUL", "luck", "l"),
              P.StrategySpec("voltiming", "MOM", "luck", "l")]
    sr = P.true_sharpes(TWO, strats, n_chains=600)
    assert sr[strats[0]] > 1.8  # phi 0.2: about 0.2 * 0.8 * sqrt(252) ~ 2.3
    assert abs(sr[strats[1]]) < 0.15 and abs(sr[strats[2]]) < 0.15  # SE ~ 1 / sqrt(600)


# ---------------------------------------------------------------------------------------------
# rules: no look-ahead, the same returns as backtrader
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", sorted(P.RULES))
def test_rules_do_not_look_ahead(rule):
    m, _ = P.planted_market(TWO, 200, seed=2)
    close = m.values[:, 0, 3].copy()
    pos = P.RULES[rule](close)
    bumped = close.copy()
    bumped[120:] *= np.exp(np.random.default_rng(0).normal(0, 0.05, 80))
    np.testing.assert_array_equal(P.RULES[rule](bumped)[:120], pos[:120])
    assert set(np.unique(pos)) <= {-1.0, 0.0, 1.0}


class _Signal(bt.Strategy):
    """Rebalance every asset to ``weight / n_assets * rule(closes so far)`` at each close."""

    params = (("rule", "momentum"), ("weight", 0.95))

    def __init__(self) -> None:
        self.broker.set_coc(True)  # fill at the close the decision was made on

    def next(self) -> None:
        value = self.broker.getvalue()
        w = self.p.weight / len(self.datas)
        for d in self.datas:
            close = np.asarray(d.close.get(size=len(self)))  # only bars <= now
            pos = P.RULES[self.p.rule](close)[-1]
            self.order_target_size(d, target=w * pos * value / d.close[0])


@pytest.mark.parametrize("rule", sorted(P.RULES))
def test_vectorized_rule_matches_backtrader(rule):
    m, _ = P.planted_market(TWO, 250, seed=3)
    vals, trades, _ = run_one(_Signal, m.values, m.index, m.assets, params={"rule": rule},
                              cash=1e6)
    bt_ret = vals / np.r_[1e6, vals[:-1]] - 1.0
    c = m.values[..., 3]
    vec = sum(P.strategy_returns(c[:, a], 0.95 / 2 * P.RULES[rule](c[:, a])) for a in range(2))
    assert trades > 5
    np.testing.assert_allclose(bt_ret, vec, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------------------------

_FIXED = VerdictThresholds(robust_positive_share=0.75, luck_percentile=97.5, robust_dsr=0.8)


@pytest.fixture(scope="module")
def cases():
    gens = {"bootstrap": P.baseline_fit("bootstrap"), "gbm": P.baseline_fit("gbm")}
    return P.evaluate_market(TWO, seed=0, generators=gens, train_years=3, test_years=2,
                             n_paths=100, thresholds=_FIXED, true_chains=200)


def _pick(cases, generator, rule, asset):
    return [c for c in cases if c["generator"] == generator and c["rule"] == rule
            and c["asset"] == asset]


def test_harness_bootstrap_calls_a_strong_edge_skill_gbm_does_not(cases):
    boot = _pick(cases, "bootstrap", "momentum", "MOM")
    gbm = _pick(cases, "gbm", "momentum", "MOM")
    assert len(boot) == len(gbm) == 2 and all(c["truth"] == "skill" for c in boot)
    # the bootstrap keeps the planted autocorrelation, GBM has none
    assert all(c["positive_share"] > 0.9 and c["label"] == "ROBUST" for c in boot)
    assert all(c["positive_share"] < 0.7 and not c["called_skill"] for c in gbm)
    assert boot[0]["train_acf1"] == pytest.approx(0.2, abs=0.06)
    assert abs(gbm[0]["path_acf1"]) < 0.03 < boot[0]["path_acf1"]


def test_harness_does_not_call_the_best_of_a_grid_skill(cases):
    for gen in ("bootstrap", "gbm"):
        given = _pick(cases, gen, "grid_best", "NUL")
        hidden = _pick(cases, gen, "grid_best_hidden", "NUL")
        assert len(given) == len(hidden) == 2
        for g, h in zip(given, hidden, strict=True):
            assert g["truth"] == "luck" and g["n_trials"] == len(P.SMA_GRID)
            assert g["pbo"] is not None and h["pbo"] is None and h["n_trials"] == 1
            assert g["real_sharpe"] == h["real_sharpe"] and g["dsr"] < h["psr"]
            assert not g["called_skill"]


def test_harness_records_every_case(cases):
    strategies = P.strategies_for(TWO)
    assert len(cases) == 2 * len(strategies) * 2
    assert all(c["label"] in ("ROBUST", "MIXED", "FRAGILE") for c in cases)
    assert all(c["verdict"].startswith(c["label"] + ":") for c in cases)
    assert all(c["called_skill"] == (c["label"] == "ROBUST") for c in cases)


def test_harness_runs_diffbts_generator():
    """The tiny model through the whole harness: one test year, 20 paths."""
    gens = {"diffbt": P.diffbt_fit(**P.TINY_DIFFBT)}
    cases = P.evaluate_market(TWO, seed=0, generators=gens, train_years=2, test_years=1,
                              n_paths=20, thresholds=_FIXED, true_chains=100)
    assert len(cases) == len(P.strategies_for(TWO))
    assert all(c["generator"] == "diffbt" and c["n_paths"] == 20 for c in cases)
    assert all(0 <= c["positive_share"] <= 1 and math.isfinite(c["real_sharpe"])
               for c in cases)


def test_rates_count_cases_per_group(cases):
    t = P.rates(cases, thresholds=_FIXED).set_index(["generator", "truth", "group"])
    n_luck = sum(s.truth == "luck" for s in P.strategies_for(TWO)) * 2
    for gen in ("bootstrap", "gbm"):
        mine = [c for c in cases if c["generator"] == gen]
        row = t.loc[(gen, "luck", "overall")]
        assert row["n"] == n_luck
        assert row["called"] == sum(c["called_skill"] for c in mine if c["truth"] == "luck")
    assert t.loc[("bootstrap", "skill", "overall"), "rate"] == 1.0
    assert t.loc[("gbm", "skill", "overall"), "rate"] == 0.0


def _hand_case(truth, pos, pct, dsr, pbo=None, seed=0):
    return {"generator": "g", "truth": truth, "group": truth, "seed": seed, "n_paths": 100,
            "prob_sharpe_negative": 1 - pos, "real_sharpe": 1.0, "real_sharpe_percentile": pct,
            "psr": dsr, "dsr": dsr, "n_trials": 1, "pbo": pbo, "median_sharpe": 0.0,
            "true_sharpe": 0.0, "label": "MIXED"}


def _brute_force(cases, max_fa):
    best = None
    grid = P.CALIBRATION_GRID
    for p in grid["robust_positive_share"]:
        for lp in grid["luck_percentile"]:
            for d in grid["robust_dsr"]:
                def called(c, p=p, lp=lp, d=d):
                    pos = 1 - c["prob_sharpe_negative"]
                    return (pos >= p and c["real_sharpe_percentile"] <= lp and c["dsr"] >= d
                            and (c["pbo"] is None or c["pbo"] <= 0.25))
                det = np.mean([called(c) for c in cases if c["truth"] == "skill"])
                fa = np.mean([called(c) for c in cases if c["truth"] == "luck"])
                if fa <= max_fa and (best is None or (det, -fa) > best):
                    best = (det, -fa)
    return best


def test_calibrate_maximises_detection_within_the_false_alarm_bound():
    rng = np.random.default_rng(5)
    cases = ([_hand_case("skill", rng.uniform(0.6, 1.0), rng.uniform(20, 100),
                         rng.uniform(0.4, 1.0), seed=int(rng.integers(2))) for _ in range(40)]
             + [_hand_case("luck", rng.uniform(0.3, 0.9), rng.uniform(40, 100),
                           rng.uniform(0.2, 1.0), pbo=rng.choice([None, 0.1, 0.6]),
                           seed=int(rng.integers(2))) for _ in range(60)])
    cal = P.calibrate(cases, generator="g", max_false_alarm=0.10)
    det, neg_fa = _brute_force(cases, 0.10)
    assert cal["false_alarm"] <= 0.10
    assert cal["detection"] == pytest.approx(det) and cal["false_alarm"] == pytest.approx(-neg_fa)
    th = VerdictThresholds(**cal["thresholds"])
    from diffbt.metrics.robustness import verdict_label

    skill = [c for c in cases if c["truth"] == "skill"]
    assert np.mean([verdict_label(c, th) == "ROBUST" for c in skill]) == cal["detection"]
    cv = P.cross_validate(cases, generator="g")
    assert cv["n_skill"] == 40 and cv["n_luck"] == 60 and set(cv["thresholds_by_held_out_seed"]) \
        == {0, 1}


def test_main_quick_writes_cases_and_tables(tmp_path, capsys):
    out = tmp_path / "planted.json"
    assert P.main(["--quick", "--generators", "bootstrap", "gbm", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "overall detection" in text and "overall false alarms" in text
    payload = json.loads(out.read_text())
    assert len(payload["cases"]) == 2 * len(P.strategies_for(P.QUICK_MARKETS[0])) * 2
    assert set(payload["calibration"]) == {"bootstrap", "gbm"}
    assert P.main(["--from-json", str(out)]) == 0
    assert "overall detection" in capsys.readouterr().out


def test_oracle_paths_carry_the_planted_process():
    m, _ = P.planted_market(TWO, 300, seed=0)
    paths = P.oracle_fit()(m, m.index[199], 0, TWO).sample(60, 500, seed=3)
    assert paths.values.shape == (60, 500, 2, 5) and paths.assets == TWO.names
    assert paths.index[0] > m.index[199]
    r = np.diff(np.log(paths.values[..., 3]), axis=1)
    assert _acf(r[..., 0], 1) == pytest.approx(0.2, abs=0.03)
    assert _acf(r[..., 1], 1) == pytest.approx(0.0, abs=0.03)


def test_settings_from_reads_json_values_and_names_a_bad_item():
    import pytest

    from benchmarks.planted import settings_from

    assert settings_from(["window=128", "keep_best=true", "vol_filter=garch"]) == {
        "window": 128, "keep_best": True, "vol_filter": "garch"}
    with pytest.raises(SystemExit, match="KEY=VALUE, got 'hidden'"):
        settings_from(["hidden"])


def test_a_diffbt_variant_can_draw_its_paths_with_another_sampler():
    spec = P.MarketSpec("m", (P.AssetSpec("A", "null"), P.AssetSpec("B", "null")))
    market, _ = P.planted_market(spec, 300, seed=0)
    end = market.index[199]
    plain = P.diffbt_fit(**P.TINY_DIFFBT)(market, end, 0, spec)
    other = P.diffbt_fit(**P.TINY_DIFFBT, sampler="dpm/3")(market, end, 0, spec)
    got = other.sample(3, 20, seed=1).values
    np.testing.assert_array_equal(got, plain.sample(3, 20, seed=1, sampler_steps=3).values)
    assert not np.array_equal(got, plain.sample(3, 20, seed=1).values)  # not the default 20


def test_a_calibrated_variant_refits_its_path_calibrations_for_its_sampler():
    spec = P.MarketSpec("m", (P.AssetSpec("A", "null"), P.AssetSpec("B", "null")))
    market, _ = P.planted_market(spec, 300, seed=0)
    settings = P.TINY_DIFFBT | {"calibrate_paths": True, "vol_filter": "garch"}
    drawn = P.diffbt_fit(**settings, sampler="dpm-logsnr/3")(market, market.index[199], 0,
                                                               spec)
    assert drawn.gen.state.calibrated_for() == {"dpm-logsnr/3"}
    assert drawn.gen.state.scale is not None
