from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import quality as Q
from diffbt.data import datasets
from diffbt.data.market import Market
from diffbt.generate.generator import MarketGenerator
from tests.helpers import tiny

TINY = tiny(hidden=16, n_blocks=2, steps=8, batch_size=32, timesteps=100)


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


def test_acf_reference_against_pandas_and_an_exact_piece():
    market = datasets.load().loc("2006-01-01", "2009-12-31")
    train, test = market.split("2008-12-31")
    out = Q.acf_reference(train, test, lags=5)
    r = np.diff(np.log(test.values[:, :, 3]), axis=0)
    zero = np.mean([abs(pd.Series(r[:, a]).autocorr(k)) for a in range(2) for k in range(1, 6)])
    assert out["zero"] == pytest.approx(zero, rel=1e-9)
    # a test span that is itself the first piece of the training history scores 0 there
    first = Market(train.values[:len(test)], train.index[:len(test)], train.assets)
    assert Q.acf_reference(train, first, lags=5)["training_pieces"][0] == pytest.approx(0.0)


def test_long_path_check_blocks_and_training_reference(gen):
    market = datasets.load().loc("2006-01-01", "2008-06-30")
    out = Q.long_path_check(gen, market, n_paths=3, length=60, blocks=(0, 20, 40),
                            sampler_steps=2)
    assert [b["bars"] for b in out["blocks"]] == [[1, 20], [21, 40], [41, 60]]
    r = np.diff(np.log(market.values[:, :, 3]), axis=0)
    np.testing.assert_allclose(out["training"]["drift_per_year"],
                               r.mean(axis=0) * market.periods_per_year)
    for b in out["blocks"]:
        assert len(b["drift_per_year"]) == 2 and all(v > 0 for v in b["median_vol"])


def test_long_path_check_draws_with_the_sampler_asked_for(gen):
    market = datasets.load().loc("2006-01-01", "2008-06-30")
    kw = dict(n_paths=3, length=40, blocks=(0, 20), sampler_steps=3)
    grid = Q.long_path_check(gen, market, sampler="dpm", **kw)["blocks"]
    logsnr = Q.long_path_check(gen, market, sampler="dpm-logsnr", **kw)["blocks"]
    again = Q.long_path_check(gen, market, sampler="dpm", **kw)["blocks"]
    assert grid == again and grid != logsnr


def test_calibrate_paths_refits_a_models_long_path_calibrations(tmp_path):
    """``--model FILE --calibrate-paths`` fits the residual scale and drift of a GARCH model
    saved without them on the training span, and records them."""
    import json

    market = datasets.load("sp500_nasdaq").loc("2012-01-01", "2014-12-31")
    g = MarketGenerator(**tiny(vol_filter="garch")).fit(market, seed=0)
    assert g.state.scale is None
    path = g.save(tmp_path / "m.diffbt")
    Q.main(["--model", str(path), "--calibrate-paths", "--checks", "none",
            "--out", str(tmp_path / "q")])
    cal = json.loads((tmp_path / "q" / "quality.json").read_text())["path_calibrations"]
    assert len(cal["scale"]) == 2 and all(0.5 <= s <= 2.0 for s in cal["scale"])
    assert len(cal["drift"]) == 2 and cal["gain"] == [1.0, 1.0]
    assert len(cal["training_news_ratio"]) == 2 and min(cal["training_news_ratio"]) > 0
