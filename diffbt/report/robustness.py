"""Robustness report: one self-contained HTML page (PNGs embedded) plus the same PNG files.

Sections, in order, with stable headings: "Verdict" (with a note on how often the verdict is
right on planted-truth markets, `PLANTED_RATES`), "Equity fan chart", "Metric distributions",
"Robustness table" and, when facts are given, "Stylized facts".
:func:`render_robustness` takes the already computed pieces; :func:`robustness_report` computes
them from a backtest result with :mod:`diffbt.metrics`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from diffbt.report.plots import DEFAULT_BANDS, facts_figure, fan_chart, metric_histograms

if TYPE_CHECKING:  # report/ reads results; only bt/ imports backtrader at run time
    from diffbt.bt.runner import BacktestResult
    from diffbt.metrics.robustness import RobustnessReport

__all__ = ["PLANTED_RATES", "SECTIONS", "reliability_note", "render_robustness",
           "robustness_report"]

logger = logging.getLogger(__name__)

#: Section headings of the page, in order ("Stylized facts" only when facts are given).
SECTIONS: tuple[str, ...] = ("Verdict", "Equity fan chart", "Metric distributions",
                             "Robustness table", "Stylized facts")

#: How often the verdict was right on planted-truth markets (GARCH-t, zero drift, edges known
#: by construction), measured with ``python -m benchmarks.planted`` and published with the
#: command in docs/verdict.md: per generator, the share of real edges called ROBUST
#: (``detection``) and of strategies without an edge called ROBUST (``false_alarm``), with the
#: verdict's calibrated cut-offs, and the number of cases behind each.
PLANTED_RATES: dict[str, dict[str, float]] = {
    "diffbt": {"detection": 52 / 96, "false_alarm": 15 / 168, "n_skill": 96, "n_luck": 168},
    "bootstrap": {"detection": 63 / 96, "false_alarm": 0 / 168, "n_skill": 96, "n_luck": 168},
}

_GENERATOR_NAMES = {"diffbt": "diffbt's generator", "bootstrap": "the block bootstrap",
                    "garch": "GARCH-t", "gbm": "GBM"}

_HIST_COLUMNS = ("sharpe", "max_drawdown", "cagr")
_DPI = 110

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
p.meta { color: #666; font-size: 0.9em; margin-top: 0; }
p.note { color: #444; font-size: 0.9em; }
div.verdict { font-size: 1.1em; padding: 0.7em 1em; background: #f4f6f8;
              border-left: 4px solid #1f77b4; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.7em; text-align: right; border-bottom: 1px solid #eee; }
th { background: #fafafa; }
td:first-child, th:first-child { text-align: left; }
"""

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _png(fig: Figure, path: Path) -> str:
    """Write `fig` as a PNG file and return the same bytes base64-encoded."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    data = buf.getvalue()
    path.write_bytes(data)
    return base64.b64encode(data).decode("ascii")


def _img(b64: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">'


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "n/a" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(border=0, na_rep="n/a", escape=True,
                      float_format=lambda v: f"{v:.4g}")


def _dict_html(d: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in d.items())
    return f"<table>{rows}</table>"


def reliability_note(rates: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """One paragraph: how often this verdict is right on planted markets (`PLANTED_RATES`)."""
    rates = PLANTED_RATES if rates is None else rates
    parts = []
    for gen, r in rates.items():
        name = _GENERATOR_NAMES.get(gen, gen)
        parts.append(f"with {name}, a real edge was called ROBUST in {r['detection']:.0%} of "
                     f"{int(r['n_skill'])} cases and a strategy without one in "
                     f"{r['false_alarm']:.0%} of {int(r['n_luck'])}")
    return ("How often this test is right on planted markets like these (simulated markets "
            "whose edge is known; docs/verdict.md, python -m benchmarks.planted): "
            + "; ".join(parts) + ". Only ROBUST calls a strategy skill; MIXED means the "
            "paths and the real history do not show it either way.")


def _section(heading: str, body: str) -> str:
    anchor = heading.lower().replace(" ", "-")
    return f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>\n{body}\n</section>'


def _facts_parts(facts: Any) -> tuple[pd.DataFrame | None, dict | None]:
    """(table, curves) of a facts DataFrame or a ``FactsResult``-like object."""
    if facts is None:
        return None, None
    table = facts if isinstance(facts, pd.DataFrame) else getattr(facts, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError("facts must be a DataFrame or have a .table DataFrame, "
                        f"got {type(facts).__name__}")
    curves = getattr(facts, "curves", None) if not isinstance(facts, pd.DataFrame) else None
    return table, (dict(curves) if curves else None)


# ---------------------------------------------------------------------------------------------
# rendering from computed pieces
# ---------------------------------------------------------------------------------------------


def render_robustness(
    returns: np.ndarray,
    *,
    metrics: pd.DataFrame,
    table: pd.DataFrame,
    verdict: str,
    summary: Mapping[str, Any] | None = None,
    real_returns: np.ndarray | None = None,
    real_metrics: pd.Series | Mapping[str, float] | None = None,
    by_regime: pd.DataFrame | None = None,
    index: Sequence | None = None,
    facts: Any = None,
    out_dir: str | Path = "reports",
    title: str = "diffbt robustness report",
    bands: Sequence[float] = DEFAULT_BANDS,
    hist_columns: Sequence[str] = _HIST_COLUMNS,
    reliability: str | None = "",
) -> Path:
    """Write ``robustness.html`` and its PNGs from already computed pieces.

    Parameters
    ----------
    returns : ndarray (n_paths, n_steps)
        Per-bar returns of the synthetic paths (all-NaN rows: failed paths).
    metrics : DataFrame (n_paths, n_metrics)
        Per-path metrics (:func:`diffbt.metrics.returns.compute`).
    table : DataFrame
        The robustness table (``RobustnessReport.table``).
    verdict : str
        One-line verdict (``RobustnessReport.verdict``).
    summary : dict, optional
        Key numbers shown under the verdict (``RobustnessReport.summary``).
    real_returns : ndarray (n_real,), optional
        The real backtest's returns, drawn on the fan chart bar by bar with the paths (over
        the first ``min(n_real, n_steps)`` bars; a length mismatch is logged).
    real_metrics : Series or dict, optional
        The real backtest's metrics, marked on the histograms.
    by_regime : DataFrame, optional
        Results per regime label (``RobustnessReport.by_regime``), shown under the table.
    index : DatetimeIndex (n_steps,), optional
        Dates of the steps for the fan chart's x axis.
    facts : DataFrame or object with ``.table``, optional
        Stylized facts (columns ``fact, real, synthetic, distance``); adds a section and
        ``facts.png``.
    out_dir : folder, created if missing
    title : str
    bands : fan-chart percentiles
    hist_columns : metrics shown as histograms (those missing from `metrics` are skipped)
    reliability : str or None
        Note under the verdict on how often it is right; ``""`` (default):
        `reliability_note()`, None: no note.

    Returns
    -------
    Path
        ``out_dir / "robustness.html"``; ``fan_chart.png``, ``histograms.png`` and (with
        facts) ``facts.png`` are written beside it.

    Raises
    ------
    ValueError
        `returns` not 2-d, or `metrics` has none of `hist_columns`.
    TypeError
        `facts` is neither a DataFrame nor has a ``.table`` DataFrame.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mat = np.asarray(returns, dtype=np.float64)
    if mat.ndim != 2:
        raise ValueError(f"returns must be (n_paths, n_steps), got shape {mat.shape}")
    failed = np.all(np.isnan(mat), axis=1)
    n_failed = int(failed.sum())
    if n_failed and len(metrics) == mat.shape[0]:
        metrics = metrics[~failed]  # a failed path's "metrics" are those of a flat line
    facts_df, facts_curves = _facts_parts(facts)

    fan = fan_chart(mat, kind="returns", index=index, real=real_returns, bands=bands)
    fan_b64 = _png(fan, out_dir / "fan_chart.png")

    cols = [c for c in hist_columns if c in metrics.columns]
    if not cols:
        raise ValueError(f"metrics has none of the columns {list(hist_columns)}")
    if len(cols) < len(hist_columns):
        logger.warning("metrics lack %s: not drawn",
                       sorted(set(hist_columns) - set(metrics.columns)))
    hist = metric_histograms(metrics, real=real_metrics, columns=cols)
    hist_b64 = _png(hist, out_dir / "histograms.png")

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f"{mat.shape[0]} synthetic paths ({n_failed} failed), {mat.shape[1]} steps"
            f"{'' if real_returns is not None else ', no real backtest'}; generated {stamp}")
    verdict_body = f'<div class="verdict">{html.escape(str(verdict))}</div>'
    note = reliability_note() if reliability == "" else reliability
    if note:
        verdict_body += f'\n<p class="note">{html.escape(note)}</p>'
    if summary:
        verdict_body += "\n" + _dict_html(summary)
    parts = [
        _section("Verdict", verdict_body),
        _section("Equity fan chart",
                 "<p>Equity of the strategy on each synthetic path (start = 1): "
                 f"{', '.join(f'{b:g}' for b in bands)} % bands; the real equity curve in "
                 "black.</p>\n" + _img(fan_b64, "Equity fan chart")),
        _section("Metric distributions",
                 "<p>Per-path metrics; dashed: median; red: the real backtest with its "
                 "percentile among the paths.</p>\n" + _img(hist_b64, "Metric distributions")),
        _section("Robustness table", _table_html(
            table.set_index("metric") if "metric" in table.columns else table)
            + ("" if by_regime is None else "\n<h3>By regime</h3>\n" + _table_html(by_regime))),
    ]
    if facts_df is not None:
        ff = facts_figure(facts_df, curves=facts_curves)
        facts_b64 = _png(ff, out_dir / "facts.png")
        parts.append(_section("Stylized facts",
                              _table_html(facts_df.set_index("fact") if "fact" in facts_df
                                          else facts_df)
                              + "\n" + _img(facts_b64, "Stylized facts")))
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p class=\"meta\">{html.escape(meta)}</p>\n"
        + "\n".join(parts) + "\n</body>\n</html>\n"
    )
    path = out_dir / "robustness.html"
    part = path.with_name(f".{path.name}.part")  # write, then rename: never half a page
    part.write_text(page, encoding="utf-8")
    os.replace(part, path)
    logger.info("robustness report written to %s", path)
    return path


