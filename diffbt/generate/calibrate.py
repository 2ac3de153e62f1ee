"""Calibrations fitted after training, on the training span only; each returns a new state.

- `calibrate_state`: the gain with which generated returns feed the volatility state, so
  that long paths visit the volatility states the training span visited.
- `calibrate_scale`: with a GARCH filter, a factor per asset on the generated return
  residuals, so that the filter's recursion gets the training span's news ratio and long
  paths settle at its volatility level.
- `calibrate_drift`: a constant per asset added to generated log returns, so that long paths
  drift as the training span did.
- `calibrate_forecasts`: a spread scale per horizon, so that the central 90 % forecast
  interval covers 90 % of outcomes on a held-back span.

Each records the sampler it was fitted with (`diffbt.generate.state.sampler_key`).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from diffbt.data.features import RET
from diffbt.generate.chain import Chain, DrawSpec, torch_generator
from diffbt.generate.state import (
    DriftShift,
    GeneratorState,
    ResidualScale,
    SpreadScale,
    sampler_key,
)

__all__ = ["calibrate_drift", "calibrate_forecasts", "calibrate_scale", "calibrate_state"]

log = logging.getLogger(__name__)

GAIN_BOUNDS = (0.5, 2.0)
SCALE_BOUNDS = (0.5, 2.0)
SPREAD_BOUNDS = (0.5, 3.0)
FORECAST_HORIZONS = (1, 2, 4, 8, 16, 32)


def _with(chain: Chain, state: GeneratorState) -> Chain:
    return Chain(chain.diffusion, state, chain.config, chain.device)


def _fresh_paths(chain: Chain, n_paths: int, windows: int, rng: np.random.Generator,
                 sampler: str, sampler_steps: int | None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (n, L, A, 5) of unconditioned paths of `windows` windows, and the states
    they started in (the calibrations' sample)."""
    c = chain.config
    length = c.window + (windows - 1) * (c.window - c.context_bars)
    spec = DrawSpec.unconditioned(n_paths, sampler=sampler, sampler_steps=sampler_steps)
    vol = chain.state.vol
    var = None if vol is None else vol.initial(spec.regime_ids, rng)
    new = chain.extend(n_paths, length, spec, context=None, var=var,
                       generator=torch_generator(rng, chain.device))
    return new, var


def calibrate_state(chain: Chain, *, n_paths: int = 96, windows: int = 24, skip: int = 8,
                    rounds: int = 4, seed: int | None = 0, sampler: str = "dpm",
                    sampler_steps: int | None = 20) -> GeneratorState:
    """Fit the gain with which generated returns feed the volatility state.

    Left alone, the state along generated paths drifts away from the states the training
    span visited, the network reads the gap between the state and the path's recent
    volatility as volatility breaking out, and paths grow more volatile the longer they run.
    Generated returns therefore enter the state scaled by ``sqrt(gain)``, one gain per
    asset, fitted so that in `n_paths` unconditioned paths of `windows` windows the mean
    log state ratio of windows `skip` onwards equals that of the training windows (the bank
    fresh paths start from), in `rounds` fixed-point rounds. Observed returns (forecast
    contexts) always enter with gain 1.

    Returns
    -------
    GeneratorState
        The chain's state with the gain (bounded to 0.5 .. 2) and `sampler` recorded.
    """
    vol = chain.state.vol
    if vol is None:
        raise ValueError("calibrate_state needs a model with the volatility state")
    if vol.per_bar:
        raise ValueError("a model with the GARCH volatility filter rebuilds volatility bar "
                         "by bar and has no feedback gain to calibrate")
    c = chain.config
    w, step = c.window, c.window - c.context_bars
    target = vol.bank.mean(axis=0)  # mean log rho of training windows
    key = sampler_key(sampler, sampler_steps)
    vol = vol.with_gain(np.ones(len(vol.var0)), key)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        state = chain.state.replace(vol=vol)
        feats, var = _fresh_paths(_with(chain, state), n_paths, windows, rng, sampler,
                                  sampler_steps)
        states = vol.series_from(var, feats[..., RET] * np.sqrt(vol.gain))
        # where windows skip + 1 .. windows start (the last: where a next one would)
        starts = [w - step + j * step for j in range(skip, windows)]
        got = np.log(vol.rho(states[:, starts])).mean(axis=(0, 1))
        log.info("calibrate_state: gain %s, mean log state ratio %s (training %s)",
                 np.round(vol.gain, 3), np.round(got, 3), np.round(target, 3))
        # at a fixed volatility the state scales with the gain (log ratio by half its log);
        # the paths' volatility answers in part, hence rounds and a bounded gain
        vol = vol.with_gain(np.clip(vol.gain * np.exp(2.0 * (target - got)), *GAIN_BOUNDS),
                            key)
    return chain.state.replace(vol=vol)


