"""Benchmark: stylized facts of the four baseline generators against held-out real data.

Run::

    python -m benchmarks.facts --dataset sp500_nasdaq --train-end 2014-12-31 \\
        --paths 200 --length 1006 --crypto ../shared/data/crypto_binance_1h_2024_2026

Each baseline is fit on the bars up to ``--train-end`` (or the first 80 % for the crypto
data), samples ``--paths`` paths as long as the held-out span, and is scored with
`diffbt.metrics.facts.stylized_facts` against that span. Prints Markdown tables and writes
them, with the command, to ``--out`` (default ``docs/quality.md``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from diffbt.data import datasets
from diffbt.data.market import Market
from diffbt.generate.baselines import BASELINES
from diffbt.generate.pathset import PathSet
from diffbt.metrics.facts import stylized_facts

__all__ = ["evaluate_baselines", "load_crypto", "main"]

CRYPTO_ASSETS = ("BTC", "ETH", "SOL", "XRP", "AAVE")

LABELS = {"gbm": "GBM", "merton": "Merton JD", "bootstrap": "Block bootstrap",
          "garch": "GARCH(1,1)-t CCC", "previous": "previous span (real)"}

STAT_NOTES = {
    "w1_ret_1": "sd of 1-bar log returns",
    "w1_ret_5": "sd of 5-bar log returns",
    "w1_ret_20": "sd of 20-bar log returns",
    "kurtosis": "excess kurtosis of 1-bar returns",
    "skew": "skewness of 1-bar returns",
    "acf_ret": "mean ACF of returns, lags 1-20",
    "acf_abs": "mean ACF of abs returns, lags 1-50",
    "leverage": "mean corr(r_t, r_{t+k}^2), k 1-20",
    "cross_corr": "mean cross-asset correlation",
    "max_drawdown": "mean max drawdown per window",
}


def load_crypto(directory: str | Path) -> Market:
    """The five hourly Binance CSVs of ``directory`` as one `Market` (BTC ETH SOL XRP AAVE)."""
    directory = Path(directory)
    files = {a: directory / f"Binance_{a}USDT_1h.csv" for a in CRYPTO_ASSETS}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"crypto data missing: {missing}")
    try:
        from diffbt.data.io import load_market
    except ImportError:  # pragma: no cover - io.py is optional for this script
        load_market = None
    if load_market is not None:
        with warnings.catch_warnings():   # "UTC converted to UTC (tz-naive)": expected here
            warnings.simplefilter("ignore")
            return load_market({a: str(p) for a, p in files.items()})
    frames = {a: pd.read_csv(p, index_col="timestamp", parse_dates=["timestamp"])
              for a, p in files.items()}
    index = frames[CRYPTO_ASSETS[0]].index
    for f in frames.values():
        index = index.intersection(f.index)
    values = np.stack([frames[a].loc[index, ["open", "high", "low", "close", "volume"]]
                       .to_numpy(float) for a in CRYPTO_ASSETS], axis=1)
    return Market(values, index, CRYPTO_ASSETS)


def evaluate_baselines(train: Market, test: Market, *, n_paths: int, length: int,
                       seed: int = 0, log=None) -> tuple[pd.DataFrame, pd.DataFrame,
                                                         dict[str, float], dict[str, object]]:
    """Fit each baseline on `train`, sample, score against `test`.

    Returns
    -------
    distances : DataFrame, facts x generators (plus ``previous``: the last bars of `train`)
    stats : DataFrame, ``real`` then one column per generator
    seconds : dict, fit + sample + score time per generator
    params : dict, the fitted parameters per generator
    """
    dist, stat, secs, params = {}, {}, {}, {}
    for name, cls in BASELINES.items():
        t0 = time.perf_counter()
        gen = cls().fit(train)
        params[name] = gen.params
        ps = gen.sample(n_paths, length, seed=seed)
        res = stylized_facts(test, ps)
        secs[name] = time.perf_counter() - t0
        t = res.table.set_index("fact")
        stat.setdefault("real", t["real"])
        stat[name], dist[name] = t["synthetic"], t["distance"]
        if log:
            log(f"{name}: {secs[name]:.1f} s")
        del ps
    prev_len = min(length, len(train))
    prev = PathSet.from_market(train.iloc(slice(len(train) - prev_len, None)))
    t = stylized_facts(test, prev).table.set_index("fact")
    dist["previous"], stat["previous"] = t["distance"], t["synthetic"]
    return pd.DataFrame(dist), pd.DataFrame(stat), secs, params


def _param_lines(params: dict[str, object], assets: tuple[str, ...]) -> list[str]:
    def per(v, f="{:.3g}"):
        return ", ".join(f"{a} {f.format(x)}" for a, x in zip(assets, np.ravel(v), strict=True))

    g, m, b, h = (params[k] for k in ("gbm", "merton", "bootstrap", "garch"))
    persist = np.asarray(h.alpha) + np.asarray(h.beta)
    lines = [
        f"- GBM: sd per bar {per(np.sqrt(np.diag(g.cov)))}.",
        f"- Merton: jumps per bar {per(m.lam)}; jump mean {per(m.jump_mean)}; "
        f"jump sd {per(m.jump_std)} (threshold {m.threshold:g} sd).",
        f"- Block bootstrap: mean block {b.mean_block:g} bars over {b.n_rows} real bars.",
        f"- GARCH: alpha + beta {per(persist, '{:.4f}')}; t dof {per(h.nu, '{:.2f}')}.",
    ]
    igarch = [a for a, x in zip(assets, persist, strict=True) if x > 0.999]
    if igarch:
        lines.append(f"  alpha + beta hits 1 (integrated GARCH) for {', '.join(igarch)}: "
                     "simulated variance is then a martingale, most paths calm down and a few "
                     "explode, which inflates the pooled statistics.")
    return lines


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.4f}" if abs(x) < 10 else f"{x:.2f}"


def to_markdown(df: pd.DataFrame, *, bold_min: bool = False, notes: dict | None = None,
                exclude_from_min: tuple[str, ...] = ("previous",)) -> str:
    cols = list(df.columns)
    head = ["fact"] + (["statistic"] if notes else []) + [LABELS.get(c, c) for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for fact, row in df.iterrows():
        cand = row[[c for c in cols if c not in exclude_from_min]].astype(float)
        best = cand.idxmin() if bold_min and cand.notna().any() else None
        cells = [f"**{_fmt(v)}**" if c == best else _fmt(v) for c, v in row.items()]
        lead = [f"`{fact}`"] + ([notes.get(fact, "")] if notes else [])
        lines.append("| " + " | ".join(lead + cells) + " |")
    return "\n".join(lines)


def _section(title: str, desc: str, dist: pd.DataFrame, stat: pd.DataFrame,
             secs: dict[str, float], params: dict[str, object], assets: tuple[str, ...]) -> str:
    gen_cols = [c for c in dist.columns if c != "previous"]
    wins = dist[gen_cols].astype(float).idxmin(axis=1).dropna()
    count = wins.map(LABELS.get).value_counts()
    timing = ", ".join(f"{LABELS[k]} {v:.1f} s" for k, v in secs.items())
    return "\n".join([
        f"## {title}", "", desc, "",
        "Distances (lower is better; the best baseline per fact in bold):", "",
        to_markdown(dist, bold_min=True), "",
        "Facts closest matched: " + ", ".join(f"{k} {v}" for k, v in count.items()) + ".", "",
        "The statistics behind them (`real` is the held-out span):", "",
        to_markdown(stat, notes=STAT_NOTES), "",
        "Fitted parameters (training span):", "", *_param_lines(params, assets), "",
        f"Fit + sample + score time per generator: {timing}.", ""])


HEADER = """# Synthetic-data quality: the baselines' stylized facts

