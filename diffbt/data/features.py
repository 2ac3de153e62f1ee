"""OHLCV bars <-> model features, and the feature scaler.

Per asset and bar ``t`` (``C`` close, ``O`` open, ``H`` high, ``L`` low, ``V`` volume):

========  ==================================  ==========================
feature   forward                             inverse
========  ==================================  ==========================
``ret``   ``log(C_t / C_{t-1})``              ``C_t = C_{t-1} exp(ret)``
``gap``   ``log(O_t / C_{t-1})``              ``O_t = C_{t-1} exp(gap)``
``up``    ``log(H_t / max(O_t, C_t))``        ``H_t = max(O_t, C_t) exp(|up|)``
``down``  ``log(min(O_t, C_t) / L_t)``        ``L_t = min(O_t, C_t) exp(-|down|)``
``lvol``  ``log1p(V_t)``                      ``V_t = expm1(max(lvol, 0))``
========  ==================================  ==========================

The inverse produces valid bars for *any* finite feature values: prices are positive,
``high >= max(open, close)``, ``low <= min(open, close)`` and ``volume >= 0``, all finite:
log prices and ``lvol`` are clipped to ``[-LOG_LIMIT, LOG_LIMIT]`` (prices within about
``1e-130 .. 1e130``), which real data never reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURES", "LOG_LIMIT", "FeatureScaler", "from_features", "to_features"]

FEATURES: tuple[str, ...] = ("ret", "gap", "up", "down", "lvol")
RET, GAP, UP, DOWN, LVOL = range(len(FEATURES))
LOG_LIMIT = 300.0  # |log price| and lvol bound in from_features: exp() stays finite, > 0


def to_features(values: np.ndarray) -> np.ndarray:
    """OHLCV bars to features.

    Parameters
    ----------
    values : ndarray, shape (..., length, n_assets, 5)
        Valid OHLCV bars (the `Market`/`PathSet` field order).

    Returns
    -------
    ndarray, shape (..., length - 1, n_assets, 5)
        Features of bars 1..length-1 (bar 0 only provides the previous close).
    """
    v = np.asarray(values, dtype=np.float64)
    o, h, lo, c, vol = (v[..., 1:, :, k] for k in range(5))
    prev_c = v[..., :-1, :, 3]
    out = np.empty(o.shape + (len(FEATURES),))
    out[..., RET] = np.log(c / prev_c)
    out[..., GAP] = np.log(o / prev_c)
    out[..., UP] = np.log(h / np.maximum(o, c))
    out[..., DOWN] = np.log(np.minimum(o, c) / lo)
    out[..., LVOL] = np.log1p(vol)
    return out


def from_features(features: np.ndarray, start_close: np.ndarray | float) -> np.ndarray:
    """Features back to OHLCV bars; always valid bars.

    Parameters
    ----------
    features : ndarray, shape (..., length, n_assets, 5)
    start_close : ndarray, shape (..., n_assets) or broadcastable
        The close before the first bar.

    Returns
    -------
    ndarray, shape (..., length, n_assets, 5)
        OHLCV bars (open, high, low, close, volume).
    """
    f = np.asarray(features, dtype=np.float64)
    start = np.broadcast_to(np.asarray(start_close, dtype=np.float64),
                            f.shape[:-3] + f.shape[-2:-1])
    with np.errstate(over="ignore"):  # sums past float range become +-inf, then clipped
        log_c = np.log(start)[..., None, :] + np.cumsum(f[..., RET], axis=-2)
        log_prev = np.concatenate([np.log(start)[..., None, :], log_c[..., :-1, :]], axis=-2)
        log_o = log_prev + f[..., GAP]
        log_hi = np.maximum(log_o, log_c) + np.abs(f[..., UP])
        log_lo = np.minimum(log_o, log_c) - np.abs(f[..., DOWN])
    out = np.empty(f.shape)
    out[..., 0] = np.exp(np.clip(log_o, -LOG_LIMIT, LOG_LIMIT))
    out[..., 1] = np.exp(np.clip(log_hi, -LOG_LIMIT, LOG_LIMIT))
    out[..., 2] = np.exp(np.clip(log_lo, -LOG_LIMIT, LOG_LIMIT))
    out[..., 3] = np.exp(np.clip(log_c, -LOG_LIMIT, LOG_LIMIT))
    out[..., 4] = np.expm1(np.clip(f[..., LVOL], 0.0, LOG_LIMIT))
    # exp() rounding can break high >= close by one ulp; enforce the invariant exactly
    out[..., 1] = np.maximum(out[..., 1], np.maximum(out[..., 0], out[..., 3]))
    out[..., 2] = np.minimum(out[..., 2], np.minimum(out[..., 0], out[..., 3]))
    return out


@dataclass(frozen=True)
class FeatureScaler:
    """Standardise features per asset and feature: ``z = (x - mean) / std``.

    Fit it on the training span only (`fit`); it is saved with the model as JSON. A feature
    that is constant in training (std 0: e.g. opens always at the previous close) maps to
    ``z = 0`` and back to that constant, whatever the network outputs for it.
    """

    mean: tuple[tuple[float, ...], ...]  # (n_assets, n_features)
    std: tuple[tuple[float, ...], ...]

    @classmethod
    def fit(cls, features: np.ndarray) -> FeatureScaler:
        """Fit on features of shape (..., n_assets, n_features); constant features get std 0."""
        f = np.asarray(features, dtype=np.float64)
        f = f.reshape(-1, *f.shape[-2:])
        mean = f.mean(axis=0)
        std = f.std(axis=0)
        std = np.where(std > 1e-12, std, 0.0)
        return cls(tuple(map(tuple, mean.tolist())), tuple(map(tuple, std.tolist())))

    def transform(self, features: np.ndarray) -> np.ndarray:
        std = np.asarray(self.std)
        return (np.asarray(features, dtype=np.float64) - np.asarray(self.mean)) / np.where(
            std > 0, std, 1.0)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * np.asarray(self.std) + np.asarray(self.mean)

    def to_dict(self) -> dict:
        return {"mean": [list(r) for r in self.mean], "std": [list(r) for r in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureScaler:
        return cls(tuple(map(tuple, d["mean"])), tuple(map(tuple, d["std"])))
