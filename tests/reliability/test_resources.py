"""Peak memory of sampling to a file and backtesting from it does not grow with the paths.

The reliability issue's "Resources" item at CI size: the same pipeline (sample N paths x 2,520
bars x 5 assets to a PathSet file in batches, then backtest every path from the memory-mapped
file on two worker processes) runs at N and at 10 N paths, each in a fresh interpreter that
measures itself with `PeakMemory`; the anonymous peak at 10 N may exceed the one at N only by
what legitimately grows with the paths (the per-path results), plus a fixed allowance far
below the size of the paths. The full-size run (10,000 paths) is ``python -m diffbt.bench gpu``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from diffbt.bench.memory import PeakMemory
from diffbt.data.market import Market
from diffbt.generate.generator import MarketGenerator
from tests.helpers import random_walk, tiny

N = 50                  # paths of the small run; the big run has 10 N
LENGTH = 2520           # ten years of business days
ASSETS = 5
BATCH = 25              # paths sampled together (the same in both runs)
MIB = 2**20
# What a run may add, besides the per-path results, when it has 10x the paths but the same
# batches: allocator fragmentation (sampling plateaus ~30-40 MiB above one batch after a few
# batches; the small run has only two) and the forked workers' pages (copy-on-write of the
# ~70 MiB parent and cyclic garbage, 50-60 MiB more over 500 paths), both bounded by the sizes
# of a batch and of the parent, not by the paths. Holding the extra paths instead would add
# 9 N x 2520 x 5 x 5 x 8 bytes = 216 MiB at N = 50, and the whole 10 N file is 240 MiB.
ALLOWANCE = 96 * MIB

TINY = tiny(window=64, steps=5, batch_size=16, timesteps=50, calibrate_paths=True, max_tries=1)

CHILD = textwrap.dedent("""
    import json, sys, time

    import numpy as np

    from diffbt.bench.memory import PeakMemory

    stage, model, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    length, batch = int(sys.argv[5]), int(sys.argv[6])
    if stage == "sample":
        import torch

        from diffbt.generate.generator import MarketGenerator

        torch.set_num_threads(1)
        gen = MarketGenerator.load(model, device="cpu")

        def work():
            ps = gen.sample(n, length, seed=0, sampler_steps=2, batch_size=batch, out=out)
            return {"shape": list(ps.values.shape), "memmap": isinstance(ps.values, np.memmap)}
    else:
        import backtrader as bt

        from diffbt.bt import backtest_paths

        class BuyAndHold(bt.Strategy):
            def nextstart(self):
                self.order_target_percent(self.datas[0], target=0.5)

            def next(self):
                pass

        def work():
            r = backtest_paths(BuyAndHold, out, workers=2, progress=False)
            return {"failed": int(r.failed.sum()), "errors": [e.message for e in r.errors[:3]],
                    "returns_shape": list(r.returns.shape),
                    "finite_paths": int(np.isfinite(r.returns).all(axis=1).sum()),
                    "moved_paths": int((np.abs(r.returns) > 0).any(axis=1).sum())}

    mem = PeakMemory()
    mem.sample()
    start = mem.anon
    t = time.perf_counter()
    with PeakMemory(interval=0.05 if stage == "sample" else 0.25) as mem:
        res = work()
    res.update(seconds=time.perf_counter() - t, start_anon=start, anon=mem.anon, file=mem.file,
               samples=mem.samples)
    print("RESULT " + json.dumps(res))
""")


def _market(n: int = 400, seed: int = 0) -> Market:
    """Valid synthetic OHLCV for `ASSETS` correlated random walks."""
    return random_walk(n + 1, tuple(f"a{j}" for j in range(ASSETS)), seed=seed, vol=0.012,
                       drift=3e-4, common=0.006, wick=0.002)


def _run(stage: str, model, out, n: int) -> dict:
    """Run one stage on `n` paths in a fresh interpreter; what it measured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, stage, str(model), str(out), str(n),
                           str(LENGTH), str(BATCH)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    assert res["samples"] >= 2, res       # the sampler thread really ran during the stage
    return res


@pytest.mark.slow  # ~160 s on 2 shared cores (the backtrader runs: 550 paths x 2520 bars)
@pytest.mark.skipif(not PeakMemory().supported,
                    reason="needs /proc/<pid>/smaps_rollup (Linux >= 4.14) to measure PSS")
def test_sample_and_backtest_peak_memory_does_not_grow_with_paths(tmp_path):
    model = MarketGenerator(**TINY).fit(_market(), seed=0).save(tmp_path / "tiny.diffbt")
    runs = {}
    for n in (N, 10 * N):
        out = tmp_path / f"paths{n}.npz"
        sample = _run("sample", model, out, n)
        assert sample["shape"] == [n, LENGTH, ASSETS, 5] and sample["memmap"]
        assert out.stat().st_size >= n * LENGTH * ASSETS * 5 * 8
        backtest = _run("backtest", model, out, n)
        assert backtest["failed"] == 0, backtest["errors"]
        assert backtest["returns_shape"] == [n, LENGTH]
        assert backtest["finite_paths"] == n      # every path ran (unrun rows stay NaN)
        assert backtest["moved_paths"] == n       # and held a position whose value moved
        out.unlink()
        runs[n] = {"sample": sample, "backtest": backtest}

    extra = 10 * N - N
    paths_bytes = extra * LENGTH * ASSETS * 5 * 8     # holding the extra paths
    returns_bytes = extra * LENGTH * 8                 # the (n, length) returns matrix
    assert ALLOWANCE + returns_bytes < paths_bytes / 2
    peaks = {f"{stage} {n}": round(runs[n][stage]["anon"] / MIB, 1)
             for n in runs for stage in ("sample", "backtest")}
    small, big = runs[N], runs[10 * N]
    # sampling holds one batch at a time, whatever the number of paths
    assert big["sample"]["anon"] - small["sample"]["anon"] < ALLOWANCE, peaks
    # the backtest holds the results (the returns matrix, in the parent), not the paths
    assert big["backtest"]["anon"] - small["backtest"]["anon"] < ALLOWANCE + returns_bytes, peaks
