"""`GeneratorState`: everything a `MarketGenerator` fitted on data, besides the network.

One frozen, versioned value: the asset names, the feature scaler, the regime labeler and
jump detector, the training calendar, the volatility state and the calibrations. It is
written into the model file as JSON (`to_dict`) and read back by `from_dict`, which also
reads the files of format 1. Fitting steps return a new state (`dataclasses.replace`).

A calibration records the sampler it was fitted for (``"dpm/20"``: DPM-Solver++ with 20
calls per window); `MarketGenerator` warns when a path is drawn with another one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from diffbt.data.calendar import continue_calendar
from diffbt.data.features import RET, FeatureScaler, to_features
from diffbt.data.labels import JUMP_BUCKETS, REGIMES, JumpDetector, RegimeLabeler
from diffbt.data.market import Market
from diffbt.generate.codec import training_windows
from diffbt.generate.config import GeneratorConfig
from diffbt.generate.volstate import BANK_SIZE, VolState, evenly_spaced, vol_scale

__all__ = ["JUMP_NEIGHBOURS", "STATE_FORMAT", "Calendar", "DriftShift", "GeneratorState",
           "JumpBank", "ResidualScale", "SpreadScale", "fit_state", "sampler_key"]

STATE_FORMAT = 5  # 5: a residual scale; 4: a jump bank; 3: a mean filter; 2 and 1 still read
JUMP_NEIGHBOURS = 50  # training windows a drawn jump count is chosen among
_OTHER_CLASS = 1e9  # added to the squared state distance of another context class
# format-1 files had their calibrations fitted with the only sampler `fit` used then
_FORMAT1_SAMPLER = "dpm/20"


def sampler_key(sampler: str, steps: int | None) -> str:
    """The name a calibration records for the sampler it was fitted with: ``"dpm/20"``."""
    return sampler if sampler == "ddpm" else f"{sampler}/{steps}"


def _frozen(x: Any) -> np.ndarray:
    a = np.array(x, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Calendar:
    """The end of the training calendar: where generated paths continue.

    Attributes
    ----------
    tail : DatetimeIndex
        The last (up to five) training timestamps.
    freq : Timedelta, optional
        The bar spacing of the training data.
    """

    tail: pd.DatetimeIndex
    freq: pd.Timedelta | None

    @classmethod
    def of(cls, index: pd.DatetimeIndex, freq: pd.Timedelta | None) -> Calendar:
        return cls(pd.DatetimeIndex(index[-5:]), freq)

    @property
    def train_end(self) -> pd.Timestamp:
        return self.tail[-1]

    def future(self, length: int) -> pd.DatetimeIndex:
        """`length` timestamps after the training span."""
        return continue_calendar(self.tail, length, self.freq)

    def to_dict(self) -> dict[str, Any]:
        return {"train_end": str(self.tail[-1]), "calendar_tail": [str(t) for t in self.tail],
                "tz": None if self.tail.tz is None else str(self.tail.tz),
                "freq_ns": None if self.freq is None else int(self.freq.value)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calendar:
        tail = pd.DatetimeIndex(pd.to_datetime(d["calendar_tail"]))
        if d.get("tz") and tail.tz is None:
            tail = tail.tz_localize(d["tz"])
        return cls(tail, None if d["freq_ns"] is None else pd.Timedelta(d["freq_ns"]))


@dataclass(frozen=True, eq=False)
class DriftShift:
    """A constant added to every generated bar's log return, per asset, in units of the
    volatility state (`diffbt.generate.calibrate.calibrate_drift`)."""

    shift: np.ndarray  # (n_assets,)
    sampler: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "shift", _frozen(self.shift))


@dataclass(frozen=True, eq=False)
class ResidualScale:
    """A factor per asset on every generated bar's return residual in the GARCH filter's
    units (`diffbt.generate.calibrate.calibrate_scale`)."""

    scale: np.ndarray  # (n_assets,)
    sampler: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _frozen(self.scale))


@dataclass(frozen=True)
class SpreadScale:
    """Forecast spread scale per horizon (`diffbt.generate.calibrate.calibrate_forecasts`)."""

    horizons: tuple[int, ...]
    scale: tuple[float, ...]
    sampler: str

    def at(self, horizon: int) -> float:
        """The scale at `horizon`, interpolated in log horizon."""
        return float(np.interp(np.log(horizon), np.log(self.horizons), self.scale))


@dataclass(frozen=True, eq=False)
class JumpBank:
    """The jump counts of training windows beside the volatility state each started in.

    A window drawn without a jump count asked for takes the count of one of the
    `JUMP_NEIGHBOURS` training windows whose start state is nearest its own (`draw`): the
    label is drawn from its distribution given the state, as in the training span, instead
    of the null label of classifier-free guidance (which averages over it). A window that
    continues a context takes it among the training windows whose context (their first
    `GeneratorConfig.context_bars` bars) held as many jumps, in `JUMP_BUCKETS` classes: the
    label counts the context's bars too, so a count drawn regardless of them would put the
    context's share of a window's jumps into its new bars.

    Attributes
    ----------
    log_rho : ndarray, shape (n, n_assets)
        Log volatility ratio each training window started in (the network's ``state``).
    counts : ndarray, shape (n,)
        Its jump count (`diffbt.data.labels.JumpDetector.count_windows`).
    context_counts : ndarray, shape (n,), optional
        The jump count of its context, its first `GeneratorConfig.context_bars` bars
        (`JumpDetector.count_batch`).
    """

    log_rho: np.ndarray
    counts: np.ndarray
    context_counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        log_rho = _frozen(self.log_rho)
        object.__setattr__(self, "log_rho", log_rho.reshape(len(log_rho), -1))
        object.__setattr__(self, "counts", _frozen(self.counts))
        if len(self.counts) != len(self.log_rho) or not len(self.counts):
            raise ValueError("a jump bank needs one count per state, and at least one")
        if self.context_counts is not None:
            object.__setattr__(self, "context_counts", _frozen(self.context_counts))
            if len(self.context_counts) != len(self.counts):
                raise ValueError("a jump bank needs one context count per state")

    @classmethod
    def of(cls, log_rho: np.ndarray, counts: np.ndarray,
           context_counts: np.ndarray | None = None, size: int = BANK_SIZE) -> JumpBank:
        """At most `size` of the training windows' (state, count) pairs, evenly spaced."""
        keep = evenly_spaced(len(counts), size)
        ctx = None if context_counts is None else np.asarray(context_counts, np.float64)[keep]
        return cls(np.round(np.asarray(log_rho, np.float64)[keep], 5),
                   np.asarray(counts, np.float64)[keep], ctx)

    def draw(self, log_rho: np.ndarray, rng: np.random.Generator,
             k: int = JUMP_NEIGHBOURS, context_counts: np.ndarray | None = None
             ) -> np.ndarray:
        """A jump count (n,) for windows starting in states `log_rho` (n, n_assets): that of
        a random one of the `k` training windows nearest in state (Euclidean), among those
        whose context held as many jumps (in `JUMP_BUCKETS` classes) as `context_counts`
        (n,) where both are known; a class with fewer than `k` windows is topped up with
        the nearest of the others."""
        log_rho = np.asarray(log_rho, np.float64).reshape(len(log_rho), -1)
        k = min(k, len(self.counts))
        by_context = context_counts is not None and self.context_counts is not None
        if by_context:
            top = JUMP_BUCKETS - 1
            mine = np.minimum(np.asarray(context_counts, np.float64), top)
            theirs = np.minimum(self.context_counts, top)
        out = np.empty(len(log_rho))
        for i in range(0, len(log_rho), 1024):  # in blocks: bounded memory
            q = log_rho[i:i + 1024]
            d = ((q[:, None, :] - self.log_rho[None]) ** 2).sum(axis=2)
            if by_context:  # a window of another class only after all of its own
                d = d + _OTHER_CLASS * (mine[i:i + 1024, None] != theirs[None])
            near = np.argpartition(d, k - 1, axis=1)[:, :k]
            out[i:i + 1024] = self.counts[near[np.arange(len(q)), rng.integers(k, size=len(q))]]
        return out

    def to_dict(self) -> dict[str, Any]:
        d = {"log_rho": self.log_rho.tolist(), "counts": self.counts.tolist()}
        if self.context_counts is not None:
            d["context_counts"] = self.context_counts.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JumpBank:
        return cls(d["log_rho"], d["counts"], d.get("context_counts"))


@dataclass(frozen=True, eq=False)
class GeneratorState:
    """What `MarketGenerator.fit` learnt from the data, besides the network weights.

    Attributes
    ----------
    assets : tuple of str
    scaler : FeatureScaler
        Feature standardisation (of volatility-scaled features with a volatility state).
    regimes : RegimeLabeler
    jumps : JumpDetector
    calendar : Calendar
    last_close : ndarray, shape (n_assets,)
        The last training close: where fresh paths start by default.
    regime_freq : ndarray, shape (n_regimes,)
        Share of training windows per regime (to draw the other half of a partial regime).
    vol : VolState, optional
        The volatility state (None for models without one).
    drift : DriftShift, optional
    scale : ResidualScale, optional
        With a GARCH filter (None in files of format 4 and older).
    spread : SpreadScale, optional
    jump_bank : JumpBank, optional
        Training windows' jump counts by start state (models with a volatility state; None
        in files of format 3 and older).
    """

    assets: tuple[str, ...]
    scaler: FeatureScaler
    regimes: RegimeLabeler
    jumps: JumpDetector
    calendar: Calendar
    last_close: np.ndarray
    regime_freq: np.ndarray
    vol: VolState | None = None
    drift: DriftShift | None = None
    spread: SpreadScale | None = None
    scale: ResidualScale | None = None
    jump_bank: JumpBank | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", tuple(self.assets))
        object.__setattr__(self, "last_close", _frozen(self.last_close))
        object.__setattr__(self, "regime_freq", _frozen(self.regime_freq))

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    def calibrated_for(self) -> set[str]:
        """The samplers the path calibrations were fitted for (empty: none fitted)."""
        out = set()
        if self.vol is not None and self.vol.gain_sampler:
            out.add(self.vol.gain_sampler)
        for cal in (self.drift, self.scale):
            if cal is not None:
                out.add(cal.sampler)
        return out

    def replace(self, **changes: Any) -> GeneratorState:
        return replace(self, **changes)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"format": STATE_FORMAT, "assets": list(self.assets),
             "scaler": self.scaler.to_dict(), "regimes": self.regimes.to_dict(),
             "jumps": self.jumps.to_dict(), **self.calendar.to_dict(),
             "last_close": self.last_close.tolist(), "regime_freq": self.regime_freq.tolist(),
             "vol": None if self.vol is None else self.vol.to_dict()}
        if self.drift is not None:
            d["drift"] = {"shift": self.drift.shift.tolist(), "sampler": self.drift.sampler}
        if self.scale is not None:
            d["scale"] = {"scale": self.scale.scale.tolist(), "sampler": self.scale.sampler}
        if self.spread is not None:
            d["spread"] = {"horizons": list(self.spread.horizons),
                           "scale": list(self.spread.scale), "sampler": self.spread.sampler}
        if self.jump_bank is not None:
            d["jump_bank"] = self.jump_bank.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorState:
        """Inverse of `to_dict`; reads format 1 (no ``format`` key) too.

        Raises
        ------
        ValueError
            A newer format, a setting this version no longer supports, or a missing key.
        """
        fmt = d.get("format", 1)
        if not isinstance(fmt, int) or fmt > STATE_FORMAT:
            raise ValueError(f"generator state format {fmt!r} is newer than this version of "
                             f"diffbt reads ({STATE_FORMAT}); upgrade diffbt")
        if "volume_level" in d:
            raise ValueError("the model was fitted with relative_volume=True, which this "
                             "version no longer supports; fit it again")
        missing = [k for k in ("assets", "scaler", "regimes", "jumps", "train_end",
                               "last_close", "calendar_tail", "freq_ns", "regime_freq")
                   if k not in d]
        if missing:
            raise ValueError(f"missing {missing}")
        default = _FORMAT1_SAMPLER if fmt == 1 else None
        drift = d.get("drift")
        if drift is not None:
            drift = (DriftShift(drift, _FORMAT1_SAMPLER) if fmt == 1
                     else DriftShift(drift["shift"], drift["sampler"]))
        scale = d.get("scale")
        if scale is not None:
            scale = ResidualScale(scale["scale"], scale["sampler"])
        spread = d.get("spread")
        if spread:
            spread = SpreadScale(tuple(int(h) for h in spread["horizons"]),
                                 tuple(float(s) for s in spread["scale"]),
                                 spread.get("sampler", _FORMAT1_SAMPLER))
        return cls(assets=tuple(d["assets"]), scaler=FeatureScaler.from_dict(d["scaler"]),
                   regimes=RegimeLabeler.from_dict(d["regimes"]),
                   jumps=JumpDetector.from_dict(d["jumps"]), calendar=Calendar.from_dict(d),
                   last_close=d["last_close"], regime_freq=d["regime_freq"],
                   vol=None if not d.get("vol") else VolState.from_dict(
                       d["vol"], default_sampler=default),
                   drift=drift, spread=spread or None, scale=scale,
                   jump_bank=JumpBank.from_dict(d["jump_bank"]) if d.get("jump_bank") else None)


