"""Benchmark: diffbt.metrics (numba) against QuantStats called per series.

Run ``python -m diffbt.bench.metrics [n_paths n_steps]``; prints a Markdown table.
QuantStats is imported here and in tests only, never by ``diffbt.metrics``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["bench_metrics", "qs_reference", "to_markdown"]


def _safe(f, *args, **kwargs):
    try:
        return f(*args, **kwargs)
    except ZeroDivisionError:  # QuantStats' rar on a path that is never invested
        return float("nan")


def qs_functions(*, periods: float = 252, rf: float = 0.0) -> dict[str, Callable]:
    """QuantStats' function for each column of :func:`diffbt.metrics.returns.compute`.

    ``var_hist`` (pandas' quantile) and ``max_drawdown_duration`` have no QuantStats function
    and are left out.
    """
    import quantstats as qs

    S = qs.stats
    p = periods
    return {
        "comp": S.comp,
        "cagr": lambda s: S.cagr(s, rf=rf, periods=p),
        "expected_return": S.expected_return,
        "volatility": lambda s: S.volatility(s, periods=p),
        "sharpe": lambda s: S.sharpe(s, rf=rf, periods=p),
        "smart_sharpe": lambda s: S.smart_sharpe(s, rf=rf, periods=p),
        "probabilistic_sharpe_ratio": lambda s: S.probabilistic_sharpe_ratio(s, rf=rf, periods=p),
        "sortino": lambda s: S.sortino(s, rf=rf, periods=p),
        "smart_sortino": lambda s: S.smart_sortino(s, rf=rf, periods=p),
        "adjusted_sortino": lambda s: S.adjusted_sortino(s, rf=rf, periods=p),
        "omega": lambda s: S.omega(s, rf=rf, periods=p),
        "max_drawdown": S.max_drawdown,
        "calmar": lambda s: S.calmar(s, periods=p),
        "ulcer_index": S.ulcer_index,
        "ulcer_performance_index": lambda s: S.ulcer_performance_index(s, rf=rf),
        "serenity_index": lambda s: S.serenity_index(s, rf=rf),
        "recovery_factor": lambda s: S.recovery_factor(s, rf=rf),
        "risk_return_ratio": S.risk_return_ratio,
        "rar": lambda s: _safe(S.rar, s, rf=rf, periods=p),
        "skew": S.skew,
        "kurtosis": S.kurtosis,
        "var": S.var,
        "cvar": S.cvar,
        "cvar_hist": lambda s: S.cvar(s, method="historical"),
        "tail_ratio": S.tail_ratio,
        "outlier_win_ratio": S.outlier_win_ratio,
        "outlier_loss_ratio": S.outlier_loss_ratio,
        "win_rate": S.win_rate,
        "exposure": S.exposure,
        "avg_return": S.avg_return,
        "avg_win": S.avg_win,
        "avg_loss": S.avg_loss,
        "payoff_ratio": S.payoff_ratio,
        "profit_ratio": S.profit_ratio,
        "profit_factor": S.profit_factor,
        "gain_to_pain_ratio": lambda s: S.gain_to_pain_ratio(s, rf=rf),
        "common_sense_ratio": S.common_sense_ratio,
        "cpc_index": S.cpc_index,
        "kelly_criterion": S.kelly_criterion,
        "risk_of_ruin": S.risk_of_ruin,
        "consecutive_wins": S.consecutive_wins,
        "consecutive_losses": S.consecutive_losses,
        "best": S.best,
        "worst": S.worst,
    }


def qs_reference(s: pd.Series, *, periods: float = 252, rf: float = 0.0) -> dict[str, float]:
    """Every QuantStats-backed column of ``compute`` for one series, as QuantStats gives it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return {k: float(f(s)) for k, f in qs_functions(periods=periods, rf=rf).items()}


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _qs_loop(df: pd.DataFrame, fns: list[Callable]) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for col in df.columns:
            s = df[col]
            for f in fns:
                f(s)
        return time.perf_counter() - t0


def bench_metrics(
    n_paths: int = 1000, n_steps: int = 2520, seed: int = 0, *, qs_full_subset: int = 100
) -> dict:
    """Time diffbt's numba metrics against QuantStats per series.

    Parameters
    ----------
    n_paths, n_steps : int
        Size of the returns matrix (fat-tailed random returns).
    seed : int
        Seed of the returns.
    qs_full_subset : int
        QuantStats' full metric set is timed on this many series and scaled linearly to
        ``n_paths`` (the four single metrics are timed on all series).

    Returns
    -------
    dict
        ``rows``: list of (name, numba_s, quantstats_s, ratio, note); ``first_call_s``: time of
        the first ``compute`` call in this process (numba cache load or compile);
        ``shape``, ``n_metrics``, ``threads``.
    """
    import numba

    from diffbt.metrics import _nb
    from diffbt.metrics.returns import compute

    rng = np.random.default_rng(seed)
    mat = np.ascontiguousarray(rng.standard_t(4, (n_paths, n_steps)) * 0.01 + 0.0003)
    df = pd.DataFrame(mat.T, index=pd.bdate_range("2000-01-03", periods=n_steps))

    t0 = time.perf_counter()
    compute(mat[:2, :50])
    _nb.sharpe_nb(mat[:2], 252.0)
    _nb.sortino_nb(mat[:2], 252.0)
    _nb.max_drawdown_nb(mat[:2])
    _nb.cvar_nb(mat[:2])
    first_call = time.perf_counter() - t0

    qsf = qs_functions()
    rows = []
    singles = {
        "sharpe": lambda: _nb.sharpe_nb(mat, 252.0),
        "sortino": lambda: _nb.sortino_nb(mat, 252.0),
        "max_drawdown": lambda: _nb.max_drawdown_nb(mat),
        "cvar": lambda: _nb.cvar_nb(mat),
    }
    nb_four = 0.0
    qs_four = 0.0
    for name, fn in singles.items():
        t_nb = _best_of(fn, 10)
        t_qs = _qs_loop(df, [qsf[name]])
        nb_four += t_nb
        qs_four += t_qs
        rows.append((name, t_nb, t_qs, t_qs / t_nb, f"QuantStats on all {n_paths} series"))
    four = "sharpe+sortino+max_drawdown+cvar"
    rows.append((four, nb_four, qs_four, qs_four / nb_four, "sum of the above"))
    t_nb_full = _best_of(lambda: compute(mat), 5)
    k = min(qs_full_subset, n_paths)
    t_qs_sub = _qs_loop(df.iloc[:, :k], list(qsf.values()))
    t_qs_full = t_qs_sub * n_paths / k
    rows.append(
        (
            f"full set ({len(qsf)} QuantStats metrics; compute() returns {_nb.N_METRICS})",
            t_nb_full,
            t_qs_full,
            t_qs_full / t_nb_full,
            f"QuantStats timed on {k} series ({t_qs_sub:.2f} s), scaled x{n_paths / k:g}",
        )
    )
    return {
        "rows": rows,
        "first_call_s": first_call,
        "shape": (n_paths, n_steps),
        "n_metrics": _nb.N_METRICS,
        "threads": numba.get_num_threads(),
        "load": os.getloadavg()[0],
    }


def to_markdown(res: dict) -> str:
    """The benchmark result as a Markdown table."""
    n, t = res["shape"]
    lines = [
        f"returns {n} x {t}, numba threads {res['threads']}, "
        f"first compute() call (cache load or compile) {res['first_call_s']:.2f} s, "
        f"load average {res['load']:.1f}; numba: best of repeats, QuantStats: one loop",
        "",
        "| metric | diffbt numba (s) | QuantStats per series (s) | ratio | note |",
        "|---|---:|---:|---:|---|",
    ]
    for name, a, b, r, note in res["rows"]:
        lines.append(f"| {name} | {a:.4f} | {b:.2f} | {r:,.0f}x | {note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(to_markdown(bench_metrics(*args)))