This is the bar the diffusion generator must clear. Four classical generators
(`diffbt.baselines`) are fit on a training span, sample paths as long as the held-out span
that follows it, and are compared with that real span by
`diffbt.evaluate.stylized_facts` (`diffbt/metrics/facts.py`, where each distance is defined).

Generated by (the file is rewritten by this command; distances and statistics depend only on
the seed, the timings on the machine):

```
{command}
```

What each fact compares (close-to-close log returns; per asset, then averaged over assets):

- `w1_ret_h`: 1-Wasserstein distance between the distributions of `h`-bar log returns
  (overlapping sums; synthetic pooled over paths).
- `kurtosis`, `skew`: absolute difference of excess kurtosis / skewness (synthetic: per path,
  averaged over paths).
- `acf_ret`: mean absolute difference of the return ACF over lags 1-20.
- `acf_abs`: the same for the ACF of |returns|, lags 1-50 (volatility clustering).
- `leverage`: the same for corr(r_t, r_{{t+k}}^2), k 1-20 (the leverage effect).
- `cross_corr`: Frobenius norm of the difference of the lag-0 correlation matrices / n_assets.
- `max_drawdown`: W1 between the max drawdowns of non-overlapping windows of `dd_horizon`
  bars (default: a tenth of the held-out span).

