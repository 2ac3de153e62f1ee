"""`ForecastInterval`: a model's forecast quantiles of a future close as backtrader lines.

Design (why there is no look-ahead, and why it is fast)
------------------------------------------------------
The model is duck-typed: it has

    forecast_series(market, *, horizon, quantiles, asset, n_samples, seed)
        -> ndarray (len(market), len(quantiles))

whose row t holds the quantiles of ``close[t + horizon]`` (price units) computed from bars
``<= t`` only (NaN where the history is too short). That contract is the whole guarantee;
`check_no_lookahead` tests it for any model by changing every bar after t and requiring rows
``<= t`` to stay bit-for-bit equal.

`ForecastInterval` calls `forecast_series` once per feed, on the feed's complete preloaded
bars (backtrader preloads feeds before it builds strategies, the default ``preload=True``),
then serves row t as the line value at bar t, a pure index mapping. Calling the model bar by
bar inside ``next()`` would cost one model call per bar instead. A model that also has
``forecast_table(market, requests, *, quantiles, n_samples, seed)`` (`MarketGenerator` does)
serves all of a strategy's indicators on the same feeds and sampling settings (several
horizons, several of its assets) from one set of sampled futures: the indicators register
when they are created and the first one used computes them all.
Without preload, compute the lines beforehand with `forecast_lines` and put them on the feed
(`diffbt.bt.feeds.ForecastData` / ``extra=``); ``ForecastInterval(data)`` without a model then
reads the feed's ``lo mid hi`` lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import backtrader as bt
import numpy as np

from diffbt.bt.feeds import feed_market, same_bar_spacing
from diffbt.data.calendar import spacing_name
from diffbt.data.market import Market

__all__ = [
    "EmpiricalQuantileForecaster",
    "ForecastInterval",
    "Forecaster",
    "check_no_lookahead",
    "forecast_interval",
    "forecast_lines",
]


class Forecaster(Protocol):
    """What `ForecastInterval` needs from a model."""

    def forecast_series(self, market: Market, *, horizon: int, quantiles: Sequence[float],
                        asset: str | None, n_samples: int, seed: int | None) -> np.ndarray: ...


# -- the math, without backtrader ------------------------------------------------------------
def forecast_interval(model: Forecaster, market: Market, *, asset: str | None = None,
                      horizon: int = 5, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                      n_samples: int = 100, seed: int | None = 0) -> np.ndarray:
    """All forecasts for one asset in one batched call, checked.

    Returns
    -------
    ndarray, shape (len(market), len(quantiles))
        Row t: quantiles of ``close[t + horizon]`` given bars ``<= t``.

    Raises
    ------
    ValueError
        Bad horizon/quantiles, or the model returned the wrong shape.
    """
    quantiles = _check_quantiles(horizon, quantiles)
    asset = market.assets[0] if asset is None else asset
    if asset not in market.assets:
        raise ValueError(f"asset {asset!r} not in the market's assets {list(market.assets)}")
    out = model.forecast_series(market, horizon=int(horizon), quantiles=quantiles, asset=asset,
                                n_samples=n_samples, seed=seed)
    return _checked(model, out, market, quantiles)


def _check_quantiles(horizon: int, quantiles: Sequence[float]) -> tuple[float, ...]:
    quantiles = tuple(float(q) for q in quantiles)
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if not quantiles or any(not 0.0 < q < 1.0 for q in quantiles) or list(quantiles) != sorted(
            quantiles):
        raise ValueError(f"quantiles must be increasing, in (0, 1), got {quantiles}")
    return quantiles


def _checked(model: object, out: object, market: Market,
             quantiles: tuple[float, ...]) -> np.ndarray:
    out = np.asarray(out, dtype=np.float64)
    if out.shape != (len(market), len(quantiles)):
        raise ValueError(f"{type(model).__name__}.forecast_series returned shape {out.shape}, "
                         f"expected {(len(market), len(quantiles))}")
    return out


def forecast_lines(model: Forecaster, market: Market, *, asset: str | None = None,
                   horizon: int = 5, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                   n_samples: int = 100, seed: int | None = 0) -> dict[str, np.ndarray]:
    """``{"lo": ..., "mid": ..., "hi": ...}`` for a feed's ``extra=`` (three quantiles)."""
    if len(quantiles) != 3:
        raise ValueError(f"need exactly three quantiles (lo, mid, hi), got {list(quantiles)}")
    f = forecast_interval(model, market, asset=asset, horizon=horizon, quantiles=quantiles,
                          n_samples=n_samples, seed=seed)
    return {"lo": f[:, 0].copy(), "mid": f[:, 1].copy(), "hi": f[:, 2].copy()}


