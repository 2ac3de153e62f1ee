"""Noise schedules: pure functions ``timesteps -> betas`` (float64) and a name table."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "SCHEDULES",
    "alphas_cumprod",
    "cosine_beta_schedule",
    "get_schedule",
    "linear_beta_schedule",
]


def linear_beta_schedule(timesteps: int) -> Tensor:
    """Linear betas of Ho et al. (2020), rescaled so any ``timesteps`` matches T=1000.

    Parameters
    ----------
    timesteps : int
        Number of diffusion steps T.

    Returns
    -------
    Tensor
        ``(timesteps,)`` float64 betas in (0, 0.999].

    Notes
    -----
    ``beta_t = min(linspace(1e-4 * 1000 / T, 0.02 * 1000 / T), 0.999)`` (the clip only acts
    for T < 21).
    """
    _check_timesteps(timesteps)
    scale = 1000.0 / timesteps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    return betas.clamp(max=0.999)


def cosine_beta_schedule(timesteps: int, *, s: float = 0.008) -> Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021).

    Parameters
    ----------
    timesteps : int
        Number of diffusion steps T.
    s : float
        Small offset that keeps beta_0 away from zero.

    Returns
    -------
    Tensor
        ``(timesteps,)`` float64 betas in (0, 0.999].

    Notes
    -----
    ``abar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) / abar(0)``,
    ``beta_t = min(1 - abar(t+1)/abar(t), 0.999)``.
    """
    _check_timesteps(timesteps)
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = f / f[0]
    betas = 1 - abar[1:] / abar[:-1]
    return betas.clamp(0.0, 0.999)


SCHEDULES: dict[str, Callable[[int], Tensor]] = {
    "linear": linear_beta_schedule,
    "cosine": cosine_beta_schedule,
}


def get_schedule(name: str) -> Callable[[int], Tensor]:
    """Look a schedule up by name.

    Raises
    ------
    ValueError
        Unknown name; the message lists the options.
    """
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        options = ", ".join(sorted(SCHEDULES))
        raise ValueError(f"unknown noise schedule {name!r}; options: {options}") from None


def alphas_cumprod(betas: Tensor) -> Tensor:
    """``abar_t = prod_{s<=t} (1 - beta_s)`` in float64, shape ``(T,)``."""
    return torch.cumprod(1.0 - betas.to(torch.float64), dim=0)


def _check_timesteps(timesteps: int) -> None:
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 2:
        raise ValueError(f"timesteps must be an int >= 2, got {timesteps!r}")
