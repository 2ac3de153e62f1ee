"""Drive the CLI as a user would, on tiny settings, and check the files it writes."""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pytest

from diffbt.cli import main
from diffbt.generate.pathset import PathSet


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    return exc.value.code or 0


pytestmark = pytest.mark.usefixtures("block_network")


def test_network_is_really_blocked():
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("127.0.0.1", 9))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def model(workdir):
    path = workdir / "m.safetensors"
    assert run(["fit", "sp500_nasdaq", "--out", str(path), "--window", "16", "--steps", "4",
                "--train-end", "2014-12-31"]) == 0
    return path


@pytest.fixture(scope="module")
def paths(workdir, model):
    out = workdir / "p.npz"
    assert run(["sample", str(model), "--paths", "6", "--length", "60", "--regime", "bear",
                "--jumps", "1", "--sampler-steps", "3", "--out", str(out)]) == 0
    return out


def test_cli_fit_writes_model_and_training_checkpoint(model):
    assert model.is_file() and model.with_name(model.name + ".train").is_file()


def test_cli_sample_writes_pathset(paths):
    ps = PathSet.load(paths)
    assert ps.values.shape == (6, 60, 2, 5) and list(ps.regimes) == ["bear"] * 6


def test_cli_backtest_writes_metrics_robustness_and_reports(workdir, paths, capsys):
    out = workdir / "bt"
    code = run(["backtest", "strategies.sma_cross:SmaCross", "--data", "sp500_nasdaq",
                "--paths", str(paths), "--params", "fast=5", "--params", "slow=20",
                "--workers", "1", "--out", str(out)])
    assert code == 0
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    assert list(metrics.index[:2]) == ["real", "path_0"] and len(metrics) == 7
    assert {"sharpe", "max_drawdown", "cagr"} <= set(metrics.columns)
    rob = json.loads((out / "robustness.json").read_text())
    assert rob["params"] == {"fast": 5, "slow": 20} and rob["verdict"]
    assert (out / "tearsheet.html").stat().st_size > 10_000
    assert "Robustness table" in (out / "robustness.html").read_text()
    assert rob["verdict"] in capsys.readouterr().out


def test_cli_forecast_writes_quantiles(workdir, model):
    out = workdir / "fc.csv"
    assert run(["forecast", str(model), "--data", "sp500_nasdaq", "--horizon", "3",
                "--n-samples", "20", "--out", str(out)]) == 0
    fc = pd.read_csv(out, index_col=0)
    assert fc.shape == (3, 6)
    assert (fc["sp500_q0.05"] <= fc["sp500_q0.95"]).all()


def test_cli_evaluate_writes_quality_json(workdir, paths):
    out = workdir / "ev"
    assert run(["evaluate", "--real", "sp500_nasdaq", "--synthetic", str(paths),
                "--train-end", "2014-12-31", "--baselines", "--out", str(out)]) == 0
    quality = json.loads((out / "quality.json").read_text())
    assert set(quality) == {"synthetic", "gbm", "merton", "bootstrap", "garch"}
    assert all(np.isfinite(v) for facts in quality.values() for v in facts.values()
               if v is not None)
    assert (out / "quality.png").is_file()


@pytest.mark.parametrize("args, code, needle", [
    (["sample", "MODEL", "--paths", "-3", "--length", "5", "--out", "x.npz"], 2, "--paths"),
    (["sample", "MODEL", "--paths", "2", "--length", "5", "--regime", "moon", "--out", "x"],
     2, "unknown regime"),
    (["fit", "missing.csv", "--out", "m"], 1, "missing.csv"),
    (["backtest", "nope.py:X", "--data", "sp500_nasdaq", "--out", "o"], 1, "nope.py"),
    (["backtest", "collections:OrderedDict", "--data", "sp500_nasdaq", "--out", "o"], 1,
     "not a backtrader Strategy"),
    (["sample", "not_a_model.safetensors", "--paths", "2", "--length", "5", "--out", "x"], 1,
     "not_a_model"),
])
def test_cli_bad_input_is_one_clear_line(args, code, needle, model, tmp_path, monkeypatch,
                                         capsys):
    monkeypatch.chdir(tmp_path)
    args = [str(model) if a == "MODEL" else a for a in args]
    assert run(args) == code
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_cli_demo_quick_runs_offline_and_writes_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run(["demo", "--quick", "--workers", "1", "--out", str(out)]) == 0
    for name in ("SmaCross", "MomentumRotation"):
        for label in ("base", "stress"):
            page = (out / name / label / "robustness.html").read_text()
            assert "Verdict" in page and "data:image/png;base64," in page
        assert (out / name / "base" / "tearsheet.html").is_file()
    assert (out / "price_fan.png").is_file() and (out / "model.safetensors").is_file()
    demo = json.loads((out / "demo.json").read_text())
    assert set(demo["timings"]) >= {"fit_s", "sample_s", "backtest_s", "total_s"}
    assert "reports:" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["fit", "--help"],
                                  ["sample", "--help"], ["backtest", "--help"],
                                  ["forecast", "--help"], ["evaluate", "--help"],
                                  ["bench", "--help"], ["demo", "-h"]])
def test_help_and_version_exit_zero_without_an_error_line(args, capsys):
    assert run(args) == 0
    out, err = capsys.readouterr()
    assert "Error" not in out + err
    assert ("Usage:" in out) or ("version" in out)
