"""Classical baseline generators: the bar a diffusion model must clear.

Four models of close-to-close log returns ``r_t = log(C_t / C_{t-1})`` (one row per bar,
one column per asset):

- `GBM`: correlated multi-asset geometric Brownian motion, ``r_t ~ N(mu, Sigma)`` i.i.d.
- `MertonJumpDiffusion`: correlated Gaussian diffusion plus independent compound-Poisson
  Gaussian jumps per asset (Merton 1976).
- `BlockBootstrap`: Politis-Romano stationary bootstrap of whole feature vectors (all assets
  and all five features of a bar jointly), geometric block lengths.
- `GarchT`: GARCH(1,1) with Student-t innovations per asset (fit with ``arch``) and constant
  conditional correlation (CCC, Bollerslev 1990) across assets.

All four share the interface of `MarketGenerator` (``fit``, ``sample``, ``save``, ``load``)::

    gen = GarchT().fit(market, train_end="2014-12-31")
    paths = gen.sample(200, 1006, seed=0)      # PathSet continuing the training calendar

Intrabar fields (shared by GBM, Merton and GARCH; the bootstrap resamples real bars whole):
each simulated bar takes the ``gap, up, down, lvol`` features of a real training bar of the
same asset whose ``|ret|`` falls in the same quantile bucket (``n_buckets`` equal-count buckets
of the training ``|ret|``) as the simulated ``|ret|``; when the signs of the two returns differ
the bar is mirrored (``gap -> -gap``, ``up <-> down``). Wide ranges thus come with large moves
and the open sits on the right side of the close. `diffbt.data.features.from_features` turns
the features into OHLCV starting at the last training close, so every bar is valid.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from diffbt.data.calendar import continue_calendar
from diffbt.data.features import DOWN, GAP, LVOL, RET, UP, from_features, to_features
from diffbt.data.market import Market
from diffbt.errors import DataError
from diffbt.generate.pathset import PathSet

__all__ = ["GBM", "BlockBootstrap", "GarchT", "MertonJumpDiffusion", "BASELINES", "load",
           "GBMParams", "MertonParams", "BootstrapParams", "GarchParams"]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class GBMParams(_ParamsMixin):
    """Per-bar log-return mean ``mu`` (n_assets,) and covariance ``cov`` (n_assets, n_assets)."""

    mu: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class MertonParams(_ParamsMixin):
    """Merton jump-diffusion, per bar.

    ``r = mu + sqrt(cov) z + sum_{i<=N} J_i``, ``N ~ Poisson(lam)``,
    ``J_i ~ N(jump_mean, jump_std^2)``; jumps independent across assets.
    """

    mu: np.ndarray          # (n_assets,) diffusion drift
    cov: np.ndarray         # (n_assets, n_assets) diffusion covariance
    lam: np.ndarray         # (n_assets,) jump intensity per bar
    jump_mean: np.ndarray   # (n_assets,)
    jump_std: np.ndarray    # (n_assets,)
    threshold: float        # jumps: |r - mu| > threshold * diffusion sd


@dataclass(frozen=True)
class BootstrapParams(_ParamsMixin):
    """Stationary bootstrap: mean block length (bars) and the number of real bars resampled."""

    mean_block: float
    n_rows: int


@dataclass(frozen=True)
class GarchParams(_ParamsMixin):
    """GARCH(1,1)-t per asset with constant conditional correlation, in log-return units.

    ``r_t = mu + eps_t``, ``eps_t = sqrt(h_t) e_t``, ``h_t = omega + alpha eps_{t-1}^2 +
    beta h_{t-1}``, ``e_t`` unit-variance Student-t(``nu``), Gaussian copula with ``corr``.
    ``h_next`` is the conditional variance of the first bar after the training data.
    """

    mu: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    corr: np.ndarray
    h_next: np.ndarray


# ---------------------------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------------------------

class _Baseline(ABC):
    """Fit/sample/save/load shared by the baselines; subclasses model the close returns."""

    name: ClassVar[str] = ""
    min_bars: ClassVar[int] = 3
    _params_cls: ClassVar[type] = GBMParams

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


# ---------------------------------------------------------------------------------------------
# GBM
# ---------------------------------------------------------------------------------------------

class GBM(_Baseline):
    """Correlated multi-asset geometric Brownian motion.

    Notes
    -----
    ``r_t = mu + L z_t``, ``z_t ~ N(0, I)``, ``L L^T = Sigma``; ``mu`` and ``Sigma`` are the
    sample mean and covariance of the training log returns (per bar).
    """

    name = "gbm"
    _params_cls = GBMParams

    def _fit_returns(self, ret: np.ndarray) -> GBMParams:
        cov = np.atleast_2d(np.cov(ret, rowvar=False))
        return GBMParams(mu=_frozen(ret.mean(axis=0)), cov=_frozen(cov))

    def _sample_returns(self, n_paths, length, rng):
        p = self.params
        return p.mu + _correlated_normals(rng, (n_paths, length, len(p.mu)), _psd_sqrt(p.cov))


# ---------------------------------------------------------------------------------------------
# Merton jump-diffusion
# ---------------------------------------------------------------------------------------------

class MertonJumpDiffusion(_Baseline):
    """Merton jump-diffusion: correlated Gaussian diffusion plus Poisson jumps per asset.

    Parameters
    ----------
    threshold : float
        A return is a jump when ``|r - m| > threshold * s``, ``m, s`` the mean and sd of the
        non-jump returns (found iteratively, starting from the median and 1.4826 MAD).

    Notes
    -----
    Per asset: ``lam = n_jumps / T``; ``jump_mean = mean(r_jump) - m``,
    ``jump_std^2 = max(var(r_jump) - s^2, 0)`` (a jump bar carries one bar of diffusion too).
    The diffusion covariance is the sample covariance over bars where no asset jumped; the
    drift ``mu = mean(r) - lam * jump_mean`` keeps the mean log return of the training data.
    Jumps are independent across assets (co-jumps are not modelled).
    """

    name = "merton"
    _params_cls = MertonParams

    def __init__(self, *, threshold: float = 4.0, n_buckets: int = 20,
                 start_price: float | np.ndarray | None = None) -> None:
        super().__init__(n_buckets=n_buckets, start_price=start_price)
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)

    def _config(self):
        return {"threshold": self.threshold, **super()._config()}

    def _fit_returns(self, ret: np.ndarray) -> MertonParams:
        n_rows, n_assets = ret.shape
        is_jump = np.zeros_like(ret, dtype=bool)
        lam, jm, js = (np.zeros(n_assets) for _ in range(3))
        for a in range(n_assets):
            r = ret[:, a]
            m = np.median(r)
            s = 1.4826 * np.median(np.abs(r - m))
            if s <= 0:
                s = r.std()
            jump = np.zeros(n_rows, dtype=bool)
            for _ in range(50):
                new = np.abs(r - m) > self.threshold * s if s > 0 else np.zeros(n_rows, bool)
                if new.sum() > n_rows - 3:
                    break
                m, s = r[~new].mean(), r[~new].std(ddof=1)
                if (new == jump).all():
                    break
                jump = new
            is_jump[:, a] = jump
            k = int(jump.sum())
            lam[a] = k / n_rows
            if k:
                jm[a] = r[jump].mean() - m
                js[a] = np.sqrt(max(r[jump].var(ddof=1) - s * s, 0.0)) if k > 1 else 0.0
        calm = ~is_jump.any(axis=1)
        calm_ret = ret[calm] if calm.sum() > 2 else ret
        cov = np.atleast_2d(np.cov(calm_ret, rowvar=False))
        mu = ret.mean(axis=0) - lam * jm
        return MertonParams(mu=_frozen(mu), cov=_frozen(cov), lam=_frozen(lam),
                            jump_mean=_frozen(jm), jump_std=_frozen(js),
                            threshold=self.threshold)

    def _sample_returns(self, n_paths, length, rng):
        p = self.params
        shape = (n_paths, length, len(p.mu))
        diff = p.mu + _correlated_normals(rng, shape, _psd_sqrt(p.cov))
        n = rng.poisson(p.lam, shape)
        jumps = n * p.jump_mean + np.sqrt(n) * p.jump_std * rng.standard_normal(shape)
        return diff + jumps


# ---------------------------------------------------------------------------------------------
# stationary block bootstrap
# ---------------------------------------------------------------------------------------------

class BlockBootstrap(_Baseline):
    """Politis-Romano stationary bootstrap of whole bars (all assets, all five features).

    Parameters
    ----------
    mean_block : float
        Mean block length in bars (block lengths are geometric with ``p = 1 / mean_block``).

    Notes
    -----
    Row ``t`` of a path is training row ``(s + t - t0) mod T`` where ``t0`` is the first bar of
    the block holding ``t`` and ``s`` that block's uniform random start; a new block starts at
    bar 0 and then at each bar with probability ``1 / mean_block`` (circular wrap-around).
    """

    name = "bootstrap"
    _params_cls = BootstrapParams

    def __init__(self, *, mean_block: float = 20.0, n_buckets: int = 20,
                 start_price: float | np.ndarray | None = None) -> None:
        super().__init__(n_buckets=n_buckets, start_price=start_price)
        if not mean_block >= 1:
            raise ValueError(f"mean_block must be >= 1, got {mean_block}")
        self.mean_block = float(mean_block)

    def _config(self):
        return {"mean_block": self.mean_block, **super()._config()}

    def _fit_returns(self, ret: np.ndarray) -> BootstrapParams:
        return BootstrapParams(mean_block=self.mean_block, n_rows=int(ret.shape[0]))

    def rows(self, n_paths: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """Training row indices (n_paths, length) of a stationary-bootstrap draw."""
        n_rows = self._features.shape[0]
        new = rng.random((n_paths, length)) < 1.0 / self.mean_block
        new[:, 0] = True
        starts = rng.integers(0, n_rows, (n_paths, length))
        t = np.arange(length)
        t0 = np.maximum.accumulate(np.where(new, t, 0), axis=1)
        s = np.take_along_axis(starts, t0, axis=1)
        return (s + t - t0) % n_rows

    def _sample_features(self, n_paths, length, rng):
        self.params  # noqa: B018
        return self._features[self.rows(n_paths, length, rng)]

    def _sample_returns(self, n_paths, length, rng):  # pragma: no cover - not used
        return self._sample_features(n_paths, length, rng)[..., RET]


# ---------------------------------------------------------------------------------------------
# GARCH(1,1)-t with constant conditional correlation
# ---------------------------------------------------------------------------------------------

def garch_simulate(mu: np.ndarray, omega: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                   h0: np.ndarray, e: np.ndarray) -> np.ndarray:
    """GARCH(1,1) recursion vectorised over paths.

    Parameters
    ----------
    mu, omega, alpha, beta, h0 : ndarray, shape (n_assets,)
    e : ndarray, shape (n_paths, length, n_assets)
        Unit-variance innovations.

    Returns
    -------
    ndarray, shape (n_paths, length, n_assets)
        ``r_t = mu + sqrt(h_t) e_t``, ``h_{t+1} = omega + alpha (r_t - mu)^2 + beta h_t``,
        ``h_0 = h0``.
    """
    out = np.empty_like(e)
    h = np.broadcast_to(h0, e[:, 0].shape).astype(np.float64)
    for t in range(e.shape[1]):
        eps = np.sqrt(h) * e[:, t]
        out[:, t] = mu + eps
        h = omega + alpha * eps * eps + beta * h
    return out


class GarchT(_Baseline):
    """GARCH(1,1) with Student-t innovations per asset and constant conditional correlation.

    Notes
    -----
    Per asset ``arch_model(r * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="t")`` with
    ``scale = 1 / sd(r)`` (numerically well-conditioned for daily and hourly bars alike); the
    parameters are converted back to log-return units. The CCC matrix is the correlation of the
    standardized residuals. Innovations use a Gaussian copula: ``z ~ N(0, corr)``,
    ``e = F_nu^{-1}(Phi(z)) * sqrt((nu - 2) / nu)`` (unit variance, each asset its own ``nu``).
    The first simulated variance is the one-step forecast after the last training bar.
    """

    name = "garch"
    min_bars = 30
    _params_cls = GarchParams

    def _fit_returns(self, ret: np.ndarray) -> GarchParams:
        from arch import arch_model  # heavy import, only when fitting

        n_assets = ret.shape[1]
        cols = {k: np.zeros(n_assets) for k in ("mu", "omega", "alpha", "beta", "nu", "h")}
        std_resid = np.empty_like(ret)
        for a in range(n_assets):
            r = ret[:, a]
            sd = r.std()
            scale = 1.0 / sd if sd > 0 else 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = arch_model(r * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="t",
                                 rescale=False).fit(disp="off")
            p = res.params
            vol = np.asarray(res.conditional_volatility)
            resid = np.asarray(res.resid)
            s2 = scale * scale
            cols["mu"][a] = p["mu"] / scale
            cols["omega"][a] = p["omega"] / s2
            cols["alpha"][a] = p["alpha[1]"]
            cols["beta"][a] = p["beta[1]"]
            cols["nu"][a] = p["nu"]
            cols["h"][a] = (p["omega"] + p["alpha[1]"] * resid[-1] ** 2
                            + p["beta[1]"] * vol[-1] ** 2) / s2
            std_resid[:, a] = resid / vol
        corr = np.atleast_2d(np.corrcoef(std_resid, rowvar=False)) if n_assets > 1 \
            else np.ones((1, 1))
        return GarchParams(mu=_frozen(cols["mu"]), omega=_frozen(cols["omega"]),
                           alpha=_frozen(cols["alpha"]), beta=_frozen(cols["beta"]),
                           nu=_frozen(cols["nu"]), corr=_frozen(corr), h_next=_frozen(cols["h"]))

    def _sample_returns(self, n_paths, length, rng):
        from scipy.special import ndtr, stdtrit

        p = self.params
        z = _correlated_normals(rng, (n_paths, length, len(p.mu)), _psd_sqrt(p.corr))
        # t quantile of the copula's uniform, computed on the tail side for accuracy
        tail = np.maximum(ndtr(-np.abs(z)), 1e-300)
        e = -np.sign(z) * stdtrit(p.nu, tail) * np.sqrt((p.nu - 2.0) / p.nu)
        return garch_simulate(p.mu, p.omega, p.alpha, p.beta, p.h_next, e)


BASELINES: dict[str, type[_Baseline]] = {
    "gbm": GBM, "merton": MertonJumpDiffusion, "bootstrap": BlockBootstrap, "garch": GarchT}


def load(path: str | os.PathLike) -> _Baseline:
    """Read any baseline written by ``save`` (the file names its generator)."""
    return _Baseline.load(path)
