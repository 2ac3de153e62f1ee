"""Targeted fixes for backtrader 1.9.78 on current Python; applied when `diffbt.bt` is imported.

- ``LineIterator.bindlines`` (``bind2line``) uses ``collections.Iterable``, removed in
  Python 3.10: the module gets a ``collections`` stand-in that also has ``Iterable``.
  Nothing outside ``backtrader.lineiterator`` changes.
- ``backtrader.plot`` forces the TkAgg backend; diffbt never imports it (plots live in
  ``diffbt.report``), so nothing is patched for it.
"""

from __future__ import annotations

import collections
import collections.abc
import types

import backtrader.lineiterator as _lineiterator

__all__ = ["apply"]


class _Collections(types.ModuleType):
    """`collections` plus the ABC aliases removed in Python 3.10."""

    Iterable = collections.abc.Iterable
    Mapping = collections.abc.Mapping
    Sequence = collections.abc.Sequence

    def __getattr__(self, name: str) -> object:
        return getattr(collections, name)


def apply() -> None:
    """Install the fixes (idempotent)."""
    if not hasattr(_lineiterator.collections, "Iterable"):
        _lineiterator.collections = _Collections("collections")


apply()
