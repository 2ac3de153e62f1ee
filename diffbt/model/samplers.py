"""Samplers: functions of (diffusion, shape, steps, generator, cond, guidance).

Each returns a :class:`SampleOutput` holding the windows ``(B, C, L)`` and the number of
denoiser calls made. Noise comes only from the given ``torch.Generator`` (on the diffusion's
device), so the same seed gives the same windows on the same device. Run them under
``torch.inference_mode()`` with the model in ``eval()``; :func:`sample` does both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from diffbt.model.diffusion import Cond, GaussianDiffusion

__all__ = [
    "SAMPLERS",
    "SampleOutput",
    "ddim_sample",
    "ddpm_sample",
    "dpm_solver_sample",
    "sample",
    "SPACINGS",
    "timestep_grid",
]


@dataclass(frozen=True)
class SampleOutput:
    """Samples ``x`` ``(B, C, L)`` and ``n_calls``, the denoiser forward passes made."""

    x: Tensor
    n_calls: int


# helpers ------------------------------------------------------------------------------


SPACINGS = ("time", "logsnr")


def timestep_grid(timesteps: int, steps: int, *, spacing: str = "time",
                  abar: Callable[[int], float] | None = None) -> list[int]:
    """``steps`` descending step indices from ``T-1`` to 0, then ``-1`` (clean data).

    ``spacing``: ``"time"`` uniform in the step index; ``"logsnr"`` uniform in
    ``log(alpha/sigma)`` from -5 (or the schedule's end, if higher) to step 0, which needs
    ``abar`` (step -> abar); its steps are the nearest integer steps, made distinct, and
    always start at ``T-1``.

    Raises
    ------
    ValueError
        ``steps`` not in ``[1, timesteps]``, unknown spacing.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be an int in [1, {timesteps}], got {steps!r}")
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; options: {', '.join(SPACINGS)}")
    if steps == 1:
        return [timesteps - 1, -1]
    if spacing == "time":
        grid = torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long()
        return [*grid.tolist(), -1]
    if abar is None:
        raise ValueError(f"spacing {spacing!r} needs abar")
    a = torch.tensor([abar(t) for t in range(timesteps)], dtype=torch.float64)
    lam = 0.5 * torch.log(a / (1 - a))  # increasing as t decreases
    # the first step is always T-1; the grid spreads the rest from where the noise is no
    # longer total, logSNR -5 (DPM-Solver's end point for the cosine schedule), so that no
    # steps are spent in pure noise
    key = lam
    hi = float(torch.clamp(lam[-1], min=-5.0))
    targets = torch.linspace(hi, float(key[0]), steps, dtype=torch.float64)
    # the nearest step to each target, then forced distinct and descending from T-1 to 0
    idx = (key[None, :] - targets[:, None]).abs().argmin(dim=1).tolist()
    idx[0], idx[-1] = timesteps - 1, 0
    for i in range(steps - 2, 0, -1):  # keep room above 0 for the later ones
        idx[i] = max(idx[i], idx[i + 1] + 1)
    for i in range(1, steps):
        idx[i] = min(idx[i], idx[i - 1] - 1)
    return [*idx, -1]


def _start(diffusion: GaussianDiffusion, shape: tuple[int, ...], generator, cond):
    if len(shape) != 3:
        raise ValueError(f"shape must be (batch, channels, length), got {shape}")
    if shape[1] != diffusion.config.channels:
        raise ValueError(f"shape has {shape[1]} channels, model has {diffusion.config.channels}")
    cond = diffusion.check_cond(cond, shape[0])
    if "context" in cond and cond["context"].shape[2] != shape[2]:
        raise ValueError(f"context length {cond['context'].shape[2]} != window {shape[2]}")
    cond = {k: v.to(diffusion.device) for k, v in cond.items()}
    x = torch.randn(shape, device=diffusion.device, generator=generator)
    return x, cond, diffusion.n_calls


def _finish(diffusion: GaussianDiffusion, x: Tensor, cond: Cond, calls0: int) -> SampleOutput:
    if "context_mask" in cond:
        x = torch.where(cond["context_mask"][:, None, :], cond["context"].to(x.dtype), x)
    return SampleOutput(x, diffusion.n_calls - calls0)


def _tvec(t: int, batch: int, device) -> Tensor:
    return torch.full((batch,), t, device=device, dtype=torch.long)


# samplers -----------------------------------------------------------------------------


def ddpm_sample(
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int],
    *,
    steps: int | None = None,
    generator: torch.Generator | None = None,
    cond: Cond | None = None,
    guidance: float | None = None,
) -> SampleOutput:
    """Ancestral DDPM sampling over all T steps (``steps`` must be None or T).

    Notes
    -----
    ``x_{t-1} = mu(x0_hat, x_t) + exp(0.5 log var_t) z`` with ``z = 0`` at ``t = 0``.
    """
    T = diffusion.num_timesteps
    if steps is not None and steps != T:
        raise ValueError(f"ddpm runs all {T} steps; use ddim or dpm for fewer (got {steps})")
    x, cond, calls0 = _start(diffusion, shape, generator, cond)
    for t in range(T - 1, -1, -1):
        tt = _tvec(t, shape[0], x.device)
        _, x0 = diffusion.model_predictions(x, tt, cond, guidance=guidance)
        mean, log_var = diffusion.q_posterior(x0, x, tt)
        if t > 0:
            z = torch.randn(shape, device=x.device, generator=generator)
            x = mean + (0.5 * log_var).exp() * z
        else:
            x = mean
    return _finish(diffusion, x, cond, calls0)


