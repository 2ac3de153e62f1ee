"""Same seed, same paths, same metrics: across runs, worker counts and chunk sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffbt.bt import backtest_paths
from diffbt.data import datasets
from diffbt.generate.generator import MarketGenerator
from diffbt.metrics.returns import compute
from strategies import SmaCross
from tests.helpers import tiny

TINY = tiny(hidden=16, n_blocks=2, steps=4, batch_size=16, timesteps=50, calibrate=True,
            calibrate_paths=True)


def test_same_seed_same_paths_same_metrics_for_any_worker_count():
    market = datasets.load().loc("2007-01-01", "2008-12-31")
    runs = []
    for workers, chunk in ((1, None), (2, 1), (2, 3)):
        gen = MarketGenerator(**TINY).fit(market, seed=7)
        paths = gen.sample(6, 60, seed=11, sampler_steps=2, batch_size=4)
        res = backtest_paths(SmaCross, paths, params={"fast": 3, "slow": 8}, workers=workers,
                             chunk_size=chunk, progress=False)
        runs.append((paths.values, res.returns, compute(res.returns)))
    for values, returns, metrics in runs[1:]:
        np.testing.assert_array_equal(values, runs[0][0])
        np.testing.assert_array_equal(returns, runs[0][1])
        pd.testing.assert_frame_equal(metrics, runs[0][2])
    assert np.isfinite(runs[0][1]).all()
