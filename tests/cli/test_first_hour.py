"""A new user's first hour through the CLI: mismatched models, strategy mistakes, several
files, load options, warnings printed once, training-span checks (issue 16)."""

from __future__ import annotations

import contextlib
import json
import re

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from diffbt.cli import cli
from diffbt.data.io import load_market
from diffbt.errors import DataError
from diffbt.generate.baselines import GBM
from diffbt.generate.generator import MarketGenerator
from diffbt.workflows import check_fits_data
from strategies import SmaCross
from tests.helpers import tiny

TINY = tiny(hidden=16, steps=5, attention=True, batch_size=128, timesteps=1000)
SMA = "strategies.sma_cross:SmaCross"

pytestmark = pytest.mark.usefixtures("block_network")


def _frame(index: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(index)
    close = 100 * np.exp(np.cumsum(rng.normal(3e-4, 0.01, n)))
    opn = close * np.exp(rng.normal(0, 0.002, n))
    return pd.DataFrame({"timestamp": index, "open": opn, "high": np.maximum(opn, close) * 1.003,
                         "low": np.minimum(opn, close) * 0.997, "close": close,
                         "volume": rng.uniform(1e5, 2e5, n)})


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """Daily spy/qqq/btc files, an hourly 'spy' file, tiny models and PathSets fitted on them."""
    d = tmp_path_factory.mktemp("first_hour")
    days = pd.bdate_range("2015-01-01", periods=300)
    for name, seed in (("spy", 0), ("qqq", 1), ("btc", 2)):
        _frame(days, seed).to_csv(d / f"{name}.csv", index=False)
    (d / "hourly").mkdir()
    _frame(pd.date_range("2015-01-01", periods=300, freq="h"), 3).to_csv(
        d / "hourly" / "spy.csv", index=False)
    _frame(days[:40], 4).to_csv(d / "short.csv", index=False)
    for name, files in (("spy", ["spy"]), ("pair", ["spy", "qqq"])):
        market = load_market({f: d / f"{f}.csv" for f in files})
        gen = MarketGenerator(**TINY).fit(market, seed=0)
        gen.save(d / f"{name}.safetensors")
        # path files with realistic volatility (a 5-step network's paths barely move, and an
        # SMA crossover may never trade on them): GBM, on the same assets and calendar
        gbm = GBM().fit(market)
        gbm.sample(4, 80, seed=0).save(d / f"{name}_paths.npz")
        gbm.sample(3, 20, seed=0).save(d / f"{name}_short_paths.npz")
    (d / "bad.py").write_text(
        "import backtrader as bt\n\n"
        "class Boom(bt.Strategy):\n"
        "    def __init__(self):\n"
        "        1 / 0\n\n"
        "class NeedsModel(bt.Strategy):\n"
        "    params = (('model', None),)\n\n"
        "    def __init__(self):\n"
        "        self.f = self.p.model.forecast_series\n")
    return d


def invoke(args: list[str], cwd) -> tuple[int, str]:
    with contextlib.chdir(cwd):
        res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or type(res.exception) is SystemExit, repr(res.exception)
    return res.exit_code, res.output


def last_line(out: str) -> str:
    return [ln for ln in out.splitlines() if ln.strip()][-1]


# -- a model or paths for other assets / another bar spacing ---------------------------------
@pytest.mark.parametrize("argv", [
    ["backtest", SMA, "--data", "btc.csv", "--model", "spy.safetensors", "--n-paths", "2",
     "--out", "o"],
    ["backtest", SMA, "--data", "btc.csv", "--paths", "spy_paths.npz", "--out", "o"],
    ["evaluate", "--real", "btc.csv", "--synthetic", "spy_paths.npz", "--out", "o"],
    ["forecast", "spy.safetensors", "--data", "btc.csv", "--horizon", "2", "--out", "f.csv"],
    ["backtest", SMA, "--data", "spy.csv", "--model", "pair.safetensors", "--out", "o"],
    ["evaluate", "--real", "spy.csv", "qqq.csv", "btc.csv", "--synthetic", "pair_paths.npz",
     "--out", "o"],
])
def test_model_or_paths_for_other_assets_are_refused(kit, argv):
    code, out = invoke(argv, kit)
    assert code == 1, out
    line = last_line(out)
    assert line.startswith("Error: ") and "is for assets" in line and "['spy'" in line
    assert not (kit / "o" / "robustness.json").exists()


@pytest.mark.parametrize("argv", [
    ["backtest", SMA, "--data", "hourly/spy.csv", "--model", "spy.safetensors", "--out", "o"],
    ["backtest", SMA, "--data", "hourly/spy.csv", "--paths", "spy_paths.npz", "--out", "o"],
    ["evaluate", "--real", "hourly/spy.csv", "--synthetic", "spy_paths.npz", "--out", "o"],
    ["forecast", "spy.safetensors", "--data", "hourly/spy.csv", "--horizon", "2", "--out",
     "f.csv"],
])
def test_model_or_paths_for_another_bar_spacing_are_refused(kit, argv):
    code, out = invoke(argv, kit)
    assert code == 1, out
    assert "1-day bars" in last_line(out) and "1-hour bars" in last_line(out)


def test_check_fits_data_compares_assets_and_bar_spacing():
    days = pd.bdate_range("2020-01-01", periods=50)
    m = load_market({a: _frame(days, k).set_index("timestamp") for k, a in enumerate("ab")})
    assert m.freq == pd.Timedelta(days=1)
    day, hour = pd.Timedelta(days=1), pd.Timedelta(hours=1)
    check_fits_data(m, ["b", "a"], day, what="m")  # order does not matter
    check_fits_data(m, ["a"], day, what="m", subset=True)  # a forecast reads only its own
    check_fits_data(m, ["a", "b"], None, what="m")  # unknown spacing: not refused
    every_day = load_market({"a": _frame(pd.date_range("2020-01-01", periods=50), 0)
                             .set_index("timestamp")})
    check_fits_data(every_day, ["a"], day, what="m")  # 24/7 daily bars are daily bars
    with pytest.raises(DataError, match="is for assets"):
        check_fits_data(m, ["a"], day, what="m")
    with pytest.raises(DataError, match="is for assets"):
        check_fits_data(m, ["a", "c"], day, what="m", subset=True)
    with pytest.raises(DataError, match="1-hour bars, the data has 1-day bars"):
        check_fits_data(m, ["a", "b"], hour, what="m")
    with pytest.raises(DataError, match="4-hour"):
        check_fits_data(m, ["a", "b"], 4 * hour, what="m")


@pytest.mark.slow
def test_matching_model_and_data_still_backtest(kit):
    code, out = invoke(["backtest", SMA, "--data", "spy.csv", "--model", "spy.safetensors",
                        "--n-paths", "3", "--length", "80", "--workers", "1", "--params",
                        "fast=5", "slow=20", "--out", "ok"], kit)
    assert code == 0, out
    rob = json.loads((kit / "ok" / "robustness.json").read_text())
    assert rob["params"] == {"fast": 5, "slow": 20} and rob["verdict"] in out


# -- --adjust and --gaps on every command that loads data ------------------------------------
@pytest.fixture(scope="session")
def messy(kit):
    """spy.csv with an Adj Close of half the close, and one with a two-week hole."""
    d = kit / "messy"
    d.mkdir()
    f = pd.read_csv(kit / "spy.csv")
    f["adj close"] = f["close"] / 2
    (d / "adj").mkdir()
    f.to_csv(d / "adj" / "spy.csv", index=False)
    (d / "gap").mkdir()
    f.drop(columns="adj close").drop(index=range(150, 160)).to_csv(d / "gap" / "spy.csv",
                                                                    index=False)
    return d


def test_adjust_close_uses_the_adjusted_prices(kit, messy):
    """The model sees returns, identical here: adjusted forecasts are exactly half."""
    out = {}
    for label, extra in (("raw", []), ("adj", ["--adjust", "close"])):
        code, text = invoke(["forecast", kit / "spy.safetensors", "--data", "adj/spy.csv",
                             "--horizon", "3", "--n-samples", "16", "--out", f"{label}.csv",
                             *extra], messy)
        assert code == 0, text
        out[label] = pd.read_csv(messy / f"{label}.csv", index_col=0)
    np.testing.assert_allclose(out["adj"].to_numpy(), out["raw"].to_numpy() / 2, rtol=1e-9)


@pytest.mark.parametrize("argv", [
    ["backtest", SMA, "--data", "gap/spy.csv", "--out", "o"],
    ["forecast", "MODEL", "--data", "gap/spy.csv", "--horizon", "2", "--n-samples", "4",
     "--out", "f.csv"],
    ["evaluate", "--real", "gap/spy.csv", "--synthetic", "PATHS", "--out", "o"],
    ["fit", "gap/spy.csv", "--out", "m.safetensors", "--train-end", "2010-01-01"],
])
def test_gaps_ffill_fills_the_hole_on_every_command(kit, messy, argv):
    argv = [str(kit / "spy.safetensors") if a == "MODEL" else
            str(kit / "spy_paths.npz") if a == "PATHS" else a for a in argv]
    code, out = invoke(argv, messy)
    assert code == 1 and "gap" in last_line(out) and "--gaps ffill" in last_line(out), out
    code, out = invoke([*argv, "--gaps", "ffill"], messy)
    repaired = [ln for ln in out.splitlines() if ln.startswith("repaired: ")]
    assert len(repaired) == 1 and "spy.csv" in repaired[0], out
    if argv[0] == "fit":  # stopped by its --train-end, after loading the filled file
        assert code == 1 and "before the first bar" in last_line(out)
    else:
        assert code == 0, out


@pytest.mark.parametrize("option", [["--adjust", "split"], ["--gaps", "interpolate"]])
def test_bad_load_option_is_a_usage_error(kit, option):
    code, out = invoke(["forecast", "spy.safetensors", "--data", "spy.csv", "--horizon", "2",
                        "--out", "f.csv", *option], kit)
    assert code == 2 and option[0] in last_line(out)


# -- strategy mistakes ---------------------------------------------------------------------
def test_unknown_strategy_parameter_is_a_usage_error_listing_the_valid_ones(kit):
    code, out = invoke(["backtest", SMA, "--data", "spy.csv", "--paths", "spy_paths.npz",
                        "--params", "fsat=5", "--out", "o"], kit)
    assert code == 2
    line = last_line(out)
    assert "--params" in line and "'fsat'" in line and "fast=10, slow=30, weight=0.95" in line


@pytest.mark.parametrize("spec, needle", [
    ("bad.py:Boom", "Boom failed: ZeroDivisionError: division by zero"),
    ("bad.py:NeedsModel", "NeedsModel failed: AttributeError"),
])
@pytest.mark.parametrize("with_real", [True, False])
def test_a_strategy_that_always_fails_stops_the_run_once(kit, spec, needle, with_real):
    real = ["--data", "spy.csv"] if with_real else []
    code, out = invoke(["backtest", spec, *real, "--paths", "spy_paths.npz", "--workers", "1",
                        "--out", "o"], kit)
    assert code == 1
    line = last_line(out)
    assert line.startswith(f"Error: {needle}"), out
    assert ("the real history" in line) == with_real
    assert "no synthetic paths" not in out and "path -1" not in out
    assert sum("failed" in ln for ln in out.splitlines()) == 1  # said once, not per path


def test_a_strategy_failing_on_the_real_history_alone_says_so(kit):
    code, out = invoke(["backtest", "bad.py:Boom", "--data", "spy.csv", "--out", "o"], kit)
    assert code == 1 and last_line(out).startswith("Error: Boom failed: ZeroDivisionError")
    assert "the real history" in last_line(out)


def test_paths_shorter_than_the_warm_up_are_named_as_such(kit):
    code, out = invoke(["backtest", SMA, "--data", "spy.csv", "--paths", "spy_short_paths.npz",
                        "--out", "o"], kit)
    line = last_line(out)
    assert code == 1 and "SmaCross failed" in line
    assert "needs 31 bars" in line and "warm-up" in line and "20" in line
    assert "IndexError" not in out


def test_a_real_history_shorter_than_the_warm_up_is_called_the_real_history(kit, tmp_path):
    """Real data of 40 bars, paths of 80: the paths run, the real history is named."""
    short = tmp_path / "spy.csv"
    pd.read_csv(kit / "short.csv").to_csv(short, index=False)
    code, out = invoke(["backtest", SMA, "--data", short, "--paths", kit / "spy_paths.npz",
                        "--params", "slow=60", "fast=5", "--workers", "1", "--out", "o"],
                       tmp_path)
    assert code == 0, out
    assert "the real history failed: WarmupError: SmaCross needs 61 bars" in out
    assert "path -1" not in out
    rob = json.loads((tmp_path / "o" / "robustness.json").read_text())
    assert rob["errors"][0]["where"] == "the real history"


# -- a backtest of the real history alone --------------------------------------------------
def test_backtest_with_data_only_is_a_plain_real_backtest(kit, tmp_path):
    code, out = invoke(["backtest", SMA, "--data", kit / "spy.csv", "--params", "fast=5",
                        "slow=20", "--out", "real"], tmp_path)
    assert code == 0, out
    assert "no verdict" in out and "FRAGILE" not in out and "ROBUST" not in out
    assert not (tmp_path / "real" / "robustness.json").exists()
    metrics = pd.read_csv(tmp_path / "real" / "metrics.csv", index_col=0)
    assert list(metrics.index) == ["real"]
    # independent: the same strategy in a bare Cerebro, Sharpe from its broker values
    df = pd.read_csv(kit / "spy.csv", index_col="timestamp", parse_dates=True)
    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=df, openinterest=None))
    cerebro.addstrategy(SmaCross, fast=5, slow=20)
    cerebro.broker.setcash(100_000.0)  # the CLI default --cash
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr", timeframe=bt.TimeFrame.Days)
    r = np.array(list(cerebro.run()[0].analyzers.tr.get_analysis().values()))
    sharpe = r.mean() / r.std(ddof=1) * np.sqrt(252)
    assert metrics.loc["real", "sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert f"sharpe {sharpe:.2f}" in out


def test_backtest_help_documents_the_data_only_case():
    res = CliRunner().invoke(cli, ["backtest", "--help"])
    assert res.exit_code == 0 and "With --data alone" in res.output and "no verdict" in res.output


# -- several files after one option, or the option repeated --------------------------------
@pytest.mark.parametrize("argv", [
    ["fit", "spy.csv", "qqq.csv", "--out", "m.safetensors", "--train-end", "2001-01-01"],
    ["fit", "--data", "spy.csv", "qqq.csv", "--out", "m.safetensors", "--train-end",
     "2001-01-01"],
    ["fit", "--data", "spy.csv", "--data", "qqq.csv", "--out", "m.safetensors",
     "--train-end", "2001-01-01"],
    ["fit", "--out", "m.safetensors", "--data=spy.csv", "qqq.csv", "--train-end=2001-01-01"],
])
def test_fit_takes_several_files_in_every_form(kit, argv):
    code, out = invoke(argv, kit)  # stopped by --train-end, after reading both files
    assert code == 1 and "spy.csv, qqq.csv" in last_line(out), out


def test_backtest_runs_on_several_files_after_one_option(kit, tmp_path):
    code, out = invoke(["backtest", "--data", "spy.csv", "qqq.csv", SMA, "--paths",
                        "pair_paths.npz", "--workers", "1", "--out", tmp_path / "o"], kit)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "o" / "metrics.csv", index_col=0)
    assert list(metrics.index[:2]) == ["real", "path_0"] and len(metrics) == 5


