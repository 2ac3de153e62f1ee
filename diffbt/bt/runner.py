"""`backtest_paths`: run one backtrader strategy on the real market and on every synthetic path.

How paths travel
----------------
Workers never receive pickled DataFrames. A task is a range of path indices ``[start, stop)``;
the worker slices that chunk out of the `PathSet` values, which it reaches without a copy:

- ``backend="process"`` with the ``fork`` start method (Linux default): the values array (in
  memory or a read-only memory map of the PathSet file) is inherited by the forked workers;
- other start methods: workers memory-map the PathSet file (an in-memory PathSet is first
  written to a temporary file with `PathSet.save`);
- ``backend="ray"``: each chunk is put in Ray's shared-memory object store, at most a few chunks
  per worker in flight, so memory stays bounded for any number of paths.

Each path runs in a fresh ``Cerebro(stdstats=False, preload=True, runonce=True)`` with the
numpy-backed `ArrayData` feeds (``fast=True``); ``fast=False`` uses backtrader's defaults and
`PandasData`, for checking that both give the same results.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import math
import mmap
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import backtrader as bt
import numpy as np
import pandas as pd

from diffbt.bt.feeds import bt_datetimes, values_feeds
from diffbt.data.calendar import periods_per_year
from diffbt.data.market import Market
from diffbt.generate.pathset import PathSet

__all__ = [
    "BacktestResult",
    "PathError",
    "StrategyError",
    "WarmupError",
    "backtest_paths",
    "check_params",
    "periods_per_year",
    "run_one",
]

log = logging.getLogger(__name__)

REAL = -1  # PathError.index of the real market


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PathError:
    """A path whose run raised: its index (``-1`` for the real market), message, traceback."""

    index: int
    message: str
    traceback: str

    @property
    def where(self) -> str:
        """``"the real history"`` or ``"path 3"``."""
        return "the real history" if self.index == REAL else f"path {self.index}"


class StrategyError(RuntimeError):
    """The strategy itself is at fault: it failed on the real history and on the first paths
    (or the paths are shorter than its warm-up), so the other paths were not run.

    ``traceback`` holds the first failure's traceback.
    """

    def __init__(self, msg: str, *, traceback: str = "") -> None:
        super().__init__(msg)
        self.traceback = traceback


class WarmupError(ValueError):
    """The data has fewer bars than the strategy's warm-up (its indicators' longest period)."""


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Per-bar portfolio returns of a strategy on every path (and on the real market).

    Attributes
    ----------
    returns : ndarray, shape (n_paths, n_steps)
        ``value[t] / value[t-1] - 1`` of the broker value, ``value[-1]`` = starting cash, so
        ``n_steps`` = bars per path; NaN rows for failed paths.
    real_returns : ndarray, shape (n_real_bars,), or None
        The same on the real market (``real_index``); None without ``real=`` or if it failed.
    index : DatetimeIndex
        Timestamps of the steps (the PathSet's calendar).
    trades : ndarray of int, shape (n_paths,)
        Trades opened per path (a trade still open at the end counts); -1 for failed paths.
    errors : list of PathError
        Failed paths in index order (the real market as index -1).
    regimes : ndarray of str or None
        Copied from `PathSet.regimes`.
    periods_per_year : float
        Bars per year of the calendar (252 daily business days, 24*365 hourly 24/7...).
    final_value : ndarray, shape (n_paths,)
        Broker value after the last bar (NaN for failed paths).
    """

    returns: np.ndarray
    real_returns: np.ndarray | None
    index: pd.DatetimeIndex
    trades: np.ndarray
    errors: list[PathError]
    regimes: np.ndarray | None
    periods_per_year: float
    final_value: np.ndarray
    real_index: pd.DatetimeIndex | None = None
    real_trades: int | None = None
    real_final_value: float | None = None
    analyses: list[dict[str, Any] | None] | None = None
    real_analyses: dict[str, Any] | None = None
    cash: float = 100_000.0
    elapsed_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_paths(self) -> int:
        return self.returns.shape[0]

    @property
    def failed(self) -> np.ndarray:
        """Indices of the failed synthetic paths."""
        return np.array([e.index for e in self.errors if e.index >= 0], dtype=np.int64)

    def to_frame(self) -> pd.DataFrame:
        """Returns as a time x paths DataFrame (columns: path index)."""
        return pd.DataFrame(self.returns.T, index=self.index,
                            columns=pd.RangeIndex(self.n_paths, name="path"))

    def real_series(self) -> pd.Series | None:
        """The real market's returns as a Series (None without a real run)."""
        if self.real_returns is None:
            return None
        return pd.Series(self.real_returns, index=self.real_index, name="real")

    def __repr__(self) -> str:
        ok = self.n_paths - len(self.failed)
        real = "yes" if self.real_returns is not None else "no"
        return (f"BacktestResult({self.n_paths} paths x {self.returns.shape[1]} steps, "
                f"{ok} ok, {len(self.errors)} errors, real={real})")


