"""Machinery shared by the baselines: fit, intrabar fields, sample, save and load.

`_Baseline` fits and samples the close log returns through two abstract methods
(``_fit_returns``, ``_sample_returns``) and fills the intrabar features from real training bars
of similar ``|ret|``; files are ``.npz`` with a JSON header (`FORMAT`, `VERSION`). `BASELINES`
maps each file's generator name to its class (filled by `diffbt.generate.baselines`).
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from diffbt.data.calendar import continue_calendar
from diffbt.data.features import DOWN, GAP, LVOL, RET, UP, from_features, to_features
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate.pathset import PathSet

__all__ = ["BASELINES", "FORMAT", "VERSION", "load"]

log = logging.getLogger("diffbt.generate.baselines")

FORMAT = "diffbt-baseline"
VERSION = 1


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _frozen(a: Any) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L @ L.T == cov`` (Cholesky, or eigen-based for singular `cov`)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        return v * np.sqrt(np.clip(w, 0.0, None))


def _correlated_normals(rng: np.random.Generator, shape: tuple[int, ...],
                        root: np.ndarray) -> np.ndarray:
    """Standard normals of shape ``(..., n_assets)`` with covariance ``root @ root.T``."""
    return rng.standard_normal(shape) @ root.T


class _ParamsMixin:
    """Frozen dataclass of arrays and scalars <-> JSON-able dict."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        kw = {}
        for f in fields(cls):
            v = d[f.name]
            kw[f.name] = _frozen(v) if isinstance(v, list) else v
        return cls(**kw)


# ---------------------------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------------------------

