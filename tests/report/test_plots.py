"""Report figures: drawn values against numpy brute force, figure plumbing, bad input."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from diffbt.report.plots import (
    facts_figure,
    fan_chart,
    metric_histograms,
    percentile_bands,
    price_fan,
)


def _returns(seed: int = 0, n_paths: int = 40, n_steps: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).normal(3e-4, 0.01, (n_paths, n_steps))


def _line(ax, label: str):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


# ---------------------------------------------------------------------------------------------
# fan charts
# ---------------------------------------------------------------------------------------------


def test_percentile_bands_match_numpy_and_skip_failed_paths():
    r = _returns()
    r[5] = np.nan  # a failed path
    q = percentile_bands(r, (5, 50, 95))
    ok = np.delete(r, 5, axis=0)
    np.testing.assert_allclose(q, np.percentile(ok, [5, 50, 95], axis=0))


def test_fan_chart_median_and_real_are_compounded_returns():
    r = _returns()
    r[3] = np.nan
    real = np.random.default_rng(9).normal(0, 0.01, r.shape[1])
    idx = pd.bdate_range("2024-01-01", periods=r.shape[1], tz="UTC")
    fig = fan_chart(r, index=idx, real=real)
    ax = fig.axes[0]
    eq = np.cumprod(1.0 + np.delete(r, 3, axis=0), axis=1)
    np.testing.assert_allclose(_line(ax, "synthetic 50%").get_ydata(), np.median(eq, axis=0))
    np.testing.assert_allclose(_line(ax, "real").get_ydata(), np.cumprod(1.0 + real))
    assert len(ax.collections) == 2  # 5-95 and 25-75 shaded
    assert "n = 39" in ax.get_title()


def test_fan_chart_equity_kind_equals_returns_kind():
    r = _returns()
    a = fan_chart(r).axes[0]
    b = fan_chart(np.cumprod(1 + r, axis=1), kind="equity").axes[0]
    np.testing.assert_allclose(_line(a, "synthetic 50%").get_ydata(),
                               _line(b, "synthetic 50%").get_ydata())


def test_fan_chart_draws_on_given_axes_without_pyplot_figures():
    before = plt.get_fignums()
    fig = Figure()
    ax = fig.add_subplot()
    assert fan_chart(_returns(), ax=ax) is fig
    buf = io.BytesIO()
    fan_chart(_returns()).savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before


@pytest.mark.parametrize("kw", [{"bands": (50, 5)}, {"bands": (0, 50)}, {"kind": "prices"},
                                {"index": pd.RangeIndex(3)}])
def test_fan_chart_rejects_bad_options(kw):
    with pytest.raises(ValueError):
        fan_chart(_returns(), **kw)


def test_price_fan_draws_single_paths_and_real_close():
    close = 100 * np.cumprod(1 + _returns(n_paths=20), axis=1)
    real = 100 * np.cumprod(1 + _returns(seed=3, n_paths=1)[0])
    ax = price_fan(close, real, n_show=3).axes[0]
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels.count("single paths") == 1 and len(labels) == 1 + 3 + 1  # median, 3, real
    np.testing.assert_allclose(_line(ax, "real").get_ydata(), real)
    np.testing.assert_allclose(_line(ax, "synthetic 50%").get_ydata(), np.median(close, axis=0))


# ---------------------------------------------------------------------------------------------
# histograms
# ---------------------------------------------------------------------------------------------


def test_metric_histograms_mark_real_value_and_its_percentile():
    rng = np.random.default_rng(1)
    m = pd.DataFrame({"sharpe": rng.normal(0.5, 1, 200), "max_drawdown": -rng.random(200),
                      "cagr": rng.normal(0.05, 0.1, 200)})
    m.loc[7, "sharpe"] = np.nan
    real = {"sharpe": 1.2, "max_drawdown": -0.3, "cagr": 0.0}
    fig = metric_histograms(m, real=real)
    assert [ax.get_title() for ax in fig.axes] == ["sharpe", "max_drawdown", "cagr"]
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == 199  # the NaN path is skipped
    v = m["sharpe"].dropna().to_numpy()
    pct = 100 * np.mean(v < 1.2)
    (red,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("real")]
    assert red.get_xdata()[0] == 1.2
    assert red.get_label() == f"real 1.2 (pct {pct:.0f})"


def test_metric_histograms_rejects_missing_column():
    with pytest.raises(ValueError, match="sortino"):
        metric_histograms(pd.DataFrame({"sharpe": [1.0]}), columns=("sharpe", "sortino"))


# ---------------------------------------------------------------------------------------------
# stylized facts
# ---------------------------------------------------------------------------------------------


def _facts() -> pd.DataFrame:
    return pd.DataFrame({"fact": ["kurtosis", "skew", "acf_abs"], "real": [6.0, -0.5, 0.2],
                         "synthetic": [3.0, -1.0, np.nan], "distance": [3.0, 0.5, np.nan]})


def test_facts_figure_scales_each_fact_by_its_larger_value():
    fig = facts_figure(_facts())
    ax_v, ax_d = fig.axes
    widths = [p.get_width() for p in ax_v.patches]
    # real bars first (kurtosis, skew, acf_abs), then synthetic
    np.testing.assert_allclose(widths, [1.0, -0.5, 1.0, 0.5, -1.0, 0.0])
    np.testing.assert_allclose([p.get_width() for p in ax_d.patches], [3.0, 0.5, 0.0])
    assert [t.get_text() for t in ax_v.get_yticklabels()] == ["kurtosis", "skew", "acf_abs"]


def test_facts_figure_draws_curves_averaged_over_assets():
    lags = np.arange(1, 6)
    real = np.stack([0.5 ** lags, 0.3 ** lags], axis=1)
    curves = {"acf_abs": (real, real * 0.5), "leverage": (-0.1 * lags, -0.05 * lags)}
    fig = facts_figure(_facts(), curves=curves)
    assert len(fig.axes) == 4
    ax = fig.axes[2]
    assert ax.get_title() == "acf_abs"
    np.testing.assert_allclose(_line(ax, "real").get_ydata(), real.mean(axis=1))
    np.testing.assert_allclose(_line(ax, "real").get_xdata(), lags)


def test_facts_figure_rejects_missing_columns():
    with pytest.raises(ValueError, match="distance"):
        facts_figure(_facts().drop(columns="distance"))
