"""The error type for bad user input and the warnings about data that loaded."""

from __future__ import annotations

__all__ = ["DataError", "DataRepairWarning", "DataWarning"]


class DataError(ValueError):
    """Bad input data, located by file, column and row where known.

    >>> str(DataError("high < low", file="spy.csv", column="high", row=412))
    "spy.csv, column 'high', row 412: high < low"
    """

    def __init__(
        self,
        msg: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: object | None = None,
    ) -> None:
        self.msg = msg
        self.file = None if file is None else str(file)
        self.column = column
        self.row = row
        where = []
        if self.file is not None:
            where.append(self.file)
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(", ".join(where) + ": " + msg if where else msg)


class DataWarning(UserWarning):
    """Data that loaded but deserves a look: an implausible one-bar move or bar range (an
    unadjusted split, a bad tick), left as it is.

    `diffbt.load_market` emits one per finding and lists them in ``Market.repairs`` (their
    text contains ``"suspicious"``); ``strict=True`` does not turn them into errors. Also the
    base class of `DataRepairWarning`, so one filter silences both.
    """


class DataRepairWarning(DataWarning):
    """A documented repair made while loading data (re-sorting, duplicates dropped, ...).

    `diffbt.load_market` emits one per repair and lists them all in ``Market.repairs``;
    pass ``strict=True`` to get a `DataError` instead.
    """
