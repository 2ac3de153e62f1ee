"""`MarketGenerator`: the diffusion model fitted to a `Market`, sampling `PathSet`s.

It orchestrates the parts of `diffbt.generate`:

- `config`: the settings (`GeneratorConfig`);
- `state`: what `fit` learns besides the network (`GeneratorState`, one frozen value);
- `volstate`: the volatility state each window is modelled relative to;
- `codec`: features <-> the network's channel-first space;
- `chain`: windows drawn, label-checked and chained into long paths;
- `calibrate`: the calibrations `fit` runs after training;
- `forecast`: quantile forecasts after an observed history.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch

from diffbt.data.features import FeatureScaler, from_features
from diffbt.data.labels import JumpDetector, RegimeLabeler, parse_regime
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate import calibrate as cal
from diffbt.generate import forecast as fc
from diffbt.generate.chain import Chain, DrawSpec, regime_ids, torch_generator
from diffbt.generate.codec import N_FEATURES
from diffbt.generate.config import SAMPLERS, GeneratorConfig
from diffbt.generate.pathset import PathSet, PathSetWriter
from diffbt.generate.state import GeneratorState, fit_state, sampler_key
from diffbt.model.checkpoint import (
    CheckpointError,
    diffusion_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from diffbt.model.diffusion import GaussianDiffusion
from diffbt.model.train import train

__all__ = ["GeneratorConfig", "MarketGenerator", "resolve_device"]

log = logging.getLogger(__name__)

Progress = Callable[[int, dict], None]
KIND = "market-generator"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' asked for but no CUDA GPU is available")
    return dev


class MarketGenerator:
    """A DDPM over windows of multi-asset OHLCV features.

    >>> gen = MarketGenerator(window=64).fit(market, train_end="2014-12-31")  # doctest: +SKIP
    >>> paths = gen.sample(1000, 252, regime="bear", jumps=1, seed=0)          # doctest: +SKIP

    Parameters
    ----------
    config : GeneratorConfig, optional
    **settings
        Flat settings applied to `config` (``window``, ``hidden``, ``steps``...; see
        `GeneratorConfig.from_settings`).
    """

    def __init__(self, config: GeneratorConfig | None = None, **settings: Any) -> None:
        self.config: GeneratorConfig = GeneratorConfig.from_settings(config, **settings)
        self._diffusion: GaussianDiffusion | None = None
        self._state: GeneratorState | None = None
        self.device = torch.device("cpu")
        self.history: dict[str, Any] = {}
        self.last_acceptance: float | None = None

    # -- fitted values -----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self._diffusion is not None

    @property
    def state(self) -> GeneratorState:
        """Everything fitted on data besides the network (a frozen value)."""
        if self._state is None or self._diffusion is None:
            raise RuntimeError("call fit() first (or MarketGenerator.load(path))")
        return self._state

    @property
    def diffusion(self) -> GaussianDiffusion:
        self.state  # noqa: B018 -- raises when not fitted
        return self._diffusion

    @property
    def assets(self) -> tuple[str, ...]:
        return self.state.assets

    @property
    def scaler(self) -> FeatureScaler:
        return self.state.scaler

    @property
    def regimes(self) -> RegimeLabeler:
        return self.state.regimes

    @property
    def jumps(self) -> JumpDetector:
        return self.state.jumps

    @property
    def train_end(self) -> pd.Timestamp:
        return pd.Timestamp(self.state.calendar.train_end)

    @property
    def freq(self) -> pd.Timedelta | None:
        """The bar spacing of the training data."""
        return self.state.calendar.freq

    def with_state(self, state: GeneratorState) -> MarketGenerator:
        """A copy of this generator (sharing the network) with another fitted state."""
        if not isinstance(state, GeneratorState):
            raise TypeError(f"state must be a GeneratorState, got {type(state).__name__}")
        out = copy.copy(self)
        out._state = state
        out.history = dict(self.history)
        return out

    def _chain(self) -> Chain:
        return Chain(self.diffusion, self.state, self.config, self.device)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, market: Market, *, train_end: object = None, steps: int | None = None,
            batch_size: int | None = None, val_fraction: float = 0.1, device: str = "auto",
            seed: int = 0, checkpoint: str | os.PathLike | None = None, resume: bool = False,
            progress: Progress | None = None) -> Self:
        """Fit scaler, regime and jump thresholds, volatility state and the diffusion model.

        Everything is fitted on bars ``<= train_end`` only (all bars when None); the last
        `val_fraction` of those windows is held back for the validation loss and the
        forecast calibration.

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
            ``"stage": "calibrating"`` while the calibrations run.

        Raises
        ------
        DataError
            Too little history for the window.
        """
        if not isinstance(market, Market):
            raise TypeError(f"fit() takes a Market (see diffbt.load_market), got "
                            f"{type(market).__name__}")
        files = ", ".join(market.sources) or None
        train_mkt = market if train_end is None else market.split(train_end)[0]
        if train_end is not None and len(market):
            if len(train_mkt) == 0:
                raise DataError(f"train_end {pd.Timestamp(train_end)} is before the first bar "
                                f"({market.index[0]})", file=files)
            if len(train_mkt) == len(market):
                log.warning("train_end %s is at or after the last bar (%s): fitting on all "
                            "%d bars, none is left for testing", pd.Timestamp(train_end),
                            market.index[-1], len(market))
        c = self.config
        need = c.window + 2 + 3
        if len(train_mkt) < need:
            raise DataError(f"only {len(train_mkt)} training bars; a window of {c.window} bars "
                            f"needs at least {need}: give more history or a smaller window",
                            file=files)
        self.device = resolve_device(device)
        state, (windows, ids, jump_counts, log_rho) = fit_state(train_mkt, c)
        vol = state.vol
        n_val = int(len(windows) * val_fraction) if val_fraction > 0 else 0
        # the validation windows must not overlap the training windows in time
        n_train = len(windows) - n_val - (c.window // c.window_stride if n_val else 0)
        if n_train < 1:
            raise DataError(f"too little history ({len(train_mkt)} bars) for a window of "
                            f"{c.window} bars with a validation span: give more history or a "
                            f"smaller window", file=files)
        x = torch.as_tensor(windows, dtype=torch.float32)
        cond = {"regime": torch.as_tensor(ids, dtype=torch.long),
                "jumps": torch.as_tensor(jump_counts, dtype=torch.float32)}
        if vol is not None:
            cond["state"] = torch.as_tensor(log_rho, dtype=torch.float32)
        tr, va = slice(0, n_train), slice(len(windows) - n_val, None)
        g = torch.Generator().manual_seed(seed)
        torch_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)  # scoped: the network's initial weights from `seed`
            diffusion = GaussianDiffusion(c.network(train_mkt.n_assets, N_FEATURES))
        result = train(diffusion.to(self.device), x[tr], cond={k: v[tr] for k, v in cond.items()},
                       val_data=x[va] if n_val else None,
                       val_cond={k: v[va] for k, v in cond.items()} if n_val else None,
                       config=c.training(steps=steps, batch_size=batch_size, seed=seed),
                       checkpoint_path=checkpoint, resume=resume, progress=progress)
        self._diffusion = result.ema.eval()
        self._state = state
        self.history = {"train_losses": list(result.train_losses),
                        "val_losses": [list(v) for v in result.val_losses],
                        "steps": result.step, "n_train_windows": n_train,
                        "n_val_windows": n_val}
        if progress is not None and (c.calibrate_paths or (c.calibrate and n_val)):
            losses = result.train_losses  # training is done: say what the next minute is for
            progress(result.step, {"loss": float(losses[-1]) if losses else math.nan,
                                   "stage": "calibrating"})
        if c.calibrate_paths:
            self.calibrate_paths(train_mkt, seed=seed)
        if c.calibrate and n_val:
            val_bars = n_val * c.window_stride + c.window  # the held-back span, in bars
            self.calibrate_forecasts(train_mkt, last_bars=val_bars, seed=seed)
        return self

    # -- calibrations (`diffbt.generate.calibrate`) ------------------------------------------
    def calibrate_paths(self, market: Market, *, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> None:
        """Fit the long-path calibrations for `sampler` on `market`, the training span:
        `calibrate_scale` (GARCH filter) or `calibrate_state` (EWMA state), then
        `calibrate_drift`. ``fit`` runs it for the default sampler; run it again to draw
        long paths with another one."""
        kw = dict(seed=seed, sampler=sampler, sampler_steps=sampler_steps)
        vol, c = self.state.vol, self.config
        windows = 16  # the EWMA state's default windows: 544 bars
        if vol is not None and vol.per_bar:
            self.calibrate_scale(market, **kw)
            # drift on paths of about 600 bars, however long the windows
            windows = max(2, math.ceil((600 - c.window) / (c.window - c.context_bars)) + 1)
        elif vol is not None:
            self.calibrate_state(**kw)
        self.calibrate_drift(market, windows=windows, **kw)

    def calibrate_state(self, *, n_paths: int = 96, windows: int = 24, skip: int = 8,
                        rounds: int = 4, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> list[float]:
        """Fit the volatility-state feedback gain for `sampler` (`calibrate.calibrate_state`);
        ``fit`` runs it for the default sampler. Returns the gain per asset."""
        self._state = cal.calibrate_state(self._chain(), n_paths=n_paths, windows=windows,
                                          skip=skip, rounds=rounds, seed=seed, sampler=sampler,
                                          sampler_steps=sampler_steps)
        return self._state.vol.gain.tolist()

    def calibrate_scale(self, market: Market, *, n_paths: int = 64, windows: int = 8,
                        rounds: int = 3, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> list[float]:
        """Fit the factor on generated return residuals for `sampler` on `market`, the
        training span, for a model with a GARCH filter (`calibrate.calibrate_scale`); ``fit``
        runs it for the default sampler. Returns the factor per asset."""
        self._fit_on(cal.calibrate_scale, market, n_paths=n_paths, windows=windows,
                     rounds=rounds, seed=seed, sampler=sampler, sampler_steps=sampler_steps)
        return self._state.scale.scale.tolist()

    def calibrate_drift(self, market: Market, *, n_paths: int = 128, windows: int = 16,
                        rounds: int = 2, seed: int | None = 0, sampler: str = "dpm",
                        sampler_steps: int | None = 20) -> list[float]:
        """Fit the drift shift for `sampler` on `market`, the training span
        (`calibrate.calibrate_drift`); run it after `calibrate_state` or `calibrate_scale`.
        Returns the shift."""
        self._fit_on(cal.calibrate_drift, market, n_paths=n_paths, windows=windows,
                     rounds=rounds, seed=seed, sampler=sampler, sampler_steps=sampler_steps)
        return self._state.drift.shift.tolist()

    def calibrate_forecasts(self, market: Market, *, last_bars: int | None = None,
                            n_origins: int = 64, n_samples: int = 64, seed: int | None = 0,
                            sampler_steps: int | None = 20) -> dict[str, list[float]]:
        """Fit the forecast spread scale per horizon on the last `last_bars` of `market`, the
        training span (`calibrate.calibrate_forecasts`). Returns ``{"horizons", "scale"}``
        (empty when the span is too short)."""
        self._fit_on(cal.calibrate_forecasts, market, last_bars=last_bars,
                     n_origins=n_origins, n_samples=n_samples, seed=seed,
                     sampler_steps=sampler_steps)
        sp = self._state.spread
        return {} if sp is None else {"horizons": list(sp.horizons), "scale": list(sp.scale)}

    def _fit_on(self, calibration: Callable[..., GeneratorState], market: Market,
                **kw: Any) -> None:
        """Run a calibration of `diffbt.generate.calibrate` on `market`'s features."""
        chain = self._chain()
        self._state = calibration(chain, fc.context_features(chain, market), **kw)

    def spread_scale(self, horizon: int) -> float:
        """The fitted forecast spread scale for a horizon (1.0 when not calibrated)."""
        sp = self._state.spread if self.fitted else None
        return 1.0 if sp is None else sp.at(horizon)

    def _check_sampler(self, sampler: str, sampler_steps: int | None) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; options: {', '.join(SAMPLERS)}")
        fitted_for = self.state.calibrated_for()
        key = sampler_key(sampler, sampler_steps)
        if fitted_for and key not in fitted_for:
            log.warning("the path calibrations were fitted for sampler %s, not %s: call "
                        "calibrate_paths(<training market>, sampler=..., sampler_steps=...) "
                        "with it for long paths", ", ".join(sorted(fitted_for)), key)

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
        sampler : {"dpm", "dpm-logsnr", "ddpm"}
            DPM-Solver++(2M) with steps uniform in time, the same on a logSNR-uniform grid
            (more dispersed single windows), or full ancestral DDPM (all `timesteps` steps).
        sampler_steps : int
            Denoiser calls per window for the DPM samplers (doubled with guidance).
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
            `last_acceptance` is then the share of label-checked windows (all windows of the
            call) that carried the regime / jumps asked for.
        """
        st = self.state
        for name, v in (("n_paths", n_paths), ("length", length), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if guidance is not None and not math.isfinite(guidance):
            raise ValueError(f"guidance must be a finite number, got {guidance!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        if jumps is not None and not isinstance(jumps, bool) and jumps < 0:
            raise ValueError(f"jumps must be >= 0, got {jumps}")
        self._check_sampler(sampler, sampler_steps)
        jumps_value = None if jumps is None else float(jumps)
        regimes = None if regime is None else ([regime] if isinstance(regime, str)
                                               else list(regime))
        for r in regimes or ():
            parse_regime(r)  # raises for unknown names
        rng = np.random.default_rng(seed)
        gen = torch_generator(rng, self.device)
        start = np.broadcast_to(np.asarray(
            st.last_close if start_price is None else start_price, dtype=np.float64),
            (st.n_assets,))
        if (start <= 0).any() or not np.isfinite(start).all():
            raise ValueError(f"start_price must be positive, got {start_price!r}")
        index = st.calendar.future(length)
        meta = {"generator": "diffusion", "seed": seed, "regime": regimes, "jumps": jumps_value,
                "guidance": guidance, "sampler": sampler, "sampler_steps": sampler_steps,
                "train_end": str(st.calendar.train_end)}
        chain = self._chain()

        def chunks():
            for s in range(0, n_paths, batch_size):
                b = min(batch_size, n_paths - s)
                schedule, names = None, None
                if regimes is not None:
                    schedule = [regime_ids(st, r, b, rng) for r in regimes]
                    names = np.full(b, regimes[0] if len(regimes) == 1 else "->".join(regimes))
                spec = DrawSpec(np.full(b, -1) if schedule is None else schedule[0],
                                regime_schedule=schedule, jumps=jumps_value, guidance=guidance,
                                sampler=sampler, sampler_steps=sampler_steps)
                var = None if st.vol is None else st.vol.initial(spec.regime_ids, rng)
                feats = chain.extend(b, length, spec, context=None, var=var, generator=gen,
                                     rng=rng)
                if progress is not None:
                    progress(s + b, n_paths)
                yield from_features(feats, start), names

        if out is not None:
            with PathSetWriter(out, n_paths, index, st.assets, meta=meta) as w:
                for values, names in chunks():
                    w.write(values, names)
            self.last_acceptance = chain.acceptance
            return PathSet.load(out)
        parts, labels = [], []
        for values, names in chunks():
            parts.append(values)
            if names is not None:
                labels.append(names)
        self.last_acceptance = chain.acceptance
        return PathSet(np.concatenate(parts), index, st.assets,
                       regimes=np.concatenate(labels) if labels else None, meta=meta)

    # -- forecast (`diffbt.generate.forecast`) -----------------------------------------------
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
        self._check_sampler(sampler, sampler_steps)
        return fc.forecast_quantiles(self._chain(), context, horizon, n_samples=n_samples,
                                     quantiles=quantiles, seed=seed, sampler=sampler,
                                     sampler_steps=sampler_steps)

    def forecast_series(self, market: Market, *, horizon: int,
                        quantiles: Sequence[float] = (0.05, 0.5, 0.95), asset: str | None = None,
                        n_samples: int = 100, seed: int | None = 0, every: int = 1,
                        batch_size: int = 1024, sampler: str = "dpm",
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
        self._check_sampler(sampler, sampler_steps)
        return fc.forecast_series(self._chain(), market, horizon=horizon, quantiles=quantiles,
                                  asset=asset, n_samples=n_samples, seed=seed, every=every,
                                  batch_size=batch_size, sampler=sampler,
                                  sampler_steps=sampler_steps)

    def forecast_table(self, market: Market, requests: Sequence[tuple[str, int]], *,
                       quantiles: Sequence[float] = (0.05, 0.5, 0.95), n_samples: int = 100,
                       seed: int | None = 0, every: int = 1, batch_size: int = 1024,
                       sampler: str = "dpm", sampler_steps: int | None = 20
                       ) -> dict[tuple[str, int], np.ndarray]:
        """`forecast_series` for several ``(asset, horizon)`` pairs at the cost of one.

        The futures are sampled once, as long as the longest horizon, for all of the model's
        assets; every pair reads its quantiles from them. `ForecastInterval` indicators that
        share a model and its feeds are served this way.

        Returns
        -------
        dict
            ``{(asset, horizon): ndarray (len(market), len(quantiles))}``.
        """
        self._check_sampler(sampler, sampler_steps)
        return fc.forecast_table(self._chain(), market, requests, quantiles=quantiles,
                                 n_samples=n_samples, seed=seed, every=every,
                                 batch_size=batch_size, sampler=sampler,
                                 sampler_steps=sampler_steps)

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to exactly `path` (safetensors weights + JSON meta, no pickle)."""
        st = self.state
        tensors = {f"model.{k}": v for k, v in self._diffusion.model.state_dict().items()}
        meta = {"kind": KIND, "config": self._diffusion.config.to_dict(),
                "generator": self.config.to_dict(), "state": st.to_dict(),
                "history": {k: v for k, v in self.history.items() if k != "train_losses"}}
        return save_checkpoint(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto") -> MarketGenerator:
        """Load a model written by `save` (by this or an earlier version of diffbt).

        Raises
        ------
        CheckpointError
            Missing, damaged, truncated or foreign file, a newer format version, or a model
            fitted with a setting this version no longer supports.
        """
        tensors, meta = load_checkpoint(path)
        if meta.get("kind") != KIND:
            raise CheckpointError(f"not a MarketGenerator file (kind {meta.get('kind')!r})",
                                  file=str(path))
        dev = resolve_device(device)
        try:
            gen = cls(GeneratorConfig.from_dict(meta["generator"]))
            state = GeneratorState.from_dict(meta["state"])
            diffusion, _ = diffusion_from_checkpoint(tensors, meta, path=path, device=dev,
                                                     ema=False)
            gen.history = dict(meta.get("history", {}))
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cannot use this MarketGenerator file: {exc}",
                                  file=str(path)) from None
        gen._diffusion = diffusion.eval()
        gen._state = state
        gen.device = dev
        return gen

    def __repr__(self) -> str:
        fitted = (f"fitted on {list(self.assets)} to {self.state.calendar.train_end}"
                  if self.fitted else "not fitted")
        return f"MarketGenerator(window={self.config.window}, {fitted})"