The column "previous span (real)" scores the last bars of the *training* data (one real path,
as long as the held-out span) the same way: what a different stretch of real history scores.
It is a reference, not a generator. All four baselines model close-to-close returns; GBM,
Merton and GARCH draw the intrabar fields (gap, wicks, volume) from real training bars of a
similar |return| (see `diffbt/generate/baselines/`), the bootstrap resamples whole bars.

Reading the tables: every baseline is unconditional, so it reproduces the *training* span's
volatility level. When the held-out span is calmer or wilder than the training span, the
`w1_ret_h` and `max_drawdown` distances measure mostly that level shift (compare the `sd`
rows); the dependence facts (`acf_abs`, `leverage`, `cross_corr`) and the shape facts
(`kurtosis`, `skew`) are less sensitive to it. GBM and Merton have no volatility clustering
(`acf_abs` near 0) and no leverage effect by construction; GARCH(1,1) is symmetric (no
leverage, no skew); Merton's jumps are independent across assets, which lowers the
cross-asset correlation.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.facts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="sp500_nasdaq", choices=datasets.names())
    ap.add_argument("--train-end", default="2014-12-31")
    ap.add_argument("--eval-end", default=None, help="last held-out bar (default: all)")
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--length", type=int, default=None,
                    help="bars per path (default: the held-out span's length)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crypto", default=None, metavar="DIR",
                    help="folder with Binance_{BTC,ETH,SOL,XRP,AAVE}USDT_1h.csv (optional)")
    ap.add_argument("--crypto-paths", type=int, default=None,
                    help="paths for the crypto table (default: --paths)")
    ap.add_argument("--out", default="docs/quality.md", help="Markdown file ('' to skip)")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    command = "python -m benchmarks.facts " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    parts = [HEADER.format(command=command.strip())]

    market = datasets.load(args.dataset)
    train, test = market.split(args.train_end)
    if args.eval_end is not None:
        test = test.loc(None, args.eval_end)
    length = args.length or len(test)
    log(f"{args.dataset}: train {len(train)} bars, held-out {len(test)} bars, "
        f"{args.paths} paths x {length} bars")
    dist, stat, secs, params = evaluate_baselines(train, test, n_paths=args.paths,
                                                  length=length, seed=args.seed, log=log)
    desc = (f"`{args.dataset}` ({', '.join(market.assets)}, daily). Train "
            f"{train.index[0]:%Y-%m-%d} .. {train.index[-1]:%Y-%m-%d} ({len(train)} bars); "
            f"held out {test.index[0]:%Y-%m-%d} .. {test.index[-1]:%Y-%m-%d} ({len(test)} "
            f"bars). {args.paths} paths x {length} bars per generator, seed {args.seed}.")
    parts.append(_section(f"{args.dataset}, train to {args.train_end}", desc, dist, stat, secs,
                          params, market.assets))

    if args.crypto is not None:
        try:
            crypto = load_crypto(args.crypto)
        except FileNotFoundError as e:
            log(f"skipping the crypto table: {e}")
            parts.append(f"## Crypto hourly\n\nSkipped: {e}\n")
        else:
            c_train, c_test = crypto.split_fraction(0.8)
            n = args.crypto_paths or args.paths
            log(f"crypto: train {len(c_train)} bars, held-out {len(c_test)} bars, {n} paths")
            cd, cs, csecs, cpar = evaluate_baselines(c_train, c_test, n_paths=n,
                                                     length=len(c_test), seed=args.seed, log=log)
            desc = (f"Binance hourly {', '.join(crypto.assets)} (`{args.crypto}`, shared "
                    f"reference data, not shipped). Train the first 80 %: "
                    f"{c_train.index[0]:%Y-%m-%d %H:%M} .. {c_train.index[-1]:%Y-%m-%d %H:%M} "
                    f"({len(c_train)} bars); held out the last 20 %: "
                    f"{c_test.index[0]:%Y-%m-%d %H:%M} .. {c_test.index[-1]:%Y-%m-%d %H:%M} "
                    f"({len(c_test)} bars). {n} paths x {len(c_test)} bars, seed {args.seed}.")
            parts.append(_section("Crypto hourly, first 80 % / last 20 %", desc, cd, cs, csecs,
                                  cpar, crypto.assets))

    text = "\n".join(parts)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
