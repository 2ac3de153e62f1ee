"""Benchmark: diffusion model training and sampling throughput on this machine.

Run ``python -m diffbt.bench.model [--threads N] [--quick]``; prints a Markdown table.
Defaults: window 64, channels 10 (2 assets x 5 features), batch 256, the default
:class:`~diffbt.model.diffusion.DiffusionConfig` net with 4 regimes, jumps and context.
``--quick`` skips the full 1000-step ancestral run and estimates it from the DDIM step cost.
Wall-clock numbers depend on other load; CPU-seconds (``time.process_time``, all threads)
are the less load-sensitive figure.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion, prefix_mask
from diffbt.model.samplers import sample
from diffbt.model.train import TrainConfig, Trainer

__all__ = ["bench_sampling", "bench_train", "main"]


def _model(channels: int, window: int, device: str) -> GaussianDiffusion:
    cfg = DiffusionConfig(channels=channels, window=window, n_regimes=4, jumps=True)
    return GaussianDiffusion(cfg, seed=0).to(device)


def bench_train(*, channels: int = 10, window: int = 64, batch: int = 256, steps: int = 10,
                device: str = "cpu") -> dict[str, float]:
    """Training steps per second (after 2 warm-up steps)."""
    d = _model(channels, window, device)
    g = torch.Generator().manual_seed(0)
    n = 4096
    data = torch.randn(n, channels, window, generator=g)
    cond = {"regime": torch.randint(0, 4, (n,), generator=g),
            "jumps": torch.randint(0, 3, (n,), generator=g).float()}
    tr = Trainer(d, data, cond=cond, config=TrainConfig(steps=steps + 2, batch_size=batch))
    for _ in range(2):
        tr.step()
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        tr.step()
    _sync(device)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"params": float(sum(p.numel() for p in d.parameters())),
            "train_steps_per_s": steps / dt, "train_windows_per_s": steps * batch / dt,
            "cpu_s_per_step": cpu / steps}


def bench_sampling(sampler: str, steps: int | None, *, channels: int = 10, window: int = 64,
                   batch: int = 256, guidance: float | None = None, context: int = 0,
                   device: str = "cpu") -> dict[str, float]:
    """Windows per second for one batch of ``batch`` windows with the given sampler."""
    d = _model(channels, window, device).eval()
    cond = {"regime": torch.zeros(batch, dtype=torch.long, device=device),
            "jumps": torch.zeros(batch, device=device)}
    if context:
        cond["context"] = torch.zeros(batch, channels, window, device=device)
        cond["context_mask"] = prefix_mask(batch, window, context, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    sample(d, (batch, channels, window), sampler="ddim", steps=2, generator=g, cond=cond)
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = sample(d, (batch, channels, window), sampler=sampler, steps=steps, generator=g,
                 cond=cond, guidance=guidance)
    _sync(device)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": dt, "windows_per_s": batch / dt, "n_calls": float(out.n_calls),
            "cpu_s": cpu}


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="estimate the 1000-step run")
    ap.add_argument("--train-steps", type=int, default=10)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")
    tr = bench_train(steps=args.train_steps, device=args.device)
    print(f"\nnet params: {int(tr['params'])}\n")
    print("| what | batch | wall-clock result | CPU-seconds |")
    print("|---|---|---|---|")
    print(f"| train step (window 64, channels 10) | 256 | {tr['train_steps_per_s']:.3f} steps/s "
          f"({tr['train_windows_per_s']:.0f} windows/s) | {tr['cpu_s_per_step']:.2f} per step |")
    rows = [("DDIM 20 steps", "ddim", 20, None), ("DPM-Solver++(2M) 20 steps", "dpm", 20, None),
            ("DDIM 20 steps, guidance 2", "ddim", 20, 2.0)]
    ddim = None
    for name, sampler, steps, guidance in rows:
        r = bench_sampling(sampler, steps, guidance=guidance, device=args.device)
        ddim = ddim or r
        print(f"| {name} ({int(r['n_calls'])} calls) | 256 | {r['windows_per_s']:.1f} windows/s "
              f"({r['seconds']:.2f} s) | {r['cpu_s']:.1f} per batch |")
    if args.quick:
        est = 256 / (ddim["seconds"] * 1000 / 20)
        print(f"| DDPM ancestral 1000 steps (estimated from DDIM step cost) | 256 | "
              f"~{est:.2f} windows/s | |")
    else:
        r = bench_sampling("ddpm", None, device=args.device)
        print(f"| DDPM ancestral 1000 steps ({int(r['n_calls'])} calls) | 256 | "
              f"{r['windows_per_s']:.2f} windows/s ({r['seconds']:.1f} s) | "
              f"{r['cpu_s']:.1f} per batch |")


if __name__ == "__main__":
    main()
