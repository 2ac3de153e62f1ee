"""benchmarks.filters: paths rebuilt from the fitted filters alone carry what they model."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.filters import denoised_energy, filtered_paths, main
from benchmarks.planted import (
    BARS_PER_YEAR,
    MARKETS,
    AssetSpec,
    MarketSpec,
    planted_market,
    pos_momentum,
    strategy_returns,
)
from diffbt.data.features import to_features
from diffbt.generate.generator import MarketGenerator


def _sharpe(close: np.ndarray) -> float:
    ret = strategy_returns(close, pos_momentum(close))[:, 1:]
    return float(np.median(ret.mean(axis=1) / ret.std(axis=1)) * np.sqrt(BARS_PER_YEAR))


def test_the_mean_filter_alone_carries_planted_momentum_and_the_garch_filter_does_not():
    spec = MarketSpec("m", (AssetSpec("MOM", "momentum", 0.2), AssetSpec("NUL", "null")))
    market, _ = planted_market(spec, 6 * BARS_PER_YEAR, seed=3)
    feats = to_features(market.values)
    with_mean, vol = filtered_paths(feats, 200, BARS_PER_YEAR, mean=True)
    without, _ = filtered_paths(feats, 200, BARS_PER_YEAR, mean=False)
    assert vol.mean.coef[0, 0] > 0.1  # the lag-1 weight of the momentum asset is kept
    assert _sharpe(with_mean[..., 0]) > 1.2  # true Sharpe about 2.3
    assert abs(_sharpe(without[..., 0])) < 0.5
    assert abs(_sharpe(with_mean[..., 1])) < 0.5  # nothing planted in the null asset


def test_filters_benchmark_prints_its_table(capsys):
    assert main(["--seeds", "0", "--paths", "20", "--train-years", "2", "--test-years",
                 "1"]) == 0
    out = capsys.readouterr().out
    assert "| skill: momentum, phi 0.2 | MOM20 |" in out and "zero = not kept by BIC" in out


def test_filters_clustering_mode_prints_both_filters_against_the_real_acf(capsys):
    assert main(["--clustering", "--paths", "20"]) == 0
    out = capsys.readouterr().out
    assert "garch2 fitted on sp500_nasdaq to 2014" in out
    rows = [line for line in out.splitlines() if line.startswith(("| sp500 |", "| nasdaq |"))]
    assert len(rows) == 2
    for line in rows:  # real, garch, garch2: five lags each, then the two errors
        cells = line.strip("|").split("|")
        values = [float(v) for c in cells[1:4] for v in c.split("/")]
        assert len(values) == 15 and all(-1 < v < 1 for v in values)
        assert cells[4].strip().count("%") == 2


def test_filters_model_mode_prints_the_residuals_and_the_volatility_levels(capsys, tmp_path):
    model = tmp_path / "m.diffbt"
    assert main(["--seeds", "0", "--paths", "6", "--train-years", "2", "--test-years", "1",
                 "--model", str(model), "--sampler", "dpm/3", "--set", "vol_filter=garch2",
                 "mean_filter=true", "calibrate=false", "calibrate_paths=false", "hidden=16",
                 "n_blocks=2", "steps=4", "batch_size=16", "timesteps=50"]) == 0
    assert model.exists()
    out = capsys.readouterr().out
    rows = [line.strip("|").split("|") for line in out.splitlines()
            if line.startswith("| MOM05 |")]
    cells = [r for r in rows if len(r) == 6][-1]  # the residuals table's row
    assert all(float(v) > 0 for v in cells[5].split("/"))
    energy = rows[-1]  # the denoised-energy table: from pure noise only (50 steps)
    assert "from step t" in out and len(energy) == 2 and float(energy[1]) > 0
    levels = out.split("the network's paths: ")[1].splitlines()[0].split("; ")
    assert len(levels) == 10  # one per asset of the planted market
    for item in levels:
        train, iid, made = (float(v) for v in item.split(" ", 1)[1].split(" / "))
        assert 0 < train < 2 and 0 < iid < 2 and made > 0
        assert abs(iid / train - 1) < 0.5  # the filters alone keep the training level
    # barely noised windows come back as they were, whatever the network
    gen = MarketGenerator.load(model)
    market, _ = planted_market(MARKETS[0], 3 * BARS_PER_YEAR, seed=0)
    feats = to_features(market.values[:2 * BARS_PER_YEAR])
    near, far = denoised_energy(gen, feats, [1, 49], n=32, steps=3)
    assert near == pytest.approx(np.ones(10), rel=0.02) and (far > 0).all()
