"""Benchmark: sampling and a 5-step fit, the default generator against named variants.

Run::

    python -m benchmarks.speed [--paths 2000] [--variant NAME KEY=VALUE ...]

Per generator, side by side in one process: ``MarketGenerator(**settings).fit(train,
steps=5)`` on sp500_nasdaq 1999-2014, end to end (training, then whatever calibrations the
settings run), and sampling ``--paths`` unconditioned paths x 252 bars x 2 assets from that
model (sampling speed does not depend on training). Prints a Markdown table, with the
denoiser evaluations the sampling made (one per window and sampler step) and their rate:
sampling time is evaluations divided by that rate.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from benchmarks.planted import settings_from
from diffbt.data import datasets
from diffbt.generate.generator import MarketGenerator

GARCH_VARIANT = {"window": 128, "overlap": 32, "keep_best": True, "hidden": 48,
                 "vol_filter": "garch", "calibrate_paths": False}


def measure(settings: dict[str, Any], n_paths: int) -> dict[str, float]:
    """Seconds of a 5-step fit and of sampling `n_paths` 252-bar paths, and the denoiser's
    window evaluations during sampling."""
    train, _ = datasets.load().split("2014-12-31")
    t = time.perf_counter()
    gen = MarketGenerator(**settings).fit(train, steps=5, seed=0)
    fit_s = time.perf_counter() - t
    evals = [0]

    def count(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        evals[0] += args[0].shape[0]

    hook = gen.diffusion.model.register_forward_pre_hook(count)
    t = time.perf_counter()
    gen.sample(n_paths, 252, seed=1, batch_size=512)
    sample_s = time.perf_counter() - t
    hook.remove()
    return {"fit_s": fit_s, "sample_s": sample_s, "evals": float(evals[0])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--variant", nargs="+", action="append", default=None,
                    metavar=("NAME", "KEY=VALUE"), help="a named variant (repeatable)")
    args = ap.parse_args(argv)
    variants: dict[str, dict[str, Any]] = {"default": {}, "garch filter": GARCH_VARIANT}
    for name, *kv in args.variant or []:
        variants[name] = settings_from(kv)
    print(f"torch threads {torch.get_num_threads()}, {args.paths} paths x 252 bars x 2 assets")
    print("| generator | fit(steps=5) s | sample s | 10,000 paths, extrapolated s | "
          "window evaluations per path | evaluations/s |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, settings in variants.items():
        r = measure(settings, args.paths)
        print(f"| {name} | {r['fit_s']:.1f} | {r['sample_s']:.1f} | "
              f"{r['sample_s'] * 10_000 / args.paths:.0f} | {r['evals'] / args.paths:.0f} | "
              f"{r['evals'] / r['sample_s']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
