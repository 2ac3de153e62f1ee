"""Per-path return metrics (numba) and robustness statistics over synthetic paths.

>>> table = compute(returns)                 # (n_paths, n_metrics), QuantStats' names
>>> rep = robustness(result)                 # rep.table, rep.summary, rep.verdict
"""

from diffbt.metrics.returns import METRIC_NAMES, compute, drawdown, equity
from diffbt.metrics.robustness import (
    RobustnessReport,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    robustness,
)

__all__ = [
    "METRIC_NAMES",
    "RobustnessReport",
    "compute",
    "deflated_sharpe_ratio",
    "drawdown",
    "equity",
    "expected_max_sharpe",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "robustness",
]
