import math

import numpy as np
import pytest
import torch

from diffbt.model.schedules import (
    SCHEDULES,
    alphas_cumprod,
    cosine_beta_schedule,
    get_schedule,
    linear_beta_schedule,
)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", [10, 1000])
def test_schedule_alphas_cumprod_monotone_in_open_unit_interval(name, T):
    betas = get_schedule(name)(T)
    assert betas.dtype == torch.float64 and betas.shape == (T,)
    assert (betas > 0).all() and (betas < 1).all()
    abar = alphas_cumprod(betas)
    assert (abar > 0).all() and (abar < 1).all()
    assert (abar[1:] < abar[:-1]).all()


def test_linear_schedule_endpoints_match_ho_et_al():
    betas = linear_beta_schedule(1000)
    assert betas[0].item() == pytest.approx(1e-4)
    assert betas[-1].item() == pytest.approx(0.02)
    # rescaled for other T: same endpoints times 1000/T
    assert linear_beta_schedule(100)[-1].item() == pytest.approx(0.2)


def test_cosine_schedule_matches_closed_form_alpha_bar():
    T, s = 1000, 0.008
    abar = alphas_cumprod(cosine_beta_schedule(T)).numpy()
    t = np.arange(1, T + 1) / T
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / np.cos(s / (1 + s) * math.pi / 2) ** 2
    # identical away from the clipped last steps (beta <= 0.999)
    np.testing.assert_allclose(abar[:-5], f[:-5], rtol=1e-10, atol=1e-12)


def test_get_schedule_unknown_name_lists_options():
    with pytest.raises(ValueError, match="cosine, linear"):
        get_schedule("sigmoid")


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_schedule_rejects_bad_timesteps(bad):
    with pytest.raises(ValueError, match="timesteps"):
        cosine_beta_schedule(bad)
