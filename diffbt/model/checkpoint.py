"""Checkpoints: one safetensors file whose string metadata carries a JSON header.

Layout: tensors (model, EMA, optimizer state, RNG state) in safetensors; everything else in
``metadata["diffbt"]`` = ``{"format": "diffbt-model", "version": 2, "meta": {...}}``.
Loading never unpickles: ``torch.load``/``torch.save`` are not used anywhere.

Integrity (version 2): ``metadata["diffbt.sha256"]`` is the SHA-256 of the header text and of
every tensor (name, dtype, shape, bytes), verified at load, so a damaged weight or header byte
is an error rather than a silently different model. Version 1 files (no checksum) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from diffbt.errors import DataError
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "load_checkpoint",
    "load_diffusion",
    "save_checkpoint",
    "save_diffusion",
]

FORMAT = "diffbt-model"
VERSION = 2
_KEY = "diffbt"
_SHA_KEY = "diffbt.sha256"


class CheckpointError(DataError):
    """A checkpoint file is missing, damaged, foreign or from a newer version."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, Tensor],
                    meta: dict[str, Any]) -> Path:
    """Write ``tensors`` and JSON-able ``meta`` to one file, atomically.

    Parameters
    ----------
    path : path-like
        Target file (conventionally ``*.safetensors``); replaced atomically.
    tensors : dict of str -> Tensor
        Saved on CPU, contiguous.
    meta : dict
        JSON-serializable data (config, histories, scalers, labels ...).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    header = json.dumps({"format": FORMAT, "version": VERSION, "meta": meta},
                        allow_nan=True, sort_keys=True)
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(flat, tmp, metadata={_KEY: header, _SHA_KEY: _digest(header, flat)})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_checkpoint`.

    Returns
    -------
    tensors : dict of str -> Tensor
        On CPU.
    meta : dict
        The ``meta`` given at save time.

    Raises
    ------
    CheckpointError
        Missing, truncated or damaged file (checksum mismatch), not a diffbt checkpoint, or a
        newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", file=str(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError, MemoryError,
            OverflowError) as exc:
        msg = " ".join(str(exc).split())
        raise CheckpointError(f"not a readable safetensors checkpoint (damaged or truncated?): "
                              f"{msg}", file=str(path)) from None
    if _KEY not in metadata:
        raise CheckpointError("safetensors file has no diffbt header (foreign file)",
                              file=str(path))
    checksum = metadata.get(_SHA_KEY)
    if checksum is not None and checksum != _digest(metadata[_KEY], tensors):
        raise CheckpointError("checksum mismatch: the file is damaged (weights or header "
                              "changed since it was saved)", file=str(path))
    try:
        header = json.loads(metadata[_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"damaged checkpoint header: {exc}", file=str(path)) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise CheckpointError(f"unknown checkpoint format {fmt!r}, expected {FORMAT!r}",
                              file=str(path))
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"bad checkpoint version {version!r}", file=str(path))
    if version > VERSION:
        raise CheckpointError(f"checkpoint format version {version} is newer than this diffbt "
                              f"supports ({VERSION}); upgrade diffbt", file=str(path))
    if version >= 2 and checksum is None:
        raise CheckpointError(f"checksum {_SHA_KEY!r} missing from a version {version} file "
                              f"(damaged?)", file=str(path))
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError("checkpoint header has no meta dict", file=str(path))
    return tensors, meta


def _digest(header: str, tensors: dict[str, Tensor]) -> str:
    """SHA-256 (hex) of the header text and each tensor's name, dtype, shape and raw bytes."""
    h = hashlib.sha256(header.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


# diffusion models ---------------------------------------------------------------------


def save_diffusion(path: str | os.PathLike, diffusion: GaussianDiffusion, *,
                   extra: dict[str, Any] | None = None) -> Path:
    """Save a diffusion model's weights and config (``extra`` goes into the JSON meta)."""
    tensors = {f"model.{k}": v for k, v in diffusion.model.state_dict().items()}
    meta = {"kind": "diffusion", "config": diffusion.config.to_dict(), "extra": extra or {}}
    return save_checkpoint(path, tensors, meta)


def load_diffusion(path: str | os.PathLike, *, device: str | torch.device = "cpu",
                   ema: bool = True) -> tuple[GaussianDiffusion, dict[str, Any]]:
    """Rebuild a :class:`GaussianDiffusion` from :func:`save_diffusion` or a training checkpoint.

    Parameters
    ----------
    ema : bool
        For a training checkpoint, load the EMA weights (default) instead of the raw ones.

    Returns
    -------
    diffusion : GaussianDiffusion
        In ``eval()`` mode on ``device``.
    extra : dict
        The ``extra`` meta given at save time (empty for training checkpoints).
    """
    tensors, meta = load_checkpoint(path)
    return diffusion_from_checkpoint(tensors, meta, path=path, device=device, ema=ema)


def diffusion_from_checkpoint(tensors: dict[str, Tensor], meta: dict[str, Any], *, path=None,
                              device: str | torch.device = "cpu",
                              ema: bool = True) -> tuple[GaussianDiffusion, dict[str, Any]]:
    """Build the model from already-loaded ``(tensors, meta)``; see :func:`load_diffusion`."""
    file = None if path is None else str(path)
    try:
        config = DiffusionConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"bad diffusion config in checkpoint: {exc}", file=file) from None
    prefix = "ema." if ema and any(k.startswith("ema.") for k in tensors) else "model."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    diffusion = GaussianDiffusion(config)
    try:
        diffusion.model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not match the config: {exc}", file=file) from None
    return diffusion.to(device).eval(), dict(meta.get("extra", {}))
