"""Samplers tested against an analytic oracle, independently of training.

For data x0 ~ N(mu, sigma^2) (i.i.d. elements) the optimal denoiser is linear:
E[x0 | x_t] = mu + a sigma^2 / (a^2 sigma^2 + s^2) (x_t - a mu), a = sqrt(abar_t),
s = sqrt(1 - abar_t). The probability-flow ODE of this model maps the prior noise z to
mu + sigma z (up to abar_T ~ 2e-9), so deterministic samplers must converge to that map
pointwise, and the ancestral sampler must reproduce N(mu, sigma^2) in distribution.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion, prefix_mask
from diffbt.model.samplers import (
    ddim_sample,
    dpm_solver_sample,
    sample,
    timestep_grid,
)
from diffbt.model.schedules import alphas_cumprod, get_schedule

MU, SIGMA = 0.5, 0.7


class GaussianOracle(nn.Module):
    """Bayes-optimal denoiser for N(mu, sigma^2) data; mu may depend on the regime label."""

    def __init__(self, abar: torch.Tensor, target: str, mus=(MU,), null_mu=MU, sigma=SIGMA):
        super().__init__()
        self.register_buffer("abar", abar)
        self.register_buffer("mus", torch.tensor([*mus, null_mu], dtype=torch.float64))
        self.target, self.sigma = target, sigma

    def forward(self, x, t, cond=None):
        abar = self.abar[t].reshape(-1, 1, 1)
        a, s = abar.sqrt(), (1 - abar).sqrt()
        if cond and "regime" in cond:
            mu = self.mus[cond["regime"]].reshape(-1, 1, 1)
        else:
            mu = self.mus[-1]
        xd = x.double()
        x0 = mu + a * self.sigma**2 / (abar * self.sigma**2 + s**2) * (xd - a * mu)
        eps = (xd - a * x0) / s
        out = {"eps": eps, "x0": x0, "v": a * eps - s * x0}[self.target]
        return out.to(x.dtype)


def oracle_diffusion(target="v", schedule="cosine", T=1000, **kw) -> GaussianDiffusion:
    abar = alphas_cumprod(get_schedule(schedule)(T))  # independent of the wrapper's buffers
    cfg = DiffusionConfig(channels=2, window=8, timesteps=T, schedule=schedule, target=target,
                          context=False, n_regimes=len(kw.get("mus", ())))
    return GaussianDiffusion(cfg, model=GaussianOracle(abar, target, **kw))


def prior_noise(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ancestral DDPM -----------------------------------------------------------------------


@pytest.mark.parametrize("target, schedule", [("v", "cosine"), ("eps", "linear")])
def test_ddpm_with_oracle_reproduces_gaussian_moments(target, schedule):
    d = oracle_diffusion(target, schedule)
    shape = (2048, 2, 8)
    out = sample(d, shape, sampler="ddpm", generator=gen(0))
    assert out.n_calls == 1000
    x = out.x.double().flatten()
    n = x.numel()
    # i.i.d. elements: standard errors sigma/sqrt(n) for the mean and sigma/sqrt(2n) for the
    # std; 5 standard errors bounds a false alarm at ~1e-6
    assert abs(x.mean().item() - MU) < 5 * SIGMA / math.sqrt(n)
    assert abs(x.std().item() - SIGMA) < 5 * SIGMA / math.sqrt(2 * n)


# deterministic samplers ---------------------------------------------------------------


def test_ddim_with_oracle_converges_first_order_to_flow_map():
    d = oracle_diffusion()
    shape = (512, 2, 8)
    ref = MU + SIGMA * prior_noise(shape, 1)
    err = {}
    for steps in (100, 200):
        x = sample(d, shape, sampler="ddim", steps=steps, generator=gen(1)).x
        err[steps] = (x - ref).abs().max().item()
    # measured 0.040 / 0.020: first-order, halving the step halves the error
    assert err[200] < 0.03
    assert 1.6 < err[100] / err[200] < 2.4


@pytest.mark.parametrize("schedule, steps, tol", [("cosine", 20, 0.01), ("linear", 50, 0.03)])
def test_dpm_solver_with_oracle_matches_flow_map(schedule, steps, tol):
    # measured max errors: cosine/20 steps 0.002, linear/50 steps 0.015
    d = oracle_diffusion("v", schedule)
    shape = (512, 2, 8)
    ref = MU + SIGMA * prior_noise(shape, 2)
    out = sample(d, shape, sampler="dpm", steps=steps, generator=gen(2))
    assert out.n_calls == steps
    err_dpm = (out.x - ref).abs().max().item()
    err_ddim = (sample(d, shape, sampler="ddim", steps=steps, generator=gen(2)).x - ref
                ).abs().max().item()
    assert err_dpm < tol
    assert err_dpm < err_ddim / 3  # second order beats first order at equal cost


def test_ddim_eta_adds_noise_deterministically():
    d = oracle_diffusion()
    a = sample(d, (64, 2, 8), sampler="ddim", steps=10, eta=1.0, generator=gen(3)).x
    b = sample(d, (64, 2, 8), sampler="ddim", steps=10, eta=1.0, generator=gen(3)).x
    c = sample(d, (64, 2, 8), sampler="ddim", steps=10, eta=0.0, generator=gen(3)).x
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_timestep_grid_and_step_validation():
    assert timestep_grid(1000, 1) == [999, -1]
    grid = timestep_grid(1000, 5)
    assert grid == [999, 749, 500, 250, 0, -1]
    with pytest.raises(ValueError, match="steps"):
        timestep_grid(1000, 0)
    with pytest.raises(ValueError, match="steps"):
        timestep_grid(10, 11)


def test_timestep_grid_logsnr_spacing_follows_its_closed_form():
    spacing = "logsnr"
    d = oracle_diffusion()
    grid = timestep_grid(1000, 20, spacing=spacing, abar=d.abar)
    assert grid[0] == 999 and grid[-2:] == [0, -1] and len(grid) == 21
    assert all(a > b for a, b in zip(grid[:-1], grid[1:], strict=False))
    lam = np.array([0.5 * math.log(d.abar(t) / (1 - d.abar(t))) for t in grid[1:-1]])
    key = lam
    # interior points equally spaced in their key, up to rounding to integer steps (the
    # last one lands on step 0; the one before it is where rounding bites most)
    gaps = np.diff(key[:-1])[:-1]
    assert np.ptp(gaps) < 0.25 * np.abs(gaps).mean()
    with pytest.raises(ValueError, match="spacing"):
        timestep_grid(1000, 20, spacing="cubic", abar=d.abar)
    with pytest.raises(ValueError, match="abar"):
        timestep_grid(1000, 20, spacing=spacing)


def test_dpm_solver_on_the_logsnr_grid_converges_to_flow_map():
    # measured max errors at 20 / 50 / 100 steps: 0.040 / 0.0065 / 0.0015 (the time grid:
    # 0.0015 at 20): on this broad Gaussian the high-noise end dominates, which this grid
    # visits less
    spacing = "logsnr"
    d = oracle_diffusion("v", "cosine")
    shape = (512, 2, 8)
    ref = MU + SIGMA * prior_noise(shape, 2)
    err = {n: (sample(d, shape, sampler="dpm", steps=n, generator=gen(2), spacing=spacing).x
               - ref).abs().max().item() for n in (20, 100)}
    assert err[100] < 0.005
    assert err[100] < err[20] / 8  # second order: 5x the steps, ~25x less error


# real (tiny) network: determinism, guidance, context ----------------------------------


def tiny_net_diffusion(**kw) -> GaussianDiffusion:
    base = dict(channels=2, window=8, hidden=8, n_blocks=2, timesteps=50, n_regimes=2,
                jumps=True)
    base.update(kw)
    d = GaussianDiffusion(DiffusionConfig(**base))
    g = gen(123)
    with torch.no_grad():
        for p in d.model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return d


@pytest.mark.parametrize("name, steps", [("ddpm", None), ("ddim", 5), ("dpm", 5)])
def test_samplers_same_seed_same_output(name, steps):
    d = tiny_net_diffusion()
    cond = {"regime": torch.tensor([0, 1, 2]), "jumps": torch.tensor([0.0, 2.0, math.nan])}
    kw = dict(sampler=name, steps=steps, cond=cond, guidance=1.5)
    a = sample(d, (3, 2, 8), generator=gen(7), **kw).x
    b = sample(d, (3, 2, 8), generator=gen(7), **kw).x
    c = sample(d, (3, 2, 8), generator=gen(8), **kw).x
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.isfinite(a).all()


def test_guidance_one_is_conditional_and_zero_is_unconditional():
    d = oracle_diffusion(mus=(-1.0, 1.0), null_mu=0.0)
    shape = (4, 2, 8)
    cond = {"regime": torch.tensor([0, 1, 0, 1])}
    null = {"regime": torch.full((4,), 2)}
    for fn in (ddim_sample, dpm_solver_sample):
        g1 = fn(d, shape, steps=10, generator=gen(4), cond=cond, guidance=1.0)
        c = fn(d, shape, steps=10, generator=gen(4), cond=cond)
        g0 = fn(d, shape, steps=10, generator=gen(4), cond=cond, guidance=0.0)
        u = fn(d, shape, steps=10, generator=gen(4), cond=null)
        assert torch.equal(g1.x, c.x) and torch.equal(g0.x, u.x)
        assert g1.n_calls == g0.n_calls == 10
        # labels matter: conditional means differ by regime
        assert g1.x[0].mean() < 0 < g1.x[1].mean()


def test_guidance_scale_extrapolates_between_branches():
    d = oracle_diffusion(target="v", mus=(-1.0, 1.0), null_mu=0.0)
    x_t, t = torch.randn(4, 2, 8, generator=gen(5)), torch.tensor([100, 400, 700, 900])
    cond = {"regime": torch.tensor([0, 1, 0, 1])}
    out_c = d.model(x_t, t, cond)
    out_u = d.model(x_t, t, {"regime": torch.full((4,), 2)})
    guided = out_u + 3.0 * (out_c - out_u)
    _, x0 = d.model_predictions(x_t, t, cond, guidance=3.0)
    torch.testing.assert_close(x0, d.predict_start_from_v(x_t, t, guided))
    res = ddim_sample(d, (4, 2, 8), steps=6, generator=gen(5), cond=cond, guidance=3.0)
    assert res.n_calls == 12  # two branches per step


@pytest.mark.parametrize("name, steps", [("ddpm", None), ("ddim", 5), ("dpm", 5)])
def test_context_prefix_is_kept_exactly(name, steps):
    d = tiny_net_diffusion()
    ctx = torch.randn(3, 2, 8, generator=gen(9)) * 3
    mask = prefix_mask(3, 8, torch.tensor([0, 3, 8]))
    cond = {"context": ctx, "context_mask": mask, "regime": torch.tensor([0, 1, 1])}
    x = sample(d, (3, 2, 8), sampler=name, steps=steps, generator=gen(9), cond=cond,
               guidance=2.0).x
    m = mask[:, None, :].expand_as(x)
    assert torch.equal(x[m], ctx[m])
    assert not torch.allclose(x[~m], ctx[~m])


def test_sample_restores_mode_and_rejects_bad_arguments():
    d = tiny_net_diffusion().train()
    sample(d, (2, 2, 8), sampler="ddim", steps=2, generator=gen(0))
    assert d.training
    with pytest.raises(ValueError, match="ddim, dpm, ddpm|ddim, ddpm, dpm"):
        sample(d, (2, 2, 8), sampler="euler")
    with pytest.raises(ValueError, match="all 50 steps"):
        sample(d, (2, 2, 8), sampler="ddpm", steps=10)
    with pytest.raises(ValueError, match="channels"):
        sample(d, (2, 3, 8), sampler="ddim", steps=2)
    with pytest.raises(ValueError, match="regime"):
        sample(d, (2, 2, 8), sampler="ddim", steps=2, cond={"regime": torch.tensor([0, 5])})


def test_dpm_solver_sde_with_oracle_reproduces_gaussian_moments():
    """eta = 1 (SDE-DPM-Solver++): fresh noise every step, yet the right distribution at 50
    calls; eta = 0 stays the deterministic flow map."""
    d = oracle_diffusion()
    shape = (2048, 2, 8)
    out = sample(d, shape, sampler="dpm", steps=50, eta=1.0, generator=gen(4))
    assert out.n_calls == 50
    x = out.x.double().flatten()
    n = x.numel()
    assert abs(x.mean().item() - MU) < 5 * SIGMA / math.sqrt(n)
    assert abs(x.std().item() - SIGMA) < 5 * SIGMA / math.sqrt(2 * n) + 0.01
    flow = MU + SIGMA * prior_noise(shape, 4)
    assert (out.x - flow).abs().max().item() > 0.5  # not the ODE map: noise was injected
    ode = sample(d, shape, sampler="dpm", steps=50, eta=0.0, generator=gen(4)).x
    assert (ode - flow).abs().max().item() < 0.01
    with pytest.raises(ValueError, match="eta"):
        sample(d, shape, sampler="dpm", steps=5, eta=-1.0, generator=gen(4))
