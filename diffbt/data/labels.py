"""Regime labels and jump flags, with thresholds fitted on the training span only.

Regimes describe a window of bars of the equal-weight market (the mean over assets):

- trend: the window's summed log return against the training windows' terciles
  -> ``bear`` (lowest third), ``sideways``, ``bull`` (highest third);
- volatility: the window's mean absolute log return against the training median
  -> ``calm`` / ``volatile``.

A label is ``"<trend>_<vol>"`` (e.g. ``"bear_volatile"``); queries may name only one part
(``"bear"`` or ``"volatile"``).

Jumps are bars whose return is extreme relative to the asset's *recent* volatility:
``z_t = r_t / sigma_{t-1}`` with ``sigma`` an exponentially weighted volatility of past
returns (causal: bar t is not in its own scale), flagged when ``|z_t| > k * s`` where ``s``
is the robust (MAD) scale of ``z`` over the training span. Negative jumps are crashes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "JUMP_BUCKETS",
    "REGIMES",
    "TRENDS",
    "VOLS",
    "JumpDetector",
    "RegimeLabeler",
    "parse_regime",
]

TRENDS: tuple[str, ...] = ("bear", "sideways", "bull")
VOLS: tuple[str, ...] = ("calm", "volatile")
REGIMES: tuple[str, ...] = tuple(f"{t}_{v}" for t in TRENDS for v in VOLS)
JUMP_BUCKETS: int = 3  # jump-count classes: 0, 1, 2 or more


def parse_regime(name: str) -> tuple[int | None, int | None]:
    """``"bear_volatile"`` -> (trend id, vol id); a missing part is None.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    """
    parts = str(name).lower().replace("-", "_").split("_")
    trend = vol = None
    for p in parts:
        if p in TRENDS and trend is None:
            trend = TRENDS.index(p)
        elif p in VOLS and vol is None:
            vol = VOLS.index(p)
        else:
            raise ValueError(
                f"unknown regime {name!r}; use one of {list(TRENDS) + list(VOLS) + list(REGIMES)}")
    return trend, vol


def _windows(x: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Rolling windows over axis 0: (T, ...) -> (n_windows, window, ...)."""
    if len(x) < window:
        return np.empty((0, window) + x.shape[1:])
    starts = np.arange(0, len(x) - window + 1, stride)
    return np.stack([x[s:s + window] for s in starts])


