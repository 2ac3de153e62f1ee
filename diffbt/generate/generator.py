"""`MarketGenerator`: the diffusion model fitted to a `Market`, sampling `PathSet`s.

This is the one place where markets become tensors and back:

    Market --to_features--> (T, A, 5) --scaler--> windows (N, A*5, L)   [channel-first]
    model output (B, A*5, L) --inverse scaler--> features --from_features--> OHLCV paths

Long paths are generated window by window: each new window is conditioned on the last
``overlap`` bars of the previous one (context inpainting), so level and volatility continue
across the seam. Forecasts use the same mechanism with the observed history as context.

Volatility state (``vol_state=True``, the default): each window is modelled relative to the
volatility each asset entered it with, an exponentially weighted mean of the squared returns
of all earlier bars (half-life ``vol_halflife``, default four windows). The window's price-unit
features are divided by ``rho = sqrt(ewma / training variance)`` and ``log rho`` is a
conditioning vector. Along a generated path the state is updated from the generated returns,
so volatility carries over longer than one window of context (GARCH-like feedback, with
the shape of each window learnt). A fresh path starts in the state of a random training
window (of the regime asked for).

Relative volume (``relative_volume=True``; off by default): each window's log volume is
modelled relative to its level, the mean log volume of the window's first ``overlap`` bars
(the context a continued window is given, so the level is always known when it is needed).
A fresh path starts at the level of the last training bars. Log volume trends over years
(sp500_nasdaq: +0.5 from 1999 to 2014); measured in docs/generator.md: better on sp500, worse
on crypto, and it did not stop the drift of long paths from falling.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch

from diffbt.data.features import (
    FEATURES,
    FeatureScaler,
    ewma_variance,
    from_features,
    to_features,
    vol_scale,
)
from diffbt.data.labels import (
    JUMP_BUCKETS,
    REGIMES,
    TRENDS,
    VOLS,
    JumpDetector,
    RegimeLabeler,
    parse_regime,
)
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate.pathset import PathSet, PathSetWriter, continue_calendar
from diffbt.model.checkpoint import (
    CheckpointError,
    diffusion_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion, prefix_mask
from diffbt.model.samplers import sample as run_sampler
from diffbt.model.train import TrainConfig, train

__all__ = ["GeneratorConfig", "MarketGenerator", "resolve_device"]

log = logging.getLogger(__name__)

Progress = Callable[[int, dict], None]
N_FEATURES = len(FEATURES)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' asked for but no CUDA GPU is available")
    return dev


def _vol_ratio(var: np.ndarray, var0: Sequence[float] | np.ndarray) -> np.ndarray:
    """Volatility ratio ``sqrt(var / training variance)``, clipped to e^-4 .. e^4."""
    ratio = np.sqrt(np.maximum(var, 1e-30) / np.asarray(var0))
    return np.clip(ratio, math.exp(-4.0), math.exp(4.0))


def _relative_volume(windows: np.ndarray, k: int) -> np.ndarray:
    """Feature windows (n, L, A, 5) with log volume relative to the mean of the first `k`
    bars (`relative_volume`; a copy)."""
    out = np.array(windows, dtype=np.float64)
    out[..., 4] -= out[:, :k, :, 4].mean(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of a `MarketGenerator` (stored in the checkpoint as JSON).

    Parameters
    ----------
    window : int
        Bars per model window.
    overlap : int
        Bars of context carried from one window to the next in long paths (and the length
        of history a forecast conditions on). Defaults to ``window // 2``.
    hidden, n_blocks, stride, attention, dropout, timesteps, schedule, target
        Diffusion model settings (see `diffbt.model.diffusion.DiffusionConfig`; ``stride`` is
        the network's time downsampling, `window` must be a multiple of it).
    steps, batch_size, lr
        Default training settings (``fit(steps=...)`` overrides).
    window_stride : int
        Step between training windows.
    jump_k : float
        Jump threshold in robust standard deviations (see `diffbt.data.labels`).
    calibrate : bool
        After fitting, widen or narrow forecast intervals per horizon so that the central
        90 % interval covers 90 % of outcomes on the held-back validation span (see
        `MarketGenerator.calibrate_forecasts`).
    calibrate_paths : bool
        After fitting, calibrate long generated paths on the training span: the gain of
        the volatility-state feedback (`MarketGenerator.calibrate_state`), then the drift
        (`MarketGenerator.calibrate_drift`).
    max_tries : int
        Rounds of redrawing windows whose own regime label or jump count (by the fitted
        labeler and detector) differs from the one asked for; 1 = guidance only.
    vol_state : bool
        Model each window relative to the volatility state it starts in (module docstring).
    vol_halflife : int, optional
        Half-life in bars of that state (default: ``4 * window``; one window was tried and
        gave weaker volatility clustering, see docs/generator.md).
    state_noise : float
        Noise (in log units) added to the volatility state in training (see
        `diffbt.model.train.TrainConfig`).
    relative_volume : bool
        Model log volume relative to the level of each window's first `overlap` bars (module
        docstring; off by default: measured mixed).
    """

    window: int = 64
    overlap: int | None = None
    hidden: int = 96
    n_blocks: int = 4
    stride: int = 4
    attention: bool = True
    dropout: float = 0.0
    timesteps: int = 1000
    schedule: str = "cosine"
    target: str = "v"
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    window_stride: int = 1
    jump_k: float = 5.0
    max_tries: int = 8
    calibrate: bool = True
    calibrate_paths: bool = True
    cond_dropout: float = 0.15
    context_prob: float = 0.5
    vol_state: bool = True
    vol_halflife: int | None = None
    state_noise: float = 0.0
    relative_volume: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or self.window < 4:
            raise ValueError(f"window must be an int >= 4, got {self.window!r}")
        overlap = self.window // 2 if self.overlap is None else self.overlap
        if not isinstance(overlap, int) or not 1 <= overlap < self.window:
            raise ValueError(f"overlap must be an int in [1, window), got {self.overlap!r}")
        for name in ("steps", "batch_size", "window_stride", "stride", "max_tries"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.window % self.stride:
            raise ValueError(f"window ({self.window}) must be a multiple of stride "
                             f"({self.stride})")
        if not self.jump_k > 0:
            raise ValueError(f"jump_k must be > 0, got {self.jump_k!r}")
        if self.vol_halflife is not None and (
                isinstance(self.vol_halflife, bool) or not isinstance(self.vol_halflife, int)
                or self.vol_halflife < 1):
            raise ValueError(f"vol_halflife must be a positive int, got {self.vol_halflife!r}")

    @property
    def context_bars(self) -> int:
        """Bars of context between windows (`overlap`, default ``window // 2``)."""
        return self.window // 2 if self.overlap is None else self.overlap


class MarketGenerator:
    """A DDPM over windows of multi-asset OHLCV features.

    >>> gen = MarketGenerator(window=64).fit(market, train_end="2014-12-31")  # doctest: +SKIP
    >>> paths = gen.sample(1000, 252, regime="bear", jumps=1, seed=0)          # doctest: +SKIP

    Parameters
    ----------
    **settings
        Any field of `GeneratorConfig` (``window``, ``hidden``, ``steps``...).
    """

    def __init__(self, config: GeneratorConfig | None = None, **settings: Any) -> None:
        base = config or GeneratorConfig()
        self.config: GeneratorConfig = replace(base, **settings) if settings else base
        self._diffusion: GaussianDiffusion | None = None
        self._state: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.history: dict[str, Any] = {}
        self.last_acceptance: float | None = None

    # -- fitted state ----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self._diffusion is not None

    def _need_fit(self) -> None:
        if self._diffusion is None:
            raise RuntimeError("call fit() first (or MarketGenerator.load(path))")

    @property
    def assets(self) -> tuple[str, ...]:
        self._need_fit()
        return tuple(self._state["assets"])

    @property
    def scaler(self) -> FeatureScaler:
        self._need_fit()
        return FeatureScaler.from_dict(self._state["scaler"])

    @property
    def regimes(self) -> RegimeLabeler:
        self._need_fit()
        return RegimeLabeler.from_dict(self._state["regimes"])

    @property
    def jumps(self) -> JumpDetector:
        self._need_fit()
        return JumpDetector.from_dict(self._state["jumps"])

    @property
    def train_end(self) -> pd.Timestamp:
        self._need_fit()
        return pd.Timestamp(self._state["train_end"])

    @property
    def diffusion(self) -> GaussianDiffusion:
        self._need_fit()
        return self._diffusion

    def _diffusion_config(self, n_assets: int) -> DiffusionConfig:
        c = self.config
        return DiffusionConfig(channels=n_assets * N_FEATURES, window=c.window,
                               timesteps=c.timesteps, schedule=c.schedule, target=c.target,
                               hidden=c.hidden, n_blocks=c.n_blocks, stride=c.stride,
                               dropout=c.dropout,
                               attention=c.attention, n_regimes=len(REGIMES), jumps=True,
                               context=True, state=n_assets if c.vol_state else 0)

    # -- fit -------------------------------------------------------------------------------
    def fit(self, market: Market, *, train_end: object = None, steps: int | None = None,
            batch_size: int | None = None, val_fraction: float = 0.1, device: str = "auto",
            seed: int = 0, checkpoint: str | os.PathLike | None = None, resume: bool = False,
            progress: Progress | None = None) -> Self:
        """Fit scaler, regime and jump thresholds, and the diffusion model.

        Everything is fitted on bars ``<= train_end`` only (all bars when None); the last
        `val_fraction` of those windows is held back for the validation loss.

        Parameters
        ----------
        market : Market
        train_end : date-like, optional
        steps, batch_size : int, optional
            Training updates and batch size (defaults from the config).
        device : {"auto", "cpu", "cuda"}
        seed : int
        checkpoint : path, optional
            Training checkpoint written periodically; with ``resume=True`` training continues
            from it.
        progress : callable, optional
            ``progress(step, {"loss", "lr", "val_loss"?})``; after training, once more with
            ``"stage": "calibrating"`` while the drift and forecast calibrations run.

        Raises
        ------
        DataError
            Too little history for the window.
        """
        if not isinstance(market, Market):
            raise TypeError(f"fit() takes a Market (see diffbt.load_market), got "
                            f"{type(market).__name__}")
        train_mkt = market if train_end is None else market.split(train_end)[0]
        c = self.config
        need = c.window + 2 + 3
        if len(train_mkt) < need:
            raise DataError(f"only {len(train_mkt)} training bars; the window of {c.window} needs "
                            f"at least {need}", column="timestamp")
        self.device = resolve_device(device)
        feats = to_features(train_mkt.values)  # (T-1, A, 5)
        ret = feats[..., 0]
        vol = None
        if c.vol_state:
            var0 = np.maximum(np.mean(ret ** 2, axis=0), 1e-20)
            vol = {"halflife": c.vol_halflife or 4 * c.window, "var0": var0.tolist()}
            rho_rows = _vol_ratio(ewma_variance(ret, vol["halflife"], var0)[:-1], var0)
            scaler = FeatureScaler.fit(vol_scale(feats[:, None], rho_rows)[:, 0])
        else:
            scaler = FeatureScaler.fit(feats)
        if c.relative_volume:
            starts = np.arange(0, len(feats) - c.window + 1, max(1, c.window // 8))
            rel = _relative_volume(np.stack([feats[s:s + c.window] for s in starts]),
                                   c.context_bars)[..., 4]  # (n, L, A)
            mean, std = np.array(scaler.mean), np.array(scaler.std)
            mean[:, 4] = rel.mean(axis=(0, 1))
            std[:, 4] = np.maximum(rel.std(axis=(0, 1)), 1e-12)
            scaler = FeatureScaler(tuple(map(tuple, mean.tolist())),
                                   tuple(map(tuple, std.tolist())))
        labeler = RegimeLabeler.fit(ret, c.window)
        jumps = JumpDetector.fit(ret, k=c.jump_k)
        self._state = {
            "assets": list(train_mkt.assets),
            "scaler": scaler.to_dict(),
            "regimes": labeler.to_dict(),
            "jumps": jumps.to_dict(),
            "train_end": str(train_mkt.index[-1]),
            "last_close": train_mkt.values[-1, :, 3].tolist(),
            "calendar_tail": [str(t) for t in train_mkt.index[-5:]],
            "tz": None if train_mkt.index.tz is None else str(train_mkt.index.tz),
            "freq_ns": None if train_mkt.freq is None else int(train_mkt.freq.value),
            "periods_per_year": train_mkt.periods_per_year,
            "vol": vol,
        }
        if c.relative_volume:  # where a fresh path's volume starts
            self._state["volume_level"] = feats[-c.context_bars:, :, 4].mean(axis=0).tolist()
        windows, regime_ids, jump_counts, log_rho = self._training_windows(
            feats, scaler, labeler, jumps)
        if vol is not None:  # the states training windows start in, to start fresh paths
            keep = np.unique(np.linspace(0, len(log_rho) - 1, min(len(log_rho), 4096))
                             .round().astype(int))
            vol["bank"] = np.round(log_rho[keep], 5).tolist()
            vol["bank_regime"] = regime_ids[keep].tolist()
        counts = np.bincount(regime_ids, minlength=len(REGIMES))
        self._state["regime_freq"] = (counts / counts.sum()).tolist()
        self._state["jump_rate"] = float(np.mean(jump_counts > 0))
        n_val = int(len(windows) * val_fraction) if val_fraction > 0 else 0
        # the validation windows must not overlap the training windows in time
        n_train = len(windows) - n_val - (c.window // c.window_stride if n_val else 0)
        if n_train < 1:
            raise DataError(f"too little history ({len(train_mkt)} bars) for window {c.window} "
                            f"with a validation span", column="timestamp")
        x = torch.as_tensor(windows, dtype=torch.float32)
        cond = {"regime": torch.as_tensor(regime_ids, dtype=torch.long),
                "jumps": torch.as_tensor(jump_counts, dtype=torch.float32)}
        if vol is not None:
            cond["state"] = torch.as_tensor(log_rho, dtype=torch.float32)
        tr = slice(0, n_train)
        va = slice(len(windows) - n_val, None)
        gen = torch.Generator().manual_seed(seed)
        torch_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)  # scoped: the network's initial weights from `seed`
            diffusion = GaussianDiffusion(self._diffusion_config(train_mkt.n_assets))
        diffusion = diffusion.to(self.device)
        tcfg = TrainConfig(steps=steps or c.steps, batch_size=batch_size or c.batch_size,
                           lr=c.lr, warmup=min(200, max(1, (steps or c.steps) // 10)),
                           cond_dropout=c.cond_dropout, context_prob=c.context_prob,
                           state_noise=c.state_noise, seed=seed,
                           val_every=max(1, (steps or c.steps) // 10),
                           ckpt_every=max(1, (steps or c.steps) // 20))
        result = train(diffusion, x[tr], cond={k: v[tr] for k, v in cond.items()},
                       val_data=x[va] if n_val else None,
                       val_cond={k: v[va] for k, v in cond.items()} if n_val else None,
                       config=tcfg, checkpoint_path=checkpoint, resume=resume,
                       progress=progress)
        self._diffusion = result.ema.eval()
        self.history = {"train_losses": list(result.train_losses),
                        "val_losses": [list(v) for v in result.val_losses],
                        "steps": result.step, "n_train_windows": n_train,
                        "n_val_windows": n_val}
        if progress is not None and (c.calibrate_paths or (c.calibrate and n_val)):
            # training is done; say what the next half-minute is spent on
            losses = result.train_losses
            progress(result.step, {"loss": float(losses[-1]) if losses else math.nan,
                                   "stage": "calibrating"})
        if c.calibrate_paths:
            if vol is not None:
                self.calibrate_state(seed=seed)
            self.calibrate_drift(train_mkt, seed=seed)
        if c.calibrate and n_val:
            val_bars = n_val * c.window_stride + c.window  # the held-back span, in bars
            self.calibrate_forecasts(train_mkt, last_bars=val_bars, seed=seed)
        return self

    # -- long-path calibration -----------------------------------------------------------------
    def calibrate_state(self, *, n_paths: int = 96, windows: int = 24, skip: int = 8,
                        rounds: int = 4, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> list[float]:
        """Fit the gain with which generated returns feed the volatility state.

        Along generated paths the state drifted away from the states the training span
        visited (sp500_nasdaq: mean log state ratio -0.09 / -0.23 after 24 windows against
        -0.04 / -0.05 in training), the network read the gap between the state and the
        path's recent volatility as volatility breaking out, and paths grew more volatile
        and bearish the longer they ran (docs/generator.md, "Long paths"). Generated returns
        therefore enter the state scaled by ``sqrt(gain)``, one gain per asset, fitted so
        that in `n_paths` unconditioned paths of `windows` windows the mean log state ratio
        of windows `skip` onwards equals that of the training windows (the bank fresh paths
        start from; ``rounds`` fixed-point rounds). Observed returns (forecast contexts)
        always enter with gain 1. ``fit`` calls it after training, for the default sampler
        (``sampler``, ``sampler_steps``): the gain compensates that sampler's narrower
        volatility spread, so a user who samples with another one (``"ddpm"``,
        ``"dpm-logsnr"``) should call this and `calibrate_drift` again with it.

        Returns
        -------
        list of float
            The gain per asset, also stored with the model.
        """
        self._need_fit()
        vol = self._state.get("vol")
        if not vol:
            raise ValueError("calibrate_state needs a model with the volatility state")
        w, step = self.config.window, self.config.window - self.config.context_bars
        target = np.asarray(vol["bank"]).mean(axis=0)  # mean log rho of training windows
        vol["gain"] = [1.0] * len(self.assets)
        rng = np.random.default_rng(seed)
        for _ in range(rounds):
            ret, var = self._fresh_paths(n_paths, windows, rng, sampler, sampler_steps)
            gain = np.asarray(vol["gain"])
            states = ewma_variance(ret * np.sqrt(gain), vol["halflife"], var)
            # where windows skip + 1 .. windows start (the last: where a next one would)
            starts = [w - step + j * step for j in range(skip, windows)]
            got = np.log(self._rho(states[:, starts])).mean(axis=(0, 1))
            log.info("calibrate_state: gain %s, mean log state ratio %s (training %s)",
                     np.round(gain, 3), np.round(got, 3), np.round(target, 3))
            # at a fixed volatility the state scales with the gain (log ratio by half its
            # log); the paths' volatility answers in part, hence rounds and a bounded gain
            vol["gain"] = np.clip(gain * np.exp(2.0 * (target - got)), 0.5, 2.0).tolist()
        return list(vol["gain"])

    def calibrate_drift(self, market: Market, *, n_paths: int = 128, windows: int = 16,
                        rounds: int = 2, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> list[float]:
        """Shift generated log returns so that long paths drift as `market` did.

        Chained windows compound small errors of the network's conditional mean. This adds
        a constant per asset to every generated bar's log return (in units of the volatility
        state), chosen so that `n_paths` unconditioned paths of `windows` windows, drawn with
        ``sampler``, have the mean log return per bar of `market`; `rounds` fixed-point
        rounds, since shifted bars are the next windows' context. Call it with the training
        span only, after `calibrate_state` (``fit`` does both).

        Returns
        -------
        list of float
            The shift per asset, also stored with the model.
        """
        self._need_fit()
        target = self._context_features(market)[:, :, 0].mean(axis=0)  # (A,)
        sd = np.asarray(self.scaler.std)[:, 0]
        shift = np.zeros(len(self.assets))
        self._state["drift"] = shift.tolist()
        rng = np.random.default_rng(seed)
        for _ in range(rounds):
            ret, var = self._fresh_paths(n_paths, windows, rng, sampler, sampler_steps)
            # the state's scale of each bar (1 without a state): the shift's effect per bar
            unit = np.ones_like(ret) if var is None else self._path_rho(var, ret)
            shift += (target - ret.mean(axis=(0, 1))) / unit.mean(axis=(0, 1))
            shift = np.clip(shift, -0.25 * sd, 0.25 * sd)
            self._state["drift"] = shift.tolist()
        return list(self._state["drift"])

    def _path_rho(self, var: np.ndarray, ret: np.ndarray) -> np.ndarray:
        """Volatility ratio before each bar of paths `ret` (n, L, A) started in state `var`."""
        vol = self._state["vol"]
        gain = np.sqrt(np.asarray(vol.get("gain", 1.0)))
        return self._rho(ewma_variance(ret * gain, vol["halflife"], var)[:, :-1])

    def _fresh_paths(self, n_paths: int, windows: int, rng: np.random.Generator,
                     sampler: str, sampler_steps: int | None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """Log returns (n, L, A) of unconditioned paths of `windows` windows, and the states
        they started in (the calibrations' sample)."""
        length = self.config.window + (windows - 1) * (self.config.window
                                                       - self.config.context_bars)
        ids = np.full(n_paths, -1)
        var = self._initial_var(ids, rng)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(rng.integers(2**63 - 1)))
        new = self._continue(n_paths, length, context=None, var=var, regime_ids=ids,
                             regime_schedule=None, jumps=None, guidance=None, sampler=sampler,
                             sampler_steps=sampler_steps, generator=gen)
        return new[..., 0], var

    # -- forecast calibration ------------------------------------------------------------------
    def calibrate_forecasts(self, market: Market, *, last_bars: int | None = None,
                            n_origins: int = 64, n_samples: int = 64, seed: int | None = 0,
                            sampler_steps: int | None = 20) -> dict[str, list[float]]:
        """Fit the forecast spread scale per horizon on the last `last_bars` of `market`.

        For forecast origins in that span the model's sampled log returns over ``h`` bars are
        compared with what happened: ``s_h`` is the 90th percentile of
        ``|y - median| / half-width of the 5-95 % interval``, so that scaling the samples'
        deviations from their median by ``s_h`` makes the 90 % interval cover 90 % there.
        Call it with the training span only (``fit`` uses its held-back validation span).

        Returns
        -------
        dict
            ``{"horizons": [...], "scale": [...]}``, also stored with the model.
        """
        self._need_fit()
        k = self.config.context_bars
        h_max = max(1, min(self.config.window - k, 32))
        feats = self._context_features(market)
        series = self._state_series(feats)
        n = len(feats)
        first = max(k, n - (last_bars or n))
        origins = np.arange(first, n - h_max + 1)  # origin t: context rows t-k..t-1
        if len(origins) < 8:
            self._state.pop("spread", None)
            return {}
        origins = origins[np.linspace(0, len(origins) - 1, min(n_origins, len(origins)))
                          .round().astype(int)]
        ctx = np.repeat(np.stack([feats[t - k:t] for t in origins]), n_samples, axis=0)
        var = None if series is None else np.repeat(series[origins - k], n_samples, axis=0)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.default_rng(seed).integers(2**63 - 1)))
        new = self._continue(len(ctx), h_max, context=ctx, var=var,
                             regime_ids=np.full(len(ctx), -1), regime_schedule=None,
                             jumps=None, guidance=None, sampler="dpm",
                             sampler_steps=sampler_steps, generator=gen)
        sim = np.cumsum(new[..., 0], axis=1)  # (o*s, h_max, A)
        sim = sim.reshape(len(origins), n_samples, h_max, -1)
        real = feats[..., 0]
        horizons = sorted({h for h in (1, 2, 4, 8, 16, 32) if h <= h_max} | {h_max})
        scales = []
        for h in horizons:
            y = np.stack([real[t:t + h].sum(axis=0) for t in origins])  # (o, A)
            s = sim[:, :, h - 1]
            med = np.median(s, axis=1)
            lo, hi = np.quantile(s, [0.05, 0.95], axis=1)
            ratio = np.abs(y - med) / np.maximum((hi - lo) / 2, 1e-12)
            scales.append(float(np.clip(np.quantile(ratio, 0.9), 0.5, 3.0)))
        self._state["spread"] = {"horizons": horizons, "scale": scales}
        return dict(self._state["spread"])

    def spread_scale(self, horizon: int) -> float:
        """The fitted spread scale for a horizon (1.0 when not calibrated)."""
        spread = self._state.get("spread") if self._diffusion is not None else None
        if not spread:
            return 1.0
        return float(np.interp(np.log(horizon), np.log(spread["horizons"]), spread["scale"]))

    def _widen(self, log_returns: np.ndarray, horizon: int, axis: int) -> np.ndarray:
        """Scale sampled cumulative log returns' deviations from their median (`axis`)."""
        s = self.spread_scale(horizon)
        if s == 1.0:
            return log_returns
        med = np.median(log_returns, axis=axis, keepdims=True)
        return med + s * (log_returns - med)

    def _training_windows(self, feats: np.ndarray, scaler: FeatureScaler,
                          labeler: RegimeLabeler, jumps: JumpDetector
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Windows (N, A*5, L) in model space, their regime ids, jump counts and log rho."""
        c = self.config
        t, a, f = feats.shape
        starts = np.arange(0, t - c.window + 1, c.window_stride)
        series = self._state_series(feats)
        rho = self._rho(series[starts]) if series is not None else np.ones((len(starts), a))
        windows = np.empty((len(starts), a * f, c.window), dtype=np.float32)
        for i in range(0, len(starts), 2048):  # in blocks: bounded memory
            s = starts[i:i + 2048]
            raw = np.stack([feats[j:j + c.window] for j in s])  # (n, L, A, 5)
            if c.relative_volume:
                raw = _relative_volume(raw, c.context_bars)
            z = scaler.transform(vol_scale(raw, rho[i:i + 2048]))
            windows[i:i + 2048] = z.reshape(len(s), c.window, a * f).transpose(0, 2, 1)
        ret = feats[..., 0]
        trend, vol = labeler.label(ret, stride=c.window_stride)
        regime_ids = trend * len(VOLS) + vol
        counts = jumps.count_windows(jumps.flags(ret), c.window, stride=c.window_stride)
        return (windows, regime_ids.astype(np.int64), counts.astype(np.float32),
                np.log(rho).astype(np.float32))

    # -- volatility state ----------------------------------------------------------------------
    def _state_series(self, feats: np.ndarray) -> np.ndarray | None:
        """The volatility state before each feature row, (T + 1, A); None without one."""
        vol = self._state.get("vol")
        if not vol:
            return None
        return ewma_variance(feats[..., 0], vol["halflife"], np.asarray(vol["var0"]))

    def _rho(self, var: np.ndarray) -> np.ndarray:
        return _vol_ratio(var, self._state["vol"]["var0"])

    def _advance(self, var: np.ndarray | None, ret: np.ndarray, *,
                 generated: bool = True) -> np.ndarray | None:
        """The state after returns `ret` (n, k, A), from state `var` (n, A).

        Generated returns enter with the feedback gain of `calibrate_state` (1 for observed
        ones and for models without it).
        """
        if var is None or ret.shape[1] == 0:
            return var
        vol = self._state["vol"]
        if generated:
            ret = ret * np.sqrt(np.asarray(vol.get("gain", 1.0)))
        return ewma_variance(ret, vol["halflife"], var)[:, -1]

    def _initial_var(self, regime_ids: np.ndarray, rng: np.random.Generator
                     ) -> np.ndarray | None:
        """States for fresh paths: those of random training windows (of the regime asked)."""
        vol = self._state.get("vol")
        if not vol:
            return None
        bank = np.asarray(vol["bank"], dtype=np.float64)
        bank_regime = np.asarray(vol["bank_regime"])
        pick = rng.integers(len(bank), size=len(regime_ids))
        for r in np.unique(regime_ids[regime_ids >= 0]):
            rows = np.flatnonzero(bank_regime == r)
            if len(rows):
                sel = regime_ids == r
                pick[sel] = rows[rng.integers(len(rows), size=int(sel.sum()))]
        return np.asarray(vol["var0"]) * np.exp(2.0 * bank[pick])

    # -- conversion helpers ------------------------------------------------------------------
    def _to_channels(self, z: np.ndarray) -> torch.Tensor:
        """Scaled features (B, L, A, 5) -> channel-first tensor (B, A*5, L)."""
        b, length = z.shape[:2]
        x = np.ascontiguousarray(z.reshape(b, length, -1).transpose(0, 2, 1))
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    def _from_channels(self, x: torch.Tensor) -> np.ndarray:
        """Channel-first tensor (B, A*5, L) -> scaled features (B, L, A, 5), float64."""
        arr = x.detach().to("cpu", torch.float64).numpy()
        b, _, length = arr.shape
        return arr.transpose(0, 2, 1).reshape(b, length, len(self.assets), N_FEATURES)

    def _regime_ids(self, regime: str | None, n: int, rng: np.random.Generator) -> np.ndarray:
        """Full regime ids for a (possibly partial) regime name; -1 = unconditioned."""
        if regime is None:
            return np.full(n, -1)
        trend, vol = parse_regime(regime)
        freq = np.asarray(self._state["regime_freq"]).reshape(len(TRENDS), len(VOLS)) + 1e-9
        if trend is not None and vol is not None:
            return np.full(n, trend * len(VOLS) + vol)
        if trend is not None:
            p = freq[trend] / freq[trend].sum()
            return trend * len(VOLS) + rng.choice(len(VOLS), size=n, p=p)
        p = freq[:, vol] / freq[:, vol].sum()
        return rng.choice(len(TRENDS), size=n, p=p) * len(VOLS) + vol

    def _cond(self, regime_ids: np.ndarray, jumps: float | None,
              context: np.ndarray | None = None,
              rho: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Conditioning tensors; `context` in model space, `rho` the volatility ratios."""
        n = len(regime_ids)
        null = len(REGIMES)
        cond = {"regime": torch.as_tensor(np.where(regime_ids < 0, null, regime_ids),
                                          dtype=torch.long, device=self.device),
                "jumps": torch.full((n,), math.nan if jumps is None else float(jumps),
                                    device=self.device)}
        if rho is not None:
            cond["state"] = torch.as_tensor(np.log(rho), dtype=torch.float32, device=self.device)
        if context is not None:
            k = context.shape[1]
            full = np.zeros((n, self.config.window) + context.shape[2:], dtype=np.float64)
            full[:, :k] = context
            cond["context"] = self._to_channels(full)
            cond["context_mask"] = prefix_mask(n, self.config.window, k, device=self.device)
        return cond

    def _draw(self, n: int, *, regime_ids: np.ndarray, jumps: float | None,
              context: np.ndarray | None, var: np.ndarray | None, guidance: float | None,
              sampler: str, sampler_steps: int | None, generator: torch.Generator
              ) -> np.ndarray:
        """One model window per row; `context` and the result are features (n, L, A, 5)."""
        shape = (n, len(self.assets) * N_FEATURES, self.config.window)
        rho = None if var is None else self._rho(var)
        scale = np.ones((n, len(self.assets))) if rho is None else rho
        level = self._volume_level(n, context)
        if level is not None and context is not None:
            context = context.copy()
            context[..., 4] -= level[:, None]
        ctx = None if context is None else self.scaler.transform(vol_scale(context, scale))
        cond = self._cond(regime_ids, jumps, ctx, rho)
        out = run_sampler(self._diffusion, shape, sampler=sampler,
                          steps=None if sampler == "ddpm" else sampler_steps,
                          generator=generator, cond=cond, guidance=guidance)
        feats = self.scaler.inverse(self._from_channels(out.x))
        shift = self._state.get("drift")
        if shift is not None:  # calibrate_drift: only the new bars, the context stays exact
            feats[:, 0 if context is None else context.shape[1]:, :, 0] += np.asarray(shift)
        if level is not None:
            feats[..., 4] += level[:, None]
        return feats if rho is None else vol_scale(feats, rho, inverse=True)

    def _volume_level(self, n: int, context: np.ndarray | None) -> np.ndarray | None:
        """Log-volume level (n, A) of windows: their context's mean (relative_volume)."""
        if not self.config.relative_volume:
            return None
        if context is None:
            return np.broadcast_to(np.asarray(self._state["volume_level"]),
                                   (n, len(self.assets))).copy()
        return context[:, :self.config.context_bars, :, 4].mean(axis=1)

    def _matches(self, feats: np.ndarray, regime_ids: np.ndarray,
                 jumps: float | None) -> np.ndarray:
        """Which windows carry the labels asked for (by the fitted labeler and detector)."""
        ret = feats[..., 0]  # (n, window, A) log returns
        ok = np.ones(len(feats), dtype=bool)
        asked = regime_ids >= 0
        if asked.any():
            trend, vol = self.regimes.label_windows(ret)
            ok &= ~asked | (trend * len(VOLS) + vol == regime_ids)
        if jumps is not None:
            count = self.jumps.count_batch(ret)
            k = int(round(jumps))
            ok &= (count >= k) if k >= JUMP_BUCKETS else (count == k)
        return ok

    def _windows(self, n: int, *, regime_ids: np.ndarray, jumps: float | None,
                 context: np.ndarray | None, var: np.ndarray | None, guidance: float | None,
                 sampler: str, sampler_steps: int | None, generator: torch.Generator,
                 redraw_var: Callable[[np.ndarray], np.ndarray | None] | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Conditioned windows and the volatility states they started in.

        With ``config.max_tries > 1`` windows whose own labels differ from those asked for
        are redrawn (up to ``max_tries`` rounds); for fresh paths (`redraw_var`) with a new
        starting state too.
        """
        kw = {"jumps": jumps, "guidance": guidance, "sampler": sampler,
              "sampler_steps": sampler_steps, "generator": generator}
        z = self._draw(n, regime_ids=regime_ids, context=context, var=var, **kw)
        if self.config.max_tries <= 1 or (jumps is None and not (regime_ids >= 0).any()):
            return z, var
        ok = self._matches(z, regime_ids, jumps)
        for _ in range(self.config.max_tries - 1):
            if ok.all():
                break
            idx = np.flatnonzero(~ok)
            if redraw_var is not None and var is not None:
                var = var.copy()
                var[idx] = redraw_var(regime_ids[idx])
            redo = self._draw(len(idx), regime_ids=regime_ids[idx],
                              context=None if context is None else context[idx],
                              var=None if var is None else var[idx], **kw)
            z[idx] = redo
            ok[idx] = self._matches(redo, regime_ids[idx], jumps)
        self.last_acceptance = float(ok.mean())
        return z, var

    def _continue(self, n: int, new_bars: int, *, context: np.ndarray | None,
                  var: np.ndarray | None, regime_ids: np.ndarray,
                  regime_schedule: Sequence[np.ndarray] | None, jumps: float | None,
                  guidance: float | None, sampler: str, sampler_steps: int | None,
                  generator: torch.Generator, rng: np.random.Generator | None = None
                  ) -> np.ndarray:
        """`new_bars` feature bars (n, new_bars, A, 5) after `context` (n, k, A, 5).

        `var` is the volatility state (n, A) before the first context bar (or before the
        first new bar without context); ignored by models without a volatility state.
        With `rng` and no context, label matching may also redraw a first window's state.
        """
        overlap = self.config.context_bars
        if not self._state.get("vol"):
            var = None
        elif var is None:
            var = np.broadcast_to(np.asarray(self._state["vol"]["var0"]),
                                  (n, len(self.assets))).copy()
        out: list[np.ndarray] = []
        produced = 0
        tail = None
        if context is not None:
            tail = context[:, -overlap:]
            var = self._advance(var, context[:, :-overlap, :, 0], generated=False)
        seg = 0
        while produced < new_bars:
            ids = regime_ids if regime_schedule is None else regime_schedule[
                min(seg, len(regime_schedule) - 1)]
            redraw = None
            if seg == 0 and context is None and rng is not None:
                def redraw(r: np.ndarray) -> np.ndarray | None:
                    return self._initial_var(r, rng)
            w, var = self._windows(n, regime_ids=ids, jumps=jumps, context=tail, var=var,
                                   guidance=guidance, sampler=sampler,
                                   sampler_steps=sampler_steps, generator=generator,
                                   redraw_var=redraw)
            k = 0 if tail is None else tail.shape[1]
            out.append(w[:, k:])
            produced += w.shape[1] - k
            # to the next start; the first window's first bars are observed when given
            var = self._advance(var, w[:, :w.shape[1] - overlap, :, 0],
                                generated=seg > 0 or context is None)
            tail = w[:, -overlap:]
            seg += 1
        return np.concatenate(out, axis=1)[:, :new_bars]

    # -- sample ------------------------------------------------------------------------------
    def sample(self, n_paths: int, length: int, *, regime: str | Sequence[str] | None = None,
               jumps: int | bool | None = None, guidance: float | None = None,
               sampler: str = "dpm", sampler_steps: int | None = 20, seed: int | None = None,
               batch_size: int = 256, start_price: float | Sequence[float] | None = None,
               out: str | os.PathLike | None = None,
               progress: Callable[[int, int], None] | None = None) -> PathSet:
        """Sample synthetic OHLCV paths.

        Parameters
        ----------
        n_paths, length : int
            Paths and bars per path (any length; long paths chain windows).
        regime : str or sequence of str, optional
            A regime (``"bear"``, ``"bull_volatile"``...; see `diffbt.data.labels`) or a
            sequence of regimes, one per generated window, for regime changes along a path.
        jumps : int or bool, optional
            Jump events per window to ask for (True = 1, 0/False = calm, None = unconditioned).
        guidance : float, optional
            Classifier-free guidance scale (None = plain conditional).
        sampler : {"dpm", "dpm-logsnr", "dpm-sde", "ddim", "ddpm"}
            DPM-Solver++(2M) (steps uniform in time; on a logSNR-uniform grid: more dispersed
            single windows), its stochastic (SDE) variant, DDIM or full ancestral DDPM (all T
            steps).
        sampler_steps : int
            Denoiser calls per window for dpm/ddim (doubled when guidance is not 1).
        seed : int, optional
            Same seed, same paths (on the same device and library versions).
        batch_size : int
            Paths sampled together.
        start_price : float or per-asset sequence, optional
            Close before the first bar (default: the last training close).
        out : path, optional
            Stream the paths to this PathSet file and return it memory-mapped.
        progress : callable, optional
            ``progress(done_paths, n_paths)``.

        Returns
        -------
        PathSet
            ``(n_paths, length, n_assets, 5)``; its calendar continues the training data.
        """
        self._need_fit()
        if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
            raise ValueError(f"n_paths must be a positive int, got {n_paths!r}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive int, got {length!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if guidance is not None and not math.isfinite(guidance):
            raise ValueError(f"guidance must be a finite number, got {guidance!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        if jumps is not None and (isinstance(jumps, bool) is False and jumps < 0):
            raise ValueError(f"jumps must be >= 0, got {jumps}")
        jumps_value = None if jumps is None else float(jumps)
        regimes = None if regime is None else ([regime] if isinstance(regime, str)
                                               else list(regime))
        if regimes is not None:
            for r in regimes:
                parse_regime(r)  # raises for unknown names
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(rng.integers(2**63 - 1)))
        start = np.broadcast_to(np.asarray(
            self._state["last_close"] if start_price is None else start_price, dtype=np.float64),
            (len(self.assets),))
        if (start <= 0).any() or not np.isfinite(start).all():
            raise ValueError(f"start_price must be positive, got {start_price!r}")
        index = self._future_index(length)
        meta = {"generator": "diffusion", "seed": seed, "regime": regimes, "jumps": jumps_value,
                "guidance": guidance, "sampler": sampler, "sampler_steps": sampler_steps,
                "train_end": self._state["train_end"]}

        def chunks():
            for s in range(0, n_paths, batch_size):
                b = min(batch_size, n_paths - s)
                if regimes is None:
                    ids, schedule, names = np.full(b, -1), None, None
                else:
                    schedule = [self._regime_ids(r, b, rng) for r in regimes]
                    ids = schedule[0]
                    names = np.full(b, regimes[0] if len(regimes) == 1 else "->".join(regimes))
                feats = self._continue(b, length, context=None,
                                       var=self._initial_var(ids, rng), regime_ids=ids,
                                       regime_schedule=schedule, jumps=jumps_value,
                                       guidance=guidance, sampler=sampler,
                                       sampler_steps=sampler_steps, generator=gen, rng=rng)
                values = from_features(feats, start)
                if progress is not None:
                    progress(s + b, n_paths)
                yield values, names

        if out is not None:
            with PathSetWriter(out, n_paths, index, self.assets, meta=meta) as w:
                for values, names in chunks():
                    w.write(values, names)
            return PathSet.load(out)
        parts, labels = [], []
        for values, names in chunks():
            parts.append(values)
            if names is not None:
                labels.append(names)
        return PathSet(np.concatenate(parts), index, self.assets,
                       regimes=np.concatenate(labels) if labels else None, meta=meta)

    def _future_index(self, length: int) -> pd.DatetimeIndex:
        tail = pd.DatetimeIndex(pd.to_datetime(self._state["calendar_tail"]))
        if self._state.get("tz") and tail.tz is None:
            tail = tail.tz_localize(self._state["tz"])
        freq = None if self._state["freq_ns"] is None else pd.Timedelta(self._state["freq_ns"])
        return continue_calendar(tail, length, freq)

    # -- forecast ----------------------------------------------------------------------------
    def _context_features(self, market: Market) -> np.ndarray:
        missing = [a for a in self.assets if a not in market.assets]
        if missing:
            raise DataError(f"the model was trained on {list(self.assets)}; the context lacks "
                            f"{missing}", column="asset")
        return to_features(market.select(self.assets).values)

    def forecast(self, context: Market, horizon: int, *, n_samples: int = 200,
                 quantiles: Sequence[float] = (0.05, 0.5, 0.95), seed: int | None = None,
                 sampler: str = "dpm", sampler_steps: int | None = 20) -> pd.DataFrame:
        """Quantiles of the close 1..`horizon` bars after the end of `context`.

        Parameters
        ----------
        context : Market
            Observed history with the model's assets; its last ``overlap`` bars are the
            model's context, all earlier bars set the volatility state.
        horizon : int
        n_samples : int
            Sampled futures.
        quantiles : sequence of float

        Returns
        -------
        DataFrame
            Index: steps ahead 1..horizon; columns: MultiIndex (asset, quantile); price units.
        """
        q = self._check_forecast_args(horizon, n_samples, quantiles)
        paths = self._forecast_paths(context, horizon, n_samples=n_samples, seed=seed,
                                     sampler=sampler, sampler_steps=sampler_steps)
        last = context.select(self.assets).values[-1, :, 3]
        cum = np.log(paths[..., 3] / last)  # (n_samples, horizon, A)
        for h in range(horizon):
            cum[:, h] = self._widen(cum[:, h], h + 1, axis=0)
        qs = last * np.exp(np.quantile(cum, q, axis=0))  # (nq, horizon, A)
        cols = pd.MultiIndex.from_product([self.assets, list(q)], names=["asset", "quantile"])
        data = qs.transpose(1, 2, 0).reshape(horizon, -1)
        return pd.DataFrame(data, index=pd.RangeIndex(1, horizon + 1, name="step"), columns=cols)

    def _check_forecast_args(self, horizon: int, n_samples: int,
                             quantiles: Sequence[float]) -> list[float]:
        self._need_fit()
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be a positive int, got {horizon!r}")
        if n_samples < 2:
            raise ValueError(f"n_samples must be >= 2, got {n_samples}")
        q = [float(x) for x in quantiles]
        if not q or any(not 0.0 <= x <= 1.0 for x in q):
            raise ValueError(f"quantiles must be in [0, 1], got {list(quantiles)}")
        return q

    def _forecast_paths(self, context: Market, horizon: int, *, n_samples: int,
                        seed: int | None, sampler: str, sampler_steps: int | None) -> np.ndarray:
        overlap = self.config.context_bars
        if len(context) < overlap + 1:
            raise DataError(f"forecast needs at least {overlap + 1} bars of context, got "
                            f"{len(context)}", column="timestamp")
        feats = self._context_features(context)
        series = self._state_series(feats)
        start = len(feats) - overlap
        ctx = feats[None, start:].repeat(n_samples, axis=0)
        var = None if series is None else series[None, start].repeat(n_samples, axis=0)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.default_rng(seed).integers(2**63 - 1)))
        new = self._continue(n_samples, horizon, context=ctx, var=var,
                             regime_ids=np.full(n_samples, -1), regime_schedule=None,
                             jumps=None, guidance=None, sampler=sampler,
                             sampler_steps=sampler_steps, generator=gen)
        last = context.select(self.assets).values[-1, :, 3]
        return from_features(new, last)

    def forecast_series(self, market: Market, *, horizon: int,
                        quantiles: Sequence[float] = (0.05, 0.5, 0.95), asset: str | None = None,
                        n_samples: int = 100, seed: int | None = 0, every: int = 1,
                        batch_size: int = 4096, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> np.ndarray:
        """Forecast quantiles of ``close[t + horizon]`` for every bar t, from bars <= t only.

        All forecasts are computed in large batches (one model call per sampler step for many
        bars at once), not bar by bar. Row t uses only bars <= t: the ``overlap`` bars ending
        at t as context, the earlier ones through the volatility state.

        Parameters
        ----------
        market : Market
            History with (at least) the model's assets.
        horizon : int
        quantiles : sequence of float
        asset : str, optional
            Which asset's close to forecast (default: the first model asset).
        n_samples : int
            Sampled futures per bar.
        every : int
            Forecast every `every` bars (others are NaN); 1 = every bar.

        Returns
        -------
        ndarray, shape (len(market), len(quantiles))
            NaN for bars with too little history (and those skipped by `every`).
        """
        q = self._check_forecast_args(horizon, n_samples, quantiles)
        asset = self.assets[0] if asset is None else asset
        if asset not in self.assets:
            raise ValueError(f"asset {asset!r} is not one the model was trained on: "
                             f"{list(self.assets)}")
        j = self.assets.index(asset)
        overlap = self.config.context_bars
        feats = self._context_features(market)  # row i = bar i + 1
        series = self._state_series(feats)
        closes = market.select(self.assets).values[:, j, 3]
        out = np.full((len(market), len(q)), np.nan)
        bars = np.arange(overlap, len(market), every)  # bar t needs features t-overlap+1..t
        if len(bars) == 0:
            return out
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(np.random.default_rng(seed).integers(2**63 - 1)))
        per = max(1, batch_size // n_samples)
        for s in range(0, len(bars), per):
            tb = bars[s:s + per]
            ctx = np.stack([feats[t - overlap:t] for t in tb])  # features of bars t-overlap+1..t
            ctx = np.repeat(ctx, n_samples, axis=0)
            var = None if series is None else np.repeat(series[tb - overlap], n_samples, axis=0)
            new = self._continue(len(ctx), horizon, context=ctx, var=var,
                                 regime_ids=np.full(len(ctx), -1), regime_schedule=None,
                                 jumps=None, guidance=None, sampler=sampler,
                                 sampler_steps=sampler_steps, generator=gen)
            ret = new[..., j, 0].sum(axis=1)  # log return t -> t+h
            ret = self._widen(ret.reshape(len(tb), n_samples), horizon, axis=1)
            out[tb] = closes[tb, None] * np.exp(np.quantile(ret, q, axis=1).T)
        return out

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to exactly `path` (safetensors weights + JSON meta, no pickle)."""
        self._need_fit()
        tensors = {f"model.{k}": v for k, v in self._diffusion.model.state_dict().items()}
        meta = {"kind": "market-generator", "config": self._diffusion.config.to_dict(),
                "generator": asdict(self.config), "state": self._state,
                "history": {k: v for k, v in self.history.items() if k != "train_losses"}}
        return save_checkpoint(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto") -> MarketGenerator:
        """Load a model written by `save`.

        Raises
        ------
        CheckpointError
            Missing, damaged, truncated or foreign file, or a newer format version.
        """
        tensors, meta = load_checkpoint(path)
        if meta.get("kind") != "market-generator":
            raise CheckpointError(f"not a MarketGenerator file (kind {meta.get('kind')!r})",
                                  file=str(path))
        dev = resolve_device(device)
        try:
            settings = dict(meta["generator"])
            settings.setdefault("vol_state", False)  # files from before the volatility state
            settings.setdefault("relative_volume", False)  # ... and before relative volume
            gen = cls(GeneratorConfig(**settings))
            diffusion, _ = diffusion_from_checkpoint(tensors, meta, path=path, device=dev,
                                                     ema=False)
            gen._state = dict(meta["state"])
            missing = [k for k in ("assets", "scaler", "regimes", "jumps", "train_end",
                                   "last_close", "calendar_tail", "freq_ns", "regime_freq")
                       if k not in gen._state]
            if missing:
                raise CheckpointError(f"damaged MarketGenerator meta: missing {missing}",
                                      file=str(path))
            gen.history = dict(meta.get("history", {}))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"damaged MarketGenerator meta: {exc}", file=str(path)) from None
        gen._diffusion = diffusion.eval()
        gen.device = dev
        return gen

    def __repr__(self) -> str:
        state = (f"fitted on {list(self.assets)} to {self._state['train_end']}" if self.fitted
                 else "not fitted")
        return f"MarketGenerator(window={self.config.window}, {state})"
