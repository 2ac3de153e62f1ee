"""Quality of the diffusion generator: against the baselines, conditioning, seams, forecasts.

    python -m benchmarks.quality --dataset sp500_nasdaq --train-end 2014-12-31 --out DIR
    python -m benchmarks.quality --crypto ../shared/data/crypto_binance_1h_2024_2026 --out DIR

Each check is a function returning plain numbers, so tests can run them on tiny models.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.planted import settings_from
from diffbt.bench.suite import sampler_curve
from diffbt.data.features import to_features
from diffbt.data.labels import REGIMES, VOLS
from diffbt.data.market import Market
from diffbt.generate.chain import Chain, DrawSpec
from diffbt.generate.forecast import widen
from diffbt.generate.generator import MarketGenerator
from diffbt.generate.pathset import PathSet
from diffbt.metrics.facts import acf

__all__ = [
    "acf_reference",
    "baseline_table",
    "clustering_check",
    "long_path_check",
    "crps_samples",
    "forecast_check",
    "garch_forecast_samples",
    "jump_check",
    "regime_check",
    "seam_check",
]


# -- against the baselines --------------------------------------------------------------------
def baseline_table(gen: MarketGenerator, train: Market, test: Market, *, n_paths: int = 200,
                   seed: int = 0, sampler_steps: int | None = 20, sampler: str = "dpm"
                   ) -> pd.DataFrame:
    """Stylized-facts distances to `test` of diffusion paths and the four baselines.

    Paths have the length of `test` and start at the end of `train`.
    """
    from diffbt.generate.baselines import GBM, BlockBootstrap, GarchT, MertonJumpDiffusion
    from diffbt.metrics.facts import compare

    length = len(test)
    sets: dict[str, PathSet] = {
        "diffusion": gen.sample(n_paths, length, seed=seed, sampler=sampler,
                                sampler_steps=sampler_steps)}
    for name, cls in (("gbm", GBM), ("merton", MertonJumpDiffusion),
                      ("garch", GarchT), ("bootstrap", BlockBootstrap)):
        sets[name] = cls().fit(train).sample(n_paths, length, seed=seed)
    return compare(test, sets)


# -- regime conditioning ----------------------------------------------------------------------
def _sampled_returns(gen: MarketGenerator, n: int, **kwargs: Any) -> np.ndarray:
    """Log returns (n, window, A) of `n` sampled windows, the first bar's included.

    ``PathSet.log_returns`` drops the first bar's return (from the close before the path);
    the labels and jump counts of real windows use all `window` returns, so sample from a
    known start close and keep it.
    """
    ps = gen.sample(n, gen.config.window, start_price=1.0, **kwargs)
    return np.diff(np.log(ps.field("close")), axis=1, prepend=0.0)


def _window_features(ret: np.ndarray) -> np.ndarray:
    """Summary features of return windows (n, L, A): per-asset sum, mean |r|, std."""
    return np.concatenate([ret.sum(axis=1), np.abs(ret).mean(axis=1), ret.std(axis=1)], axis=1)


def _fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0):
    """Multinomial logistic regression (LBFGS); returns a predict function."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-12
    xt = torch.as_tensor((x - mu) / sd, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    w = (0.01 * torch.randn(x.shape[1], n_classes, generator=g, dtype=torch.float64)
         ).requires_grad_()
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + 1e-4 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)

    def predict(xn: np.ndarray) -> np.ndarray:
        z = torch.as_tensor((xn - mu) / sd, dtype=torch.float64)
        with torch.no_grad():
            return (z @ w + b).argmax(dim=1).numpy()

    return predict


