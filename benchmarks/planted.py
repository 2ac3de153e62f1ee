"""Benchmark: is the skill-or-luck verdict right when the answer is known?

Run::

    python -m benchmarks.planted [--quick] [--seeds 0 1] [--out reports/planted.json]
    python -m benchmarks.planted --from-json reports/planted.json   # tables again, no run

Planted-truth markets are simulated with realistic dynamics (GARCH(1,1) volatility with
Student-t innovations, correlated assets, zero drift) and a known edge, or none, in each asset.
A market is ``train_years + test_years`` years of 252 daily bars. Every generator is fitted once
per market on the training years; its synthetic 252-bar paths are then the "plausible other
years" against which each later real year (a *case*) is judged, for every strategy. The verdict
is the product's, `diffbt.metrics.robustness.robustness`; **called skill means the verdict is
ROBUST** (MIXED and FRAGILE are not-skill). Output: detection rate (real edges called skill)
and false-alarm rate (no-edge strategies called skill) per case group and generator, as
Markdown on stdout, and a JSON of every case (`--out`). `calibrate` picks the verdict's
cut-offs from these cases.

Assets (`AssetSpec.kind`)
-------------------------
- ``momentum``: ``r_t = phi r_{t-1} + e_t`` (lag-1 autocorrelation ``phi``).
- ``meanrev``: log price = random walk + an OU component,
  ``u_t = (1 - kappa) u_{t-1} + theta e_t``, ``r_t = e_t + u_t - u_{t-1}``.
- ``voltiming``: ``r_t = c (s_bar - s_t) + e_t``, ``s_t = sqrt(h_t)`` the GARCH volatility and
  ``s_bar`` its mean: calm spells drift up, turbulent ones down, no drift on average.
- ``regime``: a two-state Markov regime (mean stay 63 bars) multiplies the volatility by 1.8
  in its turbulent state, and momentum ``phi`` exists only there.
- ``null``: no edge.

In every asset ``e_t = sqrt(h_t) z_t``, ``h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}`` (alpha
0.08, beta 0.90, 20 % annual volatility), ``z`` a unit-variance multivariate Student-t (5 degrees
of freedom, one-factor correlation 0.4 between any two assets).

Strategies (vectorized rules on closes, `RULES`)
------------------------------------------------
The position ``pos_t`` in {-1, 0, 1} is decided from closes ``<= t`` and earns the
close-to-close return of bar ``t + 1`` (the backtrader equivalent rebalances at the close of bar
``t``; a test checks both give the same returns). Flat until a rule has its lookback:

- ``momentum``: ``sign(r_t)``; ``contrarian``: ``-sign(log C_t - mean_10 log C)``;
  ``voltiming``: long when the 10-bar realised volatility is below the 60-bar one, else short;
  ``trend``: SMA(10) vs SMA(60), long/short.
- ``grid_best``: the best, by Sharpe on the very test year, of a 9-point long/short SMA grid
  (`SMA_GRID`), judged with the grid given (``n_trials=9`` and the grid's returns: DSR and
  PBO); ``grid_best_hidden``: the same choice judged without the grid.

Skill cases: each edge's rule on its asset. Luck cases (no edge by construction): every rule
on the null assets (their returns are a martingale difference given the whole market's past),
and vol timing on the momentum and regime assets (sign-symmetric processes: a position that
ignores return signs earns nothing). `true_sharpes` measures each case's expected Sharpe on
fresh simulations.

Generators: diffbt's `MarketGenerator` with its default settings (what users get), the block
bootstrap, GARCH-t and GBM baselines, and an `Oracle` that draws paths from the planted process
itself (what a perfect generator would give; it reads the truth, not the data).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from diffbt.data.features import from_features
from diffbt.data.market import Market
from diffbt.workflows import jsonable

__all__ = [
    "MARKETS",
    "QUICK_MARKETS",
    "RULES",
    "SMA_GRID",
    "AssetSpec",
    "MarketSpec",
    "StrategySpec",
    "calibrate",
    "cross_validate",
    "default_generators",
    "evaluate_market",
    "main",
    "markdown_table",
    "planted_market",
    "rates",
    "simulate_returns",
    "strategies_for",
    "strategy_returns",
    "summarize",
    "true_sharpes",
]

log = logging.getLogger(__name__)

BARS_PER_YEAR = 252


# ---------------------------------------------------------------------------------------------
# planted-truth markets
# ---------------------------------------------------------------------------------------------

KINDS = ("momentum", "meanrev", "voltiming", "regime", "null")


@dataclass(frozen=True)
class AssetSpec:
    """One asset of a planted market: its name, the edge planted in it and its strength.

    ``kind`` is one of `KINDS`; ``strength`` is ``phi`` (momentum, regime), ``theta``
    (meanrev) or ``c`` (voltiming), unused for null (module docstring).
    """

    name: str
    kind: str
    strength: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class MarketSpec:
    """A planted-truth market: its assets and the shared GARCH(1,1)-t innovations.

    Parameters
    ----------
    name : str
    assets : tuple of AssetSpec
    annual_vol, alpha, beta, nu, corr
        Annual volatility of the innovations ``e``, ARCH and GARCH coefficients, Student-t
        degrees of freedom, correlation between any two assets' innovations (one factor).
    kappa : float
        Mean-reversion speed of the OU component (meanrev assets).
    regime_vol, regime_stay : float
        Volatility multiplier of the turbulent regime and mean stay (bars) in either regime
        (regime assets; one regime chain per market).
    """

    name: str
    assets: tuple[AssetSpec, ...]
    annual_vol: float = 0.20
    alpha: float = 0.08
    beta: float = 0.90
    nu: float = 5.0
    corr: float = 0.4
    kappa: float = 0.2
    regime_vol: float = 1.8
    regime_stay: float = 63.0

    def __post_init__(self) -> None:
        if not self.assets:
            raise ValueError("a market needs at least one asset")
        if len({a.name for a in self.assets}) != len(self.assets):
            raise ValueError("asset names must be unique")
        if not (self.alpha >= 0 and self.beta >= 0 and self.alpha + self.beta < 1):
            raise ValueError("need alpha, beta >= 0 and alpha + beta < 1")
        if not self.nu > 2:
            raise ValueError(f"nu must be > 2, got {self.nu}")
        if not 0 <= self.corr < 1:
            raise ValueError(f"corr must be in [0, 1), got {self.corr}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.assets)

    def _per_asset(self, kind: str) -> np.ndarray:
        return np.array([a.strength if a.kind == kind else 0.0 for a in self.assets])


def _t_innovations(rng: np.random.Generator, shape: tuple[int, int], n_assets: int,
                   corr: float, nu: float) -> np.ndarray:
    """Unit-variance multivariate Student-t draws (one-factor correlation), shape + (A,)."""
    factor = rng.standard_normal(shape + (1,))
    n = math.sqrt(corr) * factor + math.sqrt(1.0 - corr) * rng.standard_normal(
        shape + (n_assets,))
    chi = rng.chisquare(nu, shape)[..., None]
    return n * np.sqrt((nu - 2.0) / chi)


def simulate_returns(spec: MarketSpec, n_bars: int, *, n_chains: int = 1, seed: int | None = 0,
                     burn: int = 500) -> dict[str, np.ndarray]:
    """Simulate log returns of a planted-truth market.

    Parameters
    ----------
    spec : MarketSpec
    n_bars : int
    n_chains : int
        Independent markets simulated together.
    seed : int, optional
    burn : int
        Bars simulated and dropped first.

    Returns
    -------
    dict
        ``ret`` (n_chains, n_bars, n_assets) log returns, ``vol`` (same shape) the conditional
        volatility ``sqrt(h_t)`` of the innovations, ``turbulent`` (n_chains, n_bars) bool,
        the market's regime (it only acts on regime assets).
    """
    rng = np.random.default_rng(seed)
    n_assets = len(spec.assets)
    total = n_bars + burn
    var = spec.annual_vol**2 / BARS_PER_YEAR
    omega = var * (1.0 - spec.alpha - spec.beta)
    z = _t_innovations(rng, (n_chains, total), n_assets, spec.corr, spec.nu)
    switch = rng.random((n_chains, total)) < 1.0 / spec.regime_stay
    phi = spec._per_asset("momentum")
    theta = spec._per_asset("meanrev")
    c = spec._per_asset("voltiming")
    phi_turb = spec._per_asset("regime")
    is_reg = np.array([a.kind == "regime" for a in spec.assets])
    s_bar = _mean_vol(spec) if c.any() else 0.0
    h = np.full((n_chains, n_assets), var)
    e_prev = np.zeros((n_chains, n_assets))
    r_prev = np.zeros((n_chains, n_assets))
    u_prev = np.zeros((n_chains, n_assets))
    state = rng.random(n_chains) < 0.5
    ret = np.empty((n_chains, total, n_assets))
    vol = np.empty((n_chains, total, n_assets))
    turb = np.empty((n_chains, total), dtype=bool)
    for t in range(total):
        h = omega + spec.alpha * e_prev**2 + spec.beta * h
        s = np.sqrt(h)
        e = s * z[:, t]
        state = state ^ switch[:, t]
        turb[:, t] = state
        m = np.where(is_reg & state[:, None], spec.regime_vol, 1.0)
        u = (1.0 - spec.kappa) * u_prev + theta * e
        r = (m * e + (phi + phi_turb * state[:, None]) * r_prev + (u - u_prev)
             + c * (s_bar - s))
        r_prev, u_prev, e_prev = r, u, e
        ret[:, t] = r
        vol[:, t] = s
    return {"ret": ret[:, burn:], "vol": vol[:, burn:], "turbulent": turb[:, burn:]}


_MEAN_VOL: dict[tuple, float] = {}


def _mean_vol(spec: MarketSpec) -> float:
    """E[sqrt(h_t)] of the GARCH innovations (a long simulation, cached per setting)."""
    key = (spec.annual_vol, spec.alpha, spec.beta, spec.nu)
    if key not in _MEAN_VOL:
        base = MarketSpec("_", (AssetSpec("x", "null"),), annual_vol=spec.annual_vol,
                          alpha=spec.alpha, beta=spec.beta, nu=spec.nu)
        _MEAN_VOL[key] = float(simulate_returns(base, 4000, n_chains=500, seed=12345)["vol"]
                               .mean())
    return _MEAN_VOL[key]


def _bars(ret: np.ndarray, vol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """OHLCV bars (..., L, A, 5) around close-to-close log returns `ret` (..., L, A)."""
    feats = np.empty(ret.shape + (5,))
    feats[..., 0] = ret
    feats[..., 1] = rng.normal(0.0, 0.2, ret.shape) * vol
    feats[..., 2] = np.abs(rng.normal(0.0, 0.4, ret.shape)) * vol
    feats[..., 3] = np.abs(rng.normal(0.0, 0.4, ret.shape)) * vol
    feats[..., 4] = 13.0 + 0.3 * np.abs(ret) / vol + rng.normal(0.0, 0.3, ret.shape)
    return from_features(feats, 100.0)


def planted_market(spec: MarketSpec, n_bars: int, *, seed: int = 0,
                   start: str = "2000-01-03") -> tuple[Market, dict[str, np.ndarray]]:
    """A planted-truth daily `Market` of `n_bars` bars.

    The close-to-close log returns are exactly `simulate_returns`'s; opens, highs, lows and
    volumes are drawn around them (gap ~ N(0, (0.2 s)^2), wicks ~ |N(0, (0.4 s)^2)|, log
    volume rising with ``|r| / s``), so every bar is valid.

    Returns
    -------
    (Market, truth)
        ``truth``: the `simulate_returns` arrays of the one chain.
    """
    rng = np.random.default_rng([seed, 7])
    sim = simulate_returns(spec, n_bars, seed=seed)
    values = _bars(sim["ret"][0], sim["vol"][0], rng)
    index = pd.bdate_range(start, periods=n_bars).as_unit("ns")
    return Market(values, index, spec.names), {k: v[0] for k, v in sim.items()}


# ---------------------------------------------------------------------------------------------
# strategies: vectorized rules on closes
# ---------------------------------------------------------------------------------------------


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Trailing mean over the last `n` values along axis -1; NaN before `n` values."""
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], axis=-1), axis=-1)
    out = np.full(x.shape, np.nan)
    out[..., n - 1:] = (c[..., n:] - c[..., :-n]) / n
    return out


