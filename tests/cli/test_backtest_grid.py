"""`diffbt backtest --grid/--n-trials`: the searched grid reaches the verdict (DSR and PBO)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffbt.bt.runner import run_one
from diffbt.cli import main
from diffbt.data import datasets
from diffbt.generate.baselines import BlockBootstrap
from diffbt.metrics.robustness import pbo_cscv
from strategies.sma_cross import SmaCross

pytestmark = pytest.mark.usefixtures("block_network")


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    return exc.value.code or 0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two years of the bundled data as CSV files, and bootstrap paths of the same assets."""
    d = tmp_path_factory.mktemp("grid")
    real = datasets.load("sp500_nasdaq").loc("2016-01-01", "2017-12-31")
    csvs = []
    for asset in real.assets:
        csvs.append(str(d / f"{asset}.csv"))
        real.frame(asset).to_csv(csvs[-1], index_label="date")
    out = d / "p.npz"
    BlockBootstrap().fit(real).sample(6, 120, seed=0).save(out)
    return csvs, str(out), real


def test_cli_backtest_grid_gives_pbo_and_deflates_the_sharpe(tmp_path, files):
    csvs, paths, real = files
    out = tmp_path / "bt"
    assert run(["backtest", "strategies.sma_cross:SmaCross", "--data", *csvs,
                "--paths", paths, "--grid", "fast=5,10", "slow=20,40", "--params",
                "fast=5", "slow=20", "--workers", "1", "--out", str(out)]) == 0
    rob = json.loads((out / "robustness.json").read_text())
    combos = [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 40}, {"fast": 10, "slow": 20},
              {"fast": 10, "slow": 40}]
    assert rob["grid"] == combos
    s = rob["summary"]
    assert s["n_trials"] == 4 and s["dsr"] < s["psr"]
    assert "DSR" in rob["verdict"] and "PBO" in rob["verdict"]
    # PBO of the grid run by hand, one backtest per combination
    cols = []
    for c in combos:
        vals, _, _ = run_one(SmaCross, real.values, real.index, real.assets, params=c)
        cols.append(vals / np.r_[100_000.0, vals[:-1]] - 1.0)
    assert s["pbo"] == pytest.approx(pbo_cscv(np.column_stack(cols)))


def test_cli_backtest_n_trials_deflates_without_a_grid(tmp_path, files):
    csvs, paths, _ = files
    out = tmp_path / "bt"
    assert run(["backtest", "strategies.sma_cross:SmaCross", "--data", *csvs,
                "--paths", paths, "--n-trials", "20", "--workers", "1",
                "--out", str(out)]) == 0
    s = json.loads((out / "robustness.json").read_text())["summary"]
    assert s["n_trials"] == 20 and s["dsr"] < s["psr"] and s["pbo"] is None


def test_cli_backtest_grid_needs_the_real_history_and_good_values(tmp_path, files, capsys):
    csvs, paths, _ = files
    assert run(["backtest", "strategies.sma_cross:SmaCross", "--paths", paths,
                "--grid", "fast=5,10", "--out", str(tmp_path / "a")]) == 2
    assert "--grid" in capsys.readouterr().err
    assert run(["backtest", "strategies.sma_cross:SmaCross", "--data", *csvs,
                "--paths", paths, "--grid", "fast=", "--out", str(tmp_path / "b")]) == 2
    assert run(["backtest", "strategies.sma_cross:SmaCross", "--data", *csvs,
                "--paths", paths, "--grid", "nosuch=1,2", "--out", str(tmp_path / "c")]) == 2