def check_no_lookahead(model: Forecaster, market: Market, *, asset: str | None = None,
                       horizon: int = 5, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                       n_samples: int = 100, seed: int | None = 0,
                       cuts: Sequence[int] | None = None, rtol: float = 0.0,
                       atol: float = 0.0, perturb_seed: int = 0) -> None:
    """Check that forecasts at or before bar t ignore every bar after t.

    For each cut t, every bar after t (all fields, all assets) is replaced by a different
    random valid bar; the forecasts of rows ``<= t`` must not change (exactly, unless
    `rtol`/`atol` allow for a model's floating-point batching noise).

    Parameters
    ----------
    cuts : sequence of int, optional
        Bars t to test; default five spread over the series (the first one early).

    Raises
    ------
    AssertionError
        Naming the first cut and row whose forecast moved.
    """
    kw = dict(asset=asset, horizon=horizon, quantiles=quantiles, n_samples=n_samples, seed=seed)
    base = forecast_interval(model, market, **kw)
    n = len(market)
    if cuts is None:
        cuts = sorted({min(n - 2, max(0, c)) for c in (horizon, n // 5, n // 2, 3 * n // 4,
                                                       n - 2)})
    rng = np.random.default_rng(perturb_seed)
    for t in cuts:
        if not 0 <= t < n - 1:
            raise ValueError(f"cut {t} must be in [0, {n - 1})")
        values = np.array(market.values)
        k = n - t - 1
        shock = np.exp(rng.normal(0.0, 0.05, size=(k, market.n_assets)))
        values[t + 1:, :, :4] *= shock[..., None]
        values[t + 1:, :, 4] *= rng.uniform(0.5, 2.0, size=(k, market.n_assets))
        moved = Market(values, market.index, market.assets, market.freq)
        other = forecast_interval(model, moved, **kw)
        same = np.isclose(base[: t + 1], other[: t + 1], rtol=rtol, atol=atol, equal_nan=True)
        if not same.all():
            row = int(np.argwhere(~same)[0, 0])
            raise AssertionError(
                f"look-ahead: changing bars after t={t} changed the forecast at row {row} "
                f"({base[row].tolist()} -> {other[row].tolist()})")


# -- a simple reference model ----------------------------------------------------------------
class EmpiricalQuantileForecaster:
    """Empirical quantiles of past `horizon`-bar log returns, applied to the current close.

    ``q_t = close[t] * exp(Q(r^h_s, s in (t - window, t]))`` with
    ``r^h_s = log close[s] - log close[s - horizon]``: only bars ``<= t`` enter row t.
    Rows with fewer than ``window`` returns are NaN. Deterministic (`n_samples`, `seed`
    ignored); a baseline and a fast stand-in for tests.
    """

    def __init__(self, window: int = 250) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.window = int(window)

    def forecast_series(self, market: Market, *, horizon: int,
                        quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                        asset: str | None = None, n_samples: int = 0,
                        seed: int | None = None) -> np.ndarray:
        j = 0 if asset is None else market.assets.index(asset)
        close = market.values[:, j, 3]
        logc = np.log(close)
        n, w = len(close), self.window
        out = np.full((n, len(quantiles)), np.nan)
        rh = logc[horizon:] - logc[:-horizon]  # rh[s - horizon] ends at bar s
        if len(rh) < w:
            return out
        win = np.lib.stride_tricks.sliding_window_view(rh, w)  # win[k] ends at bar k+h+w-1
        q = np.quantile(win, quantiles, axis=1).T  # (n_windows, nq)
        first = horizon + w - 1
        out[first:] = close[first:, None] * np.exp(q)
        return out


