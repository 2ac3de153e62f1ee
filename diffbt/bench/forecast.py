"""Benchmark: `ForecastInterval` indicators on a fitted model, several horizons at once.

    python -m diffbt.bench forecast --model MODEL [--bars 2500] [--horizons 1 6 24]
        [--n-samples 100]

One backtrader strategy holds one `ForecastInterval` per horizon on the model's first asset
(the model's other assets as named feeds), over the last ``--bars`` bars of the bundled
``sp500_nasdaq`` data (or ``--data`` files). Timed side by side in one run: the strategy's
whole backtest (the indicators share one sampling, `MarketGenerator.forecast_table`), and the
same horizons sampled one by one (`MarketGenerator.forecast_series` per horizon, as they
were before the indicators shared their futures). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import time

import backtrader as bt
import numpy as np


class _Intervals(bt.Strategy):
    params = (("model", None), ("horizons", (1,)), ("n_samples", 100))

    def __init__(self) -> None:
        from diffbt.bt import ForecastInterval

        self.fc = [ForecastInterval(self.datas[0], model=self.p.model, horizon=h,
                                    n_samples=self.p.n_samples) for h in self.p.horizons]

    def next(self) -> None:
        pass


def run_forecast(model_path: str, *, bars: int = 2500, horizons: tuple[int, ...] = (1, 6, 24),
                 n_samples: int = 100, data: list[str] | None = None) -> list[tuple[str, str]]:
    """Rows ``(measure, value)`` of the benchmark (see the module doc)."""
    from diffbt.bt.feeds import market_feeds
    from diffbt.data import datasets
    from diffbt.data.io import load_market
    from diffbt.generate.generator import MarketGenerator

    gen = MarketGenerator.load(model_path)
    market = load_market(data) if data else datasets.load()
    market = market.select(gen.assets)
    market = market.iloc(slice(max(0, len(market) - bars), len(market)))
    rows = [("setup", f"{len(market)} bars x {market.n_assets} assets, horizons "
                      f"{list(horizons)}, {n_samples} samples per bar, {os.cpu_count()} CPUs, "
                      f"torch threads {_threads()}")]
    cerebro = bt.Cerebro(stdstats=False)
    for feed in market_feeds(market):
        cerebro.adddata(feed, name=feed._name)
    cerebro.addstrategy(_Intervals, model=gen, horizons=tuple(horizons), n_samples=n_samples)
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    shared = time.perf_counter() - t0
    served = min(int(np.isfinite(np.asarray(fc.lo.array)).sum()) for fc in strat.fc)
    rows.append((f"backtest with {len(horizons)} ForecastIntervals (one sampling)",
                 f"{shared:.1f} s ({served} forecasts per horizon)"))
    t0 = time.perf_counter()
    for h in horizons:
        gen.forecast_series(market, horizon=h, asset=gen.assets[0], n_samples=n_samples,
                            seed=0)
    apart = time.perf_counter() - t0
    rows.append((f"the {len(horizons)} horizons sampled one by one (forecast_series)",
                 f"{apart:.1f} s ({apart / shared:.1f}x the shared backtest)"))
    return rows


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> None:
    from diffbt.bench.runner import print_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bars", type=int, default=2500)
    ap.add_argument("--horizons", type=int, nargs="+", default=[1, 6, 24])
    ap.add_argument("--n-samples", type=int, default=100)
    ap.add_argument("--data", nargs="+", default=None, help="CSV/parquet files (default: the "
                    "bundled sp500_nasdaq)")
    args = ap.parse_args(argv)
    rows = run_forecast(args.model, bars=args.bars, horizons=tuple(args.horizons),
                        n_samples=args.n_samples, data=args.data)
    print_rows(rows)


if __name__ == "__main__":
    main()