def regime_check(gen: MarketGenerator, train: Market, *, n_per_regime: int = 100,
                 guidance: float | None = None, seed: int = 0,
                 sampler_steps: int | None = 20) -> dict[str, Any]:
    """Share of generated windows a classifier trained on real windows assigns to the regime
    asked for.

    The classifier (multinomial logistic regression on per-asset window sum, mean |r| and std
    of log returns) is trained on the real training windows and their regime labels.
    """
    w = gen.config.window
    ret = to_features(train.select(gen.assets).values)[..., 0]
    windows = np.stack([ret[s:s + w] for s in range(0, len(ret) - w + 1)])
    trend, vol = gen.regimes.label_windows(windows)
    labels = trend * len(VOLS) + vol
    predict = _fit_softmax(_window_features(windows), labels, len(REGIMES), seed)
    real_acc = float(np.mean(predict(_window_features(windows)) == labels))
    out: dict[str, Any] = {"classifier_train_accuracy": real_acc, "per_regime": {}}
    hits = total = 0
    for k, name in enumerate(REGIMES):
        r = _sampled_returns(gen, n_per_regime, regime=name, seed=seed + k,
                             guidance=guidance, sampler_steps=sampler_steps)
        pred = predict(_window_features(r))
        acc = float(np.mean(pred == k))
        out["per_regime"][name] = acc
        hits += int(np.sum(pred == k))
        total += len(pred)
    out["accuracy"] = hits / total
    # the marginal "trend only" labels that users most often ask for
    return out


# -- jump conditioning ------------------------------------------------------------------------
def jump_check(gen: MarketGenerator, train: Market, *, n: int = 300, seed: int = 0,
               sampler_steps: int | None = 20) -> dict[str, float]:
    """Jump bars per window: real windows with exactly k jumps vs samples asking for k."""
    w = gen.config.window
    det = gen.jumps
    ret = to_features(train.select(gen.assets).values)[..., 0]
    counts = det.count_windows(det.flags(ret), w)
    out: dict[str, float] = {"real_share_windows_with_jumps": float(np.mean(counts > 0))}
    for k in (0, 1):
        r = _sampled_returns(gen, n, jumps=k, seed=seed + k, sampler_steps=sampler_steps)
        syn = np.array([det.count_windows(det.flags(x), len(x))[0] for x in r])
        real_k = counts[counts == k]
        out[f"real_jumps_per_window_k{k}"] = float(real_k.mean()) if len(real_k) else math.nan
        out[f"synthetic_jumps_per_window_k{k}"] = float(syn.mean())
    base = _sampled_returns(gen, n, seed=seed + 7, sampler_steps=sampler_steps)
    syn_u = np.array([det.count_windows(det.flags(x), len(x))[0] for x in base])
    out["synthetic_jumps_per_window_unconditioned"] = float(syn_u.mean())
    out["real_jumps_per_window_all"] = float(counts.mean())
    rate_real = out["real_jumps_per_window_k1"]
    out["k1_rate_ratio"] = out["synthetic_jumps_per_window_k1"] / rate_real if rate_real else \
        math.nan
    return out


# -- the return autocorrelation a faithful model can reach -------------------------------------
def acf_reference(train: Market, test: Market, *, lags: int = 20) -> dict[str, Any]:
    """How far the real training history's return ACF is from the test span's.

    The ``acf_ret`` distance (mean over lags and assets of ``|ACF_test - ACF_x|``) of: the
    whole training span, zero autocorrelation (the GBM / GARCH limit), and each test-length
    piece of the training history. A model that reproduces the training span scores about
    the first; the baselines with independent increments about the second.
    """
    def acf_of(r: np.ndarray) -> np.ndarray:  # (T, A) -> (lags, A)
        return np.stack([acf(r[None, :, a], lags)[0] for a in range(r.shape[1])], axis=1)

    tr, te = to_features(train.values)[..., 0], to_features(test.values)[..., 0]
    target = acf_of(te)
    n = len(te)
    pieces = [float(np.abs(acf_of(tr[s:s + n]) - target).mean())
              for s in range(0, len(tr) - n + 1, n)]
    return {"training_span": float(np.abs(acf_of(tr) - target).mean()),
            "zero": float(np.abs(target).mean()), "training_pieces": pieces,
            "lag1_training": acf_of(tr)[0].tolist(), "lag1_test": target[0].tolist()}


