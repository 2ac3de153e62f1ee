"""`PathSet`: the one container for synthetic markets, and its streaming file format.

File format (``.npz``-compatible, uncompressed zip, so ``numpy.load`` can read it too):

- ``meta.json``: ``{"format": "diffbt-pathset", "version": 1, "assets": [...], ...}``
- ``index.npy``: int64 nanoseconds since the epoch, one per bar
- ``values.npy``: float64 array (n_paths, length, n_assets, 5)
- ``regimes.npy`` (optional): unicode array (n_paths,) of regime labels

``values.npy`` is stored uncompressed, so `PathSet.load` memory-maps it instead of reading it,
and `PathSetWriter` streams chunks of paths to disk: neither needs the array twice in memory.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from diffbt.data.market import FIELDS, Market
from diffbt.errors import DataError

__all__ = ["FORMAT", "VERSION", "PathSet", "PathSetWriter"]

FORMAT = "diffbt-pathset"
VERSION = 1


class PathSet:
    """Synthetic (or real) multi-asset OHLCV paths on one calendar.

    Parameters
    ----------
    values : ndarray, shape (n_paths, length, n_assets, 5)
        OHLCV in the order ``open high low close volume``; may be a read-only memory map.
    index : DatetimeIndex
        Timestamps of the `length` bars (continuing the real calendar).
    assets : sequence of str
    regimes : ndarray of str, shape (n_paths,), optional
        The regime each path was generated for (None when unconditioned).
    meta : dict, optional
        JSON-serialisable provenance (generator, seed, sampler settings...).
    """

    def __init__(self, values: np.ndarray, index: pd.DatetimeIndex, assets: Sequence[str], *,
                 regimes: np.ndarray | Sequence[str] | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        if not isinstance(values, np.memmap):
            values = np.ascontiguousarray(values, dtype=np.float64)
        if values.ndim != 4 or values.shape[3] != len(FIELDS):
            raise ValueError(
                f"values must have shape (n_paths, length, n_assets, 5), got {values.shape}")
        if values.shape[1] != len(index):
            raise ValueError(f"paths have {values.shape[1]} bars but the index {len(index)}")
        if values.shape[2] != len(assets):
            raise ValueError(f"{values.shape[2]} assets in values but names {list(assets)}")
        self.values = values
        self.index = pd.DatetimeIndex(index)
        self.assets: tuple[str, ...] = tuple(str(a) for a in assets)
        self.regimes = None if regimes is None else np.asarray(regimes, dtype=str)
        if self.regimes is not None and self.regimes.shape != (values.shape[0],):
            raise ValueError(f"regimes must have shape ({values.shape[0]},)")
        self.meta: dict[str, Any] = dict(meta or {})

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_paths(self) -> int:
        return self.values.shape[0]

    @property
    def length(self) -> int:
        return self.values.shape[1]

    @property
    def n_assets(self) -> int:
        return self.values.shape[2]

    def __len__(self) -> int:
        return self.n_paths

    def __repr__(self) -> str:
        return (f"PathSet({self.n_paths} paths x {self.length} bars x {list(self.assets)}, "
                f"{self.index[0] if self.length else ''} .. "
                f"{self.index[-1] if self.length else ''})")

    # -- views ---------------------------------------------------------------------------
    def field(self, name: str) -> np.ndarray:
        """One field of every path: (n_paths, length, n_assets)."""
        return self.values[..., FIELDS.index(name)]

    def log_returns(self) -> np.ndarray:
        """Close-to-close log returns, shape (n_paths, length - 1, n_assets)."""
        c = self.field("close")
        return np.diff(np.log(c), axis=1)

    def to_frame(self, i: int) -> dict[str, pd.DataFrame]:
        """Path `i` as ``{asset: OHLCV DataFrame}`` ready for a backtrader feed."""
        if not -self.n_paths <= i < self.n_paths:
            raise IndexError(f"path {i} out of range for {self.n_paths} paths")
        block = np.asarray(self.values[i])
        return {a: pd.DataFrame(block[:, j, :].copy(), index=self.index, columns=list(FIELDS))
                for j, a in enumerate(self.assets)}

    def to_market(self, i: int) -> Market:
        """Path `i` as a `Market`."""
        return Market(np.asarray(self.values[i]), self.index, self.assets)

    def subset(self, paths: slice | Sequence[int] | np.ndarray) -> PathSet:
        """A PathSet with the selected paths (a view for slices)."""
        return PathSet(self.values[paths], self.index, self.assets,
                       regimes=None if self.regimes is None else self.regimes[paths],
                       meta=self.meta)

    @classmethod
    def from_market(cls, market: Market, *, meta: dict[str, Any] | None = None) -> PathSet:
        """The real history as a one-path PathSet."""
        return cls(market.values[None], market.index, market.assets,
                   meta={"generator": "real", **(meta or {})})

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, chunk_paths: int = 256) -> Path:
        """Write to exactly `path` (atomically: a temporary name, then a rename)."""
        with PathSetWriter(path, self.n_paths, self.index, self.assets, meta=self.meta) as w:
            for s in range(0, self.n_paths, chunk_paths):
                w.write(self.values[s:s + chunk_paths],
                        None if self.regimes is None else self.regimes[s:s + chunk_paths])
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> PathSet:
        """Read a PathSet file; `values` is a read-only memory map unless ``mmap=False``.

        Parameters
        ----------
        mmap : bool
            Memory-map ``values`` (default) instead of reading it into memory.
        verify : bool
            Check the zip CRC-32 of ``values`` (one streaming read of the file, about 4 GB/s
            from the page cache); ``meta.json``, ``index.npy`` and ``regimes.npy`` are always
            checked. Pass False to skip the read of very large files known to be intact.

        Raises
        ------
        DataError
            If the file is missing, damaged, truncated, not a PathSet or from a newer version.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError("no such PathSet file", file=str(path))
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if not {"meta.json", "index.npy", "values.npy"} <= names:
                    raise DataError("not a diffbt PathSet file (members missing)", file=str(path))
                # zf.read checks each small member's CRC-32 before numpy parses a byte of it
                meta = json.loads(zf.read("meta.json").decode("utf-8"))
                _check_meta(meta, path)
                ns = _read_npy(zf.read("index.npy"))
                regimes = None
                if "regimes.npy" in names:
                    regimes = _read_npy(zf.read("regimes.npy"))
                info = zf.getinfo("values.npy")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise DataError("values.npy is compressed; cannot memory-map", file=str(path))
                if verify:
                    with zf.open(info) as f:  # ZipExtFile raises BadZipFile on a CRC mismatch
                        while f.read(1 << 24):
                            pass
                offset = _member_data_offset(path, info)
            with open(path, "rb") as f:
                f.seek(offset)
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                data_start = f.tell()
            n_bytes = int(np.prod(shape)) * dtype.itemsize
            if dtype != np.dtype("<f8") or fortran or len(shape) != 4 or (
                    data_start + n_bytes > offset + info.file_size) or os.path.getsize(path) < (
                    data_start + n_bytes):
                raise DataError("damaged or truncated values array", file=str(path))
            if mmap and n_bytes:
                values = np.memmap(path, dtype=dtype, mode="r", offset=data_start, shape=shape)
            else:
                with open(path, "rb") as f:
                    f.seek(data_start)
                    values = np.fromfile(f, dtype=dtype, count=int(np.prod(shape)))
                values = values.reshape(shape)
            tz = meta.get("tz")
            index = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns"))
            if tz:
                index = index.tz_localize("UTC").tz_convert(tz)
            return cls(values, index, meta["assets"], regimes=regimes, meta=meta.get("meta", {}))
        except DataError:
            raise
        except Exception as e:  # zipfile, json, numpy header parsing, pandas: any of them
            msg = " ".join(f"{type(e).__name__}: {e}".split())
            raise DataError(f"damaged or truncated PathSet file ({msg})", file=str(path)) from None


