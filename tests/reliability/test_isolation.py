"""A strategy that runs out of memory on one path: the others finish, the failure is named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffbt.bt import backtest_paths
from diffbt.generate.pathset import PathSet
from strategies import SmaCross


class HogsMemoryOnPath2(SmaCross):
    def next(self) -> None:
        if self.data.p.regime == "p2" and len(self) == 40:
            self.hog = np.ones(2**50, dtype=np.uint8)  # a petabyte: MemoryError at once
        super().next()


def test_out_of_memory_on_one_path_fails_only_that_path():
    rng = np.random.default_rng(0)
    n, length = 5, 120
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, length, 1)), axis=1))
    v = np.stack([close, close * 1.01, close * 0.99, close, np.full(close.shape, 1e5)], -1)
    ps = PathSet(v, pd.bdate_range("2020-01-01", periods=length), ["x"],
                 regimes=[f"p{i}" for i in range(n)])
    res = backtest_paths(HogsMemoryOnPath2, ps, params={"fast": 3, "slow": 10}, workers=2,
                         chunk_size=1, progress=False)
    assert [e.index for e in res.errors] == [2]
    assert "MemoryError" in res.errors[0].message + res.errors[0].traceback
    ok = np.delete(res.returns, 2, axis=0)
    assert np.isfinite(ok).all() and np.isnan(res.returns[2]).all()
