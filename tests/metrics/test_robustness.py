"""Robustness statistics against hand-computed cases, closed forms and brute force."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis, norm, skew

from diffbt.errors import DataError
from diffbt.metrics.returns import METRIC_NAMES
from diffbt.metrics.robustness import (
    RobustnessReport,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    robustness,
)


def _paths(seed: int, n_paths: int, n_steps: int, mu: float, sd: float = 0.01) -> np.ndarray:
    return np.random.default_rng(seed).normal(mu, sd, (n_paths, n_steps))


# ---------------------------------------------------------------------------------------------
# PSR / DSR
# ---------------------------------------------------------------------------------------------


def test_psr_matches_closed_form():
    x = np.random.default_rng(0).standard_t(5, 500) * 0.01 + 0.001
    sr = x.mean() / x.std(ddof=1)
    g3 = skew(x, bias=False)
    g4 = kurtosis(x, fisher=False, bias=False)
    for bench in (0.0, 0.02, -0.05):
        z = (sr - bench) * math.sqrt(len(x) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
        assert probabilistic_sharpe_ratio(x, bench) == pytest.approx(norm.cdf(z), rel=1e-12)


def test_psr_against_zero_matches_quantstats():
    qs = pytest.importorskip("quantstats")
    x = np.random.default_rng(1).standard_t(4, 300) * 0.01
    s = pd.Series(x, index=pd.bdate_range("2020-01-01", periods=300))
    want = qs.stats.probabilistic_sharpe_ratio(s)
    assert probabilistic_sharpe_ratio(x) == pytest.approx(want, rel=1e-9)


def test_psr_degenerate_is_nan():
    assert math.isnan(probabilistic_sharpe_ratio(np.full(50, 0.01)))
    assert math.isnan(probabilistic_sharpe_ratio([0.01, -0.01, 0.02]))


def test_expected_max_sharpe_closed_form():
    # Bailey & Lopez de Prado (2014), with N=100 trials and V=1: ~2.5306
    g = 0.5772156649015329
    want = (1 - g) * norm.ppf(1 - 1 / 100) + g * norm.ppf(1 - 1 / (100 * math.e))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(want, rel=1e-12)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * want, rel=1e-12)
    assert expected_max_sharpe(1, 1.0) == 0.0


def test_expected_max_sharpe_matches_simulated_maximum():
    rng = np.random.default_rng(2)
    sims = rng.normal(0.0, 0.1, (20000, 50)).max(axis=1).mean()
    assert expected_max_sharpe(50, 0.01) == pytest.approx(sims, rel=0.02)


def test_dsr_is_psr_against_expected_max_and_deflates():
    x = np.random.default_rng(3).normal(0.001, 0.01, 1000)
    trials = np.random.default_rng(4).normal(0.0, 0.03, 30)
    sr0 = expected_max_sharpe(30, float(np.var(trials, ddof=1)))
    dsr = deflated_sharpe_ratio(x, trials)
    assert dsr == pytest.approx(probabilistic_sharpe_ratio(x, sr0), rel=1e-12)
    assert dsr < probabilistic_sharpe_ratio(x)
    assert deflated_sharpe_ratio(x) == probabilistic_sharpe_ratio(x)
    with pytest.raises(ValueError):
        deflated_sharpe_ratio(x, n_trials=5)


# ---------------------------------------------------------------------------------------------
# PBO
# ---------------------------------------------------------------------------------------------


def _pbo_brute_force(m: np.ndarray, s: int) -> float:
    block = m.shape[0] // s
    m = m[m.shape[0] - block * s :]
    parts = np.split(m, s)
    n = m.shape[1]
    logits = []
    for train_ids in itertools.combinations(range(s), s // 2):
        train = np.vstack([parts[i] for i in train_ids])
        test = np.vstack([parts[i] for i in range(s) if i not in train_ids])
        sr_in = train.mean(0) / train.std(0, ddof=1)
        sr_out = pd.Series(test.mean(0) / test.std(0, ddof=1))
        best = int(np.argmax(sr_in))
        rank = sr_out.rank(method="average").iloc[best]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return float(np.mean(np.array(logits) <= 0))


@pytest.mark.parametrize("seed", [0, 1])
def test_pbo_matches_brute_force(seed):
    m = np.random.default_rng(seed).normal(0.0002, 0.01, (203, 7))
    assert pbo_cscv(m, n_splits=6) == pytest.approx(_pbo_brute_force(m, 6), abs=1e-12)


def test_pbo_hand_case_winner_always_loses_out_of_sample():
    # Two blocks. Config A earns in block 0 and loses in block 1, config B the reverse:
    # whichever block is in-sample, its winner is the out-of-sample loser -> PBO = 1.
    a = np.r_[np.full(10, 0.01), np.full(10, -0.01)] + np.tile([0.001, -0.001], 10)
    b = a[::-1].copy()
    assert pbo_cscv(np.c_[a, b], n_splits=2) == 1.0


def test_pbo_dominant_config_is_zero():
    m = _paths(0, 10, 800, 0.0).T
    m[:, 3] += 0.003
    assert pbo_cscv(m, n_splits=16) == 0.0


def test_pbo_pure_noise_is_near_one_half():
    # Pure-noise configs: the in-sample winner's out-of-sample rank is ~uniform, so PBO ~ 0.5.
    # One history gives a noisy estimate (the 70 splits share data: sd ~0.2 across histories),
    # so average 60 independent histories: SE ~0.2/sqrt(60) ~ 0.026. Complementary halves of
    # one fixed sample are slightly negatively dependent (a config's in- and out-of-sample
    # means add to its full-sample mean), which biases CSCV upwards by a few points (~0.59
    # measured); the band [0.45, 0.70] covers that bias plus 4 SE.
    pbo = [pbo_cscv(_paths(s, 10, 800, 0.0).T, n_splits=8) for s in range(60)]
    assert 0.45 <= np.mean(pbo) <= 0.70


def test_pbo_rejects_bad_input():
    with pytest.raises(DataError):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(DataError):
        pbo_cscv(np.zeros((100, 3)), n_splits=5)
    with pytest.raises(DataError):
        pbo_cscv(np.zeros((10, 3)), n_splits=16)


# ---------------------------------------------------------------------------------------------
# robustness()
# ---------------------------------------------------------------------------------------------


def test_robustness_every_path_loses():
    paths = -np.abs(_paths(0, 50, 100, 0.001))  # every bar a loss
    rep = robustness(paths)
    assert isinstance(rep, RobustnessReport)
    assert rep.summary["prob_loss"] == 1.0
    assert rep.summary["prob_sharpe_negative"] == 1.0
    assert rep.summary["n_paths"] == 50
    assert rep.verdict.startswith("FRAGILE: Sharpe > 0 on 0% of 50 synthetic paths")
    # expected worst drawdown = mean of each path's max drawdown, by hand
    eq = np.cumprod(1 + paths, axis=1)
    mdd = (eq / np.maximum.accumulate(np.maximum(eq, 1.0), axis=1) - 1).min(axis=1)
    assert rep.summary["expected_max_drawdown"] == pytest.approx(mdd.mean(), rel=1e-12)


def test_robustness_real_result_is_the_best():
    paths = _paths(1, 200, 252, 0.0)
    real = np.random.default_rng(9).normal(0.004, 0.01, 252)  # far better than any path
    rep = robustness(paths, real=real)
    row = rep.table.set_index("metric").loc["sharpe"]
    assert row["real_percentile"] == 100.0
    assert rep.summary["real_sharpe_percentile"] == 100.0
    assert "the real Sharpe" in rep.verdict and "ranks at percentile 100 of the paths" \
        in rep.verdict
    assert not rep.verdict.startswith("ROBUST")
    from diffbt.metrics.robustness import VerdictThresholds

    strict = robustness(paths, real=real, thresholds=VerdictThresholds(luck_percentile=90.0))
    assert "beats 100% of the paths (likely luck)" in strict.verdict


def test_robustness_table_is_tidy_and_quantiles_match_numpy():
    paths = _paths(2, 100, 252, 0.0005)
    real = _paths(3, 1, 252, 0.0005)[0]
    rep = robustness(paths, real=real)
    t = rep.table
    assert list(t.columns) == [
        "metric", "real", "p5", "p25", "p50", "p75", "p95", "mean", "real_percentile"
    ]
    assert list(t["metric"]) == list(METRIC_NAMES)
    sh = rep.metrics["sharpe"].to_numpy()
    row = t.set_index("metric").loc["sharpe"]
    np.testing.assert_allclose(
        row[["p5", "p25", "p50", "p75", "p95"]].to_numpy(float),
        np.quantile(sh, [0.05, 0.25, 0.5, 0.75, 0.95]),
    )
    assert row["real_percentile"] == pytest.approx(100 * np.mean(sh <= row["real"]))
    pos = np.mean(sh > 0)
    assert rep.summary["prob_sharpe_negative"] == pytest.approx(1 - pos)
    assert rep.summary["psr"] == pytest.approx(probabilistic_sharpe_ratio(real))


def test_robustness_verdict_robust_case():
    paths = _paths(4, 300, 1000, 0.0015)  # Sharpe ~2.4: positive on nearly every path
    real = _paths(5, 1, 1000, 0.0015)[0]
    rep = robustness(paths, real=real)
    assert rep.verdict.startswith("ROBUST"), rep.verdict
    assert f"of {300} synthetic paths" in rep.verdict


def test_robustness_accepts_result_object_with_regimes_and_grid():
    @dataclass
    class Result:
        returns: np.ndarray
        real_returns: np.ndarray | None
        regimes: np.ndarray | None
        periods_per_year: int
        grid_returns: np.ndarray | None = None

    rng = np.random.default_rng(6)
    up = rng.normal(0.002, 0.01, (30, 200))
    down = rng.normal(-0.002, 0.01, (20, 200))
    grid = rng.normal(0.0, 0.01, (400, 8))
    grid[:, 2] += 0.002
    res = Result(
        returns=np.vstack([up, down]),
        real_returns=grid[-200:, 2],
        regimes=np.array(["bull"] * 30 + ["bear"] * 20),
        periods_per_year=52,
        grid_returns=grid,
    )
    rep = robustness(res, pbo_splits=8)
    by = rep.by_regime.set_index("regime")
    assert by.loc["bull", "n_paths"] == 30 and by.loc["bear", "n_paths"] == 20
    assert by.loc["bull", "prob_loss"] == np.mean(np.prod(1 + up, axis=1) < 1)
    assert by.loc["bear", "prob_loss"] == np.mean(np.prod(1 + down, axis=1) < 1)
    assert rep.summary["pbo"] == pbo_cscv(grid, n_splits=8)
    assert rep.summary["n_trials"] == 8
    assert rep.summary["dsr"] < rep.summary["psr"]
    assert "PBO" in rep.verdict and "DSR" in rep.verdict


def test_robustness_accepts_dataframe_and_rejects_bad_regimes():
    df = pd.DataFrame(_paths(7, 5, 60, 0.0).T, columns=list("abcde"))
    rep = robustness(df)
    assert list(rep.metrics.index) == list("abcde")
    assert math.isnan(rep.summary["real_sharpe"])
    with pytest.raises(DataError):
        robustness(df, regimes=[1, 2])


def test_robustness_psr_uses_excess_returns_with_rf():
    paths = _paths(8, 40, 252, 0.0005)
    real = _paths(9, 1, 252, 0.0005)[0]
    rf = 0.05
    rep = robustness(paths, real=real, rf=rf)
    rf_pp = (1 + rf) ** (1 / 252) - 1
    assert rep.summary["psr"] == pytest.approx(probabilistic_sharpe_ratio(real - rf_pp))
    assert rep.summary["psr"] < probabilistic_sharpe_ratio(real)


def test_robustness_leaves_failed_all_nan_paths_out():
    rng = np.random.default_rng(3)
    good = rng.normal(0.001, 0.01, size=(20, 100))
    with_failed = np.vstack([good, np.full((5, 100), np.nan)])
    a = robustness(good, real=good[0])
    b = robustness(with_failed, real=good[0])
    assert b.summary["n_paths"] == a.summary["n_paths"] == 20
    pd.testing.assert_frame_equal(a.table, b.table)


# ---------------------------------------------------------------------------------------------
# verdict wording and cut-offs
# ---------------------------------------------------------------------------------------------


def test_verdict_reads_a_losing_real_backtest_as_a_loss():
    paths = _paths(10, 200, 252, 0.0015)  # the strategy wins on nearly every path
    real = _paths(11, 1, 252, -0.002)[0]  # but lost on the real history
    rep = robustness(paths, real=real)
    assert rep.summary["real_sharpe"] < 0
    assert "the real backtest lost (Sharpe" in rep.verdict
    assert "luck" not in rep.verdict and "ranks at" not in rep.verdict
    assert rep.label == "MIXED" and "not skill:" in rep.verdict


def test_verdict_typical_real_result_ranks_among_the_paths():
    paths = _paths(12, 300, 1000, 0.0015)
    real = _paths(13, 1, 1000, 0.0015)[0]
    rep = robustness(paths, real=real)
    pct = rep.summary["real_sharpe_percentile"]
    assert f"the real Sharpe {rep.summary['real_sharpe']:.2f} ranks at percentile {pct:.0f} " \
        "of the paths" in rep.verdict
    assert rep.label == "ROBUST" and "not skill" not in rep.verdict


def test_verdict_label_follows_the_thresholds():
    from diffbt.metrics.robustness import VerdictThresholds, verdict_label

    paths = _paths(14, 200, 252, 0.0008)
    real = _paths(15, 1, 252, 0.0015)[0]
    rep = robustness(paths, real=real)
    pos = 1 - rep.summary["prob_sharpe_negative"]
    assert verdict_label(rep.summary) == rep.label
    strict = VerdictThresholds(robust_positive_share=min(pos + 0.05, 1.0), robust_dsr=0.0,
                               luck_percentile=100.0)
    loose = VerdictThresholds(robust_positive_share=max(pos - 0.05, 0.5), robust_dsr=0.0,
                              luck_percentile=100.0)
    assert verdict_label(rep.summary, strict) == "MIXED"
    assert verdict_label(rep.summary, loose) == "ROBUST"
    rep2 = robustness(paths, real=real, thresholds=strict)
    assert rep2.label == "MIXED"
    assert f"Sharpe > 0 on fewer than {strict.robust_positive_share:.0%}" in rep2.verdict
    # a real Sharpe ranked above the luck percentile is never ROBUST
    lucky = VerdictThresholds(robust_positive_share=0.5, robust_dsr=0.0,
                              luck_percentile=rep.summary["real_sharpe_percentile"] - 1)
    assert verdict_label(rep.summary, lucky) == "MIXED"


def test_verdict_cut_offs_are_documented_with_their_calibration():
    import importlib

    R = importlib.import_module("diffbt.metrics.robustness")  # the package's name is a function
    doc = R.__doc__
    assert f"{R.ROBUST_POSITIVE_SHARE:.0%}" in doc
    assert f"{R.LUCK_PERCENTILE:g}" in doc and f"{R.ROBUST_DSR:g}" in doc
    assert "docs/verdict.md" in doc and "benchmarks.planted" in doc
