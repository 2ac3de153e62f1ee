"""Momentum rotation across all feeds: hold the top assets by trailing return."""

from __future__ import annotations

import backtrader as bt


class MomentumRotation(bt.Strategy):
    """Every ``rebalance`` bars, hold the ``top`` assets with the best ``lookback``-bar return.

    Only assets whose trailing return is positive are held (else cash); holdings are equally
    weighted at ``weight / top`` each. Uses every feed in ``self.datas``.
    """

    params = (("lookback", 60), ("rebalance", 20), ("top", 1), ("weight", 0.95))

    def __init__(self) -> None:
        self.mom = {d: bt.indicators.RateOfChange(d.close, period=self.p.lookback)
                    for d in self.datas}
        self.bar = 0

    def next(self) -> None:
        self.bar += 1
        if (self.bar - 1) % self.p.rebalance:
            return
        ranked = sorted(self.datas, key=lambda d: self.mom[d][0], reverse=True)
        keep = [d for d in ranked[: self.p.top] if self.mom[d][0] > 0]
        for d in self.datas:  # sell first, so the buys have the cash
            if d not in keep and self.getposition(d).size:
                self.order_target_percent(d, target=0.0)
        for d in keep:
            self.order_target_percent(d, target=self.p.weight / self.p.top)
