"""diffbt: stress-test backtrader strategies on synthetic markets from a diffusion model.

Heavy layers (torch, backtrader, quantstats) load lazily on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

from diffbt.data.market import Market
from diffbt.errors import DataError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DataRepairWarning",
    "DataWarning",
    "Market",
    "MarketGenerator",
    "PathSet",
    "backtest_paths",
    "baselines",
    "bt",
    "datasets",
    "evaluate",
    "load_market",
    "metrics",
    "report",
    "robustness",
    "tearsheet",
]

_LAZY = {
    "load_market": ("diffbt.data.io", "load_market"),
    "PathSet": ("diffbt.generate.pathset", "PathSet"),
    "MarketGenerator": ("diffbt.generate.generator", "MarketGenerator"),
    "backtest_paths": ("diffbt.bt.runner", "backtest_paths"),
    "robustness": ("diffbt.metrics.robustness", "robustness"),
    "tearsheet": ("diffbt.report.tearsheet", "tearsheet"),
    "datasets": ("diffbt.data.datasets", None),
    "baselines": ("diffbt.generate.baselines", None),
    "evaluate": ("diffbt.metrics.facts", None),
    "metrics": ("diffbt.metrics", None),
    "report": ("diffbt.report", None),
    "bt": ("diffbt.bt", None),
    "DataRepairWarning": ("diffbt.errors", "DataRepairWarning"),
    "DataWarning": ("diffbt.errors", "DataWarning"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'diffbt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
