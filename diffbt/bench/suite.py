"""The benchmark suite behind ``diffbt bench``: ratios measured side by side in one run.

    diffbt bench --out reports/bench            # full sizes
    diffbt bench --quick --out reports/bench    # small sizes, a smoke test of the suite

Rows (each measured in this one process, one after the other, on this machine):

1. sampler steps vs quality and time (DPM-Solver++ at few steps vs full ancestral DDPM);
2. sampling throughput vs the machine's dense matmul FLOP rate;
3. numba metrics vs QuantStats per series;
4. path runner: 1 vs 2 workers, overhead over a bare Cerebro loop;
5. batched vs per-bar forecasts;
6. the headline: N synthetic paths x 252 bars x 2 assets sampled, backtested with the SMA
   crossover, summarised and reported, end to end (stage times).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

if TYPE_CHECKING:
    from diffbt.data.market import Market
    from diffbt.generate.generator import MarketGenerator

__all__ = ["machine", "matmul_gflops", "run_suite", "sampler_curve", "sampling_flops"]


def machine() -> dict[str, Any]:
    """What ran the suite."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def matmul_gflops(n: int = 1024, repeat: int = 5, device: str = "cpu") -> float:
    """Dense float32 matmul rate of this machine (best of `repeat`), GFLOP/s."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def sampling_flops(gen: Any, batch: int = 64) -> float:
    """FLOPs of one denoiser call on a batch of windows (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    d = gen.diffusion
    cfg = d.config
    x = torch.randn(batch, cfg.channels, cfg.window, device=gen.device)
    t = torch.full((batch,), 10, dtype=torch.long, device=gen.device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        d.model(x, t, None)
    return float(counter.get_total_flops())


def sampler_curve(gen: MarketGenerator, test: Market, *, n_paths: int = 100,
                  steps: Sequence[int] = (5, 10, 20, 50, 100, 250), full: bool = True,
                  seed: int = 0, sampler: str = "dpm") -> pd.DataFrame:
    """Stylized-facts distances to `test` and sampling time per sampler step count.

    Parameters
    ----------
    gen
        A fitted generator.
    test
        Real bars; the first ``min(len(test), 4 * window)`` are the reference.
    n_paths, seed
        Paths per setting, all drawn from the same seed.
    steps, sampler
        `sampler` at each step count in `steps`; with `full`, also the ancestral ``ddpm``
        sampler at all ``timesteps``.

    Returns
    -------
    pd.DataFrame
        One row per setting (index ``"{sampler}-{calls}"``): ``calls_per_window``,
        ``seconds``, ``mean_rel_distance`` (each fact's distance divided by the worst
        setting's, averaged over the facts) and each fact's distance.
    """
    from diffbt.metrics.facts import compare

    length = min(len(test), 4 * gen.config.window)
    real = test.iloc(slice(0, length))
    rows, sets = [], {}
    configs = [(sampler, s) for s in steps] + ([("ddpm", None)] if full else [])
    for name, s in configs:
        t0 = time.perf_counter()
        ps = gen.sample(n_paths, length, seed=seed, sampler=name, sampler_steps=s)
        dt = time.perf_counter() - t0
        label = f"{name}-{s if s else gen.config.diffusion.timesteps}"
        sets[label] = ps
        rows.append({"sampler": label, "calls_per_window": s or gen.config.diffusion.timesteps,
                     "seconds": dt})
    dist = compare(real, sets)
    table = pd.DataFrame(rows).set_index("sampler")
    table["mean_rel_distance"] = (dist.div(dist.max(axis=1).replace(0, 1), axis=0)).mean()
    return table.join(dist.T)


def _row(rows: list[dict], name: str, value: str, note: str = "") -> None:
    rows.append({"benchmark": name, "result": value, "note": note})


def run_suite(out: str | os.PathLike, *, quick: bool = False,
              say: Callable[[str], None] = lambda s: None) -> str:
    """Run every benchmark; write ``bench.json`` and ``bench.md`` into `out`; return the table."""
    from diffbt.bench.headline import run_headline
    from diffbt.bench.metrics import bench_metrics
    from diffbt.bench.runner import bench_runner
    from diffbt.data import datasets
    from diffbt.generate.generator import MarketGenerator

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    market = datasets.load("sp500_nasdaq")
    train, test = market.split("2014-12-31")

    # 1. a model to sample from (its fit time is a row too)
    steps = 60 if quick else 3000
    say(f"fitting a model ({steps} steps)")
    t0 = time.perf_counter()
    gen = MarketGenerator(steps=steps).fit(train, seed=0)
    fit_s = time.perf_counter() - t0
    _row(rows, "fit (defaults) on sp500_nasdaq 1999-2014", f"{fit_s:.0f} s",
         f"{steps} steps, {len(train)} bars x 2 assets")
    results["fit_s"] = fit_s

    # 2. sampler steps vs quality and time
    say("sampler steps vs quality")
    curve = sampler_curve(gen, test, n_paths=10 if quick else 100,
                          steps=(5, 10, 20) if quick else (5, 10, 20, 50, 100, 250),
                          full=not quick)
    results["sampler_curve"] = json.loads(curve.to_json())
    base = curve["seconds"].iloc[-1]
    for label, r in curve.iterrows():
        _row(rows, f"sampler {label}", f"{r['seconds']:.2f} s, "
             f"{base / r['seconds']:.1f}x vs {curve.index[-1]}",
             f"mean relative facts distance {r['mean_rel_distance']:.3f}")

    # 3. throughput vs the matmul floor
    say("sampling throughput vs matmul rate")
    peak = matmul_gflops()
    flops = sampling_flops(gen) / 64
    n_win = 64 if quick else 512
    t0 = time.perf_counter()
    gen.sample(n_win, gen.config.window, seed=0, sampler_steps=20)
    dt = time.perf_counter() - t0
    achieved = n_win * 20 * flops / dt / 1e9
    results["throughput"] = {"matmul_gflops": peak, "flops_per_window_call": flops,
                             "windows_per_s_20_steps": n_win / dt, "achieved_gflops": achieved}
    _row(rows, "sampling throughput (DPM 20 steps)", f"{n_win / dt:.0f} windows/s",
         f"{achieved:.1f} GFLOP/s = {100 * achieved / peak:.0f} % of dense matmul "
         f"({peak:.0f} GFLOP/s)")

    # 4. numba metrics vs QuantStats
    say("metrics vs QuantStats")
    m = bench_metrics(200 if quick else 1000, 2520, qs_full_subset=20 if quick else 100)
    results["metrics"] = m
    for name, t_nb, t_qs, ratio, note in m["rows"]:
        _row(rows, f"metrics {name}: numba vs QuantStats",
             f"{ratio:,.0f}x ({t_nb:.3f} s vs {t_qs:.2f} s)", note)

    # 5. path runner
    say("path runner")
    rr = bench_runner(100 if quick else 1000, 252)
    results["runner"] = rr
    for k, v in rr:
        _row(rows, f"runner: {k}", str(v))

    # 6. headline: N paths end to end (the same code as `python -m diffbt.bench headline`)
    n_paths = 200 if quick else 10_000
    say(f"headline: {n_paths} paths x 252 bars end to end")
    with tempfile.TemporaryDirectory() as tmp:
        model = gen.save(Path(tmp) / "model.safetensors")
        stages = run_headline(str(model), n_paths)
    total = stages.pop("total")
    results["headline"] = {"n_paths": n_paths, "stages_s": stages, "total_s": total}
    top = max(stages, key=stages.get)
    _row(rows, f"headline: {n_paths} paths x 252 bars x 2 assets, end to end",
         f"{total:.0f} s", "; ".join(f"{k} {v:.0f} s" for k, v in stages.items())
         + f" (dominant: {top})")
    md = ["| benchmark | result | note |", "|---|---|---|"]
    md += [f"| {r['benchmark']} | {r['result']} | {r['note']} |" for r in rows]
    md.append("")
    md.append(f"Machine: {results['machine']}")
    text = "\n".join(md)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "bench.md").write_text(text)
    return text