@pytest.mark.parametrize("argv", [
    ["backtest", SMA, "--data", "spy.csv", "qqq.csv", "--paths", "spy_paths.npz"],
    ["backtest", SMA, "--data", "spy.csv", "--data", "qqq.csv", "--paths", "spy_paths.npz"],
    ["backtest", "--data", "spy.csv", "qqq.csv", SMA, "--paths", "spy_paths.npz"],
    ["backtest", "--data=spy.csv", "qqq.csv", "bad.py:Boom", "--paths", "spy_paths.npz"],
    ["backtest", "--paths", "spy_paths.npz", "--data", "spy.csv", "qqq.csv", "--out", "o",
     "--", SMA],
    ["backtest", "--data", "spy.csv", "qqq.csv", "--params", "fast=5", "slow=20", SMA,
     "--paths", "spy_paths.npz"],
])
def test_backtest_reads_several_files_in_every_form(kit, argv):
    """Both files read (the single-asset paths then refuse the pair: a quick stop)."""
    if "--out" not in argv:
        argv = [*argv, "--out", "o"]
    code, out = invoke(argv, kit)
    assert code == 1 and "spy.csv, qqq.csv has ['spy', 'qqq']" in last_line(out), out


@pytest.mark.parametrize("argv", [
    ["--real", "spy.csv", "qqq.csv"],
    ["--real", "spy.csv", "--real", "qqq.csv"],
    ["--data", "spy.csv", "qqq.csv"],
    ["--real=spy.csv", "qqq.csv"],
])
def test_evaluate_takes_several_files_in_every_form(kit, argv, tmp_path):
    code, out = invoke(["evaluate", *argv, "--synthetic", "pair_paths.npz", "--out",
                        tmp_path / "ev"], kit)
    assert code == 0, out
    quality = json.loads((tmp_path / "ev" / "quality.json").read_text())
    assert "cross_corr" in quality["synthetic"]  # a fact of two assets


