"""`GeneratorConfig`: the settings of a `MarketGenerator`.

It composes the network's `DiffusionConfig` and the `TrainConfig` with the settings of the
generator itself (window, context, labels, volatility state, calibrations). Every field is
checked when the config is built, so a bad value fails before any fitting starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from diffbt.data.labels import REGIMES
from diffbt.generate.volstate import FILTERS
from diffbt.model.diffusion import DiffusionConfig
from diffbt.model.train import TrainConfig

__all__ = ["NETWORK_FIELDS", "SAMPLERS", "TRAINING_FIELDS", "GeneratorConfig"]

# samplers offered by the generator: DPM-Solver++(2M) with steps uniform in time (default) or
# in logSNR, and full ancestral DDPM (all `timesteps` steps) as the reference
SAMPLERS = ("dpm", "dpm-logsnr", "ddpm")

# DiffusionConfig fields a user sets; the others follow from the data and the generator
NETWORK_FIELDS = ("hidden", "n_blocks", "stride", "attention", "dropout", "timesteps",
                  "schedule", "target")
TRAINING_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")


def _default_train() -> TrainConfig:
    return TrainConfig(steps=3000, batch_size=128, lr=1e-3, warmup=200, cond_dropout=0.15,
                       context_prob=0.5)


def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of a `MarketGenerator` (stored in the model file as JSON).

    Build it from flat settings with `from_settings` (``MarketGenerator(hidden=32,
    steps=500)`` does): names of `NETWORK_FIELDS` go to `diffusion`, names of
    `TRAINING_FIELDS` to `train`.

    Parameters
    ----------
    window : int
        Bars per model window.
    overlap : int, optional
        Bars of context carried from one window to the next in long paths (and the length
        of history a forecast conditions on). Defaults to ``window // 2``.
    window_stride : int
        Step between training windows.
    jump_k : float
        Jump threshold in robust standard deviations (see `diffbt.data.labels`).
    max_tries : int
        Rounds of redrawing windows whose own regime label or jump count (by the fitted
        labeler and detector) differs from the one asked for; 1 = guidance only.
    draw_jumps : bool
        Windows drawn without a jump count asked for (unconditioned paths, forecasts) take
        one drawn from the training windows that started in the nearest volatility states
        (`diffbt.generate.state.JumpBank`) instead of the null label. Needs a volatility
        state; models without a jump bank (files of format 3 and older) use the null label.
    calibrate : bool
        After fitting, scale forecast intervals per horizon so that the central 90 % interval
        covers 90 % of outcomes on the held-back validation span.
    calibrate_paths : bool
        After fitting, calibrate long generated paths on the training span: the gain of the
        volatility-state feedback (with a GARCH filter: the scale of the generated return
        residuals), then the drift (`diffbt.generate.calibrate`).
    vol_state : bool
        Model each window relative to the volatility state it starts in
        (`diffbt.generate.volstate`).
    vol_halflife : int, optional
        Half-life in bars of that state (default: ``4 * window``).
    vol_filter : {"ewma", "garch", "garch2"}
        How the state follows a series: ``"ewma"``, an exponentially weighted mean of
        squared returns that scales each window by the state it starts in; ``"garch"``, a
        GJR-GARCH(1,1) recursion fitted on the training span that scales every bar by its own
        state, so that generated paths rebuild volatility bar by bar
        (`diffbt.generate.volstate.VolState`); ``"garch2"``, the same with a fast and a slow
        variance component per asset (`diffbt.generate.volstate.fit_two_components`). With
        either GARCH filter no feedback gain is fitted; `calibrate_paths` fits the scale of
        the generated return residuals instead.
    mean_filter : bool
        With a GARCH filter: model the conditional mean of the volatility-scaled
        returns by a linear filter of their last value, exponentially weighted means of
        their past (half-lives 2, 8 and 32 bars) and the volatility state, fitted on the
        training span, its regressors chosen per asset by BIC
        (`diffbt.generate.volstate.MeanFilter`); the network models the residuals, so
        return autocorrelation and a volatility-return relation carry over to the paths by
        construction.
    diffusion : DiffusionConfig
        The network and schedule (``channels``, ``window`` and the conditioning sizes are set
        from the data at fit time).
    train : TrainConfig
        Training settings. ``fit`` caps the warmup at a tenth of the steps and validates and
        checkpoints every tenth and twentieth of them.
    """

    window: int = 64
    overlap: int | None = None
    window_stride: int = 1
    jump_k: float = 5.0
    max_tries: int = 8
    draw_jumps: bool = False
    calibrate: bool = True
    calibrate_paths: bool = True
    vol_state: bool = True
    vol_halflife: int | None = None
    vol_filter: str = "ewma"
    mean_filter: bool = False
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=_default_train)

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 4:
            raise ValueError(f"window must be an int >= 4, got {self.window!r}")
        overlap = self.window // 2 if self.overlap is None else self.overlap
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not (
                1 <= overlap < self.window):
            raise ValueError(f"overlap must be an int in [1, window), got {self.overlap!r}")
        for name in ("window_stride", "max_tries"):
            _positive_int(name, getattr(self, name))
        if self.vol_halflife is not None:
            _positive_int("vol_halflife", self.vol_halflife)
        if isinstance(self.jump_k, bool) or not isinstance(self.jump_k, int | float) or not (
                self.jump_k > 0):
            raise ValueError(f"jump_k must be > 0, got {self.jump_k!r}")
        if self.vol_filter not in FILTERS:
            raise ValueError(f"vol_filter must be one of {FILTERS}, got {self.vol_filter!r}")
        for name in ("calibrate", "calibrate_paths", "vol_state", "mean_filter", "draw_jumps"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.mean_filter and not (self.vol_state and self.vol_filter != "ewma"):
            raise ValueError("mean_filter=True needs vol_filter='garch' or 'garch2' (and "
                             "vol_state=True)")
        if not isinstance(self.diffusion, DiffusionConfig):
            raise TypeError(f"diffusion must be a DiffusionConfig, got {self.diffusion!r}")
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"train must be a TrainConfig, got {self.train!r}")
        _positive_int("steps", self.train.steps)
        if self.window % self.diffusion.stride:
            raise ValueError(f"window ({self.window}) must be a multiple of stride "
                             f"({self.diffusion.stride})")
        if self.diffusion.window != self.window:
            object.__setattr__(self, "diffusion", replace(self.diffusion, window=self.window))

    @classmethod
    def from_settings(cls, base: GeneratorConfig | None = None, **settings: Any
                      ) -> GeneratorConfig:
        """`base` (default: the defaults) with flat settings applied (see the class doc).

        Raises
        ------
        TypeError
            An unknown setting (the message lists the known ones).
        ValueError
            A bad value.
        """
        base = base or cls()
        own = {f.name for f in fields(cls)}
        net = {k: settings.pop(k) for k in list(settings) if k in NETWORK_FIELDS}
        tr = {k: settings.pop(k) for k in list(settings) if k in TRAINING_FIELDS}
        unknown = sorted(set(settings) - own)
        if unknown:
            known = sorted(own | set(NETWORK_FIELDS) | set(TRAINING_FIELDS))
            raise TypeError(f"unknown generator setting(s) {unknown}; known: {known}")
        window = settings.get("window", base.window)
        diffusion = replace(settings.pop("diffusion", base.diffusion), window=window, **net)
        train = replace(settings.pop("train", base.train), **tr)
        return replace(base, diffusion=diffusion, train=train, **settings)

    @property
    def context_bars(self) -> int:
        """Bars of context between windows (`overlap`, default ``window // 2``)."""
        return self.window // 2 if self.overlap is None else self.overlap

    @property
    def halflife(self) -> int:
        """Half-life of the volatility state in bars."""
        return self.vol_halflife or 4 * self.window

    def network(self, n_assets: int, n_features: int) -> DiffusionConfig:
        """The full `DiffusionConfig` for `n_assets` assets."""
        return replace(self.diffusion, channels=n_assets * n_features, window=self.window,
                       n_regimes=len(REGIMES), jumps=True, context=True,
                       state=n_assets if self.vol_state else 0)

    def training(self, *, steps: int | None = None, batch_size: int | None = None,
                 seed: int = 0) -> TrainConfig:
        """The `TrainConfig` of one fit (`steps`, `batch_size` override the config's)."""
        n = steps or self.train.steps
        return replace(self.train, steps=n, batch_size=batch_size or self.train.batch_size,
                       warmup=min(self.train.warmup, max(1, n // 10)),
                       val_every=max(1, n // 10), ckpt_every=max(1, n // 20), seed=seed)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorConfig:
        """Inverse of `to_dict`; also reads the flat settings of format-1 model files.

        Raises
        ------
        ValueError
            A setting this version no longer supports, or an unknown or bad one.
        """
        d = dict(d)
        d.setdefault("vol_filter", "ewma")  # files from before the GARCH filter
        if "diffusion" in d:
            diffusion = DiffusionConfig.from_dict(d.pop("diffusion"))
            train = TrainConfig(**d.pop("train"))
            return cls(diffusion=diffusion, train=train, **d)
        # format 1: one flat dict; settings measured and not adopted were stored at their
        # defaults by every file that can still be used
        if d.pop("relative_volume", False):
            raise ValueError("the model was fitted with relative_volume=True, which this "
                             "version no longer supports; fit it again")
        if d.pop("state_noise", 0.0):
            raise ValueError("the model was fitted with state_noise > 0, which this version "
                             "no longer supports; fit it again")
        d.setdefault("vol_state", False)  # files from before the volatility state
        old_train = {"steps": 3000, "batch_size": 128, "lr": 1e-3, "cond_dropout": 0.15,
                     "context_prob": 0.5}
        tr = {k: d.pop(k, v) for k, v in old_train.items()}
        return cls.from_settings(**d, **tr)