# -- the indicator ---------------------------------------------------------------------------
@dataclass
class _Group:
    """The ``(asset, horizon)`` pairs asked of one model on one market, and their answer."""

    requests: list[tuple[str, int]] = field(default_factory=list)
    results: dict[tuple[str, int], np.ndarray] | None = None


# attribute of the indicators' owner (the strategy) holding its groups
_GROUPS = "_diffbt_forecast_groups"


def _groups(owner: object) -> dict:
    groups = owner.__dict__.get(_GROUPS)
    if groups is None:
        groups = owner.__dict__[_GROUPS] = {}
    return groups


def _fingerprint(market: Market) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(market.values).tobytes())
    h.update(np.asarray(market.index.asi8).tobytes())
    h.update("\0".join(map(str, market.assets)).encode())
    return h.hexdigest()


class ForecastInterval(bt.Indicator):
    """Forecast quantiles of the close `horizon` bars ahead: lines ``lo mid hi``.

    ``lo[t], mid[t], hi[t]`` = quantiles ``quantiles[0..2]`` of ``close[t + horizon]`` in
    price units, from bars ``<= t`` (NaN while the history is too short).

    Params
    ------
    model : object with ``forecast_series`` (see `Forecaster`), or None to read the feed's
        own ``lo mid hi`` lines (precomputed with `forecast_lines`).
    horizon : int
    quantiles : three increasing floats
    asset : str, optional
        Which of the model's assets (``model.assets``) the feed is; default: the feed's name
        (``cerebro.adddata(feed, name="BTC")``). A single-asset model serves any one feed,
        named or not. A multi-asset model also reads its other assets from the strategy's
        feeds of those names.
    n_samples, seed : passed to the model.

    All forecasts are computed in one batched call, shared with the strategy's other
    `ForecastInterval` indicators on the same model, feeds, `n_samples` and `seed` when the
    model has ``forecast_table``; it needs preloaded feeds (backtrader's default).
    """

    lines = ("lo", "mid", "hi")
    params = (("model", None), ("horizon", 5), ("quantiles", (0.05, 0.5, 0.95)),
              ("asset", None), ("n_samples", 100), ("seed", 0))
    plotinfo = dict(subplot=False)

    def __init__(self) -> None:
        self._values = None
        self._from_feed = self.p.model is None
        if self._from_feed:
            if not all(hasattr(self.data.lines, n) for n in ("lo", "mid", "hi")):
                raise ValueError(
                    "ForecastInterval without model= needs a feed carrying lines lo, mid, "
                    "hi (diffbt.bt.ForecastData or extra=forecast_lines(...))")
            return
        if len(self.p.quantiles) != 3:
            raise ValueError(f"need exactly three quantiles (lo, mid, hi), "
                             f"got {list(self.p.quantiles)}")
        n = self.data.buflen()
        if n == 0 or len(self.data.close.array) < n:
            raise RuntimeError(
                "ForecastInterval(model=...) needs preloaded feeds (Cerebro(preload=True), the "
                "default); otherwise attach the lines beforehand with forecast_lines()")
        asset = self._asset()
        market = self._market(asset)
        freq = getattr(self.p.model, "freq", None)  # duck-typed: a Forecaster may have none
        if not same_bar_spacing(freq, market.freq):
            raise ValueError(f"the model was fitted on {spacing_name(freq)} bars but the feed "
                             f"{self._feed_name()} has {spacing_name(market.freq)} bars")
        quantiles = _check_quantiles(self.p.horizon, self.p.quantiles)
        self._request = (market, asset if asset in market.assets else market.assets[0],
                         int(self.p.horizon), quantiles)
        self._group = None
        if hasattr(self.p.model, "forecast_table"):
            # indicators on one model, feeds and sampling settings share one set of futures
            key = (id(self.p.model), _fingerprint(market), self.p.n_samples, self.p.seed,
                   quantiles)
            self._group = _groups(self._owner).setdefault(key, _Group())
            self._group.requests.append(self._request[1:3])
        self._cols = None

    def _known(self) -> tuple[str, ...] | None:
        known = getattr(self.p.model, "assets", None)
        return None if known is None else tuple(str(a) for a in known)

    def _feed_name(self) -> str:
        return repr(self.data._name) if self.data._name else "(unnamed)"

    def _asset(self) -> str | None:
        """Which of the model's assets this feed is.

        ``asset=`` if given; else the feed's name; a single-asset model serves any one feed.
        """
        known, name = self._known(), self.data._name or None
        if self.p.asset is not None:
            if known and self.p.asset not in known:
                raise ValueError(f"asset={self.p.asset!r} is not one the model was trained "
                                 f"on: {list(known)}")
            return self.p.asset
        if not known or name in known:
            return name
        if len(known) == 1:
            return known[0]
        raise ValueError(
            f"the feed {self._feed_name()} is not one of the model's assets {list(known)}: "
            f"name the feed after its asset, cerebro.adddata(feed, name={known[0]!r}), or pass "
            f"ForecastInterval(data, model=..., asset={known[0]!r})")

    def _market(self, asset: str | None) -> Market:
        """The preloaded bars: this feed, plus the other feeds a multi-asset model knows."""
        data = self.data
        known = self._known()
        datas = [data]
        if known is not None and len(known) > 1:
            by_name = {d._name: d for d in getattr(self._owner, "datas", []) if d._name}
            missing = [a for a in known if a != asset and a not in by_name]
            if missing:
                raise ValueError(
                    f"the model forecasts {asset!r} from all its assets {list(known)}, but the "
                    f"strategy has no feed named {missing}: name each feed after its asset, "
                    f"cerebro.adddata(feed, name={missing[0]!r})")
            datas = [data if a == asset else by_name[a] for a in known]
        pos = next(k for k, d in enumerate(datas) if d is data)
        market = feed_market(datas)
        if asset and market.assets[pos] != asset:
            names = list(market.assets)
            names[pos] = asset
            market = Market(market.values, market.index, names)
        return market

    def _compute(self) -> list[list[float]]:
        """The three quantile columns, computed on first use (after every indicator of the
        strategy has been created, so that those sharing a model are served together)."""
        if self._cols is None:
            market, asset, horizon, quantiles = self._request
            group = self._group
            if group is None:
                values = forecast_interval(self.p.model, market, asset=asset, horizon=horizon,
                                           quantiles=quantiles, n_samples=self.p.n_samples,
                                           seed=self.p.seed)
            else:
                if group.results is None:
                    group.results = self.p.model.forecast_table(
                        market, group.requests, quantiles=quantiles,
                        n_samples=self.p.n_samples, seed=self.p.seed)
                values = _checked(self.p.model, group.results[(asset, horizon)], market,
                                  quantiles)
            self._values = values
            self._cols = [values[:, k].tolist() for k in range(3)]
        return self._cols

    def _set(self, i: int) -> None:
        if self._from_feed:
            d = self.data.lines
            self.lines.lo[0], self.lines.mid[0], self.lines.hi[0] = d.lo[0], d.mid[0], d.hi[0]
            return
        lo, mid, hi = self._compute()
        self.lines.lo[0], self.lines.mid[0], self.lines.hi[0] = lo[i], mid[i], hi[i]

    def prenext(self) -> None:
        self._set(len(self.data) - 1)

    def next(self) -> None:
        self._set(len(self.data) - 1)

    def preonce(self, start: int, end: int) -> None:
        self.once(start, end)

    def once(self, start: int, end: int) -> None:
        if self._from_feed:
            d = self.data.lines
            cols = (d.lo.array, d.mid.array, d.hi.array)
        else:
            cols = self._compute()
        for k, col in enumerate(cols):
            arr = self.lines[k].array
            for i in range(start, end):
                arr[i] = col[i]
