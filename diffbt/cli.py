"""The `diffbt` command line: parses arguments, shows progress, writes files.

Errors are one line on stderr: exit code 2 for usage errors (bad options), 1 for bad data,
models or strategies. The translation of library errors into that line lives in the command
group itself, so ``cli`` run by click's ``CliRunner`` behaves as the ``diffbt`` entry point.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from diffbt.errors import DataError

REGIME_HELP = ("bull, bear, sideways, calm, volatile or a pair like bear_volatile; "
               "repeat for a regime sequence along long paths")


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


def _one_line(exc: BaseException) -> str:
    from diffbt.bt.loader import StrategyLoadError

    msg = str(exc) if isinstance(exc, DataError | StrategyLoadError) else (
        f"{type(exc).__name__}: {exc}")
    return " ".join(msg.split())


class _Cli(click.Group):
    """The command group; turns library errors into one ``Error: ...`` line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
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
@click.argument("data", nargs=-1, required=True)
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
def fit(data, out, window, train_end, steps, device, seed, resume) -> None:
    """Fit a diffusion model on DATA (CSV/parquet files or a bundled dataset name)."""
    from diffbt.generate.generator import MarketGenerator
    from diffbt.workflows import load_data

    market = load_data(data)
    _say(f"data: {market}")
    for r in market.repairs:
        _say(f"repaired: {r}")
    gen = MarketGenerator(window=window)
    total = steps or gen.config.steps
    update, close = _fit_progress(total)
    ckpt = Path(str(out) + ".train")
    try:
        gen.fit(market, train_end=train_end, steps=steps, device=device, seed=seed,
                checkpoint=ckpt, resume=resume, progress=update)
    finally:
        close()
    path = gen.save(out)
    val = gen.history.get("val_losses") or []
    if val:
        _say(f"validation loss: {val[-1][1]:.4f}")
    click.echo(f"model: {path}")


# -- sample ---------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--paths", "n_paths", type=int, required=True, callback=_positive)
@click.option("--length", type=int, required=True, callback=_positive, help="Bars per path.")
@click.option("--regime", multiple=True, callback=_check_regimes, help=REGIME_HELP)
@click.option("--jumps", type=click.IntRange(min=0), default=None,
              help="Jump events per window to ask for.")
@click.option("--guidance", type=float, default=None, callback=_finite,
              help="Classifier-free guidance scale.")
@click.option("--sampler", type=click.Choice(["dpm", "dpm-logsnr", "dpm-sde", "ddim", "ddpm"]),
              default="dpm",
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
@click.option("--data", multiple=True, help="Real data: files or a bundled dataset name.")
@click.option("--paths", "paths_file", type=click.Path(dir_okay=False), default=None,
              help="A PathSet file.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="Sample paths from this model first.")
@click.option("--n-paths", type=int, default=1000, show_default=True, callback=_positive)
@click.option("--length", type=int, default=None, callback=_positive)
@click.option("--regime", multiple=True, callback=_check_regimes, help=REGIME_HELP)
@click.option("--jumps", type=click.IntRange(min=0), default=None)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--params", multiple=True, help="Strategy parameter key=value (repeatable).")
@click.option("--cash", type=float, default=100_000.0, show_default=True, callback=_positive)
@click.option("--commission", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--workers", type=int, default=None, callback=_positive)
@click.option("--backend", type=click.Choice(["process", "ray"]), default="process",
              show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False))
def backtest(strategy, data, paths_file, model, n_paths, length, regime, jumps, seed, params,
             cash, commission, workers, backend, out) -> None:
    """Backtest STRATEGY (file.py:Class or package.module:Class) on real and synthetic paths.

    Strategy files are Python code and run when loaded: only use files you trust.
    """
    from diffbt.bt.loader import load_strategy
    from diffbt.generate.pathset import PathSet
    from diffbt.workflows import backtest_and_report, load_data, parse_params

    if paths_file and model:
        raise click.UsageError("give --paths or --model, not both")
    if not (paths_file or model or data):
        raise click.UsageError("give --data, --paths or --model")
    try:
        kwargs = parse_params(params)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--params") from None
    cls = load_strategy(strategy)
    real = load_data(data) if data else None
    if model:
        from diffbt.generate.generator import MarketGenerator

        gen = MarketGenerator.load(model)
        n_bars = length or (len(real) if real is not None else 252)
        _check_room(Path(out) / "paths.npz", n_paths, n_bars, len(gen.assets))
        update, close = _count_progress("sample", "path")
        try:
            paths = gen.sample(n_paths, n_bars, regime=list(regime) or None, jumps=jumps,
                               seed=seed, out=Path(out) / "paths.npz", progress=update)
        finally:
            close()
    elif paths_file:
        paths = PathSet.load(paths_file)
    else:
        paths = PathSet.from_market(real)
    result = backtest_and_report(cls, paths, real=real, out_dir=out, params=kwargs, cash=cash,
                                 commission=commission, workers=workers, backend=backend,
                                 progress=True)
    for e in result.result.errors[:3]:
        _say(f"path {e.index} failed: {e.message}")
    if len(result.result.errors) > 3:
        _say(f"... {len(result.result.errors)} paths failed in all (see robustness.json)")
    for name, path in result.files.items():
        click.echo(f"{name}: {path}")
    click.echo(result.verdict)


# -- forecast -------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", multiple=True, required=True)
@click.option("--horizon", type=int, required=True, callback=_positive)
@click.option("--quantiles", default="0.05,0.5,0.95", show_default=True)
@click.option("--n-samples", type=int, default=200, show_default=True, callback=_positive)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def forecast(model, data, horizon, quantiles, n_samples, seed, out) -> None:
    """Forecast quantiles of each asset's close 1..HORIZON bars after the data's last bar."""
    from diffbt.generate.generator import MarketGenerator
    from diffbt.workflows import atomic_write_text, load_data

    try:
        qs = [float(q) for q in quantiles.split(",")]
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of numbers: {quantiles!r}",
                                 param_hint="--quantiles") from None
    if any(not 0 <= q <= 1 for q in qs):
        raise click.BadParameter("quantiles must be in [0, 1]", param_hint="--quantiles")
    gen = MarketGenerator.load(model)
    market = load_data(data)
    fc = gen.forecast(market, horizon, n_samples=n_samples, quantiles=qs, seed=seed)
    fc.columns = [f"{a}_q{q:g}" for a, q in fc.columns]
    atomic_write_text(out, fc.to_csv())
    click.echo(f"forecast: {out}")


# -- evaluate -------------------------------------------------------------------------------
@cli.command()
@click.option("--real", "real_data", multiple=True, required=True)
@click.option("--synthetic", type=click.Path(dir_okay=False), default=None)
@click.option("--train-end", default=None, callback=_date,
              help="Compare on bars after this date; baselines are fitted before it.")
@click.option("--baselines", is_flag=True, help="Also score GBM, Merton, bootstrap, GARCH-t.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False))
def evaluate(real_data, synthetic, train_end, baselines, seed, out) -> None:
    """Stylized-facts distances of synthetic paths (and baselines) to real data."""
    from diffbt.generate.pathset import PathSet
    from diffbt.workflows import evaluate_quality, load_data

    if synthetic is None and not baselines:
        raise click.UsageError("give --synthetic and/or --baselines")
    market = load_data(real_data)
    train, test = (market, market) if train_end is None else market.split(train_end)
    if len(test) < 30:
        raise DataError(f"only {len(test)} bars after --train-end {train_end}")
    ps = PathSet.load(synthetic) if synthetic else None
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
