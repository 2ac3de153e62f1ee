"""Benchmark of the path runner and of batched forecasts; prints a Markdown table.

    python -m diffbt.bench.runner                    # 1,000 paths x 252 bars x 2 assets
    python -m diffbt.bench.runner --paths 200        # quicker

Rows: paths/s with 1 and 2 worker processes (SMA crossover), the speed-up, the runner's
per-path overhead over a bare ``Cerebro`` loop on the same feeds, a bare loop on
backtrader's defaults (``PandasData``, observers) for reference, and forecasts per second of
`ForecastInterval`'s batched pass vs one model call per bar (reference forecaster, and the
diffusion `MarketGenerator` when ``--diffusion`` is given: a tiny model fitted on the spot).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from diffbt.data import datasets
from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet


def bootstrap_paths(market: Market, n_paths: int, length: int, *, block: int = 20,
                    seed: int = 0) -> PathSet:
    """Block-bootstrapped real log returns (all assets together) as OHLCV paths."""
    rng = np.random.default_rng(seed)
    logr = np.diff(np.log(market.values[:, :, :4]), axis=0)  # (T-1, A, 4)
    starts = rng.integers(0, len(logr) - block, size=(n_paths, length // block + 1))
    idx = (starts[..., None] + np.arange(block)).reshape(n_paths, -1)[:, :length]
    close = market.values[-1, :, 3] * np.exp(np.cumsum(logr[idx, :, 3], axis=1))
    opn = close * np.exp(rng.normal(0, 0.002, close.shape))
    v = np.stack([opn, np.maximum(opn, close) * 1.002, np.minimum(opn, close) * 0.998, close,
                  np.full(close.shape, 1e9)], axis=-1)
    index = pd.bdate_range(market.index[-1] + pd.Timedelta(days=1), periods=length)
    return PathSet(v, index, market.assets)


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _bare_loop(strategy, paths: PathSet, k: int, *, fast: bool) -> tuple[float, float]:
    """(wall s, CPU s) per path of a plain loop: one Cerebro per path, no runner."""
    import backtrader as bt

    from diffbt.bt.feeds import bt_datetimes, values_feeds

    dts = bt_datetimes(paths.index)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(k):
        cerebro = bt.Cerebro(stdstats=False) if fast else bt.Cerebro()
        if fast:
            feeds = values_feeds(np.asarray(paths.values[i]), paths.index, paths.assets,
                                 datetimes=dts)
        else:
            feeds = [bt.feeds.PandasData(dataname=f, name=a, openinterest=None)
                     for a, f in paths.to_frame(i).items()]
        for f in feeds:
            cerebro.adddata(f, name=f._name)
        cerebro.addstrategy(strategy)
        cerebro.run()
    return (time.perf_counter() - t0) / k, (time.process_time() - c0) / k


def _strategies():
    """The example strategies package (top level of a source checkout)."""
    try:
        import strategies
    except ImportError:
        root = Path(__file__).resolve().parents[2]
        if not (root / "strategies" / "__init__.py").is_file():
            raise
        sys.path.insert(0, str(root))
        import strategies
    return strategies


def bench_runner(n_paths: int, length: int, *, max_workers: int = 2,
                 repeats: int = 1) -> list[tuple[str, str]]:
    """Wall-clock rates, plus CPU seconds per path (robust when other jobs share the CPUs).

    Measurements are interleaved `repeats` times and the best of each is kept.
    """
    from diffbt.bt import backtest_paths

    SmaCross = _strategies().SmaCross  # noqa: N806

    market = datasets.load()
    paths = bootstrap_paths(market, n_paths, length)
    k = min(n_paths, 200)
    _bare_loop(SmaCross, paths, 5, fast=True)  # warm-up
    bare = bare_cpu = wall = cpu = np.inf
    rates: dict[int, float] = {}
    cpus: dict[int, float] = {}
    walls: dict[int, float] = {}
    for _ in range(repeats):
        b, bc = _bare_loop(SmaCross, paths, k, fast=True)
        bare, bare_cpu = min(bare, b), min(bare_cpu, bc)
        for w in range(1, max_workers + 1):
            t0, c0, k0 = time.perf_counter(), time.process_time(), _cpu_children()
            res = backtest_paths(SmaCross, paths, workers=w, progress=False)
            wall = time.perf_counter() - t0
            cpu = (time.process_time() - c0 + _cpu_children() - k0) / n_paths
            if res.errors:
                raise RuntimeError(f"benchmark run failed: {res.errors[0].message}")
            rates[w] = max(rates.get(w, 0.0), n_paths / wall)
            walls[w] = min(walls.get(w, np.inf), wall)
            cpus[w] = min(cpus.get(w, np.inf), cpu)
    plain, plain_cpu = _bare_loop(SmaCross, paths, min(k, 100), fast=False)
    rows = [("bare Cerebro loop, numpy feeds, stdstats=False (1 core)",
             f"{1 / bare:.1f} paths/s; {1e3 * bare_cpu:.1f} ms CPU/path"),
            ("bare Cerebro loop, PandasData, backtrader defaults (1 core)",
             f"{1 / plain:.1f} paths/s; {1e3 * plain_cpu:.1f} ms CPU/path")]
    for w in range(1, max_workers + 1):
        rows.append((f"backtest_paths, backend=process, {w} worker{'s' * (w > 1)}",
                     f"{rates[w]:.1f} paths/s ({walls[w]:.1f} s wall); "
                     f"{1e3 * cpus[w]:.1f} ms CPU/path (workers + parent)"))
    if max_workers >= 2:
        rows.append(("speed-up 1 -> 2 workers, wall clock (goal >= 1.8x)",
                     f"{rates[2] / rates[1]:.2f}x"))
        rows.append(("CPU per path, 2 workers / 1 worker (1.00 = no parallel overhead)",
                     f"{cpus[2] / cpus[1]:.2f}"))
    rows.append(("runner overhead per path over the bare loop, 1 worker, wall (goal <= 10 %)",
                 f"{100 * ((1 / rates[1]) / bare - 1):+.1f} %"))
    rows.append(("runner overhead per path over the bare loop, 1 worker, CPU time",
                 f"{100 * (cpus[1] / bare_cpu - 1):+.1f} %"))
    return rows


def bench_ray(n_paths: int, length: int, *, workers: int = 2) -> list[tuple[str, str]]:
    """Ray backend on a local cluster: start-up, then paths/s on a warm cluster."""
    try:
        import ray
    except ImportError:
        return [("backtest_paths, backend=ray", "skipped (ray not installed)")]
    from diffbt.bt import backtest_paths

    SmaCross = _strategies().SmaCross  # noqa: N806
    paths = bootstrap_paths(datasets.load(), n_paths, length)
    try:
        t0 = time.perf_counter()
        backtest_paths(SmaCross, paths.subset(slice(0, 2)), backend="ray", workers=workers,
                       progress=False)
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = backtest_paths(SmaCross, paths, backend="ray", workers=workers, progress=False)
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    if res.errors:
        raise RuntimeError(f"ray benchmark run failed: {res.errors[0].message}")
    return [(f"backtest_paths, backend=ray, {workers} workers (local cluster, warm)",
             f"{n_paths / wall:.1f} paths/s ({wall:.1f} s wall; first call incl. start-up "
             f"{start:.1f} s)")]


def _per_bar(model, market: Market, bars: np.ndarray, **kw) -> float:
    """Seconds per forecast when the model is called once per bar on the history so far."""
    t0 = time.perf_counter()
    for t in bars:
        model.forecast_series(market.iloc(slice(0, int(t) + 1)), **kw)
    return (time.perf_counter() - t0) / len(bars)


def bench_forecasts(*, diffusion: bool) -> list[tuple[str, str]]:
    from diffbt.bt import EmpiricalQuantileForecaster

    market = datasets.load()
    kw = dict(horizon=5, quantiles=(0.05, 0.5, 0.95), asset="sp500", n_samples=100, seed=0)
    rows = []
    model = EmpiricalQuantileForecaster(window=250)
    t0 = time.perf_counter()
    out = model.forecast_series(market, **kw)
    batched = (time.perf_counter() - t0) / np.isfinite(out[:, 0]).sum()
    one = _per_bar(model, market, np.linspace(300, len(market) - 1, 50).astype(int), **kw)
    rows.append((f"forecasts/s, EmpiricalQuantileForecaster, batched ({len(market)} bars)",
                 f"{1 / batched:,.0f}"))
    rows.append(("forecasts/s, EmpiricalQuantileForecaster, one call per bar",
                 f"{1 / one:,.0f} ({batched and one / batched:,.0f}x slower)"))
    if diffusion:
        rows += _bench_diffusion(market)
    return rows


def _bench_diffusion(market: Market) -> list[tuple[str, str]]:
    try:
        from diffbt.generate.generator import MarketGenerator

        small = market.iloc(slice(0, 600))
        gen = MarketGenerator(window=16, hidden=16, n_blocks=1, attention=False,
                              timesteps=50, steps=20, batch_size=32).fit(small)
        kw = dict(horizon=5, quantiles=(0.05, 0.5, 0.95), asset=small.assets[0],
                  n_samples=32, seed=0, sampler_steps=5)
        test = small.iloc(slice(0, 200))
        t0 = time.perf_counter()
        out = gen.forecast_series(test, **kw)
        batched = (time.perf_counter() - t0) / np.isfinite(out[:, 0]).sum()
        one = _per_bar(gen, test, np.arange(150, 160), **kw)
    except Exception as e:  # noqa: BLE001 - the generator is optional here
        return [("forecasts/s, MarketGenerator", f"skipped ({type(e).__name__}: {e})")]
    what = "tiny MarketGenerator (32 samples, 5 sampler steps)"
    return [(f"forecasts/s, {what}, batched", f"{1 / batched:,.1f}"),
            (f"forecasts/s, {what}, one call per bar",
             f"{1 / one:,.1f} ({one / batched:,.0f}x slower)")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--bars", type=int, default=252)
    ap.add_argument("--max-workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats, best kept")
    ap.add_argument("--ray", action="store_true", help="also time backend='ray'")
    ap.add_argument("--diffusion", action="store_true", help="also time a tiny diffusion model")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = [("setup", f"SMA crossover, {args.paths} paths x {args.bars} bars x 2 assets, "
                      f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f} at start, "
                      f"best of {args.repeats}")]
    rows += bench_runner(args.paths, args.bars, max_workers=args.max_workers,
                         repeats=args.repeats)
    if args.ray:
        rows += bench_ray(args.paths, args.bars, workers=args.max_workers)
    rows += bench_forecasts(diffusion=args.diffusion)
    print_rows(rows)


def print_rows(rows: list[tuple[str, str]]) -> None:
    """Print ``(measure, value)`` rows as a two-column Markdown table."""
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
