"""Training: AdamW, warmup + cosine learning rate, EMA, gradient clipping, validation,
periodic checkpoints and bit-identical resume (on CPU, same seed).

All randomness (batch indices, steps, noise, condition dropout, context prefixes, dropout
masks) comes from one ``torch.Generator`` whose state is saved in the checkpoint.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from diffbt.errors import DataError
from diffbt.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from diffbt.model.diffusion import Cond, DiffusionConfig, GaussianDiffusion, prefix_mask

__all__ = ["TrainConfig", "TrainResult", "Trainer", "lr_at", "train"]

Progress = Callable[[int, dict[str, float]], None]

# fields that may change between an interrupted run and its resume
_RESUME_FREE = ("steps", "val_every", "ckpt_every")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (JSON via ``asdict``).

    Parameters
    ----------
    steps : int
        Optimizer steps in total.
    batch_size : int
        Windows per step (drawn with replacement).
    lr, warmup, min_lr_ratio
        Peak learning rate, linear warmup steps, final lr as a fraction of ``lr`` (cosine).
    weight_decay : float
        AdamW weight decay.
    ema_decay : float
        EMA decay; warmed up as ``min(ema_decay, (1 + step) / (10 + step))``.
    grad_clip : float
        Max global gradient norm (0 disables).
    val_every, ckpt_every : int
        Validation / checkpoint period in steps (0 disables); both also run at the end.
    val_windows : int
        Validation windows used (a fixed random subset when there are more).
    cond_dropout : float
        Probability that a window's labels (regime, jumps) are replaced by null.
    context_prob : float
        Probability that a window reveals a random prefix (length uniform in ``[0, L)``).
    context_noise : float
        Largest standard deviation of Gaussian noise added to a revealed prefix (each
        window's level uniform in ``[0, context_noise]``, in the units of the data), so that
        the network learns to continue contexts it cannot recognise exactly, as generated
        ones are (0 = clean prefixes).
    keep_best : bool
        Return the EMA weights of the validation with the lowest loss (early stopping)
        instead of the last ones; needs validation data.
    seed : int
        Seed of the training generator.
    """

    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    val_every: int = 250
    ckpt_every: int = 500
    val_windows: int = 1024
    cond_dropout: float = 0.1
    context_prob: float = 0.5
    context_noise: float = 0.0
    keep_best: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        ints = ("steps", "batch_size", "warmup", "val_every", "ckpt_every", "val_windows", "seed")
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("min_lr_ratio", "ema_decay", "cond_dropout", "context_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        for name in ("weight_decay", "grad_clip", "context_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for update number ``step`` (0-based): linear warmup, then cosine."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    r = config.min_lr_ratio
    return config.lr * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class TrainResult:
    """Read-only outcome of :func:`train`.

    Attributes
    ----------
    step : int
        Steps done.
    train_losses : tuple of float
        Loss of every step, in order.
    val_losses : tuple of (int, float)
        ``(step, validation loss of the EMA model)``.
    ema : GaussianDiffusion
        EMA model in ``eval()`` mode (use it for sampling).
    model : GaussianDiffusion
        The raw trained model (the object passed to :func:`train`).
    best_step : int, optional
        With ``keep_best``: the step whose EMA weights `ema` holds.
    """

    step: int
    train_losses: tuple[float, ...]
    val_losses: tuple[tuple[int, float], ...]
    ema: GaussianDiffusion
    model: GaussianDiffusion
    best_step: int | None = None


# trainer ------------------------------------------------------------------------------


class Trainer:
    """Holds model, EMA, optimizer and generator; one :meth:`step` per update.

    Parameters
    ----------
    diffusion : GaussianDiffusion
        Trained in place, on its own device.
    data : Tensor
        ``(N, C, L)`` training windows.
    cond : dict, optional
        Per-window labels: ``regime`` long ``(N,)``, ``jumps`` float ``(N,)``.
    val_data, val_cond : optional
        Held-back windows and labels for the validation loss.
    config : TrainConfig
    progress : callable, optional
        ``progress(step, {"loss", "lr"[, "val_loss"]})`` after every step.
    """

    def __init__(
        self,
        diffusion: GaussianDiffusion,
        data: Tensor,
        *,
        cond: Cond | None = None,
        val_data: Tensor | None = None,
        val_cond: Cond | None = None,
        config: TrainConfig | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config = config or TrainConfig()
        self.diffusion = diffusion
        self.device = device = diffusion.device
        self.data = _check_data(data, diffusion.config, "data").to(device)
        self.cond = _check_labels(cond, diffusion.config, len(self.data), "cond", device)
        self.val_data = None if val_data is None else _check_data(
            val_data, diffusion.config, "val_data").to(device)
        self.val_cond = None if val_data is None else _check_labels(
            val_cond, diffusion.config, len(self.val_data), "val_cond", device)
        if self.val_data is not None and len(self.val_data) > config.val_windows:
            g = torch.Generator(device="cpu").manual_seed(config.seed + 2)
            keep = torch.randperm(len(self.val_data), generator=g)[: config.val_windows]
            keep = keep.sort().values.to(device)
            self.val_data = self.val_data[keep]
            self.val_cond = {k: v[keep] for k, v in self.val_cond.items()}
        self.progress = progress

        self.ema = copy.deepcopy(diffusion).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(diffusion.model.parameters(), lr=config.lr,
                                           betas=(0.9, 0.99), weight_decay=config.weight_decay)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.step_count = 0
        self.train_losses: list[float] = []
        self.val_losses: list[tuple[int, float]] = []
        self.best: tuple[int, float] | None = None  # (step, val loss) of `best_ema`
        self.best_ema: dict[str, Tensor] | None = None

    # one update ----------------------------------------------------------------------

    def _batch(self) -> tuple[Tensor, Cond]:
        cfg, g, dev = self.config, self.generator, self.device
        n, b = len(self.data), cfg.batch_size
        idx = torch.randint(0, n, (b,), generator=g, device=dev)
        x0 = self.data[idx]
        cond: Cond = {k: v[idx] for k, v in self.cond.items()}
        if cond and cfg.cond_dropout > 0:
            drop = torch.rand(b, generator=g, device=dev) < cfg.cond_dropout
            null = self.diffusion.null_cond(None, b)
            cond = {k: torch.where(drop, null[k], v) if k in null else v
                    for k, v in cond.items()}
        if self.diffusion.config.context and cfg.context_prob > 0:
            length = x0.shape[2]
            use = torch.rand(b, generator=g, device=dev) < cfg.context_prob
            k = torch.randint(0, length, (b,), generator=g, device=dev)
            context = x0
            if cfg.context_noise > 0:
                level = cfg.context_noise * torch.rand(b, 1, 1, generator=g, device=dev)
                context = x0 + level * torch.randn(x0.shape, generator=g, device=dev,
                                                   dtype=x0.dtype)
            cond["context"] = context
            cond["context_mask"] = prefix_mask(b, length, torch.where(use, k, 0), device=dev)
        return x0, cond

    def step(self) -> float:
        """One optimizer update; returns the batch loss."""
        cfg, diffusion = self.config, self.diffusion
        diffusion.train()
        x0, cond = self._batch()
        if diffusion.config.dropout > 0:
            seed = int(torch.randint(0, 2**62, (1,), generator=self.generator,
                                     device=self.device).item())
            cuda = self.device.type == "cuda"
            devices = [self.device.index or 0] if cuda else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)  # scoped to fork_rng: dropout masks from our seed
                loss = diffusion(x0, cond, generator=self.generator)
        else:
            loss = diffusion(x0, cond, generator=self.generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.step_count}")
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(diffusion.model.parameters(), cfg.grad_clip)
        lr = lr_at(self.step_count, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._update_ema()
        self.step_count += 1
        value = float(loss.detach())
        self.train_losses.append(value)
        return value

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = min(self.config.ema_decay, (1 + self.step_count) / (10 + self.step_count))
        for e, p in zip(self.ema.model.parameters(), self.diffusion.model.parameters(),
                        strict=True):
            e.lerp_(p, 1.0 - d)
        for e, b in zip(self.ema.model.buffers(), self.diffusion.model.buffers(), strict=True):
            e.copy_(b)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss of the EMA model on the validation windows (fixed steps and noise)."""
        if self.val_data is None:
            raise RuntimeError("no validation data")
        g = torch.Generator(device=self.device).manual_seed(self.config.seed + 1)
        total, count = 0.0, 0
        bs = self.config.batch_size
        for i in range(0, len(self.val_data), bs):
            x0 = self.val_data[i:i + bs]
            cond = {k: v[i:i + bs] for k, v in self.val_cond.items()}
            total += float(self.ema(x0, cond, generator=g)) * len(x0)
            count += len(x0)
        return total / count

    # loop ----------------------------------------------------------------------------

    def run(self, *, checkpoint_path: str | os.PathLike | None = None) -> TrainResult:
        """Train until ``config.steps``, validating and checkpointing on schedule."""
        cfg = self.config
        while self.step_count < cfg.steps:
            loss = self.step()
            s = self.step_count
            info = {"loss": loss, "lr": lr_at(s - 1, cfg)}
            last = s == cfg.steps
            if self.val_data is not None and ((cfg.val_every and s % cfg.val_every == 0)
                                              or last):
                info["val_loss"] = self.validate()
                self.val_losses.append((s, info["val_loss"]))
                if cfg.keep_best and (self.best is None or info["val_loss"] < self.best[1]):
                    self.best = (s, info["val_loss"])
                    self.best_ema = {k: v.detach().clone()
                                     for k, v in self.ema.model.state_dict().items()}
            if checkpoint_path is not None and ((cfg.ckpt_every and s % cfg.ckpt_every == 0)
                                                or last):
                self.save(checkpoint_path)
            if self.progress is not None:
                self.progress(s, info)
        return self.result()

    def result(self) -> TrainResult:
        ema, best_step = self.ema, None
        if self.config.keep_best and self.best_ema is not None:
            ema = copy.deepcopy(self.ema)
            ema.model.load_state_dict(self.best_ema)
            best_step = self.best[0]
        return TrainResult(self.step_count, tuple(self.train_losses), tuple(self.val_losses),
                           ema, self.diffusion, best_step)

    # state ---------------------------------------------------------------------------

    def state_dict(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """``(tensors, meta)``: weights, EMA, optimizer state, generator state; JSON rest."""
        tensors = {f"model.{k}": v for k, v in self.diffusion.model.state_dict().items()}
        tensors.update({f"ema.{k}": v for k, v in self.ema.model.state_dict().items()})
        opt = self.optimizer.state_dict()
        for i, st in opt["state"].items():
            for key, value in st.items():
                tensors[f"optim.{i}.{key}"] = torch.as_tensor(value)
        tensors["rng.generator"] = self.generator.get_state()
        if self.best_ema is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_ema.items()})
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in grp.items()}
                  for grp in opt["param_groups"]]
        meta = {
            "kind": "train",
            "config": self.diffusion.config.to_dict(),
            "train_config": asdict(self.config),
            "step": self.step_count,
            "train_losses": self.train_losses,
            "val_losses": [list(x) for x in self.val_losses],
            "best": None if self.best is None else list(self.best),
            "optim_param_groups": groups,
            "data_shape": list(self.data.shape),
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, Tensor], meta: dict[str, Any], *,
                        file: str | None = None) -> None:
        """Restore a state written by :meth:`state_dict` (same model and data shape)."""
        try:
            if meta.get("kind") != "train":
                raise CheckpointError("not a training checkpoint", file=file)
            if DiffusionConfig.from_dict(meta["config"]) != self.diffusion.config:
                raise CheckpointError("checkpoint was written for a different DiffusionConfig",
                                      file=file)
            now = {k: v for k, v in asdict(self.config).items() if k not in _RESUME_FREE}
            # settings a checkpoint predates count at their defaults
            saved = {**{k: v for k, v in asdict(TrainConfig()).items() if k in now},
                     **{k: v for k, v in meta["train_config"].items() if k in now}}
            if saved != now:
                diff = sorted(k for k in now if saved.get(k) != now[k])
                raise CheckpointError(f"TrainConfig differs from the checkpoint in {diff}",
                                      file=file)
            if list(meta["data_shape"][1:]) != list(self.data.shape[1:]):
                raise CheckpointError(f"checkpoint data windows {meta['data_shape'][1:]} != "
                                      f"{list(self.data.shape[1:])}", file=file)

            def sub(prefix: str) -> dict[str, Tensor]:
                return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

            self.diffusion.model.load_state_dict(sub("model."), strict=True)
            self.ema.model.load_state_dict(sub("ema."), strict=True)
            state: dict[int, dict[str, Tensor]] = {}
            for k, v in sub("optim.").items():
                i, key = k.split(".", 1)
                state.setdefault(int(i), {})[key] = v
            groups = [{k: (tuple(v) if k == "betas" else v) for k, v in grp.items()}
                      for grp in meta["optim_param_groups"]]
            self.optimizer.load_state_dict({"state": state, "param_groups": groups})
            self.generator.set_state(tensors["rng.generator"])
            self.step_count = int(meta["step"])
            self.train_losses = [float(x) for x in meta["train_losses"]]
            self.val_losses = [(int(s), float(v)) for s, v in meta["val_losses"]]
            best = meta.get("best")
            self.best = None if best is None else (int(best[0]), float(best[1]))
            self.best_ema = sub("best.") or None
        except CheckpointError:
            raise
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"cannot resume from checkpoint: {exc}", file=file) from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the training state to ``path`` atomically."""
        tensors, meta = self.state_dict()
        return save_checkpoint(path, tensors, meta)

    def load(self, path: str | os.PathLike) -> None:
        """Restore the training state from ``path``."""
        tensors, meta = load_checkpoint(path)
        self.load_state_dict(tensors, meta, file=str(path))


def train(
    diffusion: GaussianDiffusion,
    data: Tensor,
    *,
    cond: Cond | None = None,
    val_data: Tensor | None = None,
    val_cond: Cond | None = None,
    config: TrainConfig | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``diffusion`` in place on windows ``data`` ``(N, C, L)``.

    Parameters
    ----------
    diffusion : GaussianDiffusion
        Model to train (on its device).
    data : Tensor
        ``(N, C, L)`` float windows.
    cond : dict, optional
        ``regime`` long ``(N,)`` and/or ``jumps`` float ``(N,)`` per window.
    val_data, val_cond : optional
        Held-back windows (and labels) for the validation loss.
    config : TrainConfig, optional
    checkpoint_path : path-like, optional
        Where to write checkpoints every ``ckpt_every`` steps and at the end.
    resume : bool
        Continue from ``checkpoint_path`` when that file exists (else start fresh).
    progress : callable, optional
        ``progress(step, info)`` after every step.

    Returns
    -------
    TrainResult

    Raises
    ------
    DataError
        Bad ``data`` / ``cond`` shapes or non-finite values.
    CheckpointError
        ``resume`` with an unreadable or mismatching checkpoint.
    """
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path")
    trainer = Trainer(diffusion, data, cond=cond, val_data=val_data, val_cond=val_cond,
                      config=config, progress=progress)
    if resume and Path(checkpoint_path).exists():
        trainer.load(checkpoint_path)
    return trainer.run(checkpoint_path=checkpoint_path)


# checks -------------------------------------------------------------------------------


def _check_data(data: Tensor, config: DiffusionConfig, name: str) -> Tensor:
    if not isinstance(data, Tensor) or data.ndim != 3:
        raise DataError(f"{name} must be a (N, C, L) tensor, got "
                        f"{getattr(data, 'shape', type(data).__name__)}")
    if data.shape[1] != config.channels:
        raise DataError(f"{name} has {data.shape[1]} channels, model expects {config.channels}")
    if data.shape[0] < 1 or data.shape[2] < 1:
        raise DataError(f"{name} is empty: shape {tuple(data.shape)}")
    if not data.is_floating_point():
        raise DataError(f"{name} must be floating point, got {data.dtype}")
    if not torch.isfinite(data).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return data.to(torch.float32)


def _check_labels(cond: Cond | None, config: DiffusionConfig, n: int, name: str,
                  device: torch.device) -> Cond:
    cond = dict(cond or {})
    unknown = set(cond) - {"regime", "jumps", "state"}
    if unknown:
        raise DataError(f"{name} has unknown keys {sorted(unknown)}; allowed: regime, jumps, "
                        f"state")
    out: Cond = {}
    if "regime" in cond:
        r = torch.as_tensor(cond["regime"])
        if config.n_regimes == 0:
            raise DataError(f"{name}['regime'] given but the model has n_regimes=0")
        if r.shape != (n,) or r.is_floating_point():
            raise DataError(f"{name}['regime'] must be an integer ({n},) tensor")
        if int(r.min()) < 0 or int(r.max()) > config.n_regimes:
            raise DataError(f"{name}['regime'] ids must be in [0, {config.n_regimes}]")
        out["regime"] = r.to(device=device, dtype=torch.long)
    if "jumps" in cond:
        j = torch.as_tensor(cond["jumps"])
        if not config.jumps:
            raise DataError(f"{name}['jumps'] given but the model has jumps=False")
        if j.shape != (n,):
            raise DataError(f"{name}['jumps'] must have shape ({n},)")
        out["jumps"] = j.to(device=device, dtype=torch.float32)
    if "state" in cond:
        st = torch.as_tensor(cond["state"])
        if config.state == 0:
            raise DataError(f"{name}['state'] given but the model has state=0")
        if tuple(st.shape) != (n, config.state) or not torch.isfinite(st).all():
            raise DataError(f"{name}['state'] must be a finite ({n}, {config.state}) tensor")
        out["state"] = st.to(device=device, dtype=torch.float32)
    return out