# -- long paths: drift and volatility by position --------------------------------------------
def median_volatility(r: np.ndarray, periods_per_year: float) -> np.ndarray:
    """Median over paths and 16-bar steps of the 64-bar volatility of log returns `r`
    (n, T, A), annualised: (A,)."""
    w = min(64, r.shape[1])
    v = np.stack([r[:, s:s + w].std(axis=1) for s in range(0, r.shape[1] - w + 1, 16)], axis=1)
    return np.median(v.reshape(-1, r.shape[2]), axis=0) * math.sqrt(periods_per_year)


def long_path_check(gen: MarketGenerator, train: Market, *, n_paths: int = 200,
                    length: int = 1006, blocks: Sequence[int] = (0, 126, 252, 504),
                    seed: int = 5, sampler_steps: int | None = 20, sampler: str = "dpm"
                    ) -> dict[str, Any]:
    """Drift, volatility and volume of unconditioned paths by position along the path.

    Per block ``[blocks[i], blocks[i+1])`` (the last to `length`): the mean log return per
    bar, annualised, per asset; the median 64-bar volatility (annualised; 16-bar steps); the
    mean log volume. The training span's values are the reference: a stationary generator
    keeps them in every block.
    """
    ppy = train.periods_per_year
    feats = to_features(train.values)
    ret = feats[..., 0]

    def vol(r: np.ndarray) -> list[float]:
        return median_volatility(r, ppy).tolist()

    ps = gen.sample(n_paths, length, seed=seed, sampler=sampler, sampler_steps=sampler_steps,
                    start_price=1.0)
    r = np.diff(np.log(ps.field("close")), axis=1, prepend=0.0)
    lv = np.log1p(ps.field("volume"))
    edges = [*blocks, length]
    out: dict[str, Any] = {"assets": list(gen.assets), "blocks": [], "training": {
        "drift_per_year": (ret.mean(axis=0) * ppy).tolist(), "median_vol": vol(ret[None]),
        "mean_log_volume": feats[..., 4].mean(axis=0).tolist()}}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        out["blocks"].append({
            "bars": [a + 1, b], "drift_per_year": (r[:, a:b].mean(axis=(0, 1)) * ppy).tolist(),
            "drift_se": (r[:, a:b].mean(axis=1).std(axis=0) / math.sqrt(n_paths) * ppy
                         ).tolist(),
            "median_vol": vol(r[:, a:b]), "mean_log_volume": lv[:, a:b].mean(axis=(0, 1)).tolist()})
    return out


# -- volatility clustering and leverage per piece ----------------------------------------------
CLUSTER_LAGS = (1, 2, 5, 10, 20)
LEVERAGE_LAGS = tuple(range(1, 11))


def _piece_stats(ret: np.ndarray) -> dict[str, np.ndarray]:
    """Mean over pieces (n, L, A) of the per-piece ACF of |r| at `CLUSTER_LAGS` and leverage
    ``corr(r_t, r_{t+k}^2)`` at `LEVERAGE_LAGS`: arrays (lags, A)."""
    def corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # along axis 1
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
        return (x * y).sum(axis=1) / np.where(den > 0, den, np.nan)

    a = np.abs(ret)
    acf_abs = np.stack([np.nanmean(corr(a[:, k:], a[:, :-k]), axis=0) for k in CLUSTER_LAGS])
    lev = np.stack([np.nanmean(corr(ret[:, :-k], ret[:, k:] ** 2), axis=0)
                    for k in LEVERAGE_LAGS])
    return {"acf_abs": acf_abs, "leverage": lev}