@pytest.mark.parametrize("argv", [
    ["forecast", "pair.safetensors", "--data", "spy.csv", "qqq.csv"],
    ["forecast", "pair.safetensors", "--data", "spy.csv", "--data", "qqq.csv"],
    ["forecast", "--data", "spy.csv", "qqq.csv", "pair.safetensors"],
])
def test_forecast_takes_several_files_in_every_form(kit, argv, tmp_path):
    out_csv = tmp_path / "f.csv"
    code, out = invoke([*argv, "--horizon", "2", "--n-samples", "8", "--out", out_csv], kit)
    assert code == 0, out
    assert list(pd.read_csv(out_csv, index_col=0).columns) == [
        f"{a}_q{q}" for a in ("spy", "qqq") for q in ("0.05", "0.5", "0.95")]


def test_sample_takes_several_regimes_after_one_option(kit, tmp_path):
    code, out = invoke(["sample", "spy.safetensors", "--regime", "bull", "bear", "--paths", "2",
                        "--length", "40", "--sampler-steps", "2", "--out", tmp_path / "p.npz"],
                       kit)
    assert code == 0, out
    code, out = invoke(["sample", "spy.safetensors", "--regime", "bull", "moon", "--paths", "2",
                        "--length", "40", "--out", tmp_path / "q.npz"], kit)
    assert code == 2 and "unknown regime" in last_line(out)


