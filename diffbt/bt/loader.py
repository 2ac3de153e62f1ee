"""Load a backtrader Strategy class from ``path/to/file.py:ClassName`` or ``pkg.mod:ClassName``.

Strategy files are Python code and run when loaded: only load files you trust.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import backtrader as bt

__all__ = ["StrategyLoadError", "load_strategy"]


class StrategyLoadError(ValueError):
    """The strategy spec does not name an importable backtrader Strategy class."""


def load_strategy(spec: str) -> type[bt.Strategy]:
    """Import a Strategy class.

    Parameters
    ----------
    spec : str
        ``"path/to/file.py:ClassName"`` or ``"package.module:ClassName"``.

    Raises
    ------
    StrategyLoadError
        Malformed spec, missing file or module, import failure, missing class, or a class that
        is not a ``backtrader.Strategy``.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise StrategyLoadError(f"strategy must be 'path/to/file.py:ClassName' or "
                                f"'package.module:ClassName', got {spec!r}")
    target, name = spec.split(":")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise StrategyLoadError(f"strategy file not found: {path}")
        mod_name = f"_diffbt_strategy_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise StrategyLoadError(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module  # so worker processes can find the class by name
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # user code: any error becomes one clear line
            sys.modules.pop(mod_name, None)
            raise StrategyLoadError(f"importing {path} failed: "
                                    f"{type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise StrategyLoadError(f"cannot import module {target!r}: "
                                    f"{type(exc).__name__}: {exc}") from exc
    cls = getattr(module, name, None)
    if cls is None:
        raise StrategyLoadError(f"{target} has no class {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, bt.Strategy)):
        raise StrategyLoadError(f"{target}:{name} is not a backtrader Strategy subclass")
    return cls