def _sign(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), 0.0, np.sign(np.nan_to_num(x)))


def pos_momentum(close: np.ndarray) -> np.ndarray:
    """``sign(log C_t - log C_{t-1})``; flat on the first bar. `close` (..., L) -> (..., L)."""
    lc = np.log(close)
    out = np.zeros(close.shape)
    out[..., 1:] = np.sign(lc[..., 1:] - lc[..., :-1])
    return out


def pos_contrarian(close: np.ndarray, n: int = 10) -> np.ndarray:
    """``-sign(log C_t - mean(log C_{t-n+1..t}))``."""
    lc = np.log(close)
    return -_sign(lc - _rolling_mean(lc, n))


def pos_voltiming(close: np.ndarray, short: int = 10, long: int = 60) -> np.ndarray:
    """Long when the `short`-bar realised volatility is below the `long`-bar one, else short."""
    lc = np.log(close)
    r2 = np.zeros(close.shape)
    r2[..., 1:] = (lc[..., 1:] - lc[..., :-1]) ** 2
    r2[..., 0] = np.nan
    vs = _rolling_mean(r2[..., 1:], short)
    vl = _rolling_mean(r2[..., 1:], long)
    out = np.zeros(close.shape)
    out[..., 1:] = _sign(vl - vs)
    return out


