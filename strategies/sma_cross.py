"""Moving-average crossover on every feed: long when the fast SMA is above the slow one."""

from __future__ import annotations

import backtrader as bt


class SmaCross(bt.Strategy):
    """Per-asset SMA crossover, each asset getting ``weight / len(datas)`` of the portfolio.

    Buys an asset when its ``fast``-bar SMA crosses above the ``slow``-bar SMA, sells it when
    it crosses below. Works with one feed or many.
    """

    params = (("fast", 10), ("slow", 30), ("weight", 0.95))

    def __init__(self) -> None:
        self.cross = {}
        for d in self.datas:
            fast = bt.indicators.SMA(d.close, period=self.p.fast)
            slow = bt.indicators.SMA(d.close, period=self.p.slow)
            self.cross[d] = bt.indicators.CrossOver(fast, slow)

    def next(self) -> None:
        target = self.p.weight / len(self.datas)
        for d in self.datas:
            if self.cross[d][0] > 0:
                self.order_target_percent(d, target=target)
            elif self.cross[d][0] < 0 and self.getposition(d).size:
                self.order_target_percent(d, target=0.0)
