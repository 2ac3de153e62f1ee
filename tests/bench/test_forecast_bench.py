"""`python -m diffbt.bench forecast`: several ForecastIntervals, one sampling, timed."""

from __future__ import annotations

from diffbt.bench.__main__ import main as bench_main
from diffbt.data import datasets
from diffbt.generate.generator import MarketGenerator
from tests.helpers import tiny


def test_forecast_bench_runs_the_indicators_and_prints_both_timings(tmp_path, capsys):
    market = datasets.load()
    gen = MarketGenerator(**tiny()).fit(market.iloc(slice(0, 400)), seed=0)
    model = gen.save(tmp_path / "m.diffbt")
    bench_main(["forecast", "--model", str(model), "--bars", "60", "--horizons", "1", "3",
                "--n-samples", "4"])
    out = capsys.readouterr().out
    assert "| setup | 60 bars x 2 assets, horizons [1, 3], 4 samples per bar" in out
    assert "| backtest with 2 ForecastIntervals (one sampling) |" in out
    assert "the 2 horizons sampled one by one (forecast_series) |" in out
