"""GPU check and the big streaming run: fit and sample on CUDA, then N paths x L bars x A assets
sampled to disk and backtested with the peak memory recorded.

    python -m benchmarks.gpu --data DIR --out DIR [--paths 10000 --length 2520]

``--data`` is a folder of OHLCV CSVs (the five crypto assets in the reference data). Stages,
each written to ``OUT/gpu.json`` as soon as it ends (so a run cut short keeps what it measured):

1. ``check``: fit a small model on ``cuda``; same seed -> same paths; valid OHLC bars; regime and
   jump conditioning; forecast; save, load on the CPU and sample there.
2. ``fit``: the default `MarketGenerator` fitted on the first 80 % of the bars (wall time).
3. ``big``: ``--paths`` x ``--length`` bars streamed to a PathSet file, then backtested with
   `strategies.MomentumRotation` on all cores; peak GPU memory and the peak memory (PSS) of
   this process and its workers, anonymous apart from file-backed (the memory-mapped PathSet
   pages are file cache the kernel can drop).
4. ``throughput``: training and sampling speed on cuda and on the CPU, side by side.
Runs on the CPU too (``--device cpu``), slowly.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from diffbt.bench.memory import PeakMemory


def _gib(b: float) -> float:
    return round(b / 2**30, 3)


def _valid(ps) -> bool:
    v = np.asarray(ps.values)
    o, h, lo, c, vol = (v[..., i] for i in range(5))
    return bool(np.isfinite(v).all() and (h >= np.maximum(o, c) - 1e-9).all()
                and (lo <= np.minimum(o, c) + 1e-9).all() and (lo > 0).all()
                and (vol >= 0).all())


def stage_check(market, device: str, tmp: Path) -> dict:
    from diffbt.generate.generator import MarketGenerator

    t = time.perf_counter()
    gen = MarketGenerator(steps=300).fit(market, device=device, seed=0)
    out: dict = {"fit_300_steps_s": time.perf_counter() - t, "device": str(gen.device)}
    a = gen.sample(64, 200, seed=7)
    b = gen.sample(64, 200, seed=7)
    out["same_seed_same_paths"] = bool(np.array_equal(a.values, b.values))
    out["valid_bars"] = _valid(a)
    bear = gen.sample(32, 64, regime="bear", jumps=1, seed=1)
    out["conditioned_ok"] = _valid(bear) and list(bear.regimes) == ["bear"] * 32
    fc = gen.forecast(market.iloc(slice(-200, None)), 24, n_samples=100, seed=0)
    out["forecast_finite"] = bool(np.isfinite(fc.to_numpy()).all())
    path = gen.save(tmp / "check.diffbt")
    cpu = MarketGenerator.load(path, device="cpu")
    c = cpu.sample(8, 100, seed=3)
    out["loaded_on_cpu_ok"] = _valid(c) and str(cpu.device) == "cpu"
    return out


def stage_fit(market, device: str, out_dir: Path) -> tuple[dict, object]:
    from diffbt.generate.generator import MarketGenerator

    train_end = market.index[int(0.8 * len(market)) - 1]
    t = time.perf_counter()
    gen = MarketGenerator().fit(market, train_end=train_end, device=device, seed=0)
    dt = time.perf_counter() - t
    path = gen.save(out_dir / "crypto_gpu.diffbt")
    return {"default_fit_s": dt, "steps": gen.history["steps"],
            "train_windows": gen.history["n_train_windows"],
            "model_file": path.name}, gen


def stage_sample(gen, n_paths: int, length: int, tmp: Path, batch_size: int) -> dict:
    """Sampling alone: time and peak memory for `n_paths` streamed to a file."""
    import torch

    cuda = gen.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as mem:
        t = time.perf_counter()
        gen.sample(n_paths, length, seed=12, out=tmp / "small.npz", batch_size=batch_size)
        out = {"paths": n_paths, "batch_size": batch_size, "sample_s": time.perf_counter() - t}
    out["sample_peak_anon_gib"] = _gib(mem.anon)
    out["sample_peak_file_gib"] = _gib(mem.file)
    if cuda:
        out["sample_peak_gpu_gib"] = _gib(torch.cuda.max_memory_allocated())
    (tmp / "small.npz").unlink()
    return out


def stage_big(gen, n_paths: int, length: int, tmp: Path, workers: int,
              batch_size: int) -> dict:
    import torch

    from diffbt.bt.runner import backtest_paths
    from strategies.momentum import MomentumRotation

    out: dict = {"paths": n_paths, "length": length, "assets": len(gen.assets),
                 "batch_size": batch_size,
                 "file_gib": _gib(n_paths * length * len(gen.assets) * 5 * 8)}
    cuda = gen.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as mem:
        t = time.perf_counter()
        ps = gen.sample(n_paths, length, seed=11, out=tmp / "big.npz", batch_size=batch_size)
        out["sample_s"] = time.perf_counter() - t
    out["sample_peak_anon_gib"] = _gib(mem.anon)
    out["sample_peak_file_gib"] = _gib(mem.file)
    if cuda:
        out["sample_peak_gpu_gib"] = _gib(torch.cuda.max_memory_allocated())
    out["valid_bars_first_100"] = _valid(ps.subset(slice(0, 100)))
    del ps
    with PeakMemory() as mem:
        t = time.perf_counter()
        res = backtest_paths(MomentumRotation, tmp / "big.npz", workers=workers, progress=False)
        out["backtest_s"] = time.perf_counter() - t
    out["backtest_workers"] = workers
    out["backtest_peak_anon_gib"] = _gib(mem.anon)
    out["backtest_peak_file_gib"] = _gib(mem.file)
    out["backtest_failed_paths"] = int(res.failed.sum())
    out["returns_finite_paths"] = int(np.isfinite(res.returns[:, 1:]).all(axis=1).sum())
    return out


def stage_throughput(device: str) -> dict:
    import torch

    from diffbt.bench.model import bench_sampling, bench_train

    out: dict = {"cpu_threads": torch.get_num_threads()}
    for dev in (device, "cpu") if device != "cpu" else ("cpu",):
        tr = bench_train(channels=25, batch=128, steps=20 if dev == "cpu" else 100, device=dev)
        batch = 4096 if dev != "cpu" else 256
        sa = bench_sampling("dpm", 20, channels=25, batch=batch, device=dev)
        out[dev] = {"train_steps_per_s": tr["train_steps_per_s"],
                    "sample_windows_per_s_dpm20": sa["windows_per_s"], "sample_batch": batch}
    if device != "cpu":
        out["train_speedup"] = out[device]["train_steps_per_s"] / out["cpu"]["train_steps_per_s"]
        out["sample_speedup"] = (out[device]["sample_windows_per_s_dpm20"]
                                 / out["cpu"]["sample_windows_per_s_dpm20"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder of OHLCV CSV files (one per asset)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tmp", default=None, help="scratch folder for the big PathSet file")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--length", type=int, default=2520)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--stages", default="check,fit,big,throughput")
    ap.add_argument("--model", default=None, help="a saved model for the big stage (no fit)")
    ap.add_argument("--compare-paths", type=int, default=0,
                    help="also sample this many paths alone, to show the peak does not grow")
    args = ap.parse_args(argv)

    import tempfile

    import torch

    from diffbt.data.io import load_market

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="diffbt-gpu-"))
    tmp.mkdir(parents=True, exist_ok=True)
    res: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                 "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                 "cpu_count": os.cpu_count()}

    def dump() -> None:
        (out_dir / "gpu.json").write_text(json.dumps(res, indent=2, default=float))
        print(json.dumps(res, default=float), flush=True)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        market = load_market(sorted(Path(args.data).glob("*.csv")))
    res["market"] = f"{len(market)} bars x {market.n_assets} assets"
    stages = args.stages.split(",")
    gen = None
    for stage in stages:
        t = time.perf_counter()
        try:
            if stage == "check":
                res["check"] = stage_check(market, args.device, tmp)
            elif stage == "fit":
                res["fit"], gen = stage_fit(market, args.device, out_dir)
            elif stage == "big":
                from diffbt.generate.generator import MarketGenerator

                if args.model:
                    gen = MarketGenerator.load(args.model, device=args.device)
                elif gen is None:
                    gen = MarketGenerator(steps=200).fit(market, device=args.device, seed=0)
                if args.compare_paths:
                    res["big_small"] = stage_sample(gen, args.compare_paths, args.length, tmp,
                                                    args.batch_size)
                res["big"] = stage_big(gen, args.paths, args.length, tmp, args.workers,
                                       args.batch_size)
            elif stage == "throughput":
                res["throughput"] = stage_throughput(args.device)
        except Exception as exc:  # noqa: BLE001 - record and go on to the next stage
            import traceback

            res[stage] = {"error": repr(exc), "traceback": traceback.format_exc()[-3000:]}
        res.setdefault(stage, {})["stage_s"] = time.perf_counter() - t
        dump()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
