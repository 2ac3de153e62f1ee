"""The `diffbt` command line: parses arguments, shows progress, writes files.

Errors are one line on stderr: exit code 2 for usage errors (bad options), 1 for bad data,
models or strategies. The translation of library errors into that line lives in the command
group itself, so ``cli`` run by click's ``CliRunner`` behaves as the ``diffbt`` entry point.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from diffbt.errors import DataError, DataRepairWarning

REGIME_HELP = ("bull, bear, sideways, calm, volatile or a pair like bear_volatile; "
               "several (after one --regime, or it repeated) for a regime sequence along long "
               "paths")


def _bar(total: int, desc: str, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=None)


def _count_progress(desc: str, unit: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = _bar(total, desc, unit)
        state["bar"].update(done - state["done"])
        state["done"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def _fit_progress(total: int) -> tuple[Callable[[int, dict], None], Callable[[], None]]:
    bar = _bar(total, "fit", "step")
    last: dict[str, float] = {}

    def update(step: int, info: dict) -> None:
        bar.n = step
        if "val_loss" in info:
            last["val"] = info["val_loss"]
        post = {"loss": f"{info['loss']:.4f}"}
        if "val" in last:
            post["val_loss"] = f"{last['val']:.4f}"
        if "stage" in info:
            post["stage"] = info["stage"]
        bar.set_postfix(post, refresh=False)
        bar.refresh()

    return update, bar.close


def _check_regimes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]):
    from diffbt.data.labels import parse_regime

    for v in value:
        try:
            parse_regime(v)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _positive(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be > 0, got {value}")
    return value


def _finite(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def _date(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise click.BadParameter(f"not a date: {value!r}")
    return value


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def _check_room(out: str | os.PathLike, n_paths: int, length: int, n_assets: int) -> None:
    """Refuse a PathSet that cannot fit on the disk of `out` before sampling a single path."""
    need = n_paths * length * n_assets * 5 * 8
    where = Path(out).absolute().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        raise click.BadParameter(
            f"{n_paths} paths x {length} bars x {n_assets} assets need {need / 1e9:.3g} GB "
            f"for {out}, but only {free / 1e9:.3g} GB are free there",
            param_hint="'--paths' / '--length'")


# -- several values after one option ---------------------------------------------------------
def _option_like(token: str) -> bool:
    return token.startswith("-") and token != "-"


def _data_token(token: str) -> bool:
    """A data source, not the STRATEGY (``x.py:Class``, ``pkg.mod:Class``) or a model file."""
    if re.fullmatch(r"[^\s=]+:[A-Za-z_]\w*", token) and not re.match(r"[A-Za-z]:[\\/]", token):
        return False
    return not token.endswith((".safetensors", ".npz", ".py"))


def _param_token(token: str) -> bool:
    key, sep, _ = token.partition("=")
    return bool(sep) and key.isidentifier()


def _regime_token(token: str) -> bool:
    """A word (checked later as a regime name), not a file or a strategy spec."""
    return re.fullmatch(r"[A-Za-z_][\w-]*", token) is not None


class _Several(click.Option):
    """An option that takes several values after one flag (``--data a.csv b.csv``) as well
    as the flag repeated (``--data a.csv --data b.csv``).

    The values after the flag end at the next option or at a token `accepts` refuses.
    """

    def __init__(self, *args: Any, accepts: Callable[[str], bool] = lambda t: True,
                 positional: bool = False, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)
        self.accepts = accepts
        self.positional = positional  # the command's free arguments are values of it too


def _spread(command: click.Command, args: list[str]) -> list[str]:
    """``--data a b`` -> ``--data a --data b`` for the command's `_Several` options.

    If taking the values left a required argument of the command without its value, the
    last values taken are given back to it (``backtest --data a.csv b.csv STRATEGY``). A
    `_Several` option with ``positional=True`` also takes the command's free arguments, in
    command-line order (``fit a.csv --data b.csv c.csv``).
    """
    several = {o: p for p in command.params if isinstance(p, _Several) for o in p.opts}
    free = next((p.opts[0] for p in command.params if isinstance(p, _Several)
                 and p.positional), None)
    valued = {o for p in command.params if isinstance(p, click.Option)
              and not p.is_flag and not p.count for o in p.opts}
    wanted = sum(1 for p in command.params
                 if isinstance(p, click.Argument) and p.required and p.nargs == 1)
    out: list[str] = []
    taken: list[int] = []  # where a flag was inserted in `out`
    positional, i = 0, 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            if free:
                out += [a for t in args[i + 1:] for a in (free, t)]
            else:
                positional += len(args) - i - 1
                out += args[i:]
            break
        if not _option_like(tok):
            positional += 1
            out += [free, tok] if free else [tok]
            i += 1
            continue
        name = tok.split("=", 1)[0]
        out.append(tok)
        i += 1
        if name in valued and "=" not in tok and i < len(args):
            out.append(args[i])
            i += 1
        if name in several:
            while i < len(args) and not _option_like(args[i]) and several[name].accepts(
                    args[i]):
                taken.append(len(out))
                out += [name, args[i]]
                i += 1
    missing = wanted - positional
    for pos in reversed(taken[-missing:] if missing > 0 else []):
        del out[pos]
    return out


class _Command(click.Command):
    """A command whose `_Several` options take several values after one flag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _spread(self, list(args)))