def clustering_check(gen: MarketGenerator, market: Market, train: Market, *, piece: int,
                     n_paths: int = 200, seed: int = 0, sampler_steps: int | None = 20,
                     sampler: str = "dpm") -> dict[str, Any]:
    """Volatility clustering and leverage of `piece`-bar paths against the real market's.

    Real: the mean over consecutive `piece`-bar pieces of all of `market` of each piece's ACF
    of |log return| (lags `CLUSTER_LAGS`) and leverage (``corr(r_t, r_{t+k}^2)``, lags 1-10).
    Synthetic: the same statistic over `n_paths` unconditioned `piece`-bar paths of the
    diffusion model and of the GARCH-t and block-bootstrap baselines fitted on `train`.
    Per generator and asset: the values, and the mean relative error over the lags
    (``mean |synthetic / real - 1|``; leverage over lags where ``|real| > 0.02``).
    """
    from diffbt.generate.baselines import BlockBootstrap, GarchT

    r = np.diff(np.log(market.values[:, :, 3]), axis=0)
    k = len(r) // piece
    real = _piece_stats(r[:k * piece].reshape(k, piece, -1))
    sets = {"diffusion": gen.sample(n_paths, piece + 1, seed=seed, sampler=sampler,
                                    sampler_steps=sampler_steps)}
    for name, cls in (("garch", GarchT), ("bootstrap", BlockBootstrap)):
        sets[name] = cls().fit(train).sample(n_paths, piece + 1, seed=seed)
    out: dict[str, Any] = {"assets": list(market.assets), "piece": piece, "real_pieces": k,
                           "lags": list(CLUSTER_LAGS), "leverage_lags": list(LEVERAGE_LAGS),
                           "real": {n: v.tolist() for n, v in real.items()}}
    big = np.abs(real["leverage"]) > 0.02
    for name, ps in sets.items():
        ret = np.diff(np.log(ps.field("close")), axis=1)
        st = _piece_stats(ret)
        rel_acf = np.abs(st["acf_abs"] / real["acf_abs"] - 1).mean(axis=0)
        rel_lev = np.array([np.abs(st["leverage"][big[:, j], j] / real["leverage"][big[:, j], j]
                                   - 1).mean() if big[:, j].any() else np.nan
                            for j in range(r.shape[1])])
        out[name] = {"acf_abs": st["acf_abs"].tolist(), "leverage": st["leverage"].tolist(),
                     "acf_abs_rel_error": rel_acf.tolist(),
                     "leverage_rel_error": rel_lev.tolist()}
    return out


def clustering_markdown(res: dict[str, Any]) -> list[str]:
    """Tables of `clustering_check`: ACF of |r| and leverage by lag, per asset."""
    lines = []
    for j, asset in enumerate(res["assets"]):
        lags = res["lags"]
        lines += [f"ACF of |r|, {asset}, per {res['piece']}-bar piece (real: "
                  f"{res['real_pieces']} pieces)", "",
                  "| generator | " + " | ".join(f"lag {k}" for k in lags)
                  + " | mean rel. error |", "|---|" + "--:|" * (len(lags) + 1)]
        for name in ("real", "diffusion", "garch", "bootstrap"):
            v = res[name]["acf_abs"]
            err = "" if name == "real" else f"{100 * res[name]['acf_abs_rel_error'][j]:.0f} %"
            lines.append(f"| {name} | " + " | ".join(f"{v[i][j]:.3f}" for i in range(len(lags)))
                         + f" | {err} |")
        lines += ["", f"Leverage corr(r_t, r_(t+k)^2), {asset}", "",
                  "| generator | " + " | ".join(f"k={k}" for k in res["leverage_lags"])
                  + " | mean rel. error |", "|---|" + "--:|" * (len(res["leverage_lags"]) + 1)]
        for name in ("real", "diffusion", "garch", "bootstrap"):
            v = res[name]["leverage"]
            err = "" if name == "real" else f"{100 * res[name]['leverage_rel_error'][j]:.0f} %"
            lines.append(f"| {name} | " + " | ".join(f"{v[i][j]:+.3f}"
                                                    for i in range(len(res["leverage_lags"])))
                         + f" | {err} |")
        lines.append("")
    return lines


