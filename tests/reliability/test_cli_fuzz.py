"""CLI fuzz: bad arguments drawn by hypothesis end in exit code != 0 and ONE clear last line
(``Error: ...`` naming the argument or file), never in a traceback or a non-SystemExit escape.

Runs the click group in-process with `CliRunner`; every draw is a value the CLI must reject,
so each example can fail (valid combinations are filtered out by an independent check).
"""

from __future__ import annotations

import contextlib
import string

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diffbt.cli import cli
from diffbt.data import datasets
from diffbt.data.labels import parse_regime
from diffbt.generate.generator import MarketGenerator
from tests.helpers import tiny

TINY = tiny(calibrate=True, calibrate_paths=True)
FUZZ = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


pytestmark = pytest.mark.usefixtures("block_network")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny fitted model, a small PathSet, a small CSV, a directory and a random-bytes file."""
    d = tmp_path_factory.mktemp("fuzz")
    market = datasets.load().loc("2006-01-01", "2009-12-31")
    gen = MarketGenerator(**TINY).fit(market, train_end="2008-12-31", seed=0)
    gen.save(d / "m.safetensors")
    gen.sample(3, 40, seed=0, sampler_steps=2, out=d / "p.npz")
    market.frame("sp500").rename_axis("timestamp").to_csv(d / "spx.csv")
    (d / "adir").mkdir()
    (d / "junk.bin").write_bytes(np.random.default_rng(0).bytes(300))
    return d


def invoke(args: list[str], cwd) -> tuple[int, str]:
    """Run the CLI in-process; check the error contract common to all bad input."""
    with contextlib.chdir(cwd):
        res = CliRunner().invoke(cli, args, catch_exceptions=True)
    out = res.output
    assert "Traceback (most recent call last)" not in out, out
    assert type(res.exception) is SystemExit, (args, repr(res.exception), out)
    assert res.exit_code != 0, (args, out)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("Error: "), (args, out)
    return res.exit_code, lines[-1]


def _not_positive_int(s: str) -> bool:
    """True if click's INT type rejects `s` or it is <= 0 (our independent validity check)."""
    try:
        return int(s) <= 0
    except ValueError:
        return True


BAD_COUNT = st.one_of(
    st.integers(max_value=0).map(str),
    st.text(string.printable, min_size=0, max_size=12).filter(_not_positive_int),
    st.floats(allow_nan=True, allow_infinity=True).map(repr).filter(_not_positive_int),
)


@FUZZ
@given(option=st.sampled_from(["--paths", "--length", "--sampler-steps"]), value=BAD_COUNT)
def test_sample_rejects_bad_counts(files, tmp_path, option, value):
    args = {"--paths": "2", "--length": "5", "--sampler-steps": "2"}
    args[option] = value
    argv = ["sample", str(files / "m.safetensors"), "--out", "o.npz"]
    argv += [f"{k}={v}" for k, v in args.items()]
    code, last = invoke(argv, tmp_path)
    assert code == 2 and option in last


@FUZZ
@given(command=st.sampled_from(["forecast", "backtest", "fit"]), value=BAD_COUNT,
       which=st.integers(0, 1))
def test_other_commands_reject_bad_counts(files, tmp_path, command, value, which):
    if command == "forecast":
        option = ["--horizon", "--n-samples"][which]
        argv = ["forecast", str(files / "m.safetensors"), "--data", "sp500_nasdaq",
                "--horizon=3", "--out", "f.csv", f"{option}={value}"]
    elif command == "backtest":
        option = ["--n-paths", "--workers"][which]
        argv = ["backtest", "strategies.sma_cross:SmaCross", "--paths", str(files / "p.npz"),
                "--out", "bt", f"{option}={value}"]
    else:
        option = ["--window", "--steps"][which]
        argv = ["fit", "sp500_nasdaq", "--out", "m.safetensors", f"{option}={value}"]
    code, last = invoke(argv, tmp_path)
    assert code == 2 and option in last


@FUZZ
@given(paths=st.integers(10**13, 10**40), length=st.integers(1, 10), huge_length=st.booleans())
def test_sample_rejects_huge_sizes_before_sampling(files, tmp_path, paths, length,
                                                   huge_length):
    # more bytes than any disk holds, or bars past the last representable date
    n, bars = (1, 10**6 + paths) if huge_length else (paths, length)
    code, last = invoke(["sample", str(files / "m.safetensors"), "--paths", str(n),
                         "--length", str(bars), "--sampler-steps", "2", "--out", "o.npz"],
                        tmp_path)
    assert ("--paths" in last and "GB" in last) or "last date" in last


def _not_a_regime(s: str) -> bool:
    try:
        parse_regime(s)
    except ValueError:
        return True
    return False


@FUZZ
@given(regime=st.one_of(st.text(max_size=20),
                        st.sampled_from(["bull", "bear", "calm", "bull_volatile"]).flatmap(
                            lambda r: st.sampled_from([r + "x", r + "_", "_" + r, r + "_bull",
                                                       r.upper() + "!"]))).filter(_not_a_regime),
       command=st.sampled_from(["sample", "backtest"]))