def _data_option(*names: str, required: bool = False, what: str = "Data",
                 positional: bool = False) -> Callable:
    return click.option(
        *names, "data", cls=_Several, accepts=_data_token, required=required,
        positional=positional, metavar="FILE...",
        help=f"{what}: CSV/parquet files (one asset each, named by the file) or a bundled "
             "dataset name; several after one flag, or the flag repeated.")


def _load_options(f: Callable) -> Callable:
    f = click.option("--gaps", type=click.Choice(["error", "ffill"]), default="error",
                     show_default=True,
                     help="A gap in the calendar: an error, or filled with flat bars.")(f)
    return click.option("--adjust", type=click.Choice(["none", "close"]), default="none",
                        show_default=True,
                        help="close: scale open/high/low/close by Adj Close / Close.")(f)


# -- warnings and errors as one line each ---------------------------------------------------
_SHOWN: set[str] = set()  # warning texts printed during this command


def _warning_line(text: str, *, repair: bool) -> None:
    text = " ".join(str(text).split())
    if text not in _SHOWN:
        _SHOWN.add(text)
        _say(f"{'repaired' if repair else 'warning'}: {text}")


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Every warning once, as ``warning: ...`` (``repaired: ...`` for data repairs)."""
    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        text = str(message)
        if not issubclass(category, UserWarning):
            text = f"{category.__name__}: {text}"
        _warning_line(text, repair=issubclass(category, DataRepairWarning))

    _SHOWN.clear()
    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _load(data: tuple[str, ...], adjust: str = "none", gaps: str = "error") -> Any:
    """Load the data; print each repair and warning once."""
    from diffbt.workflows import load_data

    market = load_data(data, adjust="close" if adjust == "close" else False, gaps=gaps)
    for r in market.repairs:  # those not emitted as warnings (bundled datasets)
        _warning_line(r, repair="suspicious" not in r)
    return market


def _one_line(exc: BaseException) -> str:
    from diffbt.bt.loader import StrategyLoadError
    from diffbt.bt.runner import StrategyError

    msg = str(exc) if isinstance(exc, DataError | StrategyLoadError | StrategyError) else (
        f"{type(exc).__name__}: {exc}")
    return " ".join(msg.split())


class _Cli(click.Group):
    """The command group; turns library errors into one ``Error: ...`` line and exit code 1,
    warnings into one ``warning: ...`` line each."""

    command_class = _Command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _warnings_as_lines():
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help / --version (Exit is a RuntimeError)
        except (ValueError, TypeError, RuntimeError, OSError, OverflowError,
                MemoryError) as exc:  # DataError and StrategyLoadError are ValueErrors
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            raise click.ClickException(_one_line(exc)) from exc


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diffbt")
@click.option("-v", "--verbose", is_flag=True, help="Log details to stderr.")
def cli(verbose: bool) -> None:
    """Stress-test backtrader strategies on synthetic markets from a diffusion model."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


# -- fit ------------------------------------------------------------------------------------
@cli.command()
@click.argument("files", nargs=-1, metavar="[DATA]...")  # for --help: _spread moves them
@_data_option("--data", what="Data (or give it as DATA arguments)", positional=True)
@_load_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file.")
@click.option("--window", type=int, default=64, show_default=True, callback=_positive)
@click.option("--train-end", default=None, callback=_date,
              help="Fit on bars up to this date only.")
@click.option("--steps", type=int, default=None, callback=_positive,
              help="Training steps (default from the model config).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT.train if it exists.")
