"""The parts of ``diffbt bench`` that ship with the package: the sampler curve and the
``python -m diffbt.bench`` dispatcher."""

from __future__ import annotations

import numpy as np
import pytest

from diffbt.bench.__main__ import main as bench_main
from diffbt.bench.suite import sampler_curve
from diffbt.data import datasets
from diffbt.generate.generator import MarketGenerator
from diffbt.metrics.facts import FACTS, stylized_facts
from tests.helpers import tiny

TINY = tiny(hidden=16, steps=5, batch_size=32)


@pytest.fixture(scope="module")
def fitted():
    market = datasets.load().loc("2006-01-01", "2008-12-31")
    train, test = market.split("2008-06-30")
    return MarketGenerator(**TINY).fit(train, seed=0), test


def test_sampler_curve_rows_match_stylized_facts_of_the_same_draws(fitted):
    gen, test = fitted
    table = sampler_curve(gen, test, n_paths=3, steps=(2, 4), full=True, seed=1)
    assert list(table.index) == ["dpm-2", "dpm-4", "ddpm-20"]
    assert list(table["calls_per_window"]) == [2, 4, 20]
    assert (table["seconds"] > 0).all()
    real = test.iloc(slice(0, 4 * gen.config.window))
    dist = {}
    for label, sampler, steps in (("dpm-2", "dpm", 2), ("dpm-4", "dpm", 4),
                                  ("ddpm-20", "ddpm", None)):
        ps = gen.sample(3, len(real), seed=1, sampler=sampler, sampler_steps=steps)
        dist[label] = stylized_facts(real, ps).distances
        for fact in FACTS:
            assert table.loc[label, fact] == pytest.approx(dist[label][fact], rel=1e-12)
    # mean relative distance: each fact divided by its worst setting, averaged over facts
    for label in table.index:
        rel = [dist[label][f] / max(dist[k][f] for k in dist) for f in FACTS]
        assert table.loc[label, "mean_rel_distance"] == pytest.approx(np.mean(rel), rel=1e-12)


@pytest.mark.parametrize("name", ["stocks", "quality", "facts", "gpu"])
def test_research_benchmarks_point_to_the_checkout(name, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_main([name])
    assert exc.value.code == 2
    assert f"python -m benchmarks.{name}" in capsys.readouterr().err


def test_unknown_benchmark_prints_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        bench_main(["nope"])
    assert exc.value.code == 2
    assert "usage: python -m diffbt.bench {metrics,runner,model,headline,forecast,suite}" in \
        capsys.readouterr().err
