"""The headline benchmark: N synthetic paths x 252 bars x 2 assets, sampled, backtested with
the SMA crossover, summarised and reported, end to end (stage times).

    python -m diffbt.bench headline --model MODEL [--paths 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run_headline(model: str, n_paths: int = 10_000, *, length: int = 252,
                 workers: int = 2) -> dict[str, float]:
    """Stage times in seconds for `n_paths` paths from the model at `model`."""
    from diffbt.bt.runner import backtest_paths
    from diffbt.data import datasets
    from diffbt.generate.generator import MarketGenerator
    from diffbt.metrics.robustness import robustness
    from diffbt.report.robustness import robustness_report
    from strategies.sma_cross import SmaCross

    gen = MarketGenerator.load(model)
    market = datasets.load()
    _, test = market.split(gen.train_end)
    st: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ps = gen.sample(n_paths, length, seed=1, out=Path(tmp) / "p.npz", batch_size=512)
        st["sample"] = time.perf_counter() - t
        t = time.perf_counter()
        res = backtest_paths(SmaCross, ps, real=test.iloc(slice(0, length)), workers=workers,
                             progress=False)
        st["backtest"] = time.perf_counter() - t
        t = time.perf_counter()
        rep = robustness(res)
        st["metrics"] = time.perf_counter() - t
        t = time.perf_counter()
        robustness_report(res, out_dir=Path(tmp) / "r", report=rep)
        st["report"] = time.perf_counter() - t
    st["total"] = sum(st.values())
    return st


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a model fitted on sp500_nasdaq")
    ap.add_argument("--paths", type=int, default=10_000)
    args = ap.parse_args(argv)
    st = run_headline(args.model, args.paths)
    print(f"{args.paths} paths: " + ", ".join(f"{k} {v:.1f} s" for k, v in st.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