def fit_state(train: Market, config: GeneratorConfig
              ) -> tuple[GeneratorState, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Fit everything but the network on the training span `train`.

    Returns
    -------
    state : GeneratorState
        Without calibrations.
    windows : tuple
        The training windows (`diffbt.generate.codec.training_windows`): windows
        (N, A*5, L), regime ids (N,), jump counts (N,), log volatility ratios (N, A).
    """
    c = config
    feats = to_features(train.values)  # (T-1, A, 5)
    ret = feats[..., RET]
    vol = None
    if c.vol_state:
        vol = VolState.fit(ret, c.halflife, filter=c.vol_filter, mean=c.mean_filter)
        if vol.per_bar:
            scaler = FeatureScaler.fit(vol.filter_bars(feats)[0])
        else:
            rho_rows = vol.rho(vol.series(ret)[:-1])
            scaler = FeatureScaler.fit(vol_scale(feats[:, None], rho_rows)[:, 0])
    else:
        scaler = FeatureScaler.fit(feats)
    labeler = RegimeLabeler.fit(ret, c.window)
    jumps = JumpDetector.fit(ret, k=c.jump_k)
    windows = training_windows(feats, c, scaler, vol, labeler, jumps)
    ids = windows[1]
    jump_bank = None
    if vol is not None:  # the states training windows start in, to start fresh paths
        starts = np.arange(0, len(ret) - c.window + 1, c.window_stride)
        vol = vol.with_bank(vol.series(ret)[starts], ids)
        pieces = ret[starts[:, None] + np.arange(c.context_bars)]  # each window's context
        jump_bank = JumpBank.of(windows[3], windows[2], jumps.count_batch(pieces))
    counts = np.bincount(ids, minlength=len(REGIMES))
    state = GeneratorState(assets=train.assets, scaler=scaler, regimes=labeler, jumps=jumps,
                           calendar=Calendar.of(train.index, train.freq),
                           last_close=train.values[-1, :, 3],
                           regime_freq=counts / counts.sum(), vol=vol, jump_bank=jump_bank)
    return state, windows
