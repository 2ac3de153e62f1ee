"""Peak memory of this process and its children (worker pools included), sampled from /proc."""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["PeakMemory"]

log = logging.getLogger(__name__)


def _proc_mem(pid: int) -> tuple[int, int]:
    """(anonymous, file-backed) proportional set size of one process in bytes, from /proc.

    PSS splits a page shared by k processes (forked workers, the memory-mapped PathSet) into
    k parts, so the sum over a process tree counts each page once.
    """
    anon = file = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss_Anon:"):
                    anon = int(line.split()[1]) * 1024
                elif line.startswith(("Pss_File:", "Pss_Shmem:")):
                    file += int(line.split()[1]) * 1024
    except (OSError, ValueError):  # the process ended meanwhile
        pass
    return anon, file


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, whichever of its threads started them."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            pass
    return out


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo, seen = [], [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        todo.extend(_children(p))
    return out


def _supported() -> bool:
    pid = os.getpid()
    return (os.path.exists(f"/proc/{pid}/smaps_rollup")
            and os.path.exists(f"/proc/{pid}/task/{pid}/children"))


class PeakMemory:
    """Peak proportional set size (PSS) of this process and its children, sampled in a thread.

    Every `interval` seconds inside the ``with`` block, reads ``/proc/<pid>/smaps_rollup`` of
    this process and of all its descendants (worker pools included) and keeps the largest sums.

    Parameters
    ----------
    interval : float
        Seconds between samples; a peak shorter than this can be missed.

    Attributes
    ----------
    anon : int
        Peak anonymous PSS in bytes (heap, arrays, tensors: what a process really holds).
    file : int
        Peak file-backed plus shared-memory PSS in bytes (mapped libraries, memory-mapped
        PathSet pages: page cache the kernel can drop).
    total : int
        Peak of ``anon + file`` in bytes (taken at one sample, so ``<= anon + file``).
    samples : int
        Samples taken.
    supported : bool
        False where ``/proc/<pid>/smaps_rollup`` (Linux >= 4.14) or the ``children`` files are
        missing: nothing is sampled and the peaks stay 0.

    Notes
    -----
    PSS splits a page shared by k processes into k parts, so pages shared by forked workers
    or mapped from one file by several of them are counted once in the sum over the tree.

    Examples
    --------
    >>> with PeakMemory(interval=0.05) as mem:   # doctest: +SKIP
    ...     work()
    >>> mem.anon / 2**20                          # doctest: +SKIP
    """

    def __init__(self, interval: float = 0.25) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self.interval = float(interval)
        self.supported = _supported()
        self.anon = self.file = self.total = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="PeakMemory", daemon=True)

    def sample(self) -> None:
        """Take one sample now and update the peaks."""
        if not self.supported:
            return
        mems = [_proc_mem(p) for p in _tree(os.getpid())]
        a, f = sum(m[0] for m in mems), sum(m[1] for m in mems)
        self.anon, self.file = max(self.anon, a), max(self.file, f)
        self.total = max(self.total, a + f)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.supported:
            self._thread.start()
        else:
            log.warning("PeakMemory: /proc/<pid>/smaps_rollup not available on this system; "
                        "peak memory is not measured (reported as 0)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()

    def __repr__(self) -> str:
        if not self.supported:
            return "PeakMemory(unsupported)"
        mib = 2**20
        return (f"PeakMemory(anon={self.anon / mib:.1f} MiB, file={self.file / mib:.1f} MiB, "
                f"total={self.total / mib:.1f} MiB, samples={self.samples})")