def fit(files, data, adjust, gaps, out, window, train_end, steps, device, seed,
        resume) -> None:
    """Fit a diffusion model on DATA (CSV/parquet files or a bundled dataset name)."""
    from diffbt.generate.generator import MarketGenerator
    from diffbt.workflows import check_train_end, source_names

    data = tuple(data) + tuple(files)
    if not data:
        raise click.UsageError("give the data: DATA files or a bundled dataset name")
    market = _load(data, adjust, gaps)
    _say(f"data: {market}")
    names = source_names(data)
    late = check_train_end(market, train_end, data=names, option="--train-end")
    if late:
        _warning_line(late, repair=False)
    gen = MarketGenerator(window=window)
    total = steps or gen.config.train.steps
    update, close = _fit_progress(total)
    ckpt = Path(str(out) + ".train")
    try:
        gen.fit(market, train_end=train_end, steps=steps, device=device, seed=seed,
                checkpoint=ckpt, resume=resume, progress=update)
    except DataError as exc:
        if "window" not in exc.msg:
            raise
        raise DataError(_window_hint(exc.msg, window, market, train_end), file=names) from None
    finally:
        close()
    path = gen.save(out)
    val = gen.history.get("val_losses") or []
    if val:
        _say(f"validation loss: {val[-1][1]:.4f}")
    click.echo(f"model: {path}")


def _window_hint(msg: str, window: int, market: Any, train_end: Any) -> str:
    """The generator's too-little-history message plus a ``--window`` that would fit."""
    from diffbt.generate.generator import MarketGenerator

    n = len(market if train_end is None else market.split(train_end)[0])
    need = re.search(r"at least (\d+)", msg)
    fits = []
    if need:
        extra = int(need.group(1)) - window
        for w in (128, 96, 64, 48, 32, 24, 16, 12, 8):
            if w < window and w + extra <= n:
                try:
                    MarketGenerator(window=w)
                except ValueError:
                    continue
                fits.append(w)
    hint = f"--window {fits[0]} would fit" if fits else "pass a smaller --window or more data"
    return f"{msg.rstrip('.')} ({hint})"


# -- sample ---------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--paths", "n_paths", type=int, required=True, callback=_positive)
@click.option("--length", type=int, required=True, callback=_positive, help="Bars per path.")
@click.option("--regime", cls=_Several, accepts=_regime_token, callback=_check_regimes,
              help=REGIME_HELP)
@click.option("--jumps", type=click.IntRange(min=0), default=None,
              help="Jump events per window to ask for.")
@click.option("--guidance", type=float, default=None, callback=_finite,
              help="Classifier-free guidance scale.")
@click.option("--sampler", type=click.Choice(["dpm", "dpm-logsnr", "ddpm"]), default="dpm",
              show_default=True)
@click.option("--sampler-steps", type=int, default=20, show_default=True, callback=_positive)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PathSet file.")
def sample(model, n_paths, length, regime, jumps, guidance, sampler, sampler_steps, seed,
           device, out) -> None:
    """Sample synthetic paths from MODEL into a PathSet file."""
    from diffbt.generate.generator import MarketGenerator

    gen = MarketGenerator.load(model, device=device)
    _check_room(out, n_paths, length, len(gen.assets))
    update, close = _count_progress("sample", "path")
    try:
        ps = gen.sample(n_paths, length, regime=list(regime) or None, jumps=jumps,
                        guidance=guidance, sampler=sampler, sampler_steps=sampler_steps,
                        seed=seed, out=out, progress=update)
    finally:
        close()
    click.echo(f"paths: {out} ({ps.n_paths} x {ps.length} bars x {list(ps.assets)})")


# -- backtest -------------------------------------------------------------------------------
@cli.command()
@click.argument("strategy")
@_data_option("--data", what="Real data")
@_load_options
@click.option("--paths", "paths_file", type=click.Path(dir_okay=False), default=None,
              help="A PathSet file.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="Sample paths from this model first.")
@click.option("--n-paths", type=int, default=1000, show_default=True, callback=_positive)
@click.option("--length", type=int, default=None, callback=_positive)
@click.option("--regime", cls=_Several, accepts=_regime_token, callback=_check_regimes,
              help=REGIME_HELP)
@click.option("--jumps", type=click.IntRange(min=0), default=None)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--params", cls=_Several, accepts=_param_token, metavar="KEY=VALUE...",
              help="Strategy parameters: several after one --params, or it repeated.")