# -- each repair and warning once, as one line -------------------------------------------
@pytest.fixture(scope="session")
def reversed_csv(kit):
    d = kit / "reversed"
    d.mkdir()
    pd.read_csv(kit / "spy.csv").iloc[::-1].to_csv(d / "spy.csv", index=False)
    f = pd.read_csv(kit / "spy.csv")
    f.loc[200:, ["open", "high", "low", "close"]] *= 0.5  # an unadjusted 2:1 split
    (d / "split").mkdir()
    f.to_csv(d / "split" / "spy.csv", index=False)
    return d


@pytest.mark.parametrize("argv", [
    ["fit", "spy.csv", "--out", "m.safetensors", "--train-end", "2001-01-01"],
    ["forecast", "MODEL", "--data", "spy.csv", "--horizon", "2", "--n-samples", "4",
     "--out", "f.csv"],
    ["backtest", SMA, "--data", "spy.csv", "--out", "o"],
    ["evaluate", "--real", "spy.csv", "--synthetic", "PATHS", "--out", "o"],
])
def test_each_repair_and_warning_is_printed_once_as_one_line(kit, reversed_csv, argv):
    argv = [str(kit / "spy.safetensors") if a == "MODEL" else
            str(kit / "spy_paths.npz") if a == "PATHS" else a for a in argv]
    for sub, prefix, needle in (("", "repaired: ", "newest-first"),
                                ("split/", "warning: ", "suspicious")):
        args = [f"{sub}{a}" if a == "spy.csv" else a for a in argv]
        _, out = invoke(args, reversed_csv)
        lines = [ln for ln in out.splitlines() if needle in ln]
        assert len(lines) == 1 and lines[0].startswith(prefix), out
        assert "Warning:" not in out and "warnings.warn" not in out