def _read_npy(data: bytes) -> np.ndarray:
    """An ``.npy`` member already read (and CRC-checked); the header must match its size."""
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject or int(np.prod(shape)) * dtype.itemsize != len(data) - f.tell():
        raise ValueError("npy header does not match the member size")
    f.seek(0)
    return np.lib.format.read_array(f, allow_pickle=False)


def _check_meta(meta: object, path: Path) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError("not a diffbt PathSet file", file=str(path))
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise DataError(f"PathSet format version {version!r} is newer than this diffbt "
                        f"supports ({VERSION}); upgrade diffbt", file=str(path))


def _local_header_len(path: Path, info: zipfile.ZipInfo) -> int:
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise ValueError("bad local zip header")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return 30 + name_len + extra_len


def _member_data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    return info.header_offset + _local_header_len(path, info)


class PathSetWriter:
    """Stream paths to a PathSet file chunk by chunk; the file appears complete or not at all.

    >>> with PathSetWriter("paths.npz", n_paths, index, assets) as w:   # doctest: +SKIP
    ...     for chunk in chunks:          # each (k, length, n_assets, 5)
    ...         w.write(chunk)
    """

    def __init__(self, path: str | os.PathLike, n_paths: int, index: pd.DatetimeIndex,
                 assets: Sequence[str], *, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.n_paths = int(n_paths)
        self.index = pd.DatetimeIndex(index)
        self.assets = [str(a) for a in assets]
        self.meta = dict(meta or {})
        self._written = 0
        self._regimes: list[np.ndarray] = []
        self._zip: zipfile.ZipFile | None = None
        self._member = None
        self._tmp: str | None = None

    def __enter__(self) -> PathSetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                         dir=self.path.parent)
        os.close(fd)
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED,
                                    allowZip64=True)
        tz = None if self.index.tz is None else str(self.index.tz)
        ns = self.index.tz_convert("UTC").tz_localize(None) if tz else self.index
        header = {"format": FORMAT, "version": VERSION, "assets": self.assets,
                  "fields": list(FIELDS), "tz": tz, "meta": self.meta}
        self._zip.writestr("meta.json", json.dumps(header, default=str))
        with self._zip.open("index.npy", "w") as f:
            np.lib.format.write_array(f, ns.as_unit("ns").asi8.astype(np.int64),
                                      allow_pickle=False)
        self._member = self._zip.open("values.npy", "w", force_zip64=True)
        shape = (self.n_paths, len(self.index), len(self.assets), len(FIELDS))
        np.lib.format.write_array_header_2_0(
            self._member, {"descr": "<f8", "fortran_order": False, "shape": shape})
        return self

    def write(self, chunk: np.ndarray, regimes: Iterable[str] | None = None) -> None:
        """Append paths of shape (k, length, n_assets, 5)."""
        chunk = np.ascontiguousarray(chunk, dtype="<f8")
        expected = (len(self.index), len(self.assets), len(FIELDS))
        if chunk.ndim != 4 or chunk.shape[1:] != expected:
            raise ValueError(f"chunk must have shape (k, {expected}), got {chunk.shape}")
        if self._written + len(chunk) > self.n_paths:
            raise ValueError(f"more than the declared {self.n_paths} paths written")
        self._member.write(chunk.tobytes())
        self._written += len(chunk)
        if regimes is not None:
            self._regimes.append(np.asarray(list(regimes), dtype=str))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._written != self.n_paths:
                raise ValueError(f"{self._written} of {self.n_paths} paths written")
            self._member.close()
            if exc_type is None and self._regimes:
                regimes = np.concatenate(self._regimes)
                if len(regimes) == self.n_paths:
                    with self._zip.open("regimes.npy", "w") as f:
                        np.lib.format.write_array(f, regimes, allow_pickle=False)
            self._zip.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp and os.path.exists(self._tmp):
                os.unlink(self._tmp)