# -- one run ---------------------------------------------------------------------------------
class _Recorder(bt.Analyzer):
    """Broker value after every bar and the number of trades opened."""

    def start(self) -> None:
        self.values: list[float] = []
        self.trades = 0
        self._value = float("nan")

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.justopened:
            self.trades += 1

    def notify_fund(self, cash: float, value: float, fundvalue: float, shares: float) -> None:
        self._value = value  # the strategy's own broker.getvalue() of this bar

    def next(self) -> None:
        self.values.append(self._value)

    def get_analysis(self) -> dict[str, Any]:
        return {"values": self.values, "trades": self.trades}


@dataclass(frozen=True)
class _Spec:
    """Everything a worker needs besides the bars (pickled once per worker)."""

    strategy: type
    params: dict[str, Any]
    cash: float
    commission: float
    slippage: float
    sizer: Any
    analyzers: tuple[tuple[str, type, dict[str, Any]], ...]
    fast: bool
    timeout: float | None
    index: pd.DatetimeIndex
    assets: tuple[str, ...]
    datetimes: np.ndarray
    regimes: np.ndarray | None


def _plain(obj: Any) -> Any:
    """Analyzer output as plain dicts/lists/floats (picklable, comparable)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "setitimer"):
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001
        raise TimeoutError(f"path ran longer than timeout={seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_params(strategy: type, params: Mapping[str, Any] | None) -> None:
    """Refuse parameter names the strategy does not declare.

    Raises
    ------
    ValueError
        Naming the unknown parameters and listing the strategy's own (with defaults).
    """
    if not params:
        return
    declared = dict(strategy.params._getitems()) if hasattr(strategy, "params") else {}
    accepted = set(declared)
    owner = next((k for k in strategy.__mro__ if "__init__" in vars(k)), object)
    sig = None
    if not owner.__module__.startswith("backtrader"):  # backtrader's own ignore any keyword
        try:
            sig = inspect.signature(strategy.__init__)
        except (TypeError, ValueError):
            sig = None
    if sig is not None:
        kinds = {p.kind for p in sig.parameters.values()}
        if inspect.Parameter.VAR_KEYWORD in kinds:
            return
        accepted |= {n for n, p in sig.parameters.items() if n != "self" and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    unknown = [k for k in params if k not in accepted]
    if unknown:
        own = ", ".join(f"{k}={v!r}" for k, v in declared.items()) or "none"
        raise ValueError(f"{strategy.__name__} has no parameter "
                         f"{', '.join(repr(k) for k in unknown)}; its parameters: {own}")


def _warmup(cerebro: bt.Cerebro) -> int | None:
    """The bars the strategies need before their first ``next()`` (None if unknown)."""
    strats = getattr(cerebro, "runningstrats", None) or []
    periods = [getattr(s, "_minperiod", None) for s in strats]
    periods = [p for p in periods if isinstance(p, int)]
    return max(periods) if periods else None


def run_one(strategy: type, values: np.ndarray, index: pd.DatetimeIndex,
            assets: Sequence[str], *, params: Mapping[str, Any] | None = None,
            cash: float = 100_000.0, commission: float = 0.0, slippage: float = 0.0,
            sizer: Any = None, analyzers: Sequence[tuple[str, type, dict]] = (),
            fast: bool = True, datetimes: np.ndarray | None = None,
            regime: str | None = None) -> tuple[np.ndarray, int, dict[str, Any] | None]:
    """Run `strategy` on one OHLCV block (n_bars, n_assets, 5).

    Returns
    -------
    (values, trades, analyses)
        Broker value after each bar (n_bars,), trades opened, ``{name: analysis}`` or None.

    Raises
    ------
    WarmupError
        Fewer bars than the strategy's warm-up (backtrader itself fails with an IndexError).
    """
    if fast:
        cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, exactbars=False,
                             maxcpus=1)
    else:
        cerebro = bt.Cerebro()
    for feed in values_feeds(values, index, assets, fast=fast, datetimes=datetimes,
                             regime=regime):
        cerebro.adddata(feed, name=feed._name)
    cerebro.addstrategy(strategy, **dict(params or {}))
    cerebro.broker.setcash(cash)
    if commission:
        cerebro.broker.setcommission(commission=commission)
    if slippage:
        cerebro.broker.set_slippage_perc(slippage)
    if sizer is not None:
        cls, kw = sizer if isinstance(sizer, tuple) else (sizer, {})
        cerebro.addsizer(cls, **kw)
    cerebro.addanalyzer(_Recorder, _name="_diffbt_recorder")
    for name, cls, kw in analyzers:
        cerebro.addanalyzer(cls, _name=name, **kw)
    try:
        strat = cerebro.run()[0]
    except IndexError as exc:
        warm = _warmup(cerebro)
        if warm is not None and warm > len(index):
            raise WarmupError(f"{strategy.__name__} needs {warm} bars before its first next() "
                              f"(its indicators' warm-up), but the data has {len(index)}"
                              ) from exc
        raise
    rec = strat.analyzers.getbyname("_diffbt_recorder")
    out = np.full(len(index), np.nan)
    vals = np.asarray(rec.values, dtype=np.float64)[-len(index):]
    out[len(index) - len(vals):] = vals
    analyses = None
    if analyzers:
        analyses = {name: _plain(strat.analyzers.getbyname(name).get_analysis())
                    for name, _, _ in analyzers}
    return out, int(rec.trades), analyses


def _run_path(spec: _Spec, block: np.ndarray, i: int):
    regime = None if spec.regimes is None else str(spec.regimes[i])
    with _time_limit(spec.timeout):
        return run_one(spec.strategy, block, spec.index, spec.assets, params=spec.params,
                       cash=spec.cash, commission=spec.commission, slippage=spec.slippage,
                       sizer=spec.sizer, analyzers=spec.analyzers, fast=spec.fast,
                       datetimes=spec.datetimes, regime=regime)


def _run_chunk_arrays(spec: _Spec, chunk: np.ndarray, start: int) -> dict[str, Any]:
    k, length = chunk.shape[0], chunk.shape[1]
    values = np.full((k, length), np.nan)
    trades = np.full(k, -1, dtype=np.int64)
    analyses: list[Any] = [None] * k
    errors = []
    for j in range(k):
        try:
            values[j], trades[j], analyses[j] = _run_path(spec, chunk[j], start + j)
        except Exception as e:  # noqa: BLE001 - isolate any strategy failure
            errors.append((start + j, f"{type(e).__name__}: {e}", traceback.format_exc()))
    return {"start": start, "values": values, "trades": trades, "analyses": analyses,
            "errors": errors}


# -- process workers -------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(spec: _Spec, source: Any) -> None:
    _WORKER["spec"] = spec
    if isinstance(source, tuple) and source and source[0] == "memmap":
        _, filename, offset, shape = source
        source = np.memmap(filename, dtype="<f8", mode="r", offset=offset, shape=shape)
    _WORKER["values"] = source


def _run_chunk_worker(start: int, stop: int) -> dict[str, Any]:
    chunk = np.asarray(_WORKER["values"][start:stop])
    out = _run_chunk_arrays(_WORKER["spec"], chunk, start)
    gc.collect()  # backtrader leaves reference cycles; a long-lived worker would grow
    return out


def _memmap_source(paths: PathSet, tmpdir: str) -> tuple:
    v = paths.values
    if isinstance(v, np.memmap) and v.filename and isinstance(v.base, mmap.mmap):
        return ("memmap", v.filename, v.offset, v.shape)
    fname = Path(tmpdir) / "paths.npz"
    paths.save(fname)
    loaded = PathSet.load(fname)
    lv = loaded.values
    return ("memmap", lv.filename, lv.offset, lv.shape)


# -- progress --------------------------------------------------------------------------------
class _Progress:
    def __init__(self, progress: bool | Callable[[int, int], Any], total: int) -> None:
        self.total, self.done = total, 0
        self.callback = progress if callable(progress) else None
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="path", desc="backtest")

    def update(self, k: int) -> None:
        self.done += k
        if self.bar is not None:
            self.bar.update(k)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the runner ------------------------------------------------------------------------------
def _analyzer_specs(analyzers: Any) -> tuple[tuple[str, type, dict[str, Any]], ...]:
    if not analyzers:
        return ()
    items = analyzers.items() if isinstance(analyzers, Mapping) else [
        (None, a) for a in analyzers]
    out = []
    for name, a in items:
        cls, kw = (a[0], dict(a[1])) if isinstance(a, tuple) else (a, {})
        if not (isinstance(cls, type) and issubclass(cls, bt.Analyzer)):
            raise TypeError(f"analyzers must be backtrader Analyzer classes, got {cls!r}")
        out.append((name or cls.__name__.lower(), cls, kw))
    return tuple(out)


def _chunks(start: int, n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(start, n, size)]


def backtest_paths(
    strategy: type,
    paths: PathSet | str | os.PathLike,
    *,
    real: Market | None = None,
    params: Mapping[str, Any] | None = None,
    cash: float = 100_000.0,
    commission: float = 0.0,
    slippage: float = 0.0,
    sizer: Any = None,
    analyzers: Sequence[Any] | Mapping[str, Any] = (),
    workers: int | None = None,
    backend: Literal["process", "ray", "serial"] = "process",
    progress: bool | Callable[[int, int], Any] = True,
    chunk_size: int | None = None,
    timeout: float | None = None,
    fast: bool = True,
    start_method: str | None = None,
    check_first: bool = True,
) -> BacktestResult:
    """Run a backtrader strategy on the real market and on every path of a PathSet.

    Parameters
    ----------
    strategy : bt.Strategy subclass
        Used unchanged: one feed per asset, named by asset (``self.datas``, ``getdatabyname``).
    paths : PathSet or path of a PathSet file
        A file is memory-mapped; workers read their chunks from it.
    real : Market, optional
        The real history, run once more (``real_returns``).
    params : mapping, optional
        Strategy parameters (``cerebro.addstrategy(strategy, **params)``).
    cash, commission, slippage : float
        Starting cash, commission (fraction of traded value), slippage (fraction of price).
    sizer : Sizer class or (class, kwargs), optional
    analyzers : sequence of Analyzer classes or (class, kwargs), or ``{name: ...}``
        Extra analyzers; their ``get_analysis()`` per path lands in ``result.analyses``.
    workers : int, optional
        Processes (or Ray CPUs); default all cores.
    backend : {"process", "ray", "serial"}
        ``"ray"`` uses a connected Ray cluster (``ray.init(address=...)`` beforehand) or starts
        a local one (left running for later calls). ``"serial"`` runs in this process.
    progress : bool or callable(done, total)
        True: a tqdm bar on stderr.
    chunk_size : int, optional
        Paths per task (default: about four tasks per worker, at most 64 paths).
    timeout : float, optional
        Per-path time limit in seconds (the path fails with TimeoutError; Unix only).
    fast : bool
        Fast settings (numpy feeds, no observers); False: backtrader defaults and PandasData.
    start_method : str, optional
        multiprocessing start method for ``backend="process"`` (default ``"fork"`` where
        available). Under ``fork`` the strategy class may live in ``__main__`` or a notebook.
    check_first : bool
        Run the real history and the first path (the first two paths without `real`) before
        the others, and stop with a `StrategyError` if the strategy fails on all of them, or
        if the paths are shorter than its warm-up: a mistake in the strategy or its
        parameters, which every other path would repeat.

    Returns
    -------
    BacktestResult

    Raises
    ------
    ValueError
        A parameter name the strategy does not declare (`check_params`).
    StrategyError
        See `check_first`.

    Notes
    -----
    A strategy exception (or a `timeout`) fails only its path: the others run, and
    ``result.errors`` lists ``PathError(index, message, traceback)``. A worker process that
    dies outright (segfault, ``os._exit``) breaks the process pool: the paths that were lost
    are re-run one at a time in a fresh one-worker pool, so only the path that crashed is
    reported ("worker process died ..."); the others still give results.
    Under ``fork``, a parent that has already run multi-threaded torch code should pass
    ``start_method="spawn"`` (or ``"forkserver"``) when the strategy calls a torch model.
    """
    t0 = time.perf_counter()
    if isinstance(paths, str | os.PathLike):
        paths = PathSet.load(paths)
    if not isinstance(paths, PathSet):
        raise TypeError(f"paths must be a PathSet or a PathSet file, got {type(paths).__name__}")
    if not (isinstance(strategy, type) and issubclass(strategy, bt.Strategy)):
        raise TypeError(f"strategy must be a backtrader Strategy subclass, got {strategy!r}")
    if backend not in ("process", "ray", "serial"):
        raise ValueError(f"backend must be 'process', 'ray' or 'serial', got {backend!r}")
    if real is not None and not isinstance(real, Market):
        raise TypeError(f"real must be a Market, got {type(real).__name__}")
    check_params(strategy, params)
    n, length = paths.n_paths, paths.length
    workers = max(1, int(workers or os.cpu_count() or 1))
    spec = _Spec(strategy=strategy, params=dict(params or {}), cash=float(cash),
                 commission=float(commission), slippage=float(slippage), sizer=sizer,
                 analyzers=_analyzer_specs(analyzers), fast=bool(fast),
                 timeout=None if timeout is None else float(timeout), index=paths.index,
                 assets=paths.assets, datetimes=bt_datetimes(paths.index), regimes=paths.regimes)
    size = chunk_size or max(1, min(64, math.ceil(n / (4 * workers))))
    n_head = min(n, (1 if real is not None else 2) if check_first else 0)
    head = [(0, n_head)] if n_head else []
    chunks = _chunks(n_head, n, size)

    returns = np.full((n, length), np.nan)
    trades = np.full(n, -1, dtype=np.int64)
    final = np.full(n, np.nan)
    analyses: list[Any] = [None] * n
    errors: list[PathError] = []
    bar = _Progress(progress, n + (real is not None))
    real_out: dict[str, Any] = {}

    def collect(res: dict[str, Any]) -> None:
        s, vals = res["start"], res["values"]
        k = vals.shape[0]
        prev = np.concatenate([np.full((k, 1), spec.cash), vals[:, :-1]], axis=1)
        returns[s:s + k] = vals / prev - 1.0
        final[s:s + k] = vals[:, -1]
        trades[s:s + k] = res["trades"]
        analyses[s:s + k] = res["analyses"]
        errors.extend(PathError(*e) for e in res["errors"])
        bar.update(k)

    def run_real() -> None:
        if real is None:
            return
        try:
            vals, tr, an = run_one(strategy, real.values, real.index, real.assets,
                                   params=spec.params, cash=spec.cash,
                                   commission=spec.commission, slippage=spec.slippage,
                                   sizer=sizer, analyzers=spec.analyzers, fast=spec.fast)
            prev = np.concatenate([[spec.cash], vals[:-1]])
            real_out.update(returns=vals / prev - 1.0, trades=tr, final=float(vals[-1]),
                            analyses=an)
        except Exception as e:  # noqa: BLE001
            errors.append(PathError(REAL, f"{type(e).__name__}: {e}", traceback.format_exc()))
        bar.update(1)

    def check() -> None:
        """After the real history and the head paths: stop if the strategy is at fault."""
        ran = n_head + (real is not None)
        if not check_first or ran == 0:
            return
        failed = sorted((e for e in errors if e.index < n_head), key=lambda e: e.index)
        name = getattr(strategy, "__name__", str(strategy))
        warm = next((e for e in failed if e.index >= 0
                     and e.message.startswith(f"{WarmupError.__name__}: ")), None)
        if warm is not None:
            msg = warm.message.split(": ", 1)[1].replace("the data has", "the paths have")
            raise StrategyError(f"{name} failed: {msg}; use longer paths or shorter indicator "
                                "periods", traceback=warm.traceback)
        if len(failed) == ran:
            runs = [e.where for e in failed]
            where = " and ".join(runs) if len(runs) < 3 else ", ".join(runs)
            first = failed[0]
            msg = first.message.split(": ", 1)[1] if first.message.startswith(
                f"{WarmupError.__name__}: ") else first.message
            log.info("%s failed on %s:\n%s", name, first.where, first.traceback)
            rest = "; the other paths were not run" if n > n_head else ""
            raise StrategyError(f"{name} failed: {msg} (on {where}{rest})",
                                traceback=first.traceback)

    try:
        if backend == "serial" or n == 0:
            run_real()
            values = paths.values
            for s, e in head:
                collect(_run_chunk_arrays(spec, np.asarray(values[s:e]), s))
            check()
            for s, e in chunks:
                collect(_run_chunk_arrays(spec, np.asarray(values[s:e]), s))
        elif backend == "process":
            _run_process(spec, paths, head, chunks, workers, start_method, collect, run_real,
                         check)
        else:
            _run_ray(spec, paths, head, chunks, workers, collect, run_real, check)
    finally:
        bar.close()
    errors.sort(key=lambda e: e.index)
    return BacktestResult(
        returns=returns, real_returns=real_out.get("returns"), index=paths.index, trades=trades,
        errors=errors, regimes=None if paths.regimes is None else paths.regimes.copy(),
        periods_per_year=periods_per_year(paths.index), final_value=final,
        real_index=None if real is None else real.index, real_trades=real_out.get("trades"),
        real_final_value=real_out.get("final"),
        analyses=analyses if spec.analyzers else None, real_analyses=real_out.get("analyses"),
        cash=spec.cash, elapsed_s=time.perf_counter() - t0,
        meta={"backend": backend, "workers": workers, "chunk_size": size, "fast": spec.fast})


def _run_process(spec: _Spec, paths: PathSet, head: list[tuple[int, int]],
                 chunks: list[tuple[int, int]], workers: int, start_method: str | None,
                 collect: Callable, run_real: Callable, check: Callable) -> None:
    methods = mp.get_all_start_methods()
    method = start_method or ("fork" if "fork" in methods else None)
    ctx = mp.get_context(method)
    with tempfile.TemporaryDirectory(prefix="diffbt-bt-") as tmp:
        source = paths.values if method == "fork" else _memmap_source(paths, tmp)

        def pool(n_workers: int) -> ProcessPoolExecutor:
            return ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                                       initializer=_init_worker, initargs=(spec, source))

        with pool(max(1, min(workers, len(head) + len(chunks)))) as ex:
            # the first submit forks the workers, before this process runs the strategy
            if head:
                broken = _drain(ex, head, collect, paths.length, run_real)
                if broken:
                    broken += chunks
                else:
                    check()
                    broken = _drain(ex, chunks, collect, paths.length)
            else:
                broken = _drain(ex, chunks, collect, paths.length, run_real)
        # A worker died (segfault, os._exit): re-run those paths one at a time in a
        # one-worker pool; the first unfinished path when it breaks again is the culprit.
        todo = [(i, i + 1) for s, e in broken for i in range(s, e)]
        while todo:
            with pool(1) as ex:
                broken = _drain(ex, todo, collect, paths.length)
            if not broken:
                break
            culprit = broken[0]
            collect(_failed_chunk(*culprit, paths.length, "worker process died while running "
                                  "this path (crash or os._exit in the strategy)"))
            todo = broken[1:]


def _drain(ex: ProcessPoolExecutor, chunks: list[tuple[int, int]], collect: Callable,
           length: int, run_real: Callable | None = None) -> list[tuple[int, int]]:
    """Run chunks on a pool; return those lost to a broken pool, in submission order."""
    futures = {ex.submit(_run_chunk_worker, s, e): (s, e) for s, e in chunks}
    if run_real is not None:
        run_real()
    broken = []
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            s, e = futures[fut]
            try:
                collect(fut.result())
            except BrokenProcessPool:
                broken.append((s, e))
            except Exception as exc:  # noqa: BLE001
                collect(_failed_chunk(s, e, length, f"{type(exc).__name__}: {exc}",
                                      traceback.format_exc()))
    return sorted(broken)


def _failed_chunk(s: int, e: int, length: int, msg: str, tb: str = "") -> dict[str, Any]:
    k = e - s
    return {"start": s, "values": np.full((k, length), np.nan),
            "trades": np.full(k, -1, dtype=np.int64), "analyses": [None] * k,
            "errors": [(i, msg, tb) for i in range(s, e)]}


def _ray_chunk(spec: _Spec, chunk: np.ndarray, start: int) -> dict[str, Any]:
    return _run_chunk_arrays(spec, np.asarray(chunk), start)


def _run_ray(spec: _Spec, paths: PathSet, head: list[tuple[int, int]],
             chunks: list[tuple[int, int]], workers: int, collect: Callable,
             run_real: Callable, check: Callable) -> None:
    try:
        import ray
    except ImportError as e:
        raise ImportError("backend='ray' needs Ray: pip install 'diffbt[ray]'") from e
    if not ray.is_initialized():
        # A local cluster we start: its workers get this interpreter's import path, so they
        # import diffbt and the strategy's module like this process does. A cluster you
        # connect to yourself needs diffbt installed (or a runtime_env) on its nodes.
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_chunk)
    spec_ref = ray.put(spec)
    cpus = max(1, int(ray.cluster_resources().get("CPU", workers)))
    max_inflight = 2 * cpus

    def run(todo: list[tuple[int, int]], before: Callable | None = None) -> None:
        todo = todo[::-1]
        inflight: dict[Any, tuple[int, int]] = {}

        def submit() -> None:
            while todo and len(inflight) < max_inflight:
                s, e = todo.pop()
                ref = remote.remote(spec_ref, np.ascontiguousarray(paths.values[s:e]), s)
                inflight[ref] = (s, e)

        submit()
        if before is not None:
            before()
        while inflight:
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                s, e = inflight.pop(ref)
                try:
                    collect(ray.get(ref))
                except Exception as exc:  # noqa: BLE001 - a worker died or the task failed
                    collect(_failed_chunk(s, e, paths.length, f"{type(exc).__name__}: {exc}",
                                          traceback.format_exc()))
            submit()

    if head:
        run(head, run_real)
        check()
        run(chunks)
    else:
        run(chunks, run_real)