def pos_sma(close: np.ndarray, fast: int = 10, slow: int = 60) -> np.ndarray:
    """Long/short SMA crossover: ``sign(SMA_fast(C) - SMA_slow(C))``, flat before `slow` bars."""
    return _sign(_rolling_mean(close, fast) - _rolling_mean(close, slow))


#: The SMA grid that ``grid_best`` searches (fast, slow).
SMA_GRID: tuple[tuple[int, int], ...] = tuple(
    (f, s) for f in (5, 10, 20) for s in (40, 60, 120))


def strategy_returns(close: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Per-bar returns of holding ``pos_{t-1}`` over bar ``t`` (bar 0 earns 0).

    Parameters
    ----------
    close : ndarray (..., L)
    pos : ndarray (..., L)
        Position decided at the close of each bar (fraction of equity, short < 0).

    Returns
    -------
    ndarray (..., L)
        ``out[..., t] = pos[..., t-1] * (C_t / C_{t-1} - 1)``, ``out[..., 0] = 0``.
    """
    out = np.zeros(close.shape)
    out[..., 1:] = pos[..., :-1] * (close[..., 1:] / close[..., :-1] - 1.0)
    return out


# ---------------------------------------------------------------------------------------------
# strategies judged on a market, and the truth about them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySpec:
    """A strategy run on one asset of a planted market, and the truth about it there.

    ``rule`` is a key of `RULES` or ``"grid_best"`` / ``"grid_best_hidden"``; ``truth`` is
    ``"skill"`` or ``"luck"``; ``group`` is the row of the table the case counts in.
    """

    rule: str
    asset: str
    truth: str
    group: str


#: Single rules by name: close (..., L) -> position (..., L).
RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "momentum": pos_momentum,
    "contrarian": pos_contrarian,
    "voltiming": pos_voltiming,
    "trend": pos_sma,
}

#: The rule that harvests each planted edge.
SKILL_RULE = {"momentum": "momentum", "regime": "momentum", "meanrev": "contrarian",
              "voltiming": "voltiming"}

_KIND_LABEL = {"momentum": "momentum, phi", "regime": "momentum in turbulent regime only, phi",
               "meanrev": "mean reversion, theta", "voltiming": "vol timing, c"}

_LUCK_NULL = (
    ("grid_best", "luck: best of SMA grid, grid given"),
    ("grid_best_hidden", "luck: best of SMA grid, grid hidden"),
    ("trend", "luck: SMA(10,60) trend, no trend"),
    ("momentum", "luck: momentum, no autocorrelation"),
    ("contrarian", "luck: contrarian, no mean reversion"),
)
_LUCK_VOL = "luck: vol timing, no vol edge"


def strategies_for(spec: MarketSpec) -> tuple[StrategySpec, ...]:
    """The strategies judged on a market: each planted edge harvested on its asset (skill);
    the no-edge strategies on the null assets, and vol timing on autocorrelated ones (luck)."""
    out = []
    for a in spec.assets:
        if a.kind in SKILL_RULE:
            out.append(StrategySpec(SKILL_RULE[a.kind], a.name, "skill",
                                    f"skill: {_KIND_LABEL[a.kind]} {a.strength:g}"))
    for a in spec.assets:
        if a.kind == "null":
            out += [StrategySpec(rule, a.name, "luck", group) for rule, group in _LUCK_NULL]
        elif a.kind in ("momentum", "regime"):
            # the position ignores return signs, the process is sign-symmetric: no edge
            out.append(StrategySpec("voltiming", a.name, "luck", _LUCK_VOL))
    return tuple(out)


#: The planted market of the full benchmark: ten correlated assets (a sector), every edge at a
#: weak and a strong strength (momentum also at a middle one), two without any edge.
MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("sector", (
        AssetSpec("MOM05", "momentum", 0.05), AssetSpec("MOM10", "momentum", 0.10),
        AssetSpec("MOM20", "momentum", 0.20), AssetSpec("REV25", "meanrev", 0.25),
        AssetSpec("REV60", "meanrev", 0.60), AssetSpec("VOL40", "voltiming", 0.4),
        AssetSpec("VOL80", "voltiming", 0.8), AssetSpec("REG25", "regime", 0.25),
        AssetSpec("NUL1", "null"), AssetSpec("NUL2", "null"))),
)

#: The market of ``--quick``: strong momentum beside a null asset.
QUICK_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("quick", (AssetSpec("MOM", "momentum", 0.20), AssetSpec("NUL", "null"))),
)


def _grid_returns(close: np.ndarray) -> np.ndarray:
    """Returns of every `SMA_GRID` rule: (..., L, n_configs)."""
    return np.stack([strategy_returns(close, pos_sma(close, f, s)) for f, s in SMA_GRID],
                    axis=-1)


def _ann_sharpe(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return x.mean(axis=-1) / x.std(axis=-1, ddof=1) * math.sqrt(BARS_PER_YEAR)


def true_sharpes(spec: MarketSpec, strategies: Sequence[StrategySpec], *,
                 n_chains: int = 1000, seed: int = 99) -> dict[StrategySpec, float]:
    """Expected annualised Sharpe of each strategy over 252-bar years (mean over fresh chains).

    For ``grid_best*`` the mean over the grid's configurations (each 0 by construction on a
    null asset).
    """
    sim = simulate_returns(spec, BARS_PER_YEAR, n_chains=n_chains, seed=seed)
    close = 100.0 * np.exp(np.cumsum(sim["ret"], axis=1))
    out = {}
    for strat in strategies:
        c = close[..., spec.names.index(strat.asset)]
        if strat.rule.startswith("grid_best"):
            sr = _ann_sharpe(np.moveaxis(_grid_returns(c), -1, 1))
        else:
            sr = _ann_sharpe(strategy_returns(c, RULES[strat.rule](c)))
        out[strat] = float(np.nanmean(sr))
    return out


# ---------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------

#: ``fit(market, train_end, seed, spec) -> fitted generator`` (anything with ``sample``);
#: only the oracle reads `spec`, the planted truth.
GeneratorFit = Callable[[Market, pd.Timestamp, int, MarketSpec], Any]

#: Settings of the tiny diffbt model used by ``--quick`` and the tests.
TINY_DIFFBT = {"window": 16, "hidden": 16, "n_blocks": 1, "steps": 5, "calibrate": False,
               "calibrate_paths": False}


class _WithSampler:
    """A fitted `MarketGenerator` whose `sample` draws with the sampler ``"name/steps"``."""

    def __init__(self, gen: Any, sampler: str) -> None:
        name, _, steps = sampler.partition("/")
        self.gen, self.sampler, self.steps = gen, name, int(steps) if steps else None

    def sample(self, n_paths: int, length: int, **kw: Any) -> Any:
        return self.gen.sample(n_paths, length, sampler=self.sampler,
                               sampler_steps=self.steps, **kw)


def diffbt_fit(**settings: Any) -> GeneratorFit:
    """Fit a `MarketGenerator` with `settings` (none: the defaults, what users get); the
    pseudo-setting ``sampler="dpm-logsnr/20"`` (or ``"ddpm"``...) draws its paths with that
    sampler instead of the default one, its long-path calibrations (if any) fitted again for
    it."""
    sampler = settings.pop("sampler", None)

    def fit(market: Market, train_end: pd.Timestamp, seed: int, spec: MarketSpec) -> Any:  # noqa: ARG001
        from diffbt.generate.generator import MarketGenerator

        def progress(step: int, info: dict[str, Any]) -> None:
            if step % 500 == 0 or "stage" in info:
                log.info("diffbt fit: step %d %s", step, info.get("stage", ""))

        gen = MarketGenerator(**settings).fit(market, train_end=train_end, seed=seed,
                                              progress=progress)
        if sampler is None:
            return gen
        drawn = _WithSampler(gen, str(sampler))
        if gen.state.calibrated_for():
            gen.calibrate_paths(market.split(train_end)[0], seed=seed, sampler=drawn.sampler,
                                sampler_steps=drawn.steps)
        return drawn

    return fit


def baseline_fit(name: str, **settings: Any) -> GeneratorFit:
    """Fit the baseline ``BASELINES[name]`` (``"bootstrap"``, ``"garch"``, ``"gbm"``...)."""

    def fit(market: Market, train_end: pd.Timestamp, seed: int, spec: MarketSpec) -> Any:  # noqa: ARG001
        from diffbt.generate.baselines import BASELINES

        return BASELINES[name](**settings).fit(market, train_end=train_end)

    return fit


class Oracle:
    """Paths drawn from the planted process itself: what a perfect generator would give."""

    def __init__(self, spec: MarketSpec, index: pd.DatetimeIndex) -> None:
        self.spec = spec
        self._index = index

    def sample(self, n_paths: int, length: int, *, seed: int | None = None) -> Any:
        from diffbt.data.calendar import continue_calendar
        from diffbt.generate.pathset import PathSet

        sim = simulate_returns(self.spec, length, n_chains=n_paths, seed=seed)
        values = _bars(sim["ret"], sim["vol"], np.random.default_rng([seed or 0, 8]))
        return PathSet(values, continue_calendar(self._index, length), self.spec.names,
                       meta={"generator": "oracle"})


def oracle_fit() -> GeneratorFit:
    """The `Oracle` of the market being judged (it reads the planted truth, not the data)."""

    def fit(market: Market, train_end: pd.Timestamp, seed: int, spec: MarketSpec) -> Any:  # noqa: ARG001
        return Oracle(spec, market.split(train_end)[0].index)

    return fit


def default_generators(*, quick: bool = False) -> dict[str, GeneratorFit]:
    """diffbt's generator (default settings; tiny with `quick`), the three baselines, and the
    oracle (paths from the planted process: the best any generator can do)."""
    return {"diffbt": diffbt_fit(**(TINY_DIFFBT if quick else {})),
            "bootstrap": baseline_fit("bootstrap"), "garch": baseline_fit("garch"),
            "gbm": baseline_fit("gbm"), "oracle": oracle_fit()}


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------

_SUMMARY_KEYS = ("n_paths", "prob_sharpe_negative", "median_sharpe", "real_sharpe",
                 "real_sharpe_percentile", "psr", "dsr", "n_trials", "pbo")


def _judge(synthetic: np.ndarray, real: np.ndarray, *, grid: np.ndarray | None = None,
           regimes: np.ndarray | None = None, thresholds: Any = None) -> dict[str, Any]:
    from diffbt.metrics.robustness import robustness

    rep = robustness(synthetic, real=real, grid_returns=grid, regimes=regimes,
                     periods_per_year=BARS_PER_YEAR, thresholds=thresholds)
    out = {k: rep.summary[k] for k in _SUMMARY_KEYS}
    out["positive_share"] = 1.0 - rep.summary["prob_sharpe_negative"]
    out["label"] = rep.label
    out["verdict"] = rep.verdict
    if rep.by_regime is not None:
        by = rep.by_regime.set_index("regime")["median_sharpe"]
        out["median_sharpe_by_regime"] = {str(k): float(v) for k, v in by.items()}
    return out


def _acf1(r: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation along axis -2 of returns (..., L, A)."""
    x = r - r.mean(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x[..., 1:, :] * x[..., :-1, :]).sum(axis=-2) / (x * x).sum(axis=-2)


