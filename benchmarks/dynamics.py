"""Benchmark: the return dynamics of generated paths on a planted-truth market.

Run::

    python -m benchmarks.dynamics [--variant NAME KEY=VALUE ...] [--paths 200] [--out DIR]

A two-asset planted market (`benchmarks.planted`: GARCH(1,1)-t, zero drift; asset ``MOM``
with lag-1 autocorrelation 0.10, asset ``NUL`` without any edge) of 12 years; each variant
of the generator is fitted on the first 8 years, then ``--paths`` unconditioned 252-bar paths
are compared with what the truth implies:

- ``acf1``: mean per-path lag-1 autocorrelation of log returns (truth: 0.10 and 0);
- ``sharpe_sd``: the spread (sd over paths) of the annualised buy-and-hold Sharpe ratio; for
  returns without drift it is about 1.0, larger means paths carry their own drift;
- ``trend``: median annualised Sharpe of a long/short SMA(10, 60) rule (truth: 0);
- ``acf_abs``: mean per-path ACF of |r| at lags 1, 2, 5, 10, 20 against the same measured on
  252-bar years of a long simulation of the true market (the real per-year value).

Each variant is also measured without its long-path calibrations (``NAME/uncalibrated``).
With ``--model FILE --samplers dpm/20 ddpm ...`` one saved variant's paths are drawn with
each sampler instead. Variants are flat `MarketGenerator` settings (``--variant w128
window=128 overlap=32``); the variant ``default`` (``--variant default``, or no
``--variant``) is the product's defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.planted import (
    AssetSpec,
    MarketSpec,
    planted_market,
    pos_sma,
    settings_from,
    simulate_returns,
    strategy_returns,
)
from diffbt.generate.generator import MarketGenerator

log = logging.getLogger(__name__)

SPEC = MarketSpec("dynamics", (AssetSpec("MOM", "momentum", 0.10), AssetSpec("NUL", "null")))
LAGS = (1, 2, 5, 10, 20)
YEAR = 252


def _acf(x: np.ndarray, lag: int) -> np.ndarray:
    """Per-row autocorrelation at `lag` of (n, T) series."""
    x = x - x.mean(axis=1, keepdims=True)
    den = (x * x).sum(axis=1)
    return (x[:, lag:] * x[:, :-lag]).sum(axis=1) / np.where(den > 0, den, np.nan)


def _sharpe(r: np.ndarray) -> np.ndarray:
    sd = r.std(axis=1, ddof=1)
    return np.sqrt(YEAR) * r.mean(axis=1) / np.where(sd > 0, sd, np.nan)


def dynamics(ret: np.ndarray, close: np.ndarray) -> dict[str, Any]:
    """The statistics of the module docstring for log returns (n, T, A) and closes
    (n, T + 1, A) of `SPEC`'s assets."""
    out: dict[str, Any] = {}
    for j, name in enumerate(SPEC.names):
        r = ret[:, :, j]
        out[name] = {
            "acf1": float(np.nanmean(_acf(r, 1))),
            "sharpe_sd": float(np.nanstd(_sharpe(r))),
            "trend": float(np.nanmedian(_sharpe(np.stack([
                strategy_returns(c, pos_sma(c)) for c in close[:, :, j]])))),
            "acf_abs": [float(np.nanmean(_acf(np.abs(r), k))) for k in LAGS],
        }
    return out


def truth(n_years: int = 400, seed: int = 99) -> dict[str, Any]:
    """`dynamics` of `n_years` independent true years."""
    sim = simulate_returns(SPEC, YEAR, n_chains=n_years, seed=seed)["ret"]
    close = 100 * np.exp(np.concatenate([np.zeros((n_years, 1, len(SPEC.names))),
                                         np.cumsum(sim, axis=1)], axis=1))
    return dynamics(sim, close)


def run_variant(settings: dict[str, Any], *, n_paths: int, seed: int = 0,
                out: Path | None = None, name: str = "variant") -> dict[str, dict[str, Any]]:
    """Fit one variant and measure its paths; also without the long-path calibrations
    (``NAME/uncalibrated``: the same network, the fitted gain or residual scale and the
    drift removed)."""
    market, _ = planted_market(SPEC, 12 * YEAR, seed=seed)
    train, _ = market.split(market.index[8 * YEAR - 1])
    t0 = time.perf_counter()
    gen = MarketGenerator(**settings).fit(train, seed=seed)
    fit_s = time.perf_counter() - t0
    if out is not None:
        gen.save(out / f"{name}.diffbt")
    rows = {name: _measure(gen, train, settings, n_paths=n_paths, seed=seed, fit_s=fit_s)}
    if gen.state.drift is not None:
        st = gen.state
        vol = None if st.vol is None else st.vol.with_gain(np.ones(len(st.assets)), None)
        plain = gen.with_state(st.replace(drift=None, scale=None, vol=vol))
        rows[f"{name}/uncalibrated"] = _measure(plain, train, settings, n_paths=n_paths,
                                                seed=seed, fit_s=fit_s)
    return rows


