"""End-to-end workflows behind the CLI: load data, backtest-and-report, evaluate, demo.

Each function composes the public APIs and writes its files; `diffbt.cli` only parses
arguments, shows progress and prints where things went.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from diffbt.data import datasets
from diffbt.data.market import Market
from diffbt.errors import DataError, DataWarning
from diffbt.generate.pathset import PathSet

__all__ = [
    "BacktestOutputs",
    "atomic_write_text",
    "backtest_and_report",
    "backtest_real",
    "check_fits_data",
    "check_train_end",
    "demo",
    "evaluate_quality",
    "grid_returns",
    "load_data",
    "parse_grid",
    "parse_params",
    "source_names",
]

log = logging.getLogger(__name__)
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to a temporary name, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_data(sources: Sequence[str | os.PathLike], *, adjust: Literal[False, "close"] = False,
              gaps: Literal["error", "ffill"] = "error") -> Market:
    """A bundled dataset name (``sp500_nasdaq``) or CSV/parquet files, one asset each.

    `adjust` and `gaps` are passed to `diffbt.load_market` for files; a bundled dataset is
    loaded as it ships (a `DataWarning` says so when they are set).
    """
    if not sources:
        raise DataError("no data given: pass CSV/parquet files or a bundled dataset name "
                        f"({', '.join(datasets.names())})")
    if len(sources) == 1 and str(sources[0]) in datasets.names():
        if adjust or gaps != "error":
            warnings.warn(f"the bundled dataset {str(sources[0])!r} is loaded as it ships; "
                          "adjust and gaps apply to files", DataWarning, stacklevel=2)
        return datasets.load(str(sources[0]))
    from diffbt.data.io import load_market

    paths = [Path(s) for s in sources]
    for p in paths:
        _check_source(p)
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise DataError(f"two files share an asset name (file stem): {stems}")
    return load_market({p.stem: p for p in paths}, adjust=adjust, gaps=gaps)


def _check_source(path: Path) -> None:
    """A directory or a misspelt bundled dataset name, said as such."""
    if path.is_dir():
        raise DataError("is a directory, not a data file (give the CSV/parquet files in it)",
                        file=str(path))
    if path.exists() or path.suffix or len(path.parts) > 1:
        return
    names = datasets.names()
    close = difflib.get_close_matches(str(path), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"no such file or bundled dataset; the bundled datasets are "
                    f"{', '.join(names)}{hint}", file=str(path))


def source_names(sources: Sequence[str | os.PathLike]) -> str:
    """The data sources as one short string for messages: ``"a.csv, b.csv"``."""
    return ", ".join(Path(s).name if Path(s).suffix else str(s) for s in sources)


def check_fits_data(market: Market, assets: Sequence[str], freq: pd.Timedelta | None, *,
                    what: str, data: str = "the data", subset: bool = False) -> None:
    """Refuse a model or paths made for other assets or another bar spacing than `market`.

    Parameters
    ----------
    market : Market
        The real data.
    assets : sequence of str
        The model's (`MarketGenerator.assets`) or the paths' (`PathSet.assets`) assets.
    freq : Timedelta or None
        Their bar spacing (`MarketGenerator.freq`, or the paths' calendar); None: unknown.
    what : str
        How to name them in the message (``"the model m.safetensors"``).
    data : str
        How to name the data (its files).
    subset : bool
        Accept data with more assets than `assets` (a forecast reads only the model's);
        otherwise the assets must be the same.

    Raises
    ------
    DataError
    """
    from diffbt.bt.feeds import same_bar_spacing
    from diffbt.data.calendar import spacing_name

    assets = [str(a) for a in assets]
    have = list(market.assets)
    if not set(assets) <= set(have) or (not subset and set(have) != set(assets)):
        raise DataError(f"{what} is for assets {assets} but {data} has {have} (asset names "
                        "are the file names without extension)")
    if not same_bar_spacing(freq, market.freq):
        raise DataError(f"{what} is for {spacing_name(freq)} bars, {data} has "
                        f"{spacing_name(market.freq)} bars")


def check_train_end(market: Market, train_end: object, *, data: str = "the data",
                    option: str = "train_end") -> str | None:
    """Refuse a training end before the first bar; a warning text for one after the last.

    Returns
    -------
    str or None
        A warning when `train_end` is at or after the last bar: every bar is used for
        fitting (often a typo in the year, fitting on the intended test span).

    Raises
    ------
    DataError
        `train_end` before the first bar of `market`.
    """
    if train_end is None or len(market) == 0:
        return None
    train, test = market.split(train_end)
    if len(train) == 0:
        raise DataError(f"{option} {train_end} is before the first bar of {data} "
                        f"({_when(market.index[0])})")
    if len(test) == 0:
        return (f"{option} {train_end} is at or after the last bar of {data} "
                f"({_when(market.index[-1])}): every bar is used for fitting, none is left "
                "out (a typo in the year?)")
    return None


def _when(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() else str(ts)


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``["fast=10", "slow=30.5", "name=x"]`` -> ``{"fast": 10, "slow": 30.5, "name": "x"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"parameter {item!r} is not key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = value
    return out


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["fast=5,10", "slow=30"]`` -> ``{"fast": [5, 10], "slow": [30]}`` (values as
    `parse_params` reads them)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier() or not raw:
            raise ValueError(f"grid {item!r} is not key=value1,value2,...")
        out[key] = [parse_params([f"{key}={v}"])[key] for v in raw.split(",")]
    return out


def jsonable(x: Any) -> Any:
    """`x` with numpy scalars as Python numbers, non-finite floats as None, keys as str."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, pd.Timestamp):
        return str(x)
    return x


@dataclass
class BacktestOutputs:
    """What `backtest_and_report` produced."""

    result: Any
    report: Any
    files: dict[str, Path] = field(default_factory=dict)
    metrics: pd.DataFrame | None = None  # the rows of metrics.csv

    @property
    def verdict(self) -> str | None:
        """The robustness verdict; None for a backtest of the real history alone."""
        return None if self.report is None else self.report.verdict


def grid_returns(strategy: type, real: Market, grid: Mapping[str, Sequence[Any]], *,
                 params: Mapping[str, Any] | None = None, cash: float = 100_000.0,
                 commission: float = 0.0) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Real-history returns of every combination of a searched parameter grid.

    Parameters
    ----------
    strategy : bt.Strategy subclass
    real : Market
    grid : {name: values}
        The values searched per parameter; every combination is run (``params`` give the
        others).

    Returns
    -------
    (configs, returns)
        The combinations in run order, and their per-bar returns (n_bars, n_configs).
    """
    import itertools

    from diffbt.bt.runner import run_one

    keys = list(grid)
    configs = [dict(zip(keys, values, strict=True))
               for values in itertools.product(*(list(grid[k]) for k in keys))]
    cols = []
    for cfg in configs:
        vals, _, _ = run_one(strategy, real.values, real.index, real.assets,
                             params={**dict(params or {}), **cfg}, cash=cash,
                             commission=commission)
        cols.append(vals / np.concatenate([[cash], vals[:-1]]) - 1.0)
    return configs, np.column_stack(cols)


def backtest_and_report(strategy: type, paths: PathSet, *, real: Market | None,
                        out_dir: str | os.PathLike, params: Mapping[str, Any] | None = None,
                        cash: float = 100_000.0, commission: float = 0.0,
                        workers: int | None = None, backend: str = "process",
                        facts: Any = None, title: str | None = None,
                        progress: bool | Callable[[int, int], Any] = True,
                        n_trials: int | None = None,
                        grid: Mapping[str, Sequence[Any]] | None = None) -> BacktestOutputs:
    """Backtest on the real history and every path; write metrics, robustness and reports.

    Writes ``metrics.csv`` (one row per path, the real history first as ``real``),
    ``robustness.json`` (table, summary, verdict), ``tearsheet.html``, ``robustness.html``
    and the PNG figures into `out_dir`. `n_trials` (strategy variants tried) deflates the
    real Sharpe (DSR); `grid` ({name: values searched}) is run on the real history for PBO
    and the DSR's trial Sharpes (`n_trials` defaults to its number of combinations).
    """
    from diffbt.bt.runner import backtest_paths
    from diffbt.metrics.robustness import robustness
    from diffbt.report.robustness import robustness_report
    from diffbt.report.tearsheet import tearsheet_from_result

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = backtest_paths(strategy, paths, real=real, params=params, cash=cash,
                            commission=commission, workers=workers, backend=backend,
                            progress=progress)
    for err in result.errors[:5]:
        log.info("%s failed: %s", err.where, err.message)
    configs = grid_real = None
    if grid:
        if real is None:
            raise DataError("a parameter grid is scored on the real history: give --data")
        configs, grid_real = grid_returns(strategy, real, grid, params=params, cash=cash,
                                          commission=commission)
    report = robustness(result, n_trials=n_trials, grid_returns=grid_real)
    files: dict[str, Path] = {}
    rows = report.metrics.copy()  # computed once, by `robustness`
    rows.index = [f"path_{i}" for i in range(result.n_paths)]
    if report.real_metrics is not None:
        rows = pd.concat([report.real_metrics.to_frame("real").T, rows])
    rows.insert(0, "trades", np.concatenate(
        ([result.real_trades if result.real_trades is not None else -1]
         if result.real_returns is not None else [], result.trades)).astype(int))
    files["metrics"] = atomic_write_text(out / "metrics.csv", rows.to_csv(index_label="path"))
    payload = {"strategy": f"{strategy.__module__}.{strategy.__qualname__}",
               "params": dict(params or {}), "verdict": report.verdict,
               "summary": report.summary, "table": report.table.to_dict(orient="records"),
               "errors": [{"index": e.index, "where": e.where, "message": e.message}
                          for e in result.errors]}
    if configs is not None:
        payload["grid"] = configs
    if report.by_regime is not None:
        payload["by_regime"] = report.by_regime.reset_index().to_dict(orient="records")
    files["robustness_json"] = atomic_write_text(
        out / "robustness.json", json.dumps(jsonable(payload), indent=2))
    name = title or strategy.__name__
    if result.real_returns is not None and np.isfinite(result.returns).any():
        files["tearsheet"] = tearsheet_from_result(result, out=out / "tearsheet.html",
                                                   title=f"{name}: real vs median synthetic")
    files["robustness"] = robustness_report(result, out_dir=out, facts=facts, report=report,
                                            title=f"{name}: robustness")
    return BacktestOutputs(result, report, files, rows)


def backtest_real(strategy: type, real: Market, *, out_dir: str | os.PathLike,
                  params: Mapping[str, Any] | None = None, cash: float = 100_000.0,
                  commission: float = 0.0, title: str | None = None) -> BacktestOutputs:
    """Backtest on the real history alone: metrics and a tear-sheet, no robustness verdict.

    Writes ``metrics.csv`` (one row, ``real``) and ``tearsheet.html`` into `out_dir`; the
    outputs' ``report`` is None.

    Raises
    ------
    StrategyError
        The strategy fails on the real history.
    """
    from diffbt.bt.runner import backtest_paths
    from diffbt.metrics.returns import compute
    from diffbt.report.tearsheet import tearsheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    empty = PathSet(np.zeros((0, len(real), real.n_assets, 5)), real.index, real.assets)
    result = backtest_paths(strategy, empty, real=real, params=params, cash=cash,
                            commission=commission, backend="serial", progress=False)
    ppy = result.periods_per_year
    rows = compute(np.ascontiguousarray(result.real_returns[None]), periods_per_year=ppy)
    rows.index = ["real"]
    rows.insert(0, "trades", [int(result.real_trades)])
    files = {"metrics": atomic_write_text(out / "metrics.csv",
                                          rows.to_csv(index_label="path"))}
    name = title or strategy.__name__
    files["tearsheet"] = tearsheet(result.real_series(), out=out / "tearsheet.html",
                                   title=f"{name}: real history",
                                   periods_per_year=max(1, round(ppy)))
    return BacktestOutputs(result, None, files, rows)


def evaluate_quality(real: Market, synthetic: PathSet | None, *, out_dir: str | os.PathLike,
                     train: Market | None = None, baselines: bool = False,
                     n_paths: int | None = None, seed: int = 0) -> dict[str, dict[str, float]]:
    """Stylized-facts distances of synthetic paths (and baselines) to the real data.

    Writes ``quality.json`` (generator -> {fact -> distance}) and ``quality.png``.
    """
    from diffbt.metrics.facts import compare
    from diffbt.report.plots import quality_figure

    sets: dict[str, PathSet] = {}
    length = len(real)
    if synthetic is not None:
        sets["synthetic"] = synthetic
        length = min(length, synthetic.length)
    if baselines:
        from diffbt.generate.baselines import GBM, BlockBootstrap, GarchT, MertonJumpDiffusion

        if train is None:
            raise ValueError("baselines need the training span (train=...)")
        n = n_paths or (synthetic.n_paths if synthetic is not None else 200)
        for name, cls in (("gbm", GBM), ("merton", MertonJumpDiffusion),
                          ("bootstrap", BlockBootstrap), ("garch", GarchT)):
            sets[name] = cls().fit(train).sample(n, length, seed=seed)
    if not sets:
        raise ValueError("nothing to evaluate: give synthetic paths or baselines=True")
    table = compare(real, sets)
    out = Path(out_dir)
    quality = {name: {fact: float(table.loc[fact, name]) for fact in table.index}
               for name in table.columns}
    atomic_write_text(out / "quality.json", json.dumps(jsonable(quality), indent=2))
    atomic_write_text(out / "quality.csv", table.to_csv(index_label="fact"))
    fig = quality_figure(table)
    fig.savefig(out / "quality.png", dpi=110, bbox_inches="tight")
    return quality


# -- demo ---------------------------------------------------------------------------------

DEMO_FULL = {"steps": 1000, "paths": 500, "stress_paths": 100, "length": 252}
DEMO_QUICK = {"steps": 60, "paths": 40, "stress_paths": 20, "length": 126}


def demo(out_dir: str | os.PathLike = "reports/demo", *, quick: bool = False, seed: int = 0,
         workers: int | None = None, say: Say = _quiet,
         fit_progress: Callable[[int, dict], None] | None = None,
         progress: bool | Callable[[int, int], Any] = False) -> dict[str, Any]:
    """The whole pipeline on bundled real data (S&P 500 + NASDAQ, 1999-2018).

    Fits a diffusion model on 1999-2014, samples paths of one year after the training end
    (plus a "bear with a crash" stress set), backtests the example strategies on the real
    year 2015 and on every path, and writes tear-sheets, robustness reports and a fan chart.
    """
    from diffbt.generate.generator import MarketGenerator
    from diffbt.metrics.facts import stylized_facts
    from diffbt.report.plots import price_fan
    from strategies.momentum import MomentumRotation
    from strategies.sma_cross import SmaCross

    cfg = DEMO_QUICK if quick else DEMO_FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    market = datasets.load("sp500_nasdaq")
    train_end = "2014-12-31"
    train, test = market.split(train_end)
    say(f"data: {market}")
    gen_kw = {"steps": cfg["steps"], "calibrate": False}  # the demo does not forecast
    if quick:  # a smoke test: a small network, no long-path calibration
        gen_kw.update(hidden=32, n_blocks=2, calibrate_paths=False)
    gen = MarketGenerator(**gen_kw)
    t = time.perf_counter()
    gen.fit(market, train_end=train_end, seed=seed, progress=fit_progress)
    timings["fit_s"] = time.perf_counter() - t
    gen.save(out / "model.safetensors")
    say(f"fitted on {len(train)} bars in {timings['fit_s']:.0f} s")

    t = time.perf_counter()
    length = cfg["length"]
    paths = gen.sample(cfg["paths"], length, seed=seed, out=out / "paths.npz",
                       progress=progress if callable(progress) else None)
    stress = gen.sample(cfg["stress_paths"], length, regime="bear", jumps=1, seed=seed + 1,
                        out=out / "stress_paths.npz")
    timings["sample_s"] = time.perf_counter() - t
    say(f"sampled {paths.n_paths} + {stress.n_paths} stress paths x {length} bars in "
        f"{timings['sample_s']:.0f} s")

    real_year = test.iloc(slice(0, length))
    facts = stylized_facts(real_year if len(real_year) > 60 else test, paths)
    fig = price_fan(np.asarray(paths.field("close")[:, :, 0]),
                    real_close=real_year.values[:, 0, 3], index=paths.index,
                    title=f"{paths.assets[0]}: synthetic paths vs real {real_year.index[0].year}")
    fig.savefig(out / "price_fan.png", dpi=110, bbox_inches="tight")

    results: dict[str, Any] = {"timings": timings, "out": str(out)}
    t = time.perf_counter()
    for strat in (SmaCross, MomentumRotation):
        for label, ps in (("base", paths), ("stress", stress)):
            o = backtest_and_report(strat, ps, real=real_year, out_dir=out / strat.__name__ /
                                    label, workers=workers, facts=facts if label == "base"
                                    else None, progress=progress)
            results[f"{strat.__name__}/{label}"] = o.verdict
            say(f"{strat.__name__} ({label}): {o.verdict}")
    timings["backtest_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    atomic_write_text(out / "demo.json", json.dumps(jsonable(results), indent=2))
    return results