def test_unknown_regime_is_a_usage_error(files, tmp_path, regime, command):
    if command == "sample":
        argv = ["sample", str(files / "m.safetensors"), "--paths", "2", "--length", "5",
                "--out", "o.npz", f"--regime={regime}"]
    else:
        argv = ["backtest", "strategies.sma_cross:SmaCross", "--model",
                str(files / "m.safetensors"), "--out", "bt", f"--regime={regime}"]
    code, last = invoke(argv, tmp_path)
    assert code == 2 and "--regime" in last and "unknown regime" in last


def _bad_file(files, tmp_path, kind: str, name: str, data: bytes) -> str:
    if kind == "missing":
        return str(tmp_path / f"missing_{name}")
    if kind == "dir":
        return str(files / "adir")
    if kind == "pathset_as_other":
        return str(files / "p.npz")
    if kind == "model_as_other":
        return str(files / "m.safetensors")
    path = tmp_path / f"bytes_{name}"
    path.write_bytes(data)
    return str(path)


FILE_KIND = st.sampled_from(["missing", "dir", "bytes", "pathset_as_other"])
NAME = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)


@FUZZ
@given(kind=FILE_KIND, name=NAME, data=st.binary(max_size=200),
       command=st.sampled_from(["sample", "forecast", "backtest"]))
def test_bad_model_file_is_one_line_naming_it(files, tmp_path, kind, name, data, command):
    model = _bad_file(files, tmp_path, kind, name + ".safetensors", data)
    if command == "sample":
        argv = ["sample", model, "--paths", "2", "--length", "5", "--out", "o.npz"]
    elif command == "forecast":
        argv = ["forecast", model, "--data", "sp500_nasdaq", "--horizon", "2", "--out", "f.csv"]
    else:
        argv = ["backtest", "strategies.sma_cross:SmaCross", "--model", model, "--out", "bt"]
    code, last = invoke(argv, tmp_path)
    needle = "adir" if kind == "dir" else model.rsplit("/", 1)[-1]
    assert needle in last and code == (2 if kind == "dir" else 1)


@FUZZ
@given(kind=st.sampled_from(["missing", "dir", "bytes", "pathset_as_other", "model_as_other"]),
       name=NAME, data=st.binary(max_size=200),
       command=st.sampled_from(["fit", "forecast", "backtest", "evaluate", "evaluate_synth",
                                "backtest_paths"]))
def test_bad_data_file_is_one_line_naming_it(files, tmp_path, kind, name, data, command):
    ext = ".npz" if command in ("evaluate_synth", "backtest_paths") else ".csv"
    if command in ("evaluate_synth", "backtest_paths") and kind == "pathset_as_other":
        kind = "model_as_other"
    bad = _bad_file(files, tmp_path, kind, name + ext, data)
    argv = {
        "fit": ["fit", bad, "--out", "m.safetensors", "--steps", "1"],
        "forecast": ["forecast", str(files / "m.safetensors"), "--data", bad, "--horizon", "2",
                     "--out", "f.csv"],
        "backtest": ["backtest", "strategies.sma_cross:SmaCross", "--data", bad, "--out", "bt"],
        "evaluate": ["evaluate", "--real", bad, "--synthetic", str(files / "p.npz"),
                     "--out", "ev"],
        "evaluate_synth": ["evaluate", "--real", "sp500_nasdaq", "--synthetic", bad,
                           "--out", "ev"],
        "backtest_paths": ["backtest", "strategies.sma_cross:SmaCross", "--paths", bad,
                           "--out", "bt"],
    }[command]
    code, last = invoke(argv, tmp_path)
    needle = "adir" if kind == "dir" else bad.rsplit("/", 1)[-1]
    if command.endswith(("_synth", "_paths")) and kind == "dir":
        assert code == 2  # click.Path(dir_okay=False)
    assert needle in last, last


SPEC = st.one_of(
    st.text(string.printable, max_size=20).filter(lambda s: s.count(":") != 1),
    st.tuples(st.sampled_from(["", "zz_no_such_module_", "collections", "strategies.sma_cross",
                               "os.path"]),
              st.text(string.ascii_letters + "_", min_size=1, max_size=10)).map(
        lambda t: (f"zz_no_such_module_{t[1]}:X" if t[0] == "zz_no_such_module_"
                   else f"{t[0] or 'builtins'}:{t[1]}")).filter(
        lambda s: s not in ("strategies.sma_cross:SmaCross",)),
    st.sampled_from(["collections:OrderedDict", "builtins:int", "os.path:join",
                     "backtrader:Indicator", "strategies.sma_cross:bt"]),
)


@FUZZ
@given(spec=SPEC)
def test_bad_strategy_spec_is_one_line(files, tmp_path, spec):
    # after "--" a spec like "-x" or "--help" is the STRATEGY argument, not an option
    code, last = invoke(["backtest", "--paths", str(files / "p.npz"), "--out", "bt", "--", spec],
                        tmp_path)
    assert code == 1 and ("strategy" in last or spec.split(":")[0] in last), last


