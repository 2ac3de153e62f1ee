from __future__ import annotations

import numpy as np
import pytest

from diffbt.bench import quality as Q
from diffbt.data import datasets
from diffbt.generate.generator import MarketGenerator

TINY = dict(window=16, hidden=16, n_blocks=2, attention=False, steps=8, batch_size=32,
            timesteps=100)


@pytest.fixture(scope="module")
def gen():
    market = datasets.load().loc("2006-01-01", "2008-12-31")
    return MarketGenerator(**TINY).fit(market, train_end="2008-06-30", seed=0)


def test_sampled_returns_keep_the_first_bars_return(gen):
    """Checks label sampled windows on all `window` returns, as the real windows are."""
    r = Q._sampled_returns(gen, 3, seed=5, sampler_steps=2)
    ps = gen.sample(3, gen.config.window, seed=5, sampler_steps=2, start_price=1.0)
    assert r.shape == (3, gen.config.window, 2)
    np.testing.assert_allclose(r[:, 1:], ps.log_returns())
    np.testing.assert_allclose(r[:, 0], np.log(ps.field("close")[:, 0]))
