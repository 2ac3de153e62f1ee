"""Features <-> the network's space: the one place where windows change layout.

    features (B, L, A, 5) --/ rho, scaler--> z (B, L, A, 5) --to_channels--> (B, A*5, L)
    network output (B, A*5, L) --from_channels--> z --scaler, * rho--> features

``rho`` is the volatility ratio each window starts with (`diffbt.generate.volstate`); with
the GARCH filter every bar is divided by its own ratio instead and, with a mean filter, its
return is less its conditional mean (`VolState.filter_bars`, inverted bar by bar by
`VolState.rebuild`). The network is channel-first, everything else in diffbt is bars-first.
"""

from __future__ import annotations

import numpy as np
import torch

from diffbt.data.features import FEATURES, RET, FeatureScaler
from diffbt.data.labels import VOLS, JumpDetector, RegimeLabeler
from diffbt.generate.config import GeneratorConfig
from diffbt.generate.volstate import VolState, vol_scale

__all__ = ["N_FEATURES", "decode", "encode", "from_channels", "to_channels", "training_windows"]

N_FEATURES = len(FEATURES)


def to_channels(z: np.ndarray) -> np.ndarray:
    """Bars-first windows (B, L, A, F) -> channel-first (B, A*F, L), C-contiguous."""
    b, length = z.shape[:2]
    return np.ascontiguousarray(z.reshape(b, length, -1).transpose(0, 2, 1))


def from_channels(x: torch.Tensor, n_assets: int) -> np.ndarray:
    """Channel-first tensor (B, A*F, L) -> bars-first windows (B, L, A, F), float64."""
    arr = x.detach().to("cpu", torch.float64).numpy()
    b, _, length = arr.shape
    return arr.transpose(0, 2, 1).reshape(b, length, n_assets, N_FEATURES)


def encode(features: np.ndarray, rho: np.ndarray | None, scaler: FeatureScaler) -> np.ndarray:
    """Features (n, L, A, F) of windows starting at volatility ratios `rho` (n, A), or with
    one ratio per bar (n, L, A), to the network's scale (still bars-first)."""
    scale = np.ones((len(features), features.shape[2])) if rho is None else rho
    return scaler.transform(vol_scale(features, scale))


def decode(z: np.ndarray, rho: np.ndarray | None, scaler: FeatureScaler, *,
           shift: np.ndarray | None = None, scale: np.ndarray | None = None,
           first: int = 0) -> np.ndarray:
    """Inverse of `encode`; the scaled log return of bars ``first:`` is multiplied by
    `scale` (A,) and `shift` (A,) is added to it (the calibrations: new bars only, a given
    context stays exact)."""
    feats = scaler.inverse(z)
    if scale is not None:
        feats[:, first:, :, RET] *= scale
    if shift is not None:
        feats[:, first:, :, RET] += shift
    return feats if rho is None else vol_scale(feats, rho, inverse=True)


def training_windows(feats: np.ndarray, config: GeneratorConfig, scaler: FeatureScaler,
                      vol: VolState | None, labeler: RegimeLabeler, jumps: JumpDetector
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training windows (N, A*5, L) in the network's space, their regime ids, jump counts
    and log volatility ratios (N, A)."""
    w, stride = config.window, config.window_stride
    t, a, f = feats.shape
    starts = np.arange(0, t - w + 1, stride)
    bars = None if vol is None else vol.rho(vol.series(feats[..., RET])[:-1])  # (T, A)
    rho = np.ones((len(starts), a)) if vol is None else bars[starts]
    per_bar = vol is not None and vol.per_bar
    scaled = vol.filter_bars(feats)[0] if per_bar else None  # every bar in its own units
    windows = np.empty((len(starts), a * f, w), dtype=np.float32)
    for i in range(0, len(starts), 2048):  # in blocks: bounded memory
        s = starts[i:i + 2048]
        if per_bar:
            z = scaler.transform(np.stack([scaled[j:j + w] for j in s]))
        else:
            z = encode(np.stack([feats[j:j + w] for j in s]), rho[i:i + 2048], scaler)
        windows[i:i + 2048] = to_channels(z)
    ret = feats[..., RET]
    trend, vol_label = labeler.label(ret, stride=stride)
    ids = trend * len(VOLS) + vol_label
    counts = jumps.count_windows(jumps.flags(ret), w, stride=stride)
    return (windows, ids.astype(np.int64), counts.astype(np.float32),
            np.log(rho).astype(np.float32))
