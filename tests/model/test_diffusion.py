import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn

from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion, prefix_mask
from diffbt.model.schedules import get_schedule


def _diff(**kw) -> GaussianDiffusion:
    base = dict(channels=2, window=8, hidden=8, n_blocks=1, timesteps=100)
    base.update(kw)
    return GaussianDiffusion(DiffusionConfig(**base))


# config -------------------------------------------------------------------------------


def test_config_defaults_are_v_prediction_cosine_and_json_roundtrip():
    cfg = DiffusionConfig()
    assert (cfg.target, cfg.schedule, cfg.timesteps) == ("v", "cosine", 1000)
    again = DiffusionConfig.from_dict(json.loads(json.dumps(asdict(cfg))))
    assert again == cfg


@pytest.mark.parametrize("kw, match", [
    ({"schedule": "sigmoid"}, "options"),
    ({"target": "score"}, "eps, x0, v"),
    ({"channels": 0}, "channels"),
    ({"timesteps": 1}, "timesteps"),
    ({"hidden": 2.5}, "hidden"),
    ({"dropout": 1.0}, "dropout"),
    ({"n_regimes": -1}, "n_regimes"),
    ({"jumps": 1}, "jumps"),
    ({"window": 10, "stride": 4}, "divisible"),
    ({"stride": 0}, "stride"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        DiffusionConfig(**kw)


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown"):
        DiffusionConfig.from_dict({"channels": 2, "bogus": 1})


# forward process ----------------------------------------------------------------------


def test_q_sample_matches_closed_form_float64():
    d = _diff(schedule="linear")
    betas = get_schedule("linear")(100).numpy()
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 2, 8, generator=g), torch.randn(4, 2, 8, generator=g)
    t = torch.tensor([0, 10, 50, 99])
    got = d.q_sample(x0, t, noise).numpy()
    abar = np.cumprod(1 - betas)[t.numpy()][:, None, None]
    want = np.sqrt(abar) * x0.numpy() + np.sqrt(1 - abar) * noise.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_q_sample_equals_t_single_noising_steps_in_distribution():
    # x_t = sqrt(1-b_t) x_{t-1} + sqrt(b_t) z, iterated, has the closed-form marginal
    d = _diff(schedule="cosine")
    g = torch.Generator().manual_seed(1)
    n, t = 200_000, 40
    x = torch.full((n,), 0.8, dtype=torch.float64)
    for s in range(t + 1):
        b = d.betas[s].double()
        x = (1 - b).sqrt() * x + b.sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    abar = d.alphas_cumprod[t].double()
    se_mean = 1 / np.sqrt(n)
    assert abs(x.mean() - abar.sqrt() * 0.8) < 5 * se_mean
    assert abs(x.var() - (1 - abar)) < 5 * np.sqrt(2 / n)


# targets ------------------------------------------------------------------------------


def test_target_conversions_reconstruct_exactly():
    d = _diff(timesteps=1000).double()
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(6, 2, 8, generator=g, dtype=torch.float64)
    eps = torch.randn(6, 2, 8, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 100, 500, 900, 990])
    x_t = d.q_sample(x0, t, eps)
    v = d.predict_v(x0, t, eps)
    torch.testing.assert_close(d.predict_start_from_v(x_t, t, v), x0)
    torch.testing.assert_close(d.predict_start_from_noise(x_t, t, eps), x0)
    torch.testing.assert_close(d.predict_noise_from_start(x_t, t, x0), eps)


class _KnowsTheAnswer(nn.Module):
    """Perfect oracle: returns the training target for the x0/eps it was told."""

    def __init__(self, x0, eps, target, diffusion_buffers):
        super().__init__()
        self.x0, self.eps, self.target = x0, eps, target
        self.sa, self.so = diffusion_buffers

    def forward(self, x, t, cond=None):
        if self.target == "eps":
            return self.eps
        if self.target == "x0":
            return self.x0
        a, s = self.sa[t][:, None, None], self.so[t][:, None, None]
        return a * self.eps - s * self.x0


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
def test_model_predictions_with_perfect_oracle_recover_x0_and_eps(target):
    d = _diff(timesteps=1000, target=target).double()
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(5, 2, 8, generator=g, dtype=torch.float64)
    eps = torch.randn(5, 2, 8, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 300, 700, 950])
    d.model = _KnowsTheAnswer(x0, eps, target,
                              (d.sqrt_alphas_cumprod, d.sqrt_one_minus_alphas_cumprod))
    eps_hat, x0_hat = d.model_predictions(d.q_sample(x0, t, eps), t)
    torch.testing.assert_close(x0_hat, x0)
    torch.testing.assert_close(eps_hat, eps)
    # the training loss of a perfect oracle is zero
    assert d.p_losses(x0, t, eps).item() == pytest.approx(0.0, abs=1e-20)


def test_model_predictions_keep_context_exactly():
    d = _diff(timesteps=1000)
    x_t, t = torch.randn(3, 2, 8), torch.tensor([5, 500, 900])
    ctx = torch.randn(3, 2, 8)
    mask = prefix_mask(3, 8, torch.tensor([0, 3, 8]))
    eps, x0 = d.model_predictions(x_t, t, {"context": ctx, "context_mask": mask})
    m = mask[:, None, :].expand_as(x0)
    assert torch.equal(x0[m], ctx[m])
    torch.testing.assert_close(d.predict_start_from_noise(x_t, t, eps)[m], ctx[m],
                               rtol=1e-3, atol=1e-3)


def test_p_losses_ignore_known_positions():
    d = _diff()
    x0, eps, t = torch.randn(2, 2, 8), torch.randn(2, 2, 8), torch.tensor([10, 20])
    mask = prefix_mask(2, 8, 4)
    base = d.p_losses(x0, t, eps, {"context": x0, "context_mask": mask})
    x0b = x0.clone()
    x0b[:, :, :4] += 100.0  # change the known part's *targets* only
    ctx = x0.clone()
    # same network input (context identical), different targets on known steps only
    d.model = _Const(d.model(d.q_sample(x0, t, eps), t, {"context": ctx, "context_mask": mask}))
    a = d.p_losses(x0, t, eps, {"context": ctx, "context_mask": mask})
    torch.testing.assert_close(a, base)


class _Const(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out.detach()

    def forward(self, x, t, cond=None):
        return self.out


def test_prefix_mask_lengths():
    m = prefix_mask(3, 5, torch.tensor([0, 2, 5]))
    assert m.tolist() == [[False] * 5, [True, True, False, False, False], [True] * 5]


@pytest.mark.parametrize("cond, match", [
    ({"regime": torch.tensor([0, 3])}, "regime ids"),
    ({"regime": torch.tensor([0])}, "shape"),
    ({"jumps": torch.tensor([1.0, 2.0])}, "jumps=False"),
    ({"context": torch.zeros(2, 2, 8)}, "together"),
    ({"colour": torch.zeros(2)}, "unknown"),
])
def test_check_cond_rejects_bad_conditioning(cond, match):
    d = _diff(n_regimes=2)
    with pytest.raises(ValueError, match=match):
        d.check_cond(cond, 2)