def _path_stats(syn_close: np.ndarray, train_close: np.ndarray) -> dict[str, np.ndarray]:
    """Per asset: mean per-path lag-1 autocorrelation of log returns (paths and training
    span, by 252-bar years) and the spread of per-path buy-and-hold Sharpe ratios."""
    r = np.diff(np.log(syn_close), axis=1)
    rt = np.diff(np.log(train_close), axis=0)
    years = rt[: len(rt) // BARS_PER_YEAR * BARS_PER_YEAR].reshape(
        -1, BARS_PER_YEAR, rt.shape[-1])
    return {"path_acf1": np.nanmean(_acf1(r), axis=0),
            "train_acf1": np.nanmean(_acf1(years), axis=0) if len(years) else _acf1(rt),
            "path_buyhold_sharpe_sd": np.nanstd(_ann_sharpe(np.moveaxis(r, -1, 1)), axis=0)}


def evaluate_market(spec: MarketSpec, *, seed: int, generators: dict[str, GeneratorFit],
                    train_years: int = 6, test_years: int = 6, n_paths: int = 250,
                    thresholds: Any = None, true_chains: int = 1000) -> list[dict[str, Any]]:
    """Fit every generator on one planted market and judge every strategy in every test year.

    Parameters
    ----------
    spec : MarketSpec
    seed : int
        Market seed (also the fit and sampling seed).
    generators : {name: fit}
    train_years, test_years : int
        Years of 252 bars the generators are fitted on, then judged on, one case a year.
    n_paths : int
        Synthetic 252-bar paths per generator (shared by the test years and strategies).
    thresholds : VerdictThresholds, optional
        Passed to `robustness` (default: the product's).
    true_chains : int
        Chains for `true_sharpes`.

    Returns
    -------
    list of dict
        One case per (generator, strategy, test year): the verdict's numbers (``label``,
        ``positive_share``, ``real_sharpe_percentile``, ``psr``, ``dsr``, ``pbo``...), the
        truth (``truth``, ``true_sharpe``) and where it came from.
    """
    n_train = train_years * BARS_PER_YEAR
    market, truth = planted_market(spec, n_train + test_years * BARS_PER_YEAR, seed=seed)
    train_end = market.index[n_train - 1]
    if len(market.split(train_end)[0]) != n_train:  # the generators fit on split()[0]
        raise RuntimeError(f"Market.split({train_end}) does not keep {n_train} training bars")
    strategies = strategies_for(spec)
    true_sr = true_sharpes(spec, strategies, n_chains=true_chains)
    years = [slice(n_train + k * BARS_PER_YEAR, n_train + (k + 1) * BARS_PER_YEAR)
             for k in range(test_years)]
    real_close = market.values[..., 3]
    cases: list[dict[str, Any]] = []
    for gname, fit in generators.items():
        t0 = time.perf_counter()
        gen = fit(market, train_end, seed, spec)
        t1 = time.perf_counter()
        paths = gen.sample(n_paths, BARS_PER_YEAR, seed=seed + 1000)
        t2 = time.perf_counter()
        log.info("%s seed %d %s: fit %.0f s, sample %.0f s", spec.name, seed, gname, t1 - t0,
                 t2 - t1)
        syn_close = np.asarray(paths.values[..., 3])  # (n_paths, L, A)
        stats = _path_stats(syn_close, real_close[:n_train])
        for strat in strategies:
            a = spec.names.index(strat.asset)
            sc = syn_close[..., a]
            regimes = None
            if spec.assets[a].kind == "regime":
                rv = np.std(np.diff(np.log(sc), axis=1), axis=1)
                regimes = np.where(rv > np.median(rv), "volatile", "calm")
            fixed = None
            if strat.rule in RULES:
                fixed = strategy_returns(sc, RULES[strat.rule](sc))
            for k, span in enumerate(years):
                rc = real_close[span, a]
                grid = None
                extra: dict[str, Any] = {}
                if fixed is None:
                    g = _grid_returns(rc)
                    best = int(np.nanargmax(np.nan_to_num(_ann_sharpe(g.T), nan=-np.inf)))
                    fast, slow = SMA_GRID[best]
                    real = g[:, best]
                    syn = strategy_returns(sc, pos_sma(sc, fast, slow))
                    grid = g if strat.rule == "grid_best" else None
                    extra["grid_choice"] = [fast, slow]
                else:
                    real = strategy_returns(rc, RULES[strat.rule](rc))
                    syn = fixed
                judged = _judge(syn, real, grid=grid, regimes=regimes, thresholds=thresholds)
                if regimes is not None:
                    turb = truth["turbulent"][span]
                    extra["real_sharpe_turbulent"] = float(_ann_sharpe(real[1:][turb[:-1]]))
                    extra["real_sharpe_calm"] = float(_ann_sharpe(real[1:][~turb[:-1]]))
                cases.append({
                    "generator": gname, "market": spec.name, "seed": seed, "year": k,
                    "rule": strat.rule, "asset": strat.asset, "kind": spec.assets[a].kind,
                    "strength": spec.assets[a].strength, "truth": strat.truth,
                    "group": strat.group, "true_sharpe": true_sr[strat],
                    "called_skill": judged["label"] == "ROBUST", **judged, **extra,
                    **{k: v[a] for k, v in stats.items()},
                    "fit_s": t1 - t0, "sample_s": t2 - t1,
                })
    return cases


