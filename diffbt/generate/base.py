"""The `Generator` protocol shared by the diffusion generator and the baselines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet

__all__ = ["Generator"]


@runtime_checkable
class Generator(Protocol):
    """What every market generator offers (structural: no inheritance needed).

    ``fit`` learns from bars ``<= train_end`` only and returns the generator itself (the
    baselines then expose read-only ``params``); ``sample`` draws `n_paths` OHLCV paths of
    `length` bars continuing the training calendar. The same seed gives the same paths.
    """

    def fit(self, market: Market, *, train_end: object = None) -> Self: ...

    def sample(self, n_paths: int, length: int, *, seed: int | None = None,
               regime: str | None = None, jumps: Any = None) -> PathSet: ...

    def save(self, path: str | os.PathLike) -> Path: ...

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self: ...
