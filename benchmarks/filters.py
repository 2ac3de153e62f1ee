"""Benchmark: how much of each planted edge the bar filters carry without the network.

Run::

    python -m benchmarks.filters [--seeds 0 1] [--paths 250]

On each seed's planted market of `benchmarks.planted` (the same market and training years),
the GJR-GARCH filter and the mean filter are fitted on the training years exactly as
``MarketGenerator(vol_filter="garch", mean_filter=True)`` fits them (`VolState.fit`). Then
``--paths`` 252-bar paths are rebuilt bar by bar (`VolState.rebuild`) from the training
span's own residuals, whole bars of all assets drawn independently: filtered historical
simulation, the network replaced by an i.i.d. draw of what it is trained on. For every
single-rule strategy of the planted harness the table gives its median annualised Sharpe
on these paths (``filters``), and the same without the mean filter (``garch only``), beside
the true Sharpe: what the filters alone carry, and so what is left to the network.

With ``--model FILE`` (one seed, or ``--crypto DIR``: the shared hourly data, its first
80 %) it also looks at what the network does with those residuals: the model in FILE
(fitted on the training span with ``--set`` settings when FILE does not exist, e.g.
``--set window=128 overlap=32 keep_best=true vol_filter=garch calibrate_paths=false
hidden=64 mean_filter=true``) draws ``--paths`` unconditioned paths, which are filtered back
with its own filters; the residuals' lag-1 autocorrelation, the autocorrelation of their
absolute values, their mean square and their far quantiles are printed beside the training
span's, and the paths' median 64-bar volatility beside the training span's and that of
paths rebuilt by the same filters from i.i.d. training residuals, and how much of the
training windows' residual variance the network gives back when they are noised to a step
and denoised (`denoised_energy`).

With ``--clustering`` (sp500_nasdaq trained to 2014, or ``--crypto DIR``) it prints instead
the per-piece autocorrelation of |r| that each GARCH filter (``"garch"``, ``"garch2"``) puts
into such i.i.d.-residual paths by itself, against the real market's: how much volatility
clustering the filter carries before the network adds anything.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.planted import (
    BARS_PER_YEAR,
    MARKETS,
    RULES,
    planted_market,
    settings_from,
    strategies_for,
    strategy_returns,
    true_sharpes,
)
from diffbt.data.features import RET, to_features
from diffbt.generate.volstate import MEAN_HALFLIVES, VolState

__all__ = ["filtered_paths", "main", "residuals"]


def filtered_paths(features: np.ndarray, n_paths: int, length: int, *, mean: bool,
                   seed: int = 0, filter: str = "garch", burn: int = 0
                   ) -> tuple[np.ndarray, VolState]:
    """Closes (n_paths, length, A) rebuilt from the filters fitted on `features` (T, A, 5)
    and its residual bars drawn i.i.d. (the first 50 bars, still in the filters' burn-in,
    are not drawn), from the long-run state; `burn` more bars are rebuilt first and dropped.
    `filter`: ``"garch"`` or ``"garch2"``."""
    vol = VolState.fit(features[..., RET], 512, filter=filter, mean=mean)
    scaled = vol.filter_bars(features)[0]
    rng = np.random.default_rng(seed)
    draw = scaled[rng.integers(min(50, len(scaled) // 2), len(scaled),
                               size=(n_paths, burn + length))]
    bars = vol.rebuild(draw, vol.neutral(n_paths))[0][:, burn:]
    return 100.0 * np.exp(np.cumsum(bars[..., RET], axis=1)), vol


def clustering(crypto: str | None, n_paths: int, seed: int = 0) -> None:
    """Print the per-piece ACF of |r| of paths rebuilt by each GARCH filter from i.i.d.
    training residuals (`filtered_paths`, 500 bars of burn-in) beside the real market's
    (`benchmarks.quality.clustering_check`'s statistic): sp500_nasdaq trained to 2014 with
    252-bar pieces, or with `crypto` the shared hourly data's first 80 % with 720-bar
    pieces."""
    from benchmarks.quality import CLUSTER_LAGS, _piece_stats

    if crypto:
        from pathlib import Path

        from diffbt.data.io import load_market

        files = sorted(Path(crypto).glob("*.csv"))
        if not files:
            raise SystemExit(f"reference data not found in {crypto}")
        market = load_market({f.stem.split("_")[1].replace("USDT", ""): f for f in files})
        train, piece, where = market.split_fraction(0.8)[0], 720, "crypto 1h, first 80 %"
    else:
        from diffbt.data import datasets

        market = datasets.load("sp500_nasdaq")
        train, piece, where = market.split("2014-12-31")[0], 252, "sp500_nasdaq to 2014"
    r = to_features(market.values)[..., RET]
    k = len(r) // piece
    real = _piece_stats(r[:k * piece].reshape(k, piece, -1))["acf_abs"]
    got = {}
    for name in ("garch", "garch2"):
        close, vol = filtered_paths(to_features(train.values), n_paths, piece + 1, mean=False,
                                    seed=seed, filter=name, burn=500)
        got[name] = _piece_stats(np.diff(np.log(close), axis=1))["acf_abs"]
        print(f"{name} fitted on {where}: alpha {np.round(vol.alpha, 3).tolist()} gamma "
              f"{np.round(vol.gamma, 3).tolist()} beta {np.round(vol.beta, 3).tolist()}")
    lags = " / ".join(str(g) for g in CLUSTER_LAGS)
    print(f"\nACF of |r| per {piece}-bar piece, lags {lags} ({n_paths} paths from each "
          f"filter with i.i.d. training residuals; real: {k} pieces of the whole market)\n")
    print("| asset | real | garch | garch2 | mean rel. error, garch / garch2 |")
    print("|---|---|---|---|--:|")
    for j, a in enumerate(market.assets):
        cells = [" / ".join(f"{v:.3f}" for v in x[:, j]) for x in (real, got["garch"],
                                                                    got["garch2"])]
        err = [np.abs(got[n][:, j] / real[:, j] - 1).mean() for n in ("garch", "garch2")]
        print(f"| {a} | " + " | ".join(cells) + f" | {err[0]:.0%} / {err[1]:.0%} |")


def residuals(model_path: str, seed: int, n_paths: int, train_years: int, test_years: int,
              settings: dict, crypto: str | None = None, sampler: str = "dpm/20") -> None:
    """Print the lag-1 autocorrelation of the network's residuals (the filtered return
    feature), the autocorrelation of their absolute values and their mean square, on
    generated paths against the training span's (cut into pieces of the paths' length).

    The training span is the planted market's of `seed`, or with `crypto` (a folder of the
    shared hourly data) its first 80 %, with 720-bar paths. `sampler`: ``"dpm/20"``,
    ``"ddpm"``..."""
    from pathlib import Path

    from diffbt.generate.generator import MarketGenerator

    n_train = train_years * BARS_PER_YEAR
    length = BARS_PER_YEAR
    if crypto:
        from diffbt.data.io import load_market

        files = sorted(Path(crypto).glob("*.csv"))
        if not files:
            raise SystemExit(f"reference data not found in {crypto}")
        market = load_market({f.stem.split("_")[1].replace("USDT", ""): f for f in files})
        n_train, length = int(len(market) * 0.8), 720
    else:
        market, _ = planted_market(MARKETS[0], n_train + test_years * BARS_PER_YEAR, seed=seed)
    if not Path(model_path).exists():
        MarketGenerator(**settings).fit(market, train_end=market.index[n_train - 1],
                                        seed=seed).save(model_path)
    gen = MarketGenerator.load(model_path)
    vol = gen.state.vol
    if vol is None or not vol.per_bar:
        raise SystemExit("error: --model needs a model fitted with vol_filter=garch")
    assets = gen.state.assets
    feats = to_features(market.select(assets).values[:n_train])
    z = vol.filter_bars(feats)[0][50:, :, RET]
    train = np.stack([z[s:s + length] for s in range(0, len(z) - length + 1, length)])
    name, _, steps = sampler.partition("/")
    paths = to_features(gen.sample(n_paths, length + 50, seed=seed, sampler=name,
                                   sampler_steps=int(steps) if steps else None).values)
    made = vol.filter_bars(paths)[0][:, 50:, :, RET]  # from the neutral state: skip 50 bars

    def acf(x: np.ndarray, k: int) -> np.ndarray:  # per piece about its mean, pooled
        x = x - x.mean(axis=1, keepdims=True)
        return (x[:, k:] * x[:, :-k]).sum(axis=(0, 1)) / (x * x).sum(axis=(0, 1))

    ms = (made**2).mean(axis=(0, 1)) / (train**2).mean(axis=(0, 1))
    q = [np.quantile(np.abs(made), p, axis=(0, 1)) / np.quantile(np.abs(train), p, axis=(0, 1))
         for p in (0.5, 0.99, 0.999)]
    where = "crypto, first 80 %" if crypto else f"seed {seed}"
    print(f"\nResiduals of {model_path} ({where}; {sampler}; {n_paths} paths of {length} bars "
          f"after 50 left out, against {len(train)} training pieces of {length})\n")
    print("| asset | lag-1 ACF, training / paths | ACF of abs, lag 1, training / paths | "
          "ACF of abs, lag 5, training / paths | mean square, paths / training | "
          "abs quantile 50 / 99 / 99.9 %, paths / training |")
    print("|---|--:|--:|--:|--:|--:|")
    cols = [acf(train, 1), acf(made, 1), acf(np.abs(train), 1), acf(np.abs(made), 1),
            acf(np.abs(train), 5), acf(np.abs(made), 5)]
    for j, a in enumerate(assets):
        c = [v[j] for v in cols]
        print(f"| {a} | {c[0]:+.3f} / {c[1]:+.3f} | {c[2]:+.3f} / {c[3]:+.3f} | "
              f"{c[4]:+.3f} / {c[5]:+.3f} | {ms[j]:.2f} | "
              + " / ".join(f"{x[j]:.2f}" for x in q) + " |")
    # volatility level: the network's paths against the filters fed i.i.d. training residuals
    from benchmarks.quality import median_volatility

    ppy = market.periods_per_year
    iid, _ = filtered_paths(feats, n_paths, length + 1, mean=vol.mean is not None,
                            seed=seed, filter=vol.filter, burn=500)
    level = [median_volatility(x, ppy) for x in (feats[None, ..., RET],
                                           np.diff(np.log(iid), axis=1), paths[:, 50:, :, RET])]
    print("\nMedian 64-bar volatility (annualised), training / filters with i.i.d. training "
          "residuals / the network's paths: " + "; ".join(
              f"{a} " + " / ".join(f"{x[j]:.2f}" for x in level) for j, a in enumerate(assets)))
    # where along the denoising the network's residual variance goes
    last = gen.diffusion.num_timesteps - 1
    starts = [t for t in (100, 300, 500, 700) if t < last] + [last]
    energy = denoised_energy(gen, feats, starts)
    print("\nMean square of training windows' return residuals denoised from step t "
          "(DDIM, 25 steps, no labels; the last step: from pure noise), over their own:\n")
    print("| asset | " + " | ".join(f"t = {t}" for t in starts) + " |")
    print("|---|" + "--:|" * len(starts))
    for j, a in enumerate(assets):
        print(f"| {a} | " + " | ".join(f"{v:.3f}" for v in energy[:, j]) + " |")


def denoised_energy(gen: Any, feats: np.ndarray, starts: Sequence[int], *, n: int = 256,
                    steps: int = 25, seed: int = 0) -> np.ndarray:
    """Mean square of the return channels of `n` windows of the training features `feats`
    (T, A, 5), put in the network's units by `gen`'s own fitted state, noised to each level
    of `starts` and denoised back by its network (DDIM, `steps` deterministic steps, no
    labels), over that of the windows themselves: (len(starts), A). A start at the last
    level begins from pure noise, as sampling does."""
    import torch

    from diffbt.generate.codec import N_FEATURES, training_windows

    st = gen.state
    windows, _, _, log_rho = training_windows(feats, gen.config, st.scaler, st.vol,
                                              st.regimes, st.jumps)
    diff = gen.diffusion
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(windows), size=min(n, len(windows)), replace=False)
    x0 = torch.as_tensor(windows[pick])
    ret = [a * N_FEATURES + RET for a in range(st.n_assets)]
    cond = diff.null_cond(None, len(pick)) | {"state": torch.as_tensor(log_rho[pick])}
    g = torch.Generator().manual_seed(seed)
    last = diff.num_timesteps - 1
    out = []
    with torch.inference_mode():
        for t0 in starts:
            x = torch.randn(x0.shape, generator=g)
            if t0 < last:
                x = diff.q_sample(x0, torch.full((len(x0),), t0), x)
            grid = [int(v) for v in np.linspace(t0, 0, steps).round()]
            for t, s in zip(grid, [*grid[1:], -1], strict=True):
                eps, x0h = diff.model_predictions(x, torch.full((len(x),), t), cond)
                a = diff.abar(s)
                x = x0h if s < 0 else math.sqrt(a) * x0h + math.sqrt(1 - a) * eps
            out.append((x[:, ret] ** 2).mean(dim=(0, 2)).numpy()
                       / (x0[:, ret] ** 2).mean(dim=(0, 2)).numpy())
    return np.array(out)


def _median_sharpe(close: np.ndarray, rule: str) -> float:
    ret = strategy_returns(close, RULES[rule](close))[:, 1:]
    sd = ret.std(axis=1)
    sharpe = np.where(sd > 0, ret.mean(axis=1) / np.where(sd > 0, sd, 1.0), 0.0)
    return float(np.median(sharpe) * np.sqrt(BARS_PER_YEAR))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.filters", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--paths", type=int, default=250)
    ap.add_argument("--train-years", type=int, default=6)
    ap.add_argument("--model", default=None,
                    help="also the network's residuals on this model's paths (one seed)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="settings of the model fitted when --model does not exist")
    ap.add_argument("--sampler", default="dpm/20",
                    help="with --model: the sampler of the paths (dpm/20, ddpm, ...)")
    ap.add_argument("--crypto", default=None, metavar="DIR",
                    help="with --model or --clustering: the shared hourly crypto data instead "
                         "of the planted market (or sp500_nasdaq)")
    ap.add_argument("--clustering", action="store_true",
                    help="only the volatility clustering of paths from each GARCH filter "
                         "with i.i.d. residuals, on sp500_nasdaq or --crypto DIR")
    ap.add_argument("--test-years", type=int, default=6,
                    help="years simulated after the training ones (as in benchmarks.planted: "
                         "the market's draws depend on its length)")
    args = ap.parse_args(argv)
    if args.clustering:
        clustering(args.crypto, args.paths)
        return 0
    spec = MARKETS[0]
    strategies = [s for s in strategies_for(spec) if s.rule in RULES]
    truth = true_sharpes(spec, strategies)
    n_train = args.train_years * BARS_PER_YEAR
    rows: dict[tuple[str, str], list[list[float]]] = {}
    for seed in args.seeds:
        market, _ = planted_market(spec, n_train + args.test_years * BARS_PER_YEAR,
                                   seed=seed)
        feats = to_features(market.values[:n_train])
        runs = {}
        for name, mean in (("filters", True), ("garch only", False)):
            runs[name], vol = filtered_paths(feats, args.paths, BARS_PER_YEAR, mean=mean,
                                             seed=seed)
            if mean:
                print(f"seed {seed}: mean-filter coefficients (last value, means with half-lives "
                      f"{', '.join(map(str, MEAN_HALFLIVES))}, log rho), "
                      "zero = not kept by BIC")
                for a, coef in zip(market.assets, vol.mean.coef, strict=True):
                    print(f"  {a}: " + " ".join(f"{c:+.4f}" for c in coef))
        for s in strategies:
            j = market.assets.index(s.asset)
            rows.setdefault((s.group, s.asset), []).append(
                [_median_sharpe(runs[n][..., j], s.rule) for n in ("filters", "garch only")])
    seeds = " / ".join(f"seed {s}" for s in args.seeds)
    print(f"\nMedian synthetic Sharpe ({seeds}; {args.paths} paths of {BARS_PER_YEAR} bars)\n")
    print("| case | asset | true Sharpe | filters | garch only |")
    print("|---|---|--:|--:|--:|")
    for s in strategies:
        if (s.group, s.asset) not in rows:
            continue
        got = np.array(rows[(s.group, s.asset)])
        print(f"| {s.group} | {s.asset} | {truth[s]:.2f} | "
              + " | ".join(" / ".join(f"{v:.2f}" for v in got[:, k]) for k in (0, 1)) + " |")
        rows.pop((s.group, s.asset))
    if args.model:
        if len(args.seeds) != 1:
            raise SystemExit("error: --model needs exactly one --seeds value")
        residuals(args.model, args.seeds[0], args.paths, args.train_years, args.test_years,
                  settings_from(args.set), crypto=args.crypto, sampler=args.sampler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