def calibrate_scale(chain: Chain, target_features: np.ndarray, *, n_paths: int = 64,
                    windows: int = 8, rounds: int = 3, seed: int | None = 0,
                    sampler: str = "dpm", sampler_steps: int | None = 20) -> GeneratorState:
    """Fit a factor per asset on the generated return residuals of a GARCH-filtered model.

    With a GARCH filter the network draws each bar's return residual in the filter's units
    (`VolState.filter_bars`), and the filter's recursion turns them into the paths'
    volatility level: residuals drawn narrower than the training ones (or with less weight
    on the falls a GJR term reacts to) make the variance settle below the training span's,
    by more the more persistent the recursion. Generated residuals are therefore multiplied
    by a factor per asset, fitted so that in `n_paths` unconditioned paths of `windows`
    windows, drawn with `sampler`, the recursion's news ratio (`VolState.news_ratio`, which
    sets its long-run level; pooled over the paths) equals that of `target_features`
    (T, A, 5), the training span's. The ratio grows with the square of the factor, so each
    of `rounds` rounds (new paths drawn with the factor so far: scaled bars are the next
    windows' context) gives an estimate of the ratio at factor 1; the factor comes from
    their mean, since the ratio of heavy-tailed returns is noisy and a recursion near
    persistence 1 turns a small error in it into a large one in the level. Observed bars
    (forecast contexts) are never scaled.

    Returns
    -------
    GeneratorState
        The chain's state with the factor (bounded to 0.5 .. 2) and `sampler` recorded.
    """
    vol = chain.state.vol
    if vol is None or not vol.per_bar:
        raise ValueError("calibrate_scale needs a model with a GARCH volatility filter "
                         "(vol_filter='garch' or 'garch2'); the EWMA state has "
                         "calibrate_state")
    target = vol.news_ratio(target_features[..., RET])  # (A,)
    key = sampler_key(sampler, sampler_steps)
    scale = np.ones(chain.state.n_assets)
    state = chain.state.replace(scale=ResidualScale(scale, key))
    rng = np.random.default_rng(seed)
    at_one = []  # the news ratio at factor 1, one estimate per round
    for _ in range(rounds):
        feats, var = _fresh_paths(_with(chain, state), n_paths, windows, rng, sampler,
                                  sampler_steps)
        news, variance = vol.news(feats[..., RET], var)
        got = news.sum(axis=0) / variance.sum(axis=0)  # pooled: the expectation of the level
        log.info("calibrate_scale: factor %s, news ratio %s (training %s)",
                 np.round(scale, 3), np.round(got, 4), np.round(target, 4))
        at_one.append(got / scale**2)
        scale = np.clip(np.sqrt(target / np.maximum(np.mean(at_one, axis=0), 1e-12)),
                        *SCALE_BOUNDS)
        state = state.replace(scale=ResidualScale(scale, key))
    return state


