"""Figures for robustness reports: fan charts, metric histograms, stylized facts.

Every function draws on a given ``ax`` (or ``axes``) or on a new
:class:`matplotlib.figure.Figure` and returns the Figure. Figures are built without
``pyplot``: no global figure registry, no backend switch, nothing shown; save them with
``fig.savefig(path)`` (Agg canvas).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_BANDS",
    "facts_figure",
    "fan_chart",
    "metric_histograms",
    "percentile_bands",
    "price_fan",
    "quality_figure",
]

logger = logging.getLogger(__name__)

#: Percentiles drawn by the fan charts: outer pairs are shaded, the odd middle one is a line.
DEFAULT_BANDS: tuple[float, ...] = (5, 25, 50, 75, 95)

_FAN_COLOR = "tab:blue"
_REAL_COLOR = "black"

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _check_bands(bands: Sequence[float]) -> np.ndarray:
    b = np.asarray(bands, dtype=np.float64)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"bands must be a non-empty sequence of percentiles, got {bands!r}")
    if not np.all((b > 0) & (b < 100)) or np.any(np.diff(b) <= 0):
        raise ValueError(f"bands must be increasing percentiles in (0, 100), got {bands!r}")
    return b


def _as_paths(paths: np.ndarray | pd.DataFrame, name: str) -> np.ndarray:
    if isinstance(paths, pd.DataFrame):  # QuantStats layout: time x paths
        mat = paths.to_numpy(dtype=np.float64, na_value=np.nan).T
    else:
        mat = np.asarray(paths, dtype=np.float64)
    if mat.ndim == 1:
        mat = mat[None, :]
    if mat.ndim != 2:
        raise ValueError(f"{name} must be (n_paths, n_steps), got shape {mat.shape}")
    return mat


def _equity(returns: np.ndarray) -> np.ndarray:
    """Compounded equity from 1.0, NaN bars flat (as :func:`diffbt.metrics.returns.equity`)."""
    return np.cumprod(1.0 + np.nan_to_num(returns, nan=0.0), axis=-1)


def _x_axis(index: Sequence | None, n: int) -> np.ndarray | pd.Index:
    if index is None:
        return np.arange(n)
    x = pd.Index(index)
    if len(x) != n:
        raise ValueError(f"index has {len(x)} entries but the paths have {n} steps")
    if isinstance(x, pd.DatetimeIndex) and x.tz is not None:
        x = x.tz_localize(None)
    return x


def percentile_bands(paths: np.ndarray, bands: Sequence[float] = DEFAULT_BANDS) -> np.ndarray:
    """Per-step percentiles across paths, ignoring rows that are entirely NaN (failed paths).

    Parameters
    ----------
    paths : ndarray (n_paths, n_steps)
    bands : increasing percentiles in (0, 100)

    Returns
    -------
    ndarray (len(bands), n_steps)
        NaN where no path has a value.
    """
    b = _check_bands(bands)
    mat = _as_paths(paths, "paths")
    mat = mat[~np.all(np.isnan(mat), axis=1)]
    out = np.full((b.size, mat.shape[1]), np.nan)
    if mat.shape[0] == 0:
        return out
    has = ~np.all(np.isnan(mat), axis=0)
    out[:, has] = np.nanpercentile(mat[:, has], b, axis=0)
    return out


def _draw_fan(ax: Axes, x, mat: np.ndarray, bands: np.ndarray, color: str, label: str) -> None:
    q = percentile_bands(mat, bands)
    k = len(bands)
    for i in range(k // 2):
        lo, hi = bands[i], bands[k - 1 - i]
        alpha = 0.15 + 0.25 * i / max(1, k // 2 - 1) if k // 2 > 1 else 0.25
        ax.fill_between(x, q[i], q[k - 1 - i], color=color, alpha=alpha, linewidth=0,
                        label=f"{label} {lo:g}-{hi:g}%")
    if k % 2:
        ax.plot(x, q[k // 2], color=color, linewidth=1.4, label=f"{label} {bands[k // 2]:g}%")


def _draw_real(ax: Axes, x, real: np.ndarray, label: str) -> None:
    n = min(len(x), real.shape[-1])
    if real.shape[-1] != len(x):
        logger.warning("real series has %d steps, the paths %d: drawing the first %d",
                       real.shape[-1], len(x), n)
    ax.plot(x[:n], real[:n], color=_REAL_COLOR, linewidth=1.6, label=label, zorder=5)


# ---------------------------------------------------------------------------------------------
# fan charts
# ---------------------------------------------------------------------------------------------


def fan_chart(
    paths: np.ndarray | pd.DataFrame,
    *,
    kind: str = "returns",
    index: Sequence | None = None,
    real: np.ndarray | pd.Series | None = None,
    ax: Axes | None = None,
    bands: Sequence[float] = DEFAULT_BANDS,
    logy: bool = False,
    title: str | None = "Equity across synthetic paths",
) -> Figure:
    """Fan chart of equity curves: percentile bands across paths, the real curve on top.

    Parameters
    ----------
    paths : ndarray (n_paths, n_steps) or DataFrame (time x paths)
        Per-bar simple returns (``kind="returns"``) or equity curves (``kind="equity"``).
        All-NaN rows (failed paths) are left out.
    kind : {"returns", "equity"}
        What `paths` and `real` hold; returns are compounded from 1.0 (NaN bars flat).
    index : sequence of length n_steps, optional
        x values (a DatetimeIndex; tz is dropped). Default: bar numbers.
    real : ndarray or Series (n_steps,), optional
        The real strategy, same `kind`; drawn positionally over the first common steps.
    ax : Axes, optional
    bands : increasing percentiles in (0, 100)
        Outer pairs (5-95, 25-75) are shaded; an odd middle one (50) is a line.
    logy : bool
        Log-scale y axis.
    title : str or None

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        Bad `kind`, `bands`, or shapes.
    """
    if kind not in ("returns", "equity"):
        raise ValueError(f"kind must be 'returns' or 'equity', got {kind!r}")
    b = _check_bands(bands)
    mat = _as_paths(paths, "paths")
    if kind == "returns":
        failed = np.all(np.isnan(mat), axis=1)
        mat = _equity(mat)
        mat[failed] = np.nan
    x = _x_axis(index, mat.shape[1])
    fig, ax = _new_axes(ax, (9.0, 4.8))
    n_ok = int((~np.all(np.isnan(mat), axis=1)).sum())
    _draw_fan(ax, x, mat, b, _FAN_COLOR, "synthetic")
    if real is not None:
        r = np.asarray(real, dtype=np.float64).ravel()
        _draw_real(ax, x, _equity(r) if kind == "returns" else r, "real")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel("equity (start = 1)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    if title:
        ax.set_title(f"{title} (n = {n_ok})")
    return fig


def price_fan(
    pathset_close: np.ndarray | pd.DataFrame,
    real_close: np.ndarray | pd.Series | None = None,
    *,
    index: Sequence | None = None,
    ax: Axes | None = None,
    bands: Sequence[float] = DEFAULT_BANDS,
    n_show: int = 5,
    logy: bool = False,
    title: str | None = "Synthetic close prices",
) -> Figure:
    """Fan chart of synthetic close prices, a few single paths, and the real close on top.

    Parameters
    ----------
    pathset_close : ndarray (n_paths, n_steps) or DataFrame (time x paths)
        Close prices of the synthetic paths (e.g. ``pathset.values[:, :, asset, 3]``).
    real_close : ndarray or Series (n_steps,), optional
    index : sequence of length n_steps, optional
    ax : Axes, optional
    bands : increasing percentiles in (0, 100)
    n_show : int
        How many single paths (the first ones) to draw as thin lines.
    logy : bool
    title : str or None

    Returns
    -------
    Figure
    """
    b = _check_bands(bands)
    mat = _as_paths(pathset_close, "pathset_close")
    x = _x_axis(index, mat.shape[1])
    fig, ax = _new_axes(ax, (9.0, 4.8))
    _draw_fan(ax, x, mat, b, "tab:green", "synthetic")
    for i in range(min(max(n_show, 0), mat.shape[0])):
        ax.plot(x, mat[i], color="tab:green", linewidth=0.6, alpha=0.6,
                label="single paths" if i == 0 else None)
    if real_close is not None:
        _draw_real(ax, x, np.asarray(real_close, dtype=np.float64).ravel(), "real")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel("close")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------------------------
# metric distributions
# ---------------------------------------------------------------------------------------------


def metric_histograms(
    metrics_df: pd.DataFrame,
    *,
    real: pd.Series | Mapping[str, float] | None = None,
    columns: Sequence[str] = ("sharpe", "max_drawdown", "cagr"),
    bins: int = 30,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Histograms of per-path metrics with the median dashed and the real result marked.

    Parameters
    ----------
    metrics_df : DataFrame (n_paths, n_metrics)
        One row per synthetic path (:func:`diffbt.metrics.returns.compute`); NaN rows skipped.
    real : Series or dict, optional
        The real strategy's metrics; its value per column is a red line, labelled with its
        percentile among the finite synthetic values (share of paths strictly below plus half
        of the ties).
    columns : names of `metrics_df` columns, one panel each
    bins : int
    axes : sequence of len(columns) Axes, optional

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A column is not in `metrics_df`, or `axes` has the wrong length.
    """
    columns = list(columns)
    missing = [c for c in columns if c not in metrics_df.columns]
    if missing:
        raise ValueError(f"metrics_df has no column(s) {missing}; "
                         f"it has {list(metrics_df.columns)}")
    if axes is None:
        fig = Figure(figsize=(4.0 * len(columns), 3.6), layout="constrained")
        axes = fig.subplots(1, len(columns), squeeze=False)[0]
    elif len(axes) != len(columns):
        raise ValueError(f"need {len(columns)} axes, got {len(axes)}")
    else:
        fig = axes[0].figure
    for ax, col in zip(axes, columns, strict=True):
        v = pd.to_numeric(metrics_df[col], errors="coerce").to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        ax.set_title(col)
        ax.grid(alpha=0.3)
        if v.size == 0:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center",
                    transform=ax.transAxes)
        else:
            ax.hist(v, bins=bins, color=_FAN_COLOR, alpha=0.7)
            ax.axvline(np.median(v), color=_FAN_COLOR, linestyle="--", linewidth=1.2,
                       label=f"median {np.median(v):.3g}")
        if real is not None and col in real and np.isfinite(real_value := float(real[col])):
            label = f"real {real_value:.3g}"
            if v.size:
                pct = 100.0 * (np.mean(v < real_value) + 0.5 * np.mean(v == real_value))
                label += f" (pct {pct:.0f})"
            ax.axvline(real_value, color="tab:red", linewidth=2.0, label=label)
        ax.set_ylabel("paths")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------