def ddim_sample(
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int],
    *,
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "time",
    generator: torch.Generator | None = None,
    cond: Cond | None = None,
    guidance: float | None = None,
) -> SampleOutput:
    """DDIM (Song et al. 2021) over ``steps`` steps; ``eta=0`` deterministic, 1 ~ DDPM.

    ``spacing``: the step grid (see :func:`timestep_grid`).

    Notes
    -----
    ``x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - c^2) eps_hat + c z``,
    ``c = eta sqrt((1 - abar_s)/(1 - abar_t) (1 - abar_t/abar_s))``.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    grid = timestep_grid(diffusion.num_timesteps, steps, spacing=spacing, abar=diffusion.abar)
    x, cond, calls0 = _start(diffusion, shape, generator, cond)
    for t, s in zip(grid[:-1], grid[1:], strict=True):
        eps, x0 = diffusion.model_predictions(x, _tvec(t, shape[0], x.device), cond,
                                              guidance=guidance)
        if s < 0:
            x = x0
            break
        a_t, a_s = diffusion.abar(t), diffusion.abar(s)
        c = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
        x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - c * c, 0.0)) * eps
        if c > 0:
            x = x + c * torch.randn(shape, device=x.device, generator=generator)
    return _finish(diffusion, x, cond, calls0)


def dpm_solver_sample(
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int],
    *,
    steps: int = 20,
    eta: float = 0.0,
    spacing: str = "time",
    generator: torch.Generator | None = None,
    cond: Cond | None = None,
    guidance: float | None = None,
) -> SampleOutput:
    """DPM-Solver++(2M) (Lu et al. 2022), multistep second order in data prediction.

    ``spacing``: the step grid (see :func:`timestep_grid`).

    ``eta = 0``: the probability-flow ODE (deterministic given the prior noise). ``eta > 0``:
    the SDE variant (SDE-DPM-Solver++(2M), midpoint form as in k-diffusion), which injects
    fresh noise each step like the ancestral sampler (``eta = 1``: the reverse SDE).

    Notes
    -----
    With ``lambda = log(alpha/sigma)``, ``h_i = lambda_{i+1} - lambda_i``, ``r = h_{i-1}/h_i``:
    ``D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}`` and
    ``x_{i+1} = (sigma_{i+1}/sigma_i) e^{-eta h} x_i + alpha_{i+1} (1 - e^{-(1+eta) h}) D
    + sigma_{i+1} sqrt(1 - e^{-2 eta h}) z``.
    The first step and the step onto ``t = 0`` are first order (DDIM): the last logSNR
    jump is long, and extrapolating across it overshoots; the final step returns ``x0_hat``.
    """
    if not (isinstance(eta, int | float) and math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    grid = timestep_grid(diffusion.num_timesteps, steps, spacing=spacing, abar=diffusion.abar)
    x, cond, calls0 = _start(diffusion, shape, generator, cond)

    def coeffs(t: int) -> tuple[float, float, float]:
        a = diffusion.abar(t)
        alpha, sigma = math.sqrt(a), math.sqrt(1 - a)
        return alpha, sigma, math.log(alpha) - math.log(sigma)

    x0_prev, h_prev = None, None
    last_real = len(grid) - 3  # index of the step that lands on t = 0
    for i, (t, s) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        _, x0 = diffusion.model_predictions(x, _tvec(t, shape[0], x.device), cond,
                                            guidance=guidance)
        if s < 0:
            x = x0
            break
        alpha_t, sigma_t, lam_t = coeffs(t)
        alpha_s, sigma_s, lam_s = coeffs(s)
        h = lam_s - lam_t
        if x0_prev is None or i == last_real:
            d = x0
        else:
            r = h_prev / h
            d = (1 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
        x = ((sigma_s / sigma_t) * math.exp(-eta * h)) * x \
            - alpha_s * math.expm1(-(1 + eta) * h) * d
        if eta > 0:
            noise = torch.randn(shape, device=x.device, generator=generator)
            x = x + sigma_s * math.sqrt(-math.expm1(-2 * eta * h)) * noise
        x0_prev, h_prev = x0, h
    return _finish(diffusion, x, cond, calls0)


SAMPLERS: dict[str, Callable[..., SampleOutput]] = {
    "ddpm": ddpm_sample,
    "ddim": ddim_sample,
    "dpm": dpm_solver_sample,
    "dpm-sde": partial(dpm_solver_sample, eta=1.0),
    # DPM-Solver++(2M) on a logSNR-uniform grid: single windows as dispersed as the data
    # (docs/stocks.md), long sp500 paths a little less close to 2015-2018 (docs/generator.md)
    "dpm-logsnr": partial(dpm_solver_sample, spacing="logsnr"),
}


def sample(
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int],
    *,
    sampler: str = "dpm",
    steps: int | None = None,
    generator: torch.Generator | None = None,
    cond: Cond | None = None,
    guidance: float | None = None,
    **kwargs,
) -> SampleOutput:
    """Run a sampler by name in ``eval()`` mode under ``torch.inference_mode()``.

    ``steps=None`` uses the sampler's default (T for ddpm). Extra ``kwargs`` (``eta``) go to
    the sampler. The model's train/eval mode is restored afterwards.

    Raises
    ------
    ValueError
        Unknown sampler name (the message lists the options) or bad arguments.
    """
    try:
        fn = SAMPLERS[sampler]
    except KeyError:
        raise ValueError(f"unknown sampler {sampler!r}; options: "
                         f"{', '.join(sorted(SAMPLERS))}") from None
    if steps is not None:
        kwargs["steps"] = steps
    was_training = diffusion.training
    diffusion.eval()
    try:
        with torch.inference_mode():
            return fn(diffusion, shape, generator=generator, cond=cond, guidance=guidance,
                      **kwargs)
    finally:
        diffusion.train(was_training)