# ---------------------------------------------------------------------------------------------
# rates, calibration, tables
# ---------------------------------------------------------------------------------------------


def _label(case: dict[str, Any], thresholds: Any) -> str:
    from diffbt.metrics.robustness import verdict_label

    return verdict_label(case, thresholds) if thresholds is not None else case["label"]


def rates(cases: Sequence[dict[str, Any]], *, thresholds: Any = None) -> pd.DataFrame:
    """Share of cases called skill (verdict ROBUST), per generator and group, and overall.

    Parameters
    ----------
    cases : the output of `evaluate_market` (any number of markets and seeds)
    thresholds : VerdictThresholds, optional
        Re-judge the recorded numbers with these cut-offs (default: the recorded labels).

    Returns
    -------
    DataFrame
        Columns ``generator, truth, group, n, called, rate, median_synthetic_sharpe,
        true_sharpe``; groups ``"overall"`` per truth included. For ``truth == "skill"`` the
        rate is the detection rate, for ``"luck"`` the false-alarm rate.
    """
    df = pd.DataFrame([{"generator": c["generator"], "truth": c["truth"], "group": c["group"],
                        "called": _label(c, thresholds) == "ROBUST",
                        "median_sharpe": c["median_sharpe"], "true_sharpe": c["true_sharpe"]}
                       for c in cases])
    if df.empty:
        return pd.DataFrame(columns=["generator", "truth", "group", "n", "called", "rate",
                                     "median_synthetic_sharpe", "true_sharpe"])
    parts = [df, df.assign(group="overall")]
    out = (pd.concat(parts).groupby(["generator", "truth", "group"], sort=False)
           .agg(n=("called", "size"), called=("called", "sum"),
                median_synthetic_sharpe=("median_sharpe", "median"),
                true_sharpe=("true_sharpe", "mean"))
           .reset_index())
    out["rate"] = out["called"] / out["n"]
    return out[["generator", "truth", "group", "n", "called", "rate",
                "median_synthetic_sharpe", "true_sharpe"]]


