"""Trade on a forecast interval: long while the forecast's lower band is above the price."""

from __future__ import annotations

import math

import backtrader as bt

from diffbt.bt import ForecastInterval


class ForecastBand(bt.Strategy):
    """Enter when the ``lo`` quantile of close[t + horizon] is above close[t]; size by width.

    The weight of an asset is ``min(max_weight, width_target / width)`` split over the feeds,
    with ``width = (hi - lo) / close``: a narrow (confident) interval gets more capital.
    Exit when the median forecast drops below the price.

    Params
    ------
    model : object with ``forecast_series`` (e.g. a fitted ``diffbt.MarketGenerator``)
    horizon, quantiles, n_samples, seed : passed to `ForecastInterval`
    """

    params = (("model", None), ("horizon", 5), ("quantiles", (0.05, 0.5, 0.95)),
              ("n_samples", 100), ("seed", 0), ("width_target", 0.05), ("max_weight", 0.95))

    def __init__(self) -> None:
        self.fc = {d: ForecastInterval(d, model=self.p.model, horizon=self.p.horizon,
                                       quantiles=self.p.quantiles, n_samples=self.p.n_samples,
                                       seed=self.p.seed)
                   for d in self.datas}

    def next(self) -> None:
        for d in self.datas:
            fc, price = self.fc[d], d.close[0]
            lo, mid, hi = fc.lo[0], fc.mid[0], fc.hi[0]
            if math.isnan(lo) or math.isnan(hi) or price <= 0:
                continue
            held = self.getposition(d).size
            if not held and lo > price:
                width = max((hi - lo) / price, 1e-9)
                weight = min(self.p.max_weight, self.p.width_target / width)
                self.order_target_percent(d, target=weight / len(self.datas))
            elif held and mid < price:
                self.order_target_percent(d, target=0.0)