# -- seams of long paths ----------------------------------------------------------------------
def seam_check(gen: MarketGenerator, *, n_paths: int = 200, n_windows: int = 6, lags: int = 5,
               seed: int = 0, sampler_steps: int | None = 20) -> dict[str, Any]:
    """ACF of |returns| for pairs straddling a window seam vs pairs inside one window.

    Also the mean |return| just after vs just before each seam (no jump in volatility).
    """
    w, k = gen.config.window, gen.config.context_bars
    length = w + (n_windows - 1) * (w - k)
    r = np.abs(gen.sample(n_paths, length, seed=seed, sampler_steps=sampler_steps)
               .log_returns())  # (n, length-1, A); return j is bar j+1
    seams = [w + i * (w - k) for i in range(n_windows - 1)]  # first bar of each new segment
    ret_seams = {s - 1 for s in seams}  # return index of a seam's first new bar
    z = (r - r.mean(axis=(0, 1))) / (r.std(axis=(0, 1)) + 1e-12)
    out: dict[str, Any] = {"lags": list(range(1, lags + 1)), "across": [], "within": []}
    n_ret = r.shape[1]
    for lag in range(1, lags + 1):
        idx = np.arange(n_ret - lag)
        across = np.array([any(i < s <= i + lag for s in ret_seams) for i in idx])
        prod = (z[:, idx] * z[:, idx + lag]).mean(axis=(0, 2))
        out["across"].append(float(prod[across].mean()))
        out["within"].append(float(prod[~across].mean()))
    before = np.mean([r[:, s - 6:s - 1].mean() for s in ret_seams])
    after = np.mean([r[:, s - 1:s + 4].mean() for s in ret_seams])
    out["abs_return_after_over_before"] = float(after / before)
    return out