#: Threshold grid searched by `calibrate`.
CALIBRATION_GRID = {
    "robust_positive_share": tuple(np.round(np.arange(0.50, 0.951, 0.05), 2)),
    "luck_percentile": (70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 97.5, 100.0),
    "robust_dsr": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
}


def calibrate(cases: Sequence[dict[str, Any]], *, generator: str = "diffbt",
              max_false_alarm: float = 0.10) -> dict[str, Any]:
    """Cut-offs that maximise detection subject to a false-alarm rate <= `max_false_alarm`.

    Searches `CALIBRATION_GRID` (positive share x luck percentile x DSR; the PBO cut-offs
    stay). Ties: lower false alarms, then the stricter cut-offs.

    Returns
    -------
    dict
        ``thresholds`` (dict of `VerdictThresholds` fields), ``detection``, ``false_alarm``,
        ``n_skill``, ``n_luck``, ``generator``.
    """
    from diffbt.metrics.robustness import VerdictThresholds

    sel = [c for c in cases if c["generator"] == generator]
    skill = [c for c in sel if c["truth"] == "skill"]
    luck = [c for c in sel if c["truth"] == "luck"]
    if not skill or not luck:
        raise ValueError(f"no skill or no luck cases for generator {generator!r}")
    best: tuple | None = None
    for p in CALIBRATION_GRID["robust_positive_share"]:
        for lp in CALIBRATION_GRID["luck_percentile"]:
            for d in CALIBRATION_GRID["robust_dsr"]:
                th = VerdictThresholds(robust_positive_share=float(p), luck_percentile=lp,
                                       robust_dsr=d)
                det = np.mean([_label(c, th) == "ROBUST" for c in skill])
                fa = np.mean([_label(c, th) == "ROBUST" for c in luck])
                if fa > max_false_alarm + 1e-12:
                    continue
                key = (det, -fa, p, d, -lp)
                if best is None or key > best[0]:
                    best = (key, th, det, fa)
    if best is None:  # unreachable: the strictest cut-offs call nothing skill... unless ties
        raise ValueError("no cut-offs keep the false-alarm rate within bounds")
    _, th, det, fa = best
    return {"generator": generator, "thresholds": asdict(th), "detection": float(det),
            "false_alarm": float(fa), "n_skill": len(skill), "n_luck": len(luck),
            "max_false_alarm": max_false_alarm}


def cross_validate(cases: Sequence[dict[str, Any]], *, generator: str = "diffbt",
                   max_false_alarm: float = 0.10) -> dict[str, Any] | None:
    """Leave-one-seed-out: cut-offs calibrated on the other seeds, rates on the held-out one.

    Returns pooled out-of-sample ``detection`` and ``false_alarm`` (None with one seed).
    """
    from diffbt.metrics.robustness import VerdictThresholds

    sel = [c for c in cases if c["generator"] == generator]
    seeds = sorted({c["seed"] for c in sel})
    if len(seeds) < 2:
        return None
    hits = {"skill": [], "luck": []}
    per_seed = {}
    for s in seeds:
        cal = calibrate([c for c in sel if c["seed"] != s], generator=generator,
                        max_false_alarm=max_false_alarm)
        th = VerdictThresholds(**cal["thresholds"])
        per_seed[s] = cal["thresholds"]
        for c in sel:
            if c["seed"] == s:
                hits[c["truth"]].append(_label(c, th) == "ROBUST")
    return {"detection": float(np.mean(hits["skill"])), "false_alarm": float(np.mean(hits["luck"])),
            "n_skill": len(hits["skill"]), "n_luck": len(hits["luck"]),
            "thresholds_by_held_out_seed": per_seed}


def _cell(row: pd.Series) -> str:
    return f"{row['rate']:.0%} ({int(row['called'])}/{int(row['n'])})"


