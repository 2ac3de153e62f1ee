"""Plain backtrader strategies to copy: each runs unchanged on real data and synthetic paths.

- `SmaCross`: per-asset fast/slow moving-average crossover.
- `MomentumRotation`: hold the assets with the best trailing return, rebalanced periodically.
- `ForecastBand`: trade on `diffbt.bt.ForecastInterval` (buy when the lower band is above
  the price, size by the interval width).
"""

from strategies.forecast_band import ForecastBand
from strategies.momentum import MomentumRotation
from strategies.sma_cross import SmaCross

__all__ = ["ForecastBand", "MomentumRotation", "SmaCross"]