@click.option("--cash", type=float, default=100_000.0, show_default=True, callback=_positive)
@click.option("--commission", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--workers", type=int, default=None, callback=_positive)
@click.option("--backend", type=click.Choice(["process", "ray"]), default="process",
              show_default=True)
@click.option("--n-trials", type=click.IntRange(min=1), default=None,
              help="Strategy variants tried before this one: deflates the real Sharpe (DSR).")
@click.option("--grid", cls=_Several, accepts=_param_token, metavar="KEY=V1,V2...",
              help="The parameter grid searched (every combination is run on --data): gives "
                   "PBO and the DSR's trials.")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def backtest(strategy, data, adjust, gaps, paths_file, model, n_paths, length, regime, jumps,
             seed, params, cash, commission, workers, backend, n_trials, grid, out) -> None:
    """Backtest STRATEGY (file.py:Class or package.module:Class) on real and synthetic paths.

    With --paths or --model: the real history (--data) and every synthetic path, scored
    against each other (a robustness verdict). With --data alone: a plain backtest of the
    real history (metrics and a tear-sheet, no verdict).

    Strategy files are Python code and run when loaded: only use files you trust.
    """
    from diffbt.bt.loader import load_strategy
    from diffbt.bt.runner import check_params
    from diffbt.generate.pathset import PathSet
    from diffbt.workflows import (
        backtest_and_report,
        backtest_real,
        check_fits_data,
        parse_grid,
        parse_params,
        source_names,
    )

    if paths_file and model:
        raise click.UsageError("give --paths or --model, not both")
    if not (paths_file or model or data):
        raise click.UsageError("give --data, --paths or --model")
    try:
        kwargs = parse_params(params)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--params") from None
    try:
        searched = parse_grid(grid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid") from None
    if searched and not data:
        raise click.UsageError("--grid is scored on the real history: give --data")
    cls = load_strategy(strategy)
    try:
        check_params(cls, kwargs)
        for key in searched:
            check_params(cls, {key: searched[key][0]})
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--params/--grid") from None
    real = _load(data, adjust, gaps) if data else None
    if real is not None and not (paths_file or model):
        outs = backtest_real(cls, real, out_dir=out, params=kwargs, cash=cash,
                             commission=commission)
        m = outs.metrics.loc["real"]
        for name, path in outs.files.items():
            click.echo(f"{name}: {path}")
        click.echo(f"real history: sharpe {m['sharpe']:.2f}, cagr {m['cagr']:.2%}, max "
                   f"drawdown {m['max_drawdown']:.2%}, {int(m['trades'])} trades (no verdict: "
                   "give --paths or --model to compare with synthetic paths)")
        return
    if model:
        from diffbt.generate.generator import MarketGenerator

        gen = MarketGenerator.load(model)
        if real is not None:
            check_fits_data(real, gen.assets, gen.freq, what=f"the model {Path(model).name}",
                            data=source_names(data))
        n_bars = length or (len(real) if real is not None else 252)
        _check_room(Path(out) / "paths.npz", n_paths, n_bars, len(gen.assets))
        update, close = _count_progress("sample", "path")
        try:
            paths = gen.sample(n_paths, n_bars, regime=list(regime) or None, jumps=jumps,
                               seed=seed, out=Path(out) / "paths.npz", progress=update)
        finally:
            close()
    else:
        from diffbt.data.calendar import bar_spacing

        paths = PathSet.load(paths_file)
        if real is not None:
            check_fits_data(real, paths.assets, bar_spacing(paths.index),
                            what=f"the PathSet {Path(paths_file).name}", data=source_names(data))
    result = backtest_and_report(cls, paths, real=real, out_dir=out, params=kwargs, cash=cash,
                                 commission=commission, workers=workers, backend=backend,
                                 progress=True, n_trials=n_trials, grid=searched or None)
    for e in result.result.errors[:3]:
        _say(f"{e.where} failed: {e.message}")
    if len(result.result.errors) > 3:
        _say(f"... {len(result.result.errors)} paths failed in all (see robustness.json)")
    for name, path in result.files.items():
        click.echo(f"{name}: {path}")
    click.echo(result.verdict)


# -- forecast -------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_data_option("--data", required=True, what="Recent history")
@_load_options
@click.option("--horizon", type=int, required=True, callback=_positive)
@click.option("--quantiles", default="0.05,0.5,0.95", show_default=True)
@click.option("--n-samples", type=int, default=200, show_default=True, callback=_positive)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def forecast(model, data, adjust, gaps, horizon, quantiles, n_samples, seed, out) -> None:
    """Forecast quantiles of each asset's close 1..HORIZON bars after the data's last bar."""
    from diffbt.generate.generator import MarketGenerator
    from diffbt.workflows import atomic_write_text, check_fits_data, source_names

    try:
        qs = [float(q) for q in quantiles.split(",")]
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of numbers: {quantiles!r}",
                                 param_hint="--quantiles") from None
    if any(not 0 <= q <= 1 for q in qs):
        raise click.BadParameter("quantiles must be in [0, 1]", param_hint="--quantiles")
    gen = MarketGenerator.load(model)
    market = _load(data, adjust, gaps)
    check_fits_data(market, gen.assets, gen.freq, what=f"the model {Path(model).name}",
                    data=source_names(data), subset=True)
    fc = gen.forecast(market, horizon, n_samples=n_samples, quantiles=qs, seed=seed)
    fc.columns = [f"{a}_q{q:g}" for a, q in fc.columns]
    atomic_write_text(out, fc.to_csv())
    click.echo(f"forecast: {out}")


# -- evaluate -------------------------------------------------------------------------------
@cli.command()
@_data_option("--real", "--data", required=True, what="Real data")
@_load_options
@click.option("--synthetic", type=click.Path(dir_okay=False), default=None)
@click.option("--train-end", default=None, callback=_date,
              help="Compare on bars after this date; baselines are fitted before it.")
@click.option("--baselines", is_flag=True, help="Also score GBM, Merton, bootstrap, GARCH-t.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False))
def evaluate(data, adjust, gaps, synthetic, train_end, baselines, seed, out) -> None:
    """Stylized-facts distances of synthetic paths (and baselines) to real data."""
    from diffbt.data.calendar import bar_spacing
    from diffbt.generate.pathset import PathSet
    from diffbt.workflows import check_fits_data, check_train_end, evaluate_quality, source_names

    if synthetic is None and not baselines:
        raise click.UsageError("give --synthetic and/or --baselines")
    market = _load(data, adjust, gaps)
    names = source_names(data)
    check_train_end(market, train_end, data=names, option="--train-end")
    train, test = (market, market) if train_end is None else market.split(train_end)
    if len(test) < 30:
        raise DataError(f"only {len(test)} bars after --train-end {train_end}", file=names)
    ps = PathSet.load(synthetic) if synthetic else None
    if ps is not None:
        check_fits_data(market, ps.assets, bar_spacing(ps.index),
                        what=f"the PathSet {Path(synthetic).name}", data=names)
    quality = evaluate_quality(test, ps, out_dir=out, train=train, baselines=baselines,
                               seed=seed)
    for name, facts in quality.items():
        click.echo(f"{name:>10}: " + ", ".join(f"{k}={v:.3g}" for k, v in facts.items()))
    click.echo(f"quality: {Path(out) / 'quality.json'}")


# -- bench ----------------------------------------------------------------------------------
@cli.command()
@click.option("--quick", is_flag=True, help="Small sizes (a smoke test of the suite).")
@click.option("--out", default="reports/bench", show_default=True,
              type=click.Path(file_okay=False))
def bench(quick, out) -> None:
    """Run the benchmark suite; writes OUT/bench.json and OUT/bench.md."""
    from diffbt.bench.suite import run_suite

    md = run_suite(out, quick=quick, say=_say)
    click.echo(md)


# -- demo -----------------------------------------------------------------------------------
@cli.command()
@click.option("--out", default="reports/demo", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="Tiny model and few paths (about a minute).")
@click.option("--workers", type=int, default=None, callback=_positive)
def demo(out, quick, workers) -> None:
    """The whole pipeline on bundled S&P 500 + NASDAQ data; reports land in OUT."""
    from diffbt.workflows import DEMO_FULL, DEMO_QUICK
    from diffbt.workflows import demo as run_demo

    steps = (DEMO_QUICK if quick else DEMO_FULL)["steps"]
    update, close = _fit_progress(steps)
    try:
        results = run_demo(out, quick=quick, workers=workers, say=_say, fit_progress=update,
                           progress=True)
    finally:
        close()
    t = results["timings"]
    click.echo(f"demo done in {t['total_s']:.0f} s (fit {t['fit_s']:.0f} s, sample "
               f"{t['sample_s']:.0f} s, backtests {t['backtest_s']:.0f} s)")
    click.echo(f"reports: {Path(out).resolve()}")
    for name in ("SmaCross", "MomentumRotation"):
        click.echo(f"  {name}: {Path(out) / name / 'base' / 'robustness.html'}")


# -- entry point ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line per error, no tracebacks for user mistakes."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        cli.main(args=argv, prog_name="diffbt", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