def markdown_table(table: pd.DataFrame, *, value: str = "rate") -> str:
    """Groups as rows, generators as columns: ``rate (called/n)`` or a median Sharpe."""
    gens = list(dict.fromkeys(table["generator"]))
    order = []
    for truth in ("skill", "luck"):
        groups = list(dict.fromkeys(table.loc[table["truth"] == truth, "group"]))
        groups = [g for g in groups if g != "overall"] + ["overall"]
        order += [(truth, g) for g in groups if ((table["truth"] == truth)
                                                 & (table["group"] == g)).any()]
    head = "| case | true Sharpe | " + " | ".join(gens) + " |"
    lines = [head, "|---|--:|" + "--:|" * len(gens)]
    idx = table.set_index(["truth", "group", "generator"]).sort_index()
    for truth, g in order:
        name = (f"**overall {'detection' if truth == 'skill' else 'false alarms'}**"
                if g == "overall" else g)
        true_sr = "" if g == "overall" else f"{idx.loc[(truth, g)]['true_sharpe'].iloc[0]:.2f}"
        cells = []
        for gen in gens:
            if (truth, g, gen) not in idx.index:
                cells.append("")
                continue
            row = idx.loc[(truth, g, gen)]
            cells.append(_cell(row) if value == "rate"
                         else f"{row['median_synthetic_sharpe']:.2f}")
        lines.append(f"| {name} | {true_sr} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(jsonable(payload), indent=1), encoding="utf-8")
    tmp.replace(path)


def _diagnostics_table(cases: Sequence[dict[str, Any]]) -> str:
    """Per generator and asset kind: mean lag-1 ACF on the paths vs the training years, and
    the spread (sd across paths) of the per-path buy-and-hold Sharpe ratio."""
    df = pd.DataFrame([{k: c.get(k) for k in ("generator", "kind", "strength", "asset", "seed",
                                               "path_acf1", "train_acf1",
                                               "path_buyhold_sharpe_sd")} for c in cases])
    df = df.drop_duplicates(["generator", "asset", "seed"])
    g = df.groupby(["kind", "strength", "generator"], sort=False).mean(numeric_only=True)
    gens = list(dict.fromkeys(df["generator"]))
    lines = ["| asset | training ACF(1) | " + " | ".join(f"{x} ACF(1)" for x in gens)
             + " | " + " | ".join(f"{x} B&H Sharpe sd" for x in gens) + " |",
             "|---|--:|" + "--:|" * (2 * len(gens))]
    for (kind, strength) in dict.fromkeys(zip(df["kind"], df["strength"], strict=True)):
        rows = [g.loc[(kind, strength, x)] for x in gens]
        name = kind if kind == "null" else f"{kind} {strength:g}"
        lines.append(f"| {name} | {rows[0]['train_acf1']:.3f} | "
                     + " | ".join(f"{r['path_acf1']:.3f}" for r in rows) + " | "
                     + " | ".join(f"{r['path_buyhold_sharpe_sd']:.2f}" for r in rows) + " |")
    return "\n".join(lines)


def _regime_table(cases: Sequence[dict[str, Any]]) -> str:
    """Median synthetic Sharpe on the more and the less volatile half of the paths, and the
    real years' Sharpe in turbulent and calm bars, for the regime asset's momentum rule."""
    sel = [c for c in cases if c["kind"] == "regime" and c["truth"] == "skill"
           and "median_sharpe_by_regime" in c]
    if not sel:
        return ""
    gens = list(dict.fromkeys(c["generator"] for c in sel))
    lines = ["| generator | paths: volatile half | paths: calm half | real: turbulent bars | "
             "real: calm bars |", "|---|--:|--:|--:|--:|"]
    for gen in gens:
        mine = [c for c in sel if c["generator"] == gen]
        vol = np.nanmean([c["median_sharpe_by_regime"].get("volatile", np.nan) for c in mine])
        calm = np.nanmean([c["median_sharpe_by_regime"].get("calm", np.nan) for c in mine])
        rt = np.nanmean([c["real_sharpe_turbulent"] for c in mine])
        rc = np.nanmean([c["real_sharpe_calm"] for c in mine])
        lines.append(f"| {gen} | {vol:.2f} | {calm:.2f} | {rt:.2f} | {rc:.2f} |")
    return "\n".join(lines)


def summarize(cases: Sequence[dict[str, Any]], *, max_false_alarm: float = 0.10,
              calibrate_on: str = "diffbt",
              thresholds: Any = None) -> tuple[str, dict[str, Any]]:
    """Markdown report of a set of cases and the calibration behind it.

    The first table judges the cases with `thresholds` (default: the product's cut-offs,
    `VerdictThresholds()`); the calibration then searches its own.

    Returns
    -------
    (markdown, results)
        ``results``: ``calibration`` per generator, ``cross_validation`` (of `calibrate_on`),
        and the rate tables as records.
    """
    from diffbt.metrics.robustness import VerdictThresholds

    gens = list(dict.fromkeys(c["generator"] for c in cases))
    th_product = thresholds or VerdictThresholds()
    product = rates(cases, thresholds=th_product)
    cal = {g: calibrate(cases, generator=g, max_false_alarm=max_false_alarm) for g in gens}
    cv = cross_validate(cases, generator=calibrate_on, max_false_alarm=max_false_alarm) \
        if calibrate_on in cal else None
    th = VerdictThresholds(**cal[calibrate_on]["thresholds"]) if calibrate_on in cal else None
    recal = rates(cases, thresholds=th) if th is not None else None
    out = [f"### Verdict with the cut-offs {'given' if thresholds else 'of the product'} "
           f"(skill = ROBUST): positive share {th_product.robust_positive_share:.2f}, luck "
           f"percentile {th_product.luck_percentile:g}, DSR {th_product.robust_dsr:.2f}", "",
           markdown_table(product), "",
           "### Median synthetic Sharpe of the strategy (true Sharpe: the planted one)", "",
           markdown_table(product, value="median"), "",
           f"### Cut-offs that maximise detection at <= {max_false_alarm:.0%} false alarms", "",
           "| generator | positive share | luck percentile | DSR | detection | false alarms |",
           "|---|--:|--:|--:|--:|--:|"]
    for g, c in cal.items():
        t = c["thresholds"]
        out.append(f"| {g} | {t['robust_positive_share']:.2f} | {t['luck_percentile']:g} | "
                   f"{t['robust_dsr']:.2f} | {c['detection']:.0%} | {c['false_alarm']:.0%} |")
    if cv is not None:
        out += ["", f"Leave-one-seed-out ({calibrate_on}): cut-offs chosen on the other "
                f"seeds give detection {cv['detection']:.0%} ({cv['n_skill']} cases) and false "
                f"alarms {cv['false_alarm']:.0%} ({cv['n_luck']} cases) on the held-out seed."]
    if recal is not None:
        out += ["", f"### Verdict with the cut-offs calibrated on {calibrate_on}, "
                "all generators", "", markdown_table(recal)]
    out += ["", "### Why: the paths' lag-1 autocorrelation and buy-and-hold Sharpe spread", "",
            _diagnostics_table(cases)]
    reg = _regime_table(cases)
    if reg:
        out += ["", "### Regime breakdown (momentum only in the turbulent regime)", "", reg]
    results = {"calibration": cal, "cross_validation": cv,
               "rates_product": product.to_dict(orient="records"),
               "rates_calibrated": None if recal is None else recal.to_dict(orient="records")}
    return "\n".join(out), results


def setting_value(text: str) -> Any:
    """The value of a ``KEY=VALUE`` setting: JSON (``128``, ``true``), else the text itself
    (``garch``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def settings_from(items: Sequence[str]) -> dict[str, Any]:
    """``{KEY: value}`` of ``KEY=VALUE`` items (values as `setting_value` reads them)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: a setting must be KEY=VALUE, got {item!r}")
        out[key] = setting_value(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.planted",
                                 description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny diffbt model, one 2-asset market, 2 test years, 100 paths")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="market seeds (default 0 1; --quick: 0)")
    ap.add_argument("--markets", nargs="+", default=None,
                    help=f"market names (default all: {[m.name for m in MARKETS]})")
    ap.add_argument("--generators", nargs="+", default=None,
                    help="subset of diffbt bootstrap garch gbm oracle (default all)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="diffbt settings of a variant, judged as generator 'diffbt[KEY=VALUE...]' "
                         "(JSON values: --set window=128 overlap=32)")
    ap.add_argument("--train-years", type=int, default=None)
    ap.add_argument("--test-years", type=int, default=None)
    ap.add_argument("--n-paths", type=int, default=None)
    ap.add_argument("--max-false-alarm", type=float, default=0.10)
    ap.add_argument("--calibrate-on", default="diffbt", metavar="GENERATOR",
                    help="the generator whose cases choose the cut-offs (default: diffbt)")
    ap.add_argument("--cut-offs", type=float, nargs=3, default=None,
                    metavar=("POSITIVE_SHARE", "LUCK_PERCENTILE", "DSR"),
                    help="judge the first table with these cut-offs (default: the product's)")
    ap.add_argument("--out", type=Path, default=Path("reports/planted.json"),
                    help="JSON of every case (written after each market)")
    ap.add_argument("--from-json", type=Path, nargs="+", default=None,
                    help="re-tabulate the cases of earlier runs (merged) instead of running")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    command = "python -m benchmarks.planted " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    given = None
    if args.cut_offs is not None:
        from diffbt.metrics.robustness import VerdictThresholds

        p, lp, d = args.cut_offs
        given = VerdictThresholds(robust_positive_share=p, luck_percentile=lp, robust_dsr=d)
    if args.from_json is not None:
        cases, runs = [], []
        for path in args.from_json:
            payload = json.loads(path.read_text(encoding="utf-8"))
            cases += [c for c in payload["cases"]
                      if (args.seeds is None or c["seed"] in args.seeds)
                      and (args.generators is None or c["generator"] in args.generators)]
            runs.append(f"`{payload['command']}` ({len(payload['cases'])} cases, "
                        f"{payload['wall_s']:.0f} s)")
        md, _ = summarize(cases, max_false_alarm=args.max_false_alarm, thresholds=given,
                          calibrate_on=args.calibrate_on)
        print("Cases of " + ", ".join(runs) + f".\n\n{md}")
        return 0

    import torch

    torch.set_num_threads(1)
    quick = args.quick
    seeds = args.seeds if args.seeds is not None else ([0] if quick else [0, 1])
    markets = QUICK_MARKETS if quick else MARKETS
    if args.markets:
        known = {m.name: m for m in (*MARKETS, *QUICK_MARKETS)}
        unknown = sorted(set(args.markets) - set(known))
        if unknown:
            ap.error(f"unknown markets {unknown}; choose from {sorted(known)}")
        markets = tuple(known[m] for m in args.markets)
    gens = default_generators(quick=quick)
    if args.set:
        variant = settings_from(args.set)
        name = "diffbt[" + ",".join(args.set) + "]"
        gens[name] = diffbt_fit(**{**(TINY_DIFFBT if quick else {}), **variant})
    if args.generators:
        unknown = sorted(set(args.generators) - set(gens))
        if unknown:
            ap.error(f"unknown generators {unknown}; choose from {sorted(gens)}")
        gens = {g: gens[g] for g in args.generators}
    settings = {"train_years": args.train_years or (3 if quick else 6),
                "test_years": args.test_years or (2 if quick else 6),
                "n_paths": args.n_paths or (100 if quick else 250),
                "true_chains": 300 if quick else 1000}
    t0 = time.perf_counter()
    cases: list[dict[str, Any]] = []
    payload: dict[str, Any] = {}
    todo = [(s, m) for s in seeds for m in markets]
    for i, (seed, spec) in enumerate(todo, 1):
        log.info("market %d/%d: %s seed %d", i, len(todo), spec.name, seed)
        cases += evaluate_market(spec, seed=seed, generators=gens, **settings)
        payload = {"command": command, "settings": {**settings, "seeds": seeds,
                                                    "markets": [asdict(m) for m in markets],
                                                    "generators": list(gens), "quick": quick},
                   "wall_s": time.perf_counter() - t0, "cases": cases}
        _write_json(args.out, payload)
    md, results = summarize(cases, max_false_alarm=args.max_false_alarm, thresholds=given,
                            calibrate_on=args.calibrate_on)
    payload.update(results, wall_s=time.perf_counter() - t0)
    _write_json(args.out, payload)
    print(f"`{command}`: {len(cases)} cases in {payload['wall_s']:.0f} s; cases in "
          f"{args.out}.\n\n{md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
