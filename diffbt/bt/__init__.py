"""backtrader layer: feeds, the forecast-interval indicator and the path runner.

The only diffbt layer that imports backtrader (the runner imports it lazily in workers too).
"""

from __future__ import annotations

from diffbt.bt import _compat  # noqa: F401  (backtrader fixes for Python >= 3.10)
from diffbt.bt.feeds import (
    ArrayData,
    ForecastData,
    bar_timeframe,
    market_feeds,
    path_feeds,
    values_feeds,
)
from diffbt.bt.forecast import (
    EmpiricalQuantileForecaster,
    ForecastInterval,
    check_no_lookahead,
    forecast_interval,
    forecast_lines,
)
from diffbt.bt.runner import BacktestResult, PathError, backtest_paths, periods_per_year

__all__ = [
    "ArrayData",
    "BacktestResult",
    "EmpiricalQuantileForecaster",
    "ForecastData",
    "ForecastInterval",
    "PathError",
    "backtest_paths",
    "bar_timeframe",
    "check_no_lookahead",
    "forecast_interval",
    "forecast_lines",
    "market_feeds",
    "path_feeds",
    "periods_per_year",
    "values_feeds",
]