# -- training span and too little data ------------------------------------------------------
def test_train_end_before_the_first_bar_names_it_and_the_first_bar(kit):
    code, out = invoke(["fit", "spy.csv", "--out", "m.safetensors", "--train-end",
                        "2001-03-04"], kit)
    line = last_line(out)
    assert code == 1 and "2001-03-04" in line and "spy.csv" in line and "2015-01-01" in line
    code, out = invoke(["evaluate", "--real", "spy.csv", "--baselines", "--train-end",
                        "2001-03-04", "--out", "o"], kit)
    assert code == 1 and "before the first bar" in last_line(out)


def test_train_end_after_the_last_bar_warns_that_every_bar_is_fitted(kit):
    code, out = invoke(["fit", "short.csv", "--out", "m.safetensors", "--train-end",
                        "2051-01-01"], kit)  # then too few bars: stops before training
    warning = [ln for ln in out.splitlines() if ln.startswith("warning: ")]
    assert len(warning) == 1 and "2051-01-01" in warning[0] and "after the last bar" in warning[0]
    assert code == 1


def test_too_few_training_bars_names_the_files_and_suggests_a_window(kit):
    code, out = invoke(["fit", "short.csv", "--out", "m.safetensors"], kit)
    line = last_line(out)
    assert code == 1 and line.startswith("Error: short.csv: only 40 training bars")
    assert "--window 32" in line and "column 'timestamp'" not in line
    code, out = invoke(["fit", "spy.csv", "qqq.csv", "--out", "m.safetensors", "--window", "32",
                        "--train-end", "2015-02-10"], kit)
    line = last_line(out)
    assert code == 1 and "spy.csv, qqq.csv" in line and "only 29 training bars" in line
    suggested = int(re.search(r"--window (\d+) would fit", line).group(1))
    assert suggested < 32 and suggested + 5 <= 29  # the generator needs window + 5 bars


# -- names ---------------------------------------------------------------------------------
def test_misspelt_dataset_and_directory_are_said_as_such(kit):
    code, out = invoke(["fit", "sp500_nasdq", "--out", "m.safetensors"], kit)
    assert code == 1 and "bundled datasets" in last_line(out) and "'sp500_nasdaq'" in last_line(
        out)
    code, out = invoke(["backtest", SMA, "--data", "hourly", "--out", "o"], kit)
    assert code == 1 and "is a directory" in last_line(out)


def test_sampler_choices_are_the_public_ones(kit):
    res = CliRunner().invoke(cli, ["sample", "--help"])
    assert "[dpm|dpm-logsnr|ddpm]" in res.output
    for gone in ("ddim", "dpm-sde"):
        code, out = invoke(["sample", "spy.safetensors", "--paths", "1", "--length", "5",
                            "--sampler", gone, "--out", "p.npz"], kit)
        assert code == 2 and "--sampler" in last_line(out)