# ---------------------------------------------------------------------------------------------
# from a backtest result
# ---------------------------------------------------------------------------------------------


def robustness_report(
    result: BacktestResult,
    *,
    out_dir: str | Path = "reports",
    facts: Any = None,
    title: str = "diffbt robustness report",
    report: RobustnessReport | None = None,
    rf: float = 0.0,
) -> Path:
    """Write the robustness report of a backtest result.

    Parameters
    ----------
    result : BacktestResult
        From `diffbt.backtest_paths`.
    out_dir : folder for ``robustness.html`` and the PNGs
    facts : DataFrame or object with ``.table``, optional
        Stylized facts of real vs synthetic (pass it when the paths came from the generator).
    title : str
    report : RobustnessReport, optional
        Default ``diffbt.metrics.robustness.robustness(result, rf=rf)``; its per-path metrics
        are drawn, not computed again.
    rf : float
        Annual risk-free rate for the per-path metrics (when `report` is not given).

    Returns
    -------
    Path
        The HTML page (see :func:`render_robustness`).
    """
    if report is None:
        from diffbt.metrics.robustness import robustness

        report = robustness(result, rf=rf)
    mat = np.asarray(result.returns, dtype=np.float64)
    real = None if result.real_returns is None else np.asarray(result.real_returns,
                                                                dtype=np.float64).ravel()
    return render_robustness(
        mat, metrics=report.metrics, table=report.table, verdict=report.verdict,
        summary=report.summary, real_returns=real, real_metrics=report.real_metrics,
        by_regime=report.by_regime, index=result.index, facts=facts, out_dir=out_dir,
        title=title,
    )
