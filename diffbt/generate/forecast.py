"""Forecasts: futures sampled after an observed history, summarised as quantiles.

The last ``overlap`` observed bars are the context of the first window; all earlier bars
set the volatility state. The sampled cumulative log returns are widened (or narrowed)
around their median by the fitted spread scale of the horizon, when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from diffbt.data.features import RET, from_features, to_features
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate.chain import Chain, DrawSpec, torch_generator

__all__ = ["check_forecast_args", "context_features", "forecast_quantiles",
           "forecast_series", "forecast_table", "widen"]


def context_features(chain: Chain, market: Market) -> np.ndarray:
    """Features (T - 1, A, 5) of `market`'s bars of the model's assets, in the model's order."""
    assets = chain.state.assets
    missing = [a for a in assets if a not in market.assets]
    if missing:
        raise DataError(f"the model was trained on {list(assets)}; the context lacks "
                        f"{missing}", column="asset")
    return to_features(market.select(assets).values)


def widen(chain: Chain, log_returns: np.ndarray, horizon: int, axis: int) -> np.ndarray:
    """Scale sampled cumulative log returns' deviations from their median (along `axis`) by
    the fitted spread scale of `horizon` (unchanged without one)."""
    spread = chain.state.spread
    s = 1.0 if spread is None else spread.at(horizon)
    if s == 1.0:
        return log_returns
    med = np.median(log_returns, axis=axis, keepdims=True)
    return med + s * (log_returns - med)


def check_forecast_args(horizon: int, n_samples: int, quantiles: Sequence[float]) -> list[float]:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive int, got {horizon!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    q = [float(x) for x in quantiles]
    if not q or any(not 0.0 <= x <= 1.0 for x in q):
        raise ValueError(f"quantiles must be in [0, 1], got {list(quantiles)}")
    return q


def forecast_quantiles(chain: Chain, context: Market, horizon: int, *, n_samples: int,
                       quantiles: Sequence[float], seed: int | None, sampler: str,
                       sampler_steps: int | None) -> pd.DataFrame:
    """Quantiles of the close 1..`horizon` bars after the end of `context` (see
    `MarketGenerator.forecast`)."""
    q = check_forecast_args(horizon, n_samples, quantiles)
    overlap = chain.config.context_bars
    if len(context) < overlap + 1:
        raise DataError(f"forecast needs at least {overlap + 1} bars of context, got "
                        f"{len(context)}", column="timestamp")
    feats = context_features(chain, context)
    vol = chain.state.vol
    start = len(feats) - overlap
    ctx = feats[None, start:].repeat(n_samples, axis=0)
    var = hist = None
    if vol is not None:
        series = vol.series(feats[..., RET])
        var = series[None, start].repeat(n_samples, axis=0)
        hist = vol.history(feats, series, [start])
        hist = None if hist is None else hist.repeat(n_samples, axis=0)
    spec = DrawSpec.unconditioned(n_samples, sampler=sampler, sampler_steps=sampler_steps)
    new = chain.extend(n_samples, horizon, spec, context=ctx, var=var, hist=hist,
                       generator=torch_generator(seed, chain.device))
    last = context.select(chain.state.assets).values[-1, :, 3]
    paths = from_features(new, last)
    cum = np.log(paths[..., 3] / last)  # (n_samples, horizon, A)
    for h in range(horizon):
        cum[:, h] = widen(chain, cum[:, h], h + 1, axis=0)
    qs = last * np.exp(np.quantile(cum, q, axis=0))  # (nq, horizon, A)
    cols = pd.MultiIndex.from_product([chain.state.assets, q], names=["asset", "quantile"])
    data = qs.transpose(1, 2, 0).reshape(horizon, -1)
    return pd.DataFrame(data, index=pd.RangeIndex(1, horizon + 1, name="step"), columns=cols)


def forecast_series(chain: Chain, market: Market, *, horizon: int, quantiles: Sequence[float],
                    asset: str | None, n_samples: int, seed: int | None, every: int,
                    batch_size: int, sampler: str, sampler_steps: int | None) -> np.ndarray:
    """Quantiles of ``close[t + horizon]`` for every bar t, from bars <= t only (see
    `MarketGenerator.forecast_series`)."""
    assets = chain.state.assets
    asset = assets[0] if asset is None else asset
    out = forecast_table(chain, market, [(asset, horizon)], quantiles=quantiles,
                         n_samples=n_samples, seed=seed, every=every, batch_size=batch_size,
                         sampler=sampler, sampler_steps=sampler_steps)
    return out[(asset, horizon)]


def forecast_table(chain: Chain, market: Market, requests: Sequence[tuple[str, int]], *,
                   quantiles: Sequence[float], n_samples: int, seed: int | None, every: int,
                   batch_size: int, sampler: str, sampler_steps: int | None
                   ) -> dict[tuple[str, int], np.ndarray]:
    """`forecast_series` for several ``(asset, horizon)`` pairs from one set of futures.

    The futures are sampled once, as long as the longest horizon, for all assets at once;
    each pair reads its cumulative return from them. Returns ``{(asset, horizon): array
    (len(market), len(quantiles))}``.
    """
    assets = chain.state.assets
    requests = list(dict.fromkeys((str(a), int(h)) for a, h in requests))
    if not requests:
        raise ValueError("no (asset, horizon) to forecast")
    horizon = max(h for _, h in requests)
    q = check_forecast_args(min(h for _, h in requests), n_samples, quantiles)
    for a, _ in requests:
        if a not in assets:
            raise ValueError(f"asset {a!r} is not one the model was trained on: "
                             f"{list(assets)}")
    overlap = chain.config.context_bars
    feats = context_features(chain, market)  # row i = bar i + 1
    vol = chain.state.vol
    series = None if vol is None else vol.series(feats[..., RET])
    closes = market.select(assets).values[:, :, 3]
    out = {r: np.full((len(market), len(q)), np.nan) for r in requests}
    bars = np.arange(overlap, len(market), every)  # bar t needs features t-overlap+1..t
    if len(bars) == 0:
        return out
    cols = [(r, assets.index(r[0]), r[1]) for r in requests]
    # a mean filter's history before each context, for all origins at once
    hists = None if vol is None else vol.history(feats, series, bars - overlap)
    gen = torch_generator(seed, chain.device)
    per = max(1, batch_size // n_samples)
    for s in range(0, len(bars), per):
        tb = bars[s:s + per]
        ctx = np.stack([feats[t - overlap:t] for t in tb])  # features of bars t-overlap+1..t
        ctx = np.repeat(ctx, n_samples, axis=0)
        var = None if series is None else np.repeat(series[tb - overlap], n_samples, axis=0)
        hist = None if hists is None else np.repeat(hists[s:s + per], n_samples, axis=0)
        spec = DrawSpec.unconditioned(len(ctx), sampler=sampler, sampler_steps=sampler_steps)
        new = chain.extend(len(ctx), horizon, spec, context=ctx, var=var, hist=hist,
                           generator=gen)
        cum = np.cumsum(new[..., RET], axis=1)  # (n, horizon, A): log return t -> t+h
        for r, j, h in cols:
            ret = widen(chain, cum[:, h - 1, j].reshape(len(tb), n_samples), h, axis=1)
            out[r][tb] = closes[tb, j, None] * np.exp(np.quantile(ret, q, axis=1).T)
    return out