class _Baseline(ABC):
    """Fit/sample/save/load shared by the baselines; subclasses model the close returns."""

    name: ClassVar[str] = ""
    min_bars: ClassVar[int] = 3
    _params_cls: ClassVar[type[_ParamsMixin]]

    def __init__(self, *, n_buckets: int = 20, start_price: float | np.ndarray | None = None
                 ) -> None:
        if int(n_buckets) < 1:
            raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
        self.n_buckets = int(n_buckets)
        self.start_price = None if start_price is None else np.asarray(start_price, float)
        if self.start_price is not None and not (np.all(np.isfinite(self.start_price))
                                                 and np.all(self.start_price > 0)):
            raise ValueError("start_price must be positive and finite")
        self._params: Any = None
        self._features: np.ndarray | None = None   # (T, n_assets, 5) training features
        self._assets: tuple[str, ...] = ()
        self._index_tail: pd.DatetimeIndex | None = None
        self._freq: pd.Timedelta | None = None
        self._last_close: np.ndarray | None = None
        self._train_span: tuple[str, str] = ("", "")

    # -- configuration / state ---------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"n_buckets": self.n_buckets}

    @property
    def params(self) -> Any:
        """The fitted parameters (a frozen dataclass with read-only arrays)."""
        if self._params is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() first")
        return self._params

    @property
    def assets(self) -> tuple[str, ...]:
        return self._assets

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        state = f"fitted on {list(self._assets)}" if self._params is not None else "unfitted"
        return f"{type(self).__name__}({cfg}) [{state}]"

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, market: Market, *, train_end: object = None) -> Self:
        """Fit on the bars of `market` with timestamp ``<= train_end`` (all when None).

        Returns
        -------
        self, with `params` set.

        Raises
        ------
        DataError
            Too few training bars, or non-finite features (non-positive prices).
        """
        if not isinstance(market, Market):
            raise TypeError(f"fit() needs a diffbt Market, got {type(market).__name__}")
        train = market if train_end is None else market.split(train_end)[0]
        if len(train) < self.min_bars + 1:
            raise DataError(f"{type(self).__name__} needs at least {self.min_bars + 1} training "
                            f"bars, got {len(train)}" + (f" up to {train_end}" if train_end
                                                           is not None else ""))
        with np.errstate(divide="ignore", invalid="ignore"):
            feats = to_features(train.values)
        bad = ~np.isfinite(feats).all(axis=(1, 2))
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise DataError("non-finite features (non-positive or missing prices)",
                            row=str(train.index[row]))
        self._features = feats
        self._features.setflags(write=False)
        self._assets = train.assets
        self._index_tail = train.index[-10:]
        self._freq = train.freq
        self._last_close = train.values[-1, :, 3].copy()
        self._train_span = (str(train.index[0]), str(train.index[-1]))
        self._build_buckets()
        self._params = self._fit_returns(feats[..., RET])
        log.info("%s fitted on %d bars of %s", type(self).__name__, len(train), list(train.assets))
        return self

    @abstractmethod
    def _fit_returns(self, ret: np.ndarray) -> Any:
        """Parameters from training log returns (T, n_assets)."""

    # -- sample ------------------------------------------------------------------------------
    def sample(self, n_paths: int, length: int, *, seed: int | None = None,
               regime: str | None = None, jumps: Any = None) -> PathSet:
        """Draw `n_paths` OHLCV paths of `length` bars continuing the training calendar.

        Parameters
        ----------
        n_paths, length : int
        seed : int, optional
            The same seed gives the same paths.
        regime, jumps : None
            Baselines cannot condition; anything but None raises ``ValueError``.

        Returns
        -------
        PathSet, values shape (n_paths, length, n_assets, 5)
        """
        if regime is not None or jumps is not None:
            raise ValueError(f"baselines cannot condition on regimes or jumps; "
                             f"{type(self).__name__}.sample takes regime=None, jumps=None only")
        n_paths, length = int(n_paths), int(length)
        if n_paths < 1 or length < 1:
            raise ValueError(f"n_paths and length must be >= 1, got {n_paths}, {length}")
        params = self.params
        rng = np.random.default_rng(seed)
        feats = self._sample_features(n_paths, length, rng)
        start = self._last_close if self.start_price is None else self.start_price
        if np.ndim(start) and np.shape(start) not in ((1,), (len(self._assets),)):
            raise ValueError(f"start_price needs one price or one per asset "
                             f"({len(self._assets)}), got shape {np.shape(start)}")
        values = from_features(feats, start)
        index = continue_calendar(self._index_tail, length, self._freq)
        meta = {"generator": self.name, "config": self._config(), "params": params.to_dict(),
                "seed": seed, "train_start": self._train_span[0],
                "train_end": self._train_span[1]}
        return PathSet(values, index, self._assets, meta=meta)

    def _sample_features(self, n_paths: int, length: int,
                         rng: np.random.Generator) -> np.ndarray:
        ret = self._sample_returns(n_paths, length, rng)
        return self._intrabar(ret, rng)

    @abstractmethod
    def _sample_returns(self, n_paths: int, length: int,
                        rng: np.random.Generator) -> np.ndarray:
        """Log returns (n_paths, length, n_assets)."""

    # -- intrabar fields ---------------------------------------------------------------------
    def _build_buckets(self) -> None:
        absr = np.abs(self._features[..., RET])                   # (T, A)
        self._order = np.argsort(absr, axis=0, kind="stable")     # (T, A)
        self._sorted_abs = np.take_along_axis(absr, self._order, axis=0)

    def _intrabar(self, ret: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Features (n, L, A, 5): simulated ``ret`` plus real ``gap, up, down, lvol``."""
        f = self._features
        n_rows, n_assets = f.shape[0], f.shape[1]
        b = min(self.n_buckets, n_rows)
        u = rng.random(ret.shape)
        out = np.empty(ret.shape + (5,))
        out[..., RET] = ret
        for a in range(n_assets):
            pos = np.searchsorted(self._sorted_abs[:, a], np.abs(ret[..., a]))
            bucket = np.minimum(pos * b // n_rows, b - 1)
            lo, hi = bucket * n_rows // b, (bucket + 1) * n_rows // b
            rows = self._order[lo + (u[..., a] * (hi - lo)).astype(np.int64), a]
            src = f[rows, a]                                      # (n, L, 5)
            flip = np.sign(src[..., RET]) * np.sign(ret[..., a]) < 0
            out[..., a, GAP] = np.where(flip, -src[..., GAP], src[..., GAP])
            out[..., a, UP] = np.where(flip, src[..., DOWN], src[..., UP])
            out[..., a, DOWN] = np.where(flip, src[..., UP], src[..., DOWN])
            out[..., a, LVOL] = src[..., LVOL]
        return out

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted generator to `path` (``.npz``; JSON header, no pickle)."""
        self.params  # noqa: B018  (raises when unfitted)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tail = self._index_tail
        header = {"format": FORMAT, "version": VERSION, "generator": self.name,
                  "config": self._config(), "params": self._params.to_dict(),
                  "assets": list(self._assets), "freq_ns": None if self._freq is None
                  else int(self._freq.value), "tz": None if tail.tz is None else str(tail.tz),
                  "last_close": self._last_close.tolist(),
                  "start_price": None if self.start_price is None
                  else self.start_price.tolist(), "train_span": list(self._train_span)}
        ns = (tail.tz_convert("UTC").tz_localize(None) if tail.tz is not None else tail)
        with open(path, "wb") as fh:
            np.savez(fh, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                     features=np.asarray(self._features),
                     index_tail=ns.as_unit("ns").asi8.astype(np.int64))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a generator written by `save` (of this class, or any baseline via `_Baseline`).

        Raises
        ------
        DataError
            Missing, damaged or foreign file, or a newer format version.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError("no such generator file", file=str(path))
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode("utf-8"))
                features = z["features"]
                ns = z["index_tail"]
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as e:
            raise DataError(f"damaged or foreign generator file ({e})", file=str(path)) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise DataError("not a diffbt baseline file", file=str(path))
        if not isinstance(header.get("version"), int) or header["version"] > VERSION:
            raise DataError(f"baseline format version {header.get('version')!r} is newer than "
                            f"this diffbt supports ({VERSION})", file=str(path))
        klass = BASELINES.get(header.get("generator"))
        if klass is None or not issubclass(klass, cls):
            raise DataError(f"file holds generator {header.get('generator')!r}, not "
                            f"{cls.__name__}", file=str(path))
        gen = klass(**header["config"], start_price=header["start_price"])
        gen._params = klass._params_cls.from_dict(header["params"])
        features.setflags(write=False)
        gen._features = features
        gen._assets = tuple(header["assets"])
        idx = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns"))
        gen._index_tail = idx.tz_localize("UTC").tz_convert(header["tz"]) if header["tz"] else idx
        gen._freq = None if header["freq_ns"] is None else pd.Timedelta(header["freq_ns"])
        gen._last_close = np.asarray(header["last_close"], float)
        gen._train_span = tuple(header["train_span"])
        gen._build_buckets()
        return gen


BASELINES: dict[str, type[_Baseline]] = {}
"""Generator name (as written in a file) -> baseline class."""


def load(path: str | os.PathLike) -> _Baseline:
    """Read any baseline written by ``save`` (the file names its generator)."""
    return _Baseline.load(path)