# -- forecasts --------------------------------------------------------------------------------
def crps_samples(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of an ensemble forecast: ``E|X - y| - 0.5 E|X - X'|`` per row.

    samples (n, m), y (n,) -> (n,); the second term via the sorted-sample identity.
    """
    x = np.sort(samples, axis=1)
    m = x.shape[1]
    term1 = np.abs(x - y[:, None]).mean(axis=1)
    i = np.arange(1, m + 1)
    term2 = ((2 * i - m - 1) * x).sum(axis=1) / (m * m)
    return term1 - term2


def garch_forecast_samples(garch: Any, ret: np.ndarray, origins: np.ndarray, horizon: int,
                           n_samples: int, seed: int = 0) -> np.ndarray:
    """Simulated ``horizon``-bar log returns from a fitted `GarchT` at each origin.

    The conditional variance is filtered through `ret` (the evaluation span, per asset) with
    the training parameters: at origin t it uses returns <= t only.
    Returns (len(origins), n_samples, n_assets).
    """
    from scipy import stats

    p = garch.params
    n_assets = ret.shape[1]
    h = np.empty_like(ret)
    h_t = np.asarray(p.h_next, dtype=float).copy()
    for t in range(len(ret)):
        h[t] = h_t  # variance of bar t given bars < t
        eps = ret[t] - p.mu
        h_t = p.omega + p.alpha * eps ** 2 + p.beta * h_t
    h_after = p.omega + p.alpha * (ret - p.mu) ** 2 + p.beta * h  # variance of bar t+1
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(np.atleast_2d(p.corr) + 1e-12 * np.eye(n_assets))
    nu = np.asarray(p.nu, dtype=float)
    out = np.zeros((len(origins), n_samples, n_assets))
    hv = np.repeat(h_after[origins][:, None, :], n_samples, axis=1)
    for _ in range(horizon):
        z = rng.standard_normal((len(origins), n_samples, n_assets)) @ chol.T
        e = stats.t.ppf(stats.norm.cdf(z), nu) * np.sqrt((nu - 2) / nu)
        eps = np.sqrt(hv) * e
        out += p.mu + eps
        hv = p.omega + p.alpha * eps ** 2 + p.beta * hv
    return out


def forecast_check(gen: MarketGenerator, train: Market, test: Market, *,
                   horizons: Sequence[int] = (1, 6, 24), every: int = 24,
                   n_samples: int = 100, seed: int = 0, sampler_steps: int | None = 20,
                   interval: tuple[float, float] = (0.05, 0.95)) -> dict[str, Any]:
    """Coverage of the 90 % interval and CRPS of log-return forecasts, diffusion vs GARCH-t.

    Origins are every `every`-th bar of `test` (with the model's context taken from the end
    of `train` and the test bars up to the origin); targets are the realised log returns of
    each asset over the horizon.
    """
    from diffbt.generate.baselines import GarchT

    k = gen.config.context_bars
    hist = Market(np.concatenate([train.values, test.values]), train.index.append(test.index),
                  train.assets)  # all of it: the volatility state looks further back
    garch = GarchT().fit(train)
    feats = to_features(hist.values)  # row i = bar i+1 of hist
    ret_all = feats[..., 0]
    chain = Chain(gen.diffusion, gen.state, gen.config, gen.device)
    series = None if gen.state.vol is None else gen.state.vol.series(feats[..., 0])
    out: dict[str, Any] = {}
    for h in horizons:
        origins = np.arange(len(train) - 1, len(hist) - h, every)  # last observed bar
        ctx = np.repeat(np.stack([feats[t - k:t] for t in origins]), n_samples, axis=0)
        var = None if series is None else np.repeat(series[origins - k], n_samples, axis=0)
        t0 = time.perf_counter()
        gen_t = torch.Generator(device=gen.device).manual_seed(seed)
        spec = DrawSpec.unconditioned(len(ctx), sampler_steps=sampler_steps)
        z = chain.extend(len(ctx), h, spec, context=ctx, var=var, generator=gen_t)
        elapsed = time.perf_counter() - t0
        sim = z[..., 0].sum(axis=1).reshape(len(origins), n_samples, -1)
        sim = widen(chain, sim, h, axis=1)  # the fitted spread calibration (1.0 when none)
        target = np.stack([ret_all[t:t + h].sum(axis=0) for t in origins])  # (n_o, A)
        g = garch_forecast_samples(garch, ret_all, origins - 1, h, n_samples, seed)
        row: dict[str, Any] = {"origins": int(len(origins)), "sample_s": elapsed}
        for name, s in (("diffusion", sim), ("garch", g)):
            lo, hi = np.quantile(s, interval, axis=1)
            row[f"{name}_coverage"] = float(np.mean((target >= lo) & (target <= hi)))
            crps = [crps_samples(s[:, :, a], target[:, a]).mean() for a in range(s.shape[2])]
            row[f"{name}_crps"] = float(np.mean(crps))
        out[f"h{h}"] = row
    return out


# -- volatility spread of single windows -----------------------------------------------------
def vol_spread_check(gen: MarketGenerator, train: Market, *, n: int = 200, seed: int = 0,
                     samplers: Sequence[tuple[str, int | None]] = (
                         ("dpm", 20), ("dpm-logsnr", 20), ("ddpm", None))) -> pd.DataFrame:
    """Log volatility of single windows relative to the volatility state they start in:
    its sd and mean per asset, real training windows vs fresh windows of each sampler
    (``ddpm`` with ``n // 5`` windows). Needs a model with the volatility state."""
    vol = gen.state.vol
    if vol is None:
        raise ValueError("vol_spread_check needs a model fitted with vol_state=True")
    chain = Chain(gen.diffusion, gen.state, gen.config, gen.device)
    w = gen.config.window
    feats = to_features(train.values)
    series = vol.series(feats[..., 0])
    starts = np.arange(w, len(feats) - w, max(1, w // 4))
    real = np.log(np.stack([feats[s:s + w, :, 0].std(axis=0) for s in starts]))
    real -= 0.5 * np.log(series[starts])
    rows = {"real windows": real}
    rng = np.random.default_rng(seed)
    for sampler, steps in samplers:
        m = n // 5 if sampler == "ddpm" else n
        ids = np.full(m, -1)
        var = vol.initial(ids, rng)
        g = torch.Generator(device=gen.device).manual_seed(seed)
        spec = DrawSpec.unconditioned(m, sampler=sampler, sampler_steps=steps)
        x = chain.extend(m, w, spec, context=None, var=var, generator=g)
        rows[f"{sampler}-{steps or gen.config.diffusion.timesteps}"] = (
            np.log(x[..., 0].std(axis=1)) - 0.5 * np.log(var))
    out = {k: {**{f"sd {a}": float(v[:, i].std()) for i, a in enumerate(gen.assets)},
               **{f"mean {a}": float(v[:, i].mean()) for i, a in enumerate(gen.assets)}}
           for k, v in rows.items()}
    return pd.DataFrame(out).T


# -- command line -----------------------------------------------------------------------------
def _load(args: argparse.Namespace) -> tuple[Market, Market, str]:
    if args.crypto:
        from diffbt.data.io import load_market

        folder = Path(args.crypto)
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise SystemExit(f"reference data not found in {folder}; pass --crypto DIR")
        market = load_market({f.stem.split("_")[1].replace("USDT", ""): f for f in files})
        train, test = market.split_fraction(0.8)
        return train, test, "crypto 1h (5 assets), first 80 % / last 20 %"
    from diffbt.data import datasets

    market = datasets.load(args.dataset)
    train, test = market.split(args.train_end)
    return train, test, f"{args.dataset}, train to {args.train_end}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="sp500_nasdaq")
    ap.add_argument("--train-end", default="2014-12-31")
    ap.add_argument("--crypto", default=None, help="folder with the five Binance CSVs")
    ap.add_argument("--model", default=None, help="use this fitted model instead of fitting")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--curve-paths", type=int, default=30)
    ap.add_argument("--every", type=int, default=24, help="bars between forecast origins")
    ap.add_argument("--n-samples", type=int, default=100, help="samples per forecast")
    ap.add_argument("--overlap", type=int, default=None, help="context bars between windows")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a GeneratorConfig setting for the fit, e.g. --set vol_halflife=64")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--calibrate", action="store_true",
                    help="(re)fit the forecast spread calibration of --model on the last "
                         "10 %% of the training span")
    ap.add_argument("--calibrate-paths", action="store_true",
                    help="(re)fit the long-path calibrations of --model on the training span "
                         "(MarketGenerator.calibrate_paths, default sampler, seed 0)")
    ap.add_argument("--checks", default="baselines,regimes,jumps,seams,sampler,forecast")
    ap.add_argument("--sampler", default="dpm/20", metavar="NAME/STEPS",
                    help="the diffusion model's sampler in the baselines, longpaths and "
                         "clustering checks (dpm/20, dpm-logsnr/20, ddpm)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test, label = _load(args)
    results: dict[str, Any] = {"data": label, "train_bars": len(train), "test_bars": len(test)}
    t0 = time.perf_counter()
    if args.model:
        gen = MarketGenerator.load(args.model)
        if args.overlap:
            from dataclasses import replace

            gen.config = replace(gen.config, overlap=args.overlap)
        if args.calibrate_paths:
            gen.calibrate_paths(train, seed=0)
            st = gen.state
            ret = to_features(train.values)[..., 0]
            results["path_calibrations"] = {
                "training_news_ratio": (None if st.vol is None or not st.vol.per_bar
                                        else st.vol.news_ratio(ret).tolist()),
                "scale": None if st.scale is None else st.scale.scale.tolist(),
                "gain": None if st.vol is None else st.vol.gain.tolist(),
                "drift": None if st.drift is None else st.drift.shift.tolist()}
        if args.calibrate:
            gen.calibrate_forecasts(train, last_bars=max(len(train) // 10, 200))
            sp = gen.state.spread
            results["spread"] = None if sp is None else {"horizons": list(sp.horizons),
                                                         "scale": list(sp.scale)}
    else:
        settings = settings_from(args.set)
        gen = MarketGenerator(**settings).fit(train, steps=args.steps, seed=args.seed)
        gen.save(out / "model.safetensors")
    results["fit_s"] = time.perf_counter() - t0
    results["config"] = gen.config.to_dict()
    results["context_bars"] = gen.config.context_bars
    checks = set(args.checks.split(","))
    name, _, steps = args.sampler.partition("/")
    draw = {"sampler": name, "sampler_steps": int(steps) if steps else None}

    def flush() -> None:
        (out / "quality.json").write_text(json.dumps(results, indent=2, default=str))
        (out / "quality.md").write_text("\n".join(md))

    md = [f"# diffbt quality: {label}", "",
          f"Command: `python -m benchmarks.quality "
          f"{' '.join(sys.argv[1:] if argv is None else argv)}`", "",
          f"Fit: {results['fit_s']:.0f} s", ""]
    if "baselines" in checks:
        table = baseline_table(gen, train, test, n_paths=args.paths, seed=args.seed, **draw)
        results["baselines"] = table.to_dict()
        md += ["## Stylized-facts distance to the test span (lower is better)", "",
               table.to_markdown(floatfmt=".4g"), ""]
        flush()
    if "regimes" in checks:
        results["regimes"] = regime_check(gen, train, seed=args.seed)
        md += ["## Regime conditioning", "", "```", json.dumps(results["regimes"], indent=1),
               "```", ""]
        flush()
    if "jumps" in checks:
        results["jumps"] = jump_check(gen, train, seed=args.seed)
        md += ["## Jump conditioning", "", "```", json.dumps(results["jumps"], indent=1),
               "```", ""]
        flush()
    if "acfref" in checks:
        results["acfref"] = acf_reference(train, test)
        md += ["## Return autocorrelation: what a faithful model can reach", "", "```",
               json.dumps(results["acfref"], indent=1), "```", ""]
        flush()
    if "longpaths" in checks:
        blocks = (0, 126, 252, 504) if not args.crypto else (0, 876, 1752, 2628)
        results["longpaths"] = long_path_check(gen, train, blocks=blocks,
                                               length=1006 if not args.crypto else 3504,
                                               n_paths=200 if not args.crypto else 50,
                                               **draw)
        md += ["## Long paths: drift, volatility and volume by position", "", "```",
               json.dumps(results["longpaths"], indent=1), "```", ""]
        flush()
    if "clustering" in checks:
        market = train if not len(test) else Market(
            np.concatenate([train.values, test.values]), train.index.append(test.index),
            train.assets, train.freq)
        results["clustering"] = clustering_check(gen, market, train,
                                                 piece=720 if args.crypto else 252,
                                                 n_paths=args.paths, seed=args.seed,
                                                 **draw)
        md += ["## Volatility clustering and leverage per piece", "",
               *clustering_markdown(results["clustering"])]
        flush()
    if "seams" in checks:
        results["seams"] = seam_check(gen, seed=args.seed)
        md += ["## Seams of long paths", "", "```", json.dumps(results["seams"], indent=1),
               "```", ""]
        flush()
    if "volspread" in checks:
        spread = vol_spread_check(gen, train, seed=args.seed)
        results["volspread"] = spread.to_dict()
        md += ["## Window volatility relative to the state (log units)", "",
               spread.to_markdown(floatfmt=".3f"), ""]
        flush()
    if "sampler" in checks:
        curve = sampler_curve(gen, test, seed=args.seed, n_paths=args.curve_paths)
        results["sampler"] = curve.to_dict()
        md += ["## Sampler steps vs quality and time", "", curve.to_markdown(floatfmt=".4g"),
               ""]
        flush()
    if "forecast" in checks:
        results["forecast"] = forecast_check(gen, train, test, seed=args.seed,
                                             every=args.every, n_samples=args.n_samples)
        md += ["## Forecasts (90 % interval coverage, CRPS of log returns)", "",
               pd.DataFrame(results["forecast"]).T.to_markdown(floatfmt=".4g"), ""]
    flush()
    print("\n".join(md))
    return results


if __name__ == "__main__":
    main()