# stylized facts
# ---------------------------------------------------------------------------------------------


def facts_figure(
    facts_table: pd.DataFrame,
    *,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Stylized facts of real vs synthetic returns, and their distance.

    Parameters
    ----------
    facts_table : DataFrame with columns ``fact, real, synthetic, distance``
        (``FactsResult.table`` of :mod:`diffbt.metrics.facts`); non-numeric cells are not
        drawn.
    curves : dict, optional
        ``{name: (real, synthetic)}``, each ``(lags,)`` or ``(lags, n_assets)`` (averaged over
        assets), lag 1 first (``FactsResult.curves``): one line panel each.
    axes : 2 + len(curves) Axes, optional

    Returns
    -------
    Figure
        Top left: real and synthetic value per fact, each fact scaled by its larger absolute
        value (so facts on different scales share one axis), raw values written at the bars.
        Top right: the distance per fact. Below: the curves, real vs synthetic, by lag.

    Raises
    ------
    ValueError
        Missing columns.
    """
    need = ["fact", "real", "synthetic", "distance"]
    missing = [c for c in need if c not in facts_table.columns]
    if missing:
        raise ValueError(f"facts table has no column(s) {missing}; it has "
                         f"{list(facts_table.columns)}")
    names = facts_table["fact"].astype(str).to_list()
    real = pd.to_numeric(facts_table["real"], errors="coerce").to_numpy(dtype=np.float64)
    syn = pd.to_numeric(facts_table["synthetic"], errors="coerce").to_numpy(dtype=np.float64)
    dist = pd.to_numeric(facts_table["distance"], errors="coerce").to_numpy(dtype=np.float64)
    n = len(names)
    curves = dict(curves or {})
    n_axes = 2 + len(curves)
    if axes is None:
        h_bars = 1.0 + 0.45 * max(n, 2)
        fig = Figure(figsize=(11.0, h_bars + (3.0 if curves else 0.0)), layout="constrained")
        if curves:
            top, bottom = fig.subfigures(2, 1, height_ratios=(h_bars, 3.0))
            axes = [*top.subplots(1, 2, width_ratios=(2, 1), sharey=True),
                    *bottom.subplots(1, len(curves), squeeze=False)[0]]
        else:
            axes = fig.subplots(1, 2, width_ratios=(2, 1), sharey=True)
    elif len(axes) != n_axes:
        raise ValueError(f"need {n_axes} axes, got {len(axes)}")
    else:
        fig = axes[0].figure
    ax_v, ax_d = axes[0], axes[1]
    y = np.arange(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.fmax(np.abs(real), np.abs(syn))
        scale = np.where(scale > 0, scale, 1.0)
        real_s, syn_s = real / scale, syn / scale
    h = 0.38
    ax_v.barh(y - h / 2, np.nan_to_num(real_s), height=h, color=_REAL_COLOR, alpha=0.75,
              label="real")
    ax_v.barh(y + h / 2, np.nan_to_num(syn_s), height=h, color=_FAN_COLOR, alpha=0.75,
              label="synthetic")
    for yi, rs, ss, rv, sv in zip(y, real_s, syn_s, real, syn, strict=True):
        for off, s, v in ((-h / 2, rs, rv), (h / 2, ss, sv)):
            txt = "n/a" if not np.isfinite(v) else f"{v:.3g}"
            pos = 0.0 if not np.isfinite(s) else s
            ax_v.text(pos + (0.03 if pos >= 0 else -0.03), yi + off, txt, va="center",
                      ha="left" if pos >= 0 else "right", fontsize="x-small")
    ax_v.axvline(0.0, color="grey", linewidth=0.8)
    ax_v.set_xlim(-1.45, 1.45)
    ax_v.set_yticks(y, names)
    ax_v.invert_yaxis()
    ax_v.set_xlabel("value / max(|real|, |synthetic|)")
    ax_v.set_title("real vs synthetic", loc="left")
    ax_v.legend(fontsize="small", frameon=False, ncol=2, loc="lower right",
                bbox_to_anchor=(1.0, 1.0))
    ax_v.grid(alpha=0.3, axis="x")
    bars = ax_d.barh(y, np.nan_to_num(dist), color="tab:orange", alpha=0.8)
    ax_d.bar_label(bars, labels=[f"{d:.3g}" if np.isfinite(d) else "n/a" for d in dist],
                   fontsize="x-small", padding=2)
    ax_d.margins(x=0.2)
    ax_d.set_title("distance")
    ax_d.grid(alpha=0.3, axis="x")
    for ax, (name, (c_real, c_syn)) in zip(axes[2:], curves.items(), strict=True):
        for c, color, label in ((c_real, _REAL_COLOR, "real"), (c_syn, _FAN_COLOR, "synthetic")):
            c = np.asarray(c, dtype=np.float64)
            c = c.mean(axis=1) if c.ndim == 2 else c
            ax.plot(np.arange(1, c.size + 1), c, color=color, linewidth=1.3, label=label)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_title(name)
        ax.set_xlabel("lag")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", frameon=False)
    return fig


def quality_figure(distances: pd.DataFrame, *, ax: Axes | None = None,
                   title: str = "Stylized-facts distance to real data (lower is better)"
                   ) -> Figure:
    """Grouped bars: one group per fact, one bar per generator.

    Parameters
    ----------
    distances : DataFrame
        Rows facts, columns generators (``diffbt.metrics.facts.compare``). Each row is
        divided by its largest value so facts on different scales share one axis.
    """
    if not isinstance(distances, pd.DataFrame) or distances.empty:
        raise ValueError("distances must be a non-empty DataFrame (facts x generators)")
    fig, ax = _new_axes(ax, (max(8.0, 0.9 * len(distances)), 4.5))
    d = distances.astype(float)
    scale = d.abs().max(axis=1).replace(0.0, 1.0)
    rel = d.div(scale, axis=0)
    n_gen = len(rel.columns)
    width = 0.8 / n_gen
    x = np.arange(len(rel))
    for k, name in enumerate(rel.columns):
        ax.bar(x + (k - (n_gen - 1) / 2) * width, rel[name].to_numpy(), width, label=str(name))
    ax.set_xticks(x)
    ax.set_xticklabels([str(i) for i in rel.index], rotation=30, ha="right")
    ax.set_ylabel("distance / worst generator")
    ax.set_title(title)
    ax.legend(fontsize="small", ncols=min(n_gen, 5))
    return fig
