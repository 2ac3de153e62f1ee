"""Gaussian diffusion wrapper: schedule constants as buffers, targets, losses, guidance.

The wrapper owns a denoiser ``model`` with ``forward(x, t, cond)`` and never sees an
optimizer. Data are channel-first windows ``(batch, channels, length)``.

Conditioning is a dict of per-window tensors (all optional):

- ``regime``: long ``(B,)`` in ``[0, n_regimes]``; ``n_regimes`` is the null label.
- ``jumps``: float ``(B,)`` jump flag/count; NaN is the null value.
- ``context``: ``(B, C, L)`` known values, with ``context_mask``: bool ``(B, L)``, True where
  the value is known (a prefix in practice). Context is applied in both guidance branches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from diffbt.model.denoiser import Denoiser
from diffbt.model.schedules import SCHEDULES, alphas_cumprod, get_schedule

__all__ = ["TARGETS", "Cond", "DiffusionConfig", "GaussianDiffusion", "prefix_mask"]

TARGETS = ("eps", "x0", "v")
LABEL_KEYS = ("regime", "jumps")

Cond = dict[str, Tensor]


# config -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionConfig:
    """Everything needed to rebuild a diffusion model; stored as JSON via ``asdict``.

    Parameters
    ----------
    channels : int
        C = assets * features.
    window : int
        Default window length L for sampling (the net itself accepts any length).
    timesteps : int
        Diffusion steps T.
    schedule : {"cosine", "linear"}
        Noise schedule name.
    target : {"v", "eps", "x0"}
        What the network predicts.
    hidden, n_blocks, dropout, attention, stride
        Denoiser size and time downsampling (see :class:`~diffbt.model.denoiser.Denoiser`).
    n_regimes : int
        Regime labels (0 = no regime conditioning).
    jumps : bool
        Condition on a jump scalar per window.
    context : bool
        Accept a known prefix (inpainting channels).
    state : int
        Size of a continuous state vector per window (0 = none), e.g. the volatility level
        each asset entered the window with. Always given (not a guidance label).
    """

    channels: int = 10
    window: int = 64
    timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "cosine"
    target: Literal["eps", "x0", "v"] = "v"
    hidden: int = 96
    n_blocks: int = 4
    dropout: float = 0.0
    attention: bool = True
    n_regimes: int = 0
    jumps: bool = False
    context: bool = True
    stride: int = 4
    state: int = 0

    def __post_init__(self) -> None:
        for name in ("channels", "window", "hidden", "n_blocks", "timesteps", "n_regimes",
                     "stride", "state"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be an int, got {v!r}")
        for name in ("channels", "window", "hidden", "n_blocks", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.timesteps < 2:
            raise ValueError(f"timesteps must be >= 2, got {self.timesteps}")
        if self.window % self.stride:
            raise ValueError(f"window {self.window} must be divisible by stride {self.stride}")
        if self.n_regimes < 0:
            raise ValueError(f"n_regimes must be >= 0, got {self.n_regimes}")
        if self.state < 0:
            raise ValueError(f"state must be >= 0, got {self.state}")
        if self.schedule not in SCHEDULES:
            get_schedule(self.schedule)  # raises with the options
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; options: {', '.join(TARGETS)}")
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("attention", "jumps", "context"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiffusionConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown DiffusionConfig keys: {sorted(unknown)}")
        return cls(**d)


def prefix_mask(batch: int, length: int, known: int | Tensor, *, device=None) -> Tensor:
    """Bool mask ``(batch, length)`` that is True on the first ``known`` steps.

    ``known`` is one int or a ``(batch,)`` tensor of prefix lengths.
    """
    pos = torch.arange(length, device=device)[None, :]
    k = torch.as_tensor(known, device=device).reshape(-1, 1)
    return (pos < k).expand(batch, length)


# diffusion ----------------------------------------------------------------------------


class GaussianDiffusion(nn.Module):
    """DDPM wrapper around a denoiser.

    Parameters
    ----------
    config : DiffusionConfig
        Schedule, target and network sizes.
    model : nn.Module, optional
        Denoiser with ``forward(x, t, cond)``; built from ``config`` when omitted (tests pass
        analytic oracles here).
    seed : int, optional
        Seed for the weight initialisation (the global RNG is left untouched).

    Notes
    -----
    ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``;
    ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0``.
    """

    def __init__(self, config: DiffusionConfig, *, model: nn.Module | None = None,
                 seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        if model is None:
            with torch.random.fork_rng(devices=[], enabled=seed is not None):
                if seed is not None:
                    torch.manual_seed(seed)  # scoped by fork_rng: reproducible init
                model = Denoiser(
                    config.channels, hidden=config.hidden, n_blocks=config.n_blocks,
                    dropout=config.dropout, attention=config.attention,
                    n_regimes=config.n_regimes, jumps=config.jumps, context=config.context,
                    stride=config.stride, n_state=config.state,
                )
        self.model = model
        betas = get_schedule(config.schedule)(config.timesteps)
        abar = alphas_cumprod(betas)
        abar_prev = torch.cat((torch.ones(1, dtype=torch.float64), abar[:-1]))
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)

        def buf(name: str, value: Tensor) -> None:
            self.register_buffer(name, value, persistent=False)  # float64; cast on use

        buf("betas", betas)
        buf("alphas_cumprod", abar)
        buf("alphas_cumprod_prev", abar_prev)
        buf("sqrt_alphas_cumprod", abar.sqrt())
        buf("sqrt_one_minus_alphas_cumprod", (1.0 - abar).sqrt())
        buf("posterior_variance", post_var)
        buf("posterior_log_variance_clipped",
            torch.log(torch.cat((post_var[1:2], post_var[1:]))))
        buf("posterior_mean_coef1", betas * abar_prev.sqrt() / (1.0 - abar))
        buf("posterior_mean_coef2", (1.0 - abar_prev) * (1.0 - betas).sqrt() / (1.0 - abar))
        # float64 copy for the samplers' scalar arithmetic (kept on CPU as Python floats)
        self._abar64 = abar.tolist()
        self.n_calls = 0

    @property
    def device(self) -> torch.device:
        return self.betas.device

    @property
    def num_timesteps(self) -> int:
        return self.config.timesteps

    def abar(self, t: int) -> float:
        """``abar_t`` as a float64 Python float; ``t = -1`` gives 1 (clean data)."""
        return 1.0 if t < 0 else self._abar64[t]

    # targets ----------------------------------------------------------------------

    def _at(self, a: Tensor, t: Tensor, x: Tensor) -> Tensor:
        return a.gather(0, t).to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Forward process ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``."""
        return (self._at(self.sqrt_alphas_cumprod, t, x0) * x0
                + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def predict_start_from_noise(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        a, s = self._at(self.sqrt_alphas_cumprod, t, x_t), self._at(
            self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return (x_t - s * eps) / a

    def predict_noise_from_start(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        a, s = self._at(self.sqrt_alphas_cumprod, t, x_t), self._at(
            self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return (x_t - a * x0) / s

    def predict_v(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        a, s = self._at(self.sqrt_alphas_cumprod, t, x0), self._at(
            self.sqrt_one_minus_alphas_cumprod, t, x0)
        return a * eps - s * x0

    def predict_start_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        a, s = self._at(self.sqrt_alphas_cumprod, t, x_t), self._at(
            self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return a * x_t - s * v

    def target(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Regression target for the configured prediction type."""
        if self.config.target == "eps":
            return noise
        if self.config.target == "x0":
            return x0
        return self.predict_v(x0, t, noise)

    def output_to_start(self, x_t: Tensor, t: Tensor, out: Tensor) -> Tensor:
        """Network output (eps, x0 or v) -> predicted ``x0``."""
        if self.config.target == "eps":
            return self.predict_start_from_noise(x_t, t, out)
        if self.config.target == "x0":
            return out
        return self.predict_start_from_v(x_t, t, out)

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(x_{t-1} | x_t, x0)``."""
        mean = (self._at(self.posterior_mean_coef1, t, x_t) * x0
                + self._at(self.posterior_mean_coef2, t, x_t) * x_t)
        return mean, self._at(self.posterior_log_variance_clipped, t, x_t)

    # conditioning -----------------------------------------------------------------

    def check_cond(self, cond: Cond | None, batch: int) -> Cond:
        """Validate a conditioning dict against the config; returns a shallow copy."""
        cond = dict(cond or {})
        unknown = set(cond) - {"regime", "jumps", "state", "context", "context_mask"}
        if unknown:
            raise ValueError(f"unknown conditioning keys: {sorted(unknown)}")
        cfg = self.config
        if "regime" in cond:
            if cfg.n_regimes == 0:
                raise ValueError("model was built without regime conditioning (n_regimes=0)")
            r = cond["regime"]
            if r.shape != (batch,):
                raise ValueError(f"regime must have shape ({batch},), got {tuple(r.shape)}")
            if r.numel() and (int(r.min()) < 0 or int(r.max()) > cfg.n_regimes):
                raise ValueError(f"regime ids must be in [0, {cfg.n_regimes}] "
                                 f"({cfg.n_regimes} = null)")
        if "jumps" in cond:
            if not cfg.jumps:
                raise ValueError("model was built without jump conditioning (jumps=False)")
            if cond["jumps"].shape != (batch,):
                raise ValueError(f"jumps must have shape ({batch},), "
                                 f"got {tuple(cond['jumps'].shape)}")
        if "state" in cond:
            if cfg.state == 0:
                raise ValueError("model was built without a state vector (state=0)")
            if tuple(cond["state"].shape) != (batch, cfg.state):
                raise ValueError(f"state must have shape ({batch}, {cfg.state}), "
                                 f"got {tuple(cond['state'].shape)}")
        if ("context" in cond) != ("context_mask" in cond):
            raise ValueError("context and context_mask must be given together")
        if "context" in cond:
            if not cfg.context:
                raise ValueError("model was built without context conditioning (context=False)")
            c, m = cond["context"], cond["context_mask"]
            if c.ndim != 3 or c.shape[0] != batch or c.shape[1] != cfg.channels:
                raise ValueError(f"context must have shape ({batch}, {cfg.channels}, L), "
                                 f"got {tuple(c.shape)}")
            if m.shape != (batch, c.shape[2]):
                raise ValueError(f"context_mask must have shape ({batch}, {c.shape[2]}), "
                                 f"got {tuple(m.shape)}")
            cond["context_mask"] = m.to(torch.bool)
        return cond

    def null_cond(self, cond: Cond | None, batch: int) -> Cond:
        """The unconditional twin of ``cond``: labels set to null, context kept."""
        out = {k: v for k, v in (cond or {}).items() if k not in LABEL_KEYS}
        if self.config.n_regimes > 0:
            out["regime"] = torch.full((batch,), self.config.n_regimes, dtype=torch.long,
                                       device=self.device)
        if self.config.jumps:
            out["jumps"] = torch.full((batch,), math.nan, device=self.device)
        return out

    def has_labels(self, cond: Cond | None) -> bool:
        return bool(cond) and any(k in cond for k in LABEL_KEYS)

    # predictions ------------------------------------------------------------------

    def model_predictions(
        self,
        x_t: Tensor,
        t: Tensor,
        cond: Cond | None = None,
        *,
        guidance: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Guided network output turned into ``(eps, x0)`` predictions.

        Parameters
        ----------
        x_t : Tensor
            ``(B, C, L)`` noisy windows.
        t : Tensor
            ``(B,)`` long steps.
        cond : dict, optional
            Conditioning (see module docstring); already checked.
        guidance : float, optional
            Classifier-free guidance scale g; None (or no label in ``cond``) = conditional.

        Returns
        -------
        eps, x0 : Tensor
            Where ``context_mask`` is set, ``x0`` equals the context exactly and ``eps`` is
            the matching noise.

        Notes
        -----
        ``out = out_uncond + g * (out_cond - out_uncond)`` in the target space; ``g = 1``
        runs only the conditional branch, ``g = 0`` only the unconditional one.
        """
        batch = x_t.shape[0]
        if guidance is None or not self.has_labels(cond) or guidance == 1.0:
            out = self._net(x_t, t, cond)
        elif guidance == 0.0:
            out = self._net(x_t, t, self.null_cond(cond, batch))
        else:
            out_c = self._net(x_t, t, cond)
            out_u = self._net(x_t, t, self.null_cond(cond, batch))
            out = out_u + guidance * (out_c - out_u)
        x0 = self.output_to_start(x_t, t, out)
        if self.config.target == "eps":
            eps = out
        elif self.config.target == "v":
            eps = (self._at(self.sqrt_one_minus_alphas_cumprod, t, x_t) * x_t
                   + self._at(self.sqrt_alphas_cumprod, t, x_t) * out)
        else:
            eps = self.predict_noise_from_start(x_t, t, x0)
        if cond and "context_mask" in cond:
            m = cond["context_mask"][:, None, :]
            x0 = torch.where(m, cond["context"].to(x0.dtype), x0)
            eps = torch.where(m, self.predict_noise_from_start(x_t, t, x0), eps)
        return eps, x0

    def _net(self, x: Tensor, t: Tensor, cond: Cond | None) -> Tensor:
        self.n_calls += 1
        return self.model(x, t, cond)

    # training ---------------------------------------------------------------------

    def p_losses(
        self,
        x0: Tensor,
        t: Tensor,
        noise: Tensor,
        cond: Cond | None = None,
    ) -> Tensor:
        """Mean squared error of the network output against the target.

        Positions covered by ``cond["context_mask"]`` are known and left out of the mean.
        """
        x_t = self.q_sample(x0, t, noise)
        out = self.model(x_t, t, cond)
        err = (out - self.target(x0, t, noise)) ** 2
        if cond and "context_mask" in cond:
            w = (~cond["context_mask"]).to(err.dtype)[:, None, :].expand_as(err)
            return (err * w).sum() / w.sum().clamp_min(1.0)
        return err.mean()

    def forward(self, x0: Tensor, cond: Cond | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        """Training loss for a batch with random steps and noise drawn from ``generator``."""
        t = torch.randint(0, self.num_timesteps, (x0.shape[0],), device=x0.device,
                          generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return self.p_losses(x0, t, noise, cond)