@dataclass(frozen=True)
class RegimeLabeler:
    """Trend/volatility regime of windows; thresholds from the training span.

    Attributes
    ----------
    window : int
        Window length in bars the thresholds were fitted for.
    trend_lo, trend_hi : float
        Terciles of the training windows' summed market log return.
    vol_mid : float
        Median of the training windows' mean absolute market log return.
    """

    window: int
    trend_lo: float
    trend_hi: float
    vol_mid: float

    @staticmethod
    def _stats(returns: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
        market = np.asarray(returns, dtype=np.float64).reshape(len(returns), -1).mean(axis=1)
        w = _windows(market, window, stride)
        return w.sum(axis=1), np.abs(w).mean(axis=1)

    @classmethod
    def fit(cls, returns: np.ndarray, window: int) -> RegimeLabeler:
        """Fit on training log returns of shape (T, n_assets)."""
        trend, vol = cls._stats(returns, window, 1)
        if len(trend) < 3:
            raise ValueError(f"need at least {window + 2} training bars to fit regimes")
        lo, hi = np.quantile(trend, [1 / 3, 2 / 3])
        return cls(int(window), float(lo), float(hi), float(np.median(vol)))

    def label_stats(self, trend: np.ndarray, vol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.where(trend < self.trend_lo, 0, np.where(trend > self.trend_hi, 2, 1))
        v = (vol > self.vol_mid).astype(np.int64)
        return t.astype(np.int64), v

    def label(self, returns: np.ndarray, *, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(trend id, vol id) of each rolling window of `returns` (T, n_assets)."""
        return self.label_stats(*self._stats(returns, self.window, stride))

    def label_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(trend id, vol id) of windows of log returns, shape (n, window, n_assets)."""
        market = np.asarray(windows, dtype=np.float64).reshape(len(windows), windows.shape[1], -1)
        market = market.mean(axis=2)
        return self.label_stats(market.sum(axis=1), np.abs(market).mean(axis=1))

    @staticmethod
    def names(trend: np.ndarray, vol: np.ndarray) -> np.ndarray:
        """Label names ``"<trend>_<vol>"`` for id arrays."""
        return np.array([f"{TRENDS[t]}_{VOLS[v]}" for t, v in zip(trend, vol, strict=True)])

    def to_dict(self) -> dict:
        return {"window": self.window, "trend_lo": self.trend_lo, "trend_hi": self.trend_hi,
                "vol_mid": self.vol_mid}

    @classmethod
    def from_dict(cls, d: dict) -> RegimeLabeler:
        return cls(int(d["window"]), float(d["trend_lo"]), float(d["trend_hi"]),
                   float(d["vol_mid"]))


def _ewm_scale(returns: np.ndarray, lam: float, init: np.ndarray) -> np.ndarray:
    """Causal EWMA volatility: sigma[t] uses returns[:t] only; shape (T, n_assets)."""
    var = np.empty_like(returns)
    v = init ** 2
    for t in range(len(returns)):
        var[t] = v
        v = lam * v + (1.0 - lam) * returns[t] ** 2
    return np.sqrt(var)


@dataclass(frozen=True)
class JumpDetector:
    """Flags jump bars; thresholds fitted on the training span.

    Attributes
    ----------
    k : float
        Threshold in robust standard deviations of the vol-scaled return.
    lam : float
        EWMA decay of the local volatility.
    init_scale : tuple of float
        Per-asset robust scale of training returns (starts the EWMA).
    z_scale : tuple of float
        Per-asset robust scale (1.4826 * MAD) of the vol-scaled training returns.
    """

    k: float
    lam: float
    init_scale: tuple[float, ...]
    z_scale: tuple[float, ...]

    @classmethod
    def fit(cls, returns: np.ndarray, *, k: float = 5.0, lam: float = 0.94) -> JumpDetector:
        """Fit on training log returns of shape (T, n_assets)."""
        r = np.asarray(returns, dtype=np.float64).reshape(len(returns), -1)
        med = np.median(r, axis=0)
        init = 1.4826 * np.median(np.abs(r - med), axis=0)
        init = np.where(init > 0, init, np.std(r, axis=0) + 1e-12)
        z = r / np.maximum(_ewm_scale(r, lam, init), 1e-12)
        zs = 1.4826 * np.median(np.abs(z - np.median(z, axis=0)), axis=0)
        zs = np.where(zs > 0, zs, 1.0)
        return cls(float(k), float(lam), tuple(init.tolist()), tuple(zs.tolist()))

    def zscores(self, returns: np.ndarray) -> np.ndarray:
        r = np.asarray(returns, dtype=np.float64).reshape(len(returns), -1)
        sigma = _ewm_scale(r, self.lam, np.asarray(self.init_scale))
        return r / np.maximum(sigma, 1e-12) / np.asarray(self.z_scale)

    def flags(self, returns: np.ndarray) -> np.ndarray:
        """Signed jump flags, shape (T, n_assets): +1 up-jump, -1 crash, 0 none."""
        z = self.zscores(returns)
        return (np.sign(z) * (np.abs(z) > self.k)).astype(np.int8)

    def count_windows(self, flags: np.ndarray, window: int, *, stride: int = 1) -> np.ndarray:
        """Number of bars with a jump in any asset, per rolling window."""
        any_jump = (np.asarray(flags).reshape(len(flags), -1) != 0).any(axis=1)
        return _windows(any_jump.astype(np.int64), window, stride).sum(axis=1)

    def count_batch(self, windows: np.ndarray) -> np.ndarray:
        """Jump bars (any asset) in each window of log returns (n, window, n_assets).

        Each window is scanned on its own, its volatility starting at the training scale.
        """
        w = np.asarray(windows, dtype=np.float64)
        n, length = w.shape[:2]
        flat = w.transpose(1, 0, 2).reshape(length, -1)  # (window, n * n_assets)
        init = np.tile(np.asarray(self.init_scale), n)
        sigma = _ewm_scale(flat, self.lam, init)
        z = flat / np.maximum(sigma, 1e-12) / np.tile(np.asarray(self.z_scale), n)
        jump = (np.abs(z) > self.k).reshape(length, n, -1).any(axis=2)
        return jump.sum(axis=0)

    def to_dict(self) -> dict:
        return {"k": self.k, "lam": self.lam, "init_scale": list(self.init_scale),
                "z_scale": list(self.z_scale)}

    @classmethod
    def from_dict(cls, d: dict) -> JumpDetector:
        return cls(float(d["k"]), float(d["lam"]), tuple(d["init_scale"]), tuple(d["z_scale"]))