@FUZZ
@given(body=st.one_of(
    st.text(string.printable, max_size=60).map(lambda t: "def broken(:\n" + t),
    st.text(string.ascii_letters, min_size=1, max_size=8).map(
        lambda n: f"class {n.capitalize()}Z:\n    pass\n"),
    st.just("raise RuntimeError('boom at import')\n")),
    missing=st.booleans())
def test_bad_strategy_file_is_one_line(files, tmp_path, body, missing):
    path = tmp_path / "strat_file.py"
    if missing:
        path = tmp_path / "no_such_strategy_file.py"
    else:
        path.write_text(body)
    cls = body.split()[1].rstrip(":") if body.startswith("class") else "MyStrategy"
    code, last = invoke(["backtest", f"{path}:{cls}", "--paths", str(files / "p.npz"),
                         "--out", "bt"], tmp_path)
    assert code == 1 and (path.name in last or "not a backtrader Strategy" in last), last


@FUZZ
@given(option=st.sampled_from(["--guidance", "--jumps", "--seed"]),
       value=st.one_of(st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999", "-1"]),
                       st.text(string.printable, max_size=8)))
def test_bad_guidance_jumps_seed_are_usage_errors(files, tmp_path, option, value):
    def valid(v: str) -> bool:
        try:
            x = float(v) if option == "--guidance" else int(v)
        except ValueError:
            return False
        return bool(np.isfinite(x)) and (option == "--guidance" or x >= 0)

    assume(not valid(value))
    code, last = invoke(["sample", str(files / "m.safetensors"), "--paths", "1", "--length",
                         "3", "--sampler-steps", "2", "--out", "o.npz", f"{option}={value}"],
                        tmp_path)
    assert code == 2 and option in last


@FUZZ
@given(value=st.one_of(st.text(string.printable, max_size=12),
                       st.sampled_from(["2014-13-01", "NaT", "yesterday", "2014-02-30"])))
def test_bad_train_end_is_a_usage_error(tmp_path, value):
    try:
        ok = pd.Timestamp(value) is not pd.NaT
    except (ValueError, TypeError, OverflowError):
        ok = False
    assume(not ok)
    code, last = invoke(["fit", "sp500_nasdaq", "--out", "m.safetensors", "--steps", "1",
                         f"--train-end={value}"], tmp_path)
    assert code == 2 and "--train-end" in last


KNOWN = {"--out", "--window", "--train-end", "--steps", "--device", "--seed", "--resume",
         "--paths", "--length", "--regime", "--jumps", "--guidance", "--sampler",
         "--sampler-steps", "--data", "--model", "--n-paths", "--params", "--cash",
         "--commission", "--workers", "--backend", "--horizon", "--quantiles", "--n-samples",
         "--real", "--synthetic", "--baselines", "--quick", "--help", "--adjust", "--gaps"}


@FUZZ
@given(option=st.from_regex(r"\A--[a-z][a-z0-9-]{0,14}\Z").filter(lambda o: o not in KNOWN),
       command=st.sampled_from(["fit", "sample", "backtest", "forecast", "evaluate", "bench",
                                "demo"]))
def test_unknown_option_is_a_usage_error(tmp_path, option, command):
    code, last = invoke([command, option], tmp_path)
    assert code == 2 and "No such option" in last and option in last, last


def test_fuzz_contract_accepts_a_valid_call(files, tmp_path):
    """Sanity for the helper: a valid call succeeds, so the checks above can tell them apart."""
    runner = CliRunner()
    res = runner.invoke(cli, ["sample", str(files / "m.safetensors"), "--paths", "2",
                              "--length", "5", "--sampler-steps", "2", "--guidance", "1.5",
                              "--out", str(tmp_path / "ok.npz")])
    assert res.exit_code == 0 and res.exception is None, res.output
    assert "2 x 5 bars" in res.output


@FUZZ
@given(n_files=st.integers(1, 3), data=st.data())
def test_several_files_parse_the_same_in_every_form(files, tmp_path, n_files, data):
    """Positional, one --data with several files, --data repeated, --data=, mixed with other
    options in any order: the command reads exactly these files, in this order."""
    names = [f"f{k}.csv" for k in range(n_files)]
    for n in names:
        (tmp_path / n).write_bytes((files / "spx.csv").read_bytes())
    groups, rest = [], list(names)
    while rest:  # split the files into runs, each after its own flag (or positional for fit)
        k = data.draw(st.integers(1, len(rest)))
        groups.append(rest[:k])
        rest = rest[k:]
    argv: list[str] = []
    for g in groups:
        form = data.draw(st.sampled_from(["--data", "--data=", "positional"]))
        argv += g if form == "positional" else (
            [f"--data={g[0]}", *g[1:]] if form == "--data=" else ["--data", *g])
    options = [["--out", "m.safetensors"], ["--train-end", "1990-01-01"], ["--window", "16"]]
    options = data.draw(st.permutations(options))
    at = data.draw(st.integers(0, len(options)))
    argv = [*[a for o in options[:at] for a in o], *argv, *[a for o in options[at:] for a in o]]
    code, last = invoke(["fit", *argv], tmp_path)  # stopped by --train-end after loading
    assert code == 1 and f"before the first bar of {', '.join(names)} (" in last, (argv, last)