def _measure(gen: MarketGenerator, train: Any, settings: dict[str, Any], *, n_paths: int,
             seed: int, fit_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    paths = gen.sample(n_paths, YEAR, seed=seed + 1)
    return _summarise(gen, train, paths.values[..., 3], settings, fit_s=fit_s,
                      sample_s=time.perf_counter() - t0)


def _summarise(gen: MarketGenerator, train: Any, close: np.ndarray, settings: dict[str, Any],
               *, fit_s: float, sample_s: float) -> dict[str, Any]:
    n_paths = len(close)
    start = np.broadcast_to(gen.state.last_close, (n_paths, 1, close.shape[2]))
    full = np.concatenate([start, close], axis=1)
    ret = np.diff(np.log(full), axis=1)
    train_ret = np.diff(np.log(train.values[:, :, 3]), axis=0)
    res = dynamics(ret, full)
    for j, name in enumerate(SPEC.names):
        res[name]["train_acf1"] = float(_acf(train_ret[None, :, j], 1)[0])
    return {"settings": settings, "fit_s": fit_s, "sample_s": sample_s, **res}


def compare_samplers(path: str | Path, samplers: list[str], *, n_paths: int, seed: int = 0
                     ) -> dict[str, dict[str, Any]]:
    """`dynamics` of one saved variant's paths drawn with each sampler (``dpm/20``,
    ``ddpm``...), on the same planted market (`seed`)."""
    market, _ = planted_market(SPEC, 12 * YEAR, seed=seed)
    train, _ = market.split(market.index[8 * YEAR - 1])
    gen = MarketGenerator.load(path)
    rows = {}
    for key in samplers:
        name, _, steps = key.partition("/")
        t0 = time.perf_counter()
        paths = gen.sample(n_paths, YEAR, seed=seed + 1, sampler=name,
                           sampler_steps=int(steps) if steps else None)
        rows[key] = _summarise(gen, train, paths.values[..., 3], {"sampler": key},
                               fit_s=float("nan"), sample_s=time.perf_counter() - t0)
    return rows


def _table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| variant | asset | acf1 | sharpe sd | trend Sharpe | ACF abs r, lags "
             + "/".join(map(str, LAGS)) + " | fit s | sample s |",
             "|---|---|--:|--:|--:|---|--:|--:|"]
    for name, row in rows.items():
        for a in SPEC.names:
            r = row[a]
            lines.append(f"| {name} | {a} | {r['acf1']:+.3f} | {r['sharpe_sd']:.2f} | "
                         f"{r['trend']:+.2f} | {' / '.join(f'{x:.3f}' for x in r['acf_abs'])} | "
                         f"{row.get('fit_s', float('nan')):.0f} | "
                         f"{row.get('sample_s', float('nan')):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dynamics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", nargs="+", action="append", default=None,
                   metavar=("NAME", "KEY=VALUE"), help="a named variant (repeatable)")
    p.add_argument("--paths", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports/dynamics")
    p.add_argument("--model", default=None,
                   help="a variant saved by an earlier run: compare --samplers on it instead")
    p.add_argument("--samplers", nargs="+", default=["dpm/20", "dpm-logsnr/20", "ddpm"])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(args.threads)
    if args.model:
        rows = {"truth": truth(), **compare_samplers(args.model, args.samplers,
                                                     n_paths=args.paths, seed=args.seed)}
        print(_table(rows))
        return 0
    variants: dict[str, dict[str, Any]] = {} if args.variant else {"default": {}}
    for name, *kv in args.variant or []:
        variants[name] = settings_from(kv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {"truth": truth()}
    for name, settings in variants.items():
        log.info("variant %s %s", name, settings)
        new = run_variant(settings, n_paths=args.paths, seed=args.seed, out=out, name=name)
        rows.update(new)
        (out / "dynamics.json").write_text(json.dumps(rows, indent=1))
        print(_table(new), flush=True)
    print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