def calibrate_drift(chain: Chain, target_features: np.ndarray, *, n_paths: int = 128,
                    windows: int = 16, rounds: int = 2, seed: int | None = 0,
                    sampler: str = "dpm", sampler_steps: int | None = 20) -> GeneratorState:
    """Shift generated log returns so that long paths drift as the training span did.

    Chained windows compound small errors of the network's conditional mean. This adds a
    constant per asset to every generated bar's log return (in units of the volatility
    state; with a GARCH filter, to its return residual), chosen so that `n_paths`
    unconditioned paths of `windows` windows, drawn with `sampler`, have the mean log
    return per bar of `target_features` (T, A, 5), the training span's; `rounds`
    fixed-point rounds, since shifted bars are the next windows' context.
    Run it after `calibrate_state` (or `calibrate_scale`).

    Returns
    -------
    GeneratorState
        The chain's state with the shift (bounded to a quarter of the return scale).
    """
    target = target_features[:, :, RET].mean(axis=0)  # (A,)
    sd = np.asarray(chain.state.scaler.std)[:, RET]
    key = sampler_key(sampler, sampler_steps)
    shift = np.zeros(chain.state.n_assets)
    state = chain.state.replace(drift=DriftShift(shift, key))
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        feats, var = _fresh_paths(_with(chain, state), n_paths, windows, rng, sampler,
                                  sampler_steps)
        ret = feats[..., RET]
        # the state's scale of each bar (1 without a state): the shift's effect per bar
        unit = np.ones_like(ret) if var is None else state.vol.path_rho(var, ret)
        shift = shift + (target - ret.mean(axis=(0, 1))) / unit.mean(axis=(0, 1))
        shift = np.clip(shift, -0.25 * sd, 0.25 * sd)
        state = state.replace(drift=DriftShift(shift, key))
    return state


def calibrate_forecasts(chain: Chain, features: np.ndarray, *, last_bars: int | None = None,
                        n_origins: int = 64, n_samples: int = 64, seed: int | None = 0,
                        sampler: str = "dpm", sampler_steps: int | None = 20
                        ) -> GeneratorState:
    """Fit the forecast spread scale per horizon on the last `last_bars` of `features`.

    For forecast origins in that span the sampled log returns over ``h`` bars are compared
    with what happened: ``s_h`` is the 90th percentile of ``|y - median| / half-width of
    the 5-95 % interval``, so that scaling the samples' deviations from their median by
    ``s_h`` makes the 90 % interval cover 90 % there. `features` (T, A, 5) must come from the
    training span only.

    Returns
    -------
    GeneratorState
        The chain's state with the scale (None where the span has too few origins).
    """
    c = chain.config
    k = c.context_bars
    h_max = max(1, min(c.window - k, 32))
    vol = chain.state.vol
    series = None if vol is None else vol.series(features[..., RET])
    n = len(features)
    first = max(k, n - (last_bars or n))
    origins = np.arange(first, n - h_max + 1)  # origin t: context rows t-k..t-1
    if len(origins) < 8:
        return chain.state.replace(spread=None)
    origins = origins[np.linspace(0, len(origins) - 1, min(n_origins, len(origins)))
                      .round().astype(int)]
    ctx = np.repeat(np.stack([features[t - k:t] for t in origins]), n_samples, axis=0)
    var = None if series is None else np.repeat(series[origins - k], n_samples, axis=0)
    hist = None if vol is None else vol.history(features, series, origins - k)
    hist = None if hist is None else np.repeat(hist, n_samples, axis=0)
    spec = DrawSpec.unconditioned(len(ctx), sampler=sampler, sampler_steps=sampler_steps)
    new = chain.extend(len(ctx), h_max, spec, context=ctx, var=var, hist=hist,
                       generator=torch_generator(seed, chain.device))
    sim = np.cumsum(new[..., RET], axis=1)  # (o*s, h_max, A)
    sim = sim.reshape(len(origins), n_samples, h_max, -1)
    real = features[..., RET]
    horizons = sorted({h for h in FORECAST_HORIZONS if h <= h_max} | {h_max})
    scales = []
    for h in horizons:
        y = np.stack([real[t:t + h].sum(axis=0) for t in origins])  # (o, A)
        s = sim[:, :, h - 1]
        med = np.median(s, axis=1)
        lo, hi = np.quantile(s, [0.05, 0.95], axis=1)
        ratio = np.abs(y - med) / np.maximum((hi - lo) / 2, 1e-12)
        scales.append(float(np.clip(np.quantile(ratio, 0.9), *SPREAD_BOUNDS)))
    spread = SpreadScale(tuple(horizons), tuple(scales), sampler_key(sampler, sampler_steps))
    return replace(chain.state, spread=spread)
