"""diffbt.metrics.compute against QuantStats' own functions, series by series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diffbt.bench.metrics import _safe, qs_reference
from diffbt.errors import DataError
from diffbt.metrics import _nb
from diffbt.metrics.returns import METRIC_NAMES, compute, drawdown, equity

qs = pytest.importorskip("quantstats")
S = qs.stats

RTOL = 1e-9

# Metrics with no QuantStats function of that name, checked against their own reference.
NOT_IN_QS = {"max_drawdown_duration", "var_hist"}


def assert_matches_qs(row: pd.Series, s: pd.Series, *, skip=(), **kw) -> None:
    ref = qs_reference(s, **kw)
    assert set(ref) | NOT_IN_QS == set(METRIC_NAMES)
    bad = []
    for name, want in ref.items():
        if name in skip:
            continue
        got = row[name]
        same = (np.isnan(want) and np.isnan(got)) or got == want
        if not same and not abs(got - want) <= RTOL * abs(want):
            bad.append(f"{name}: diffbt {got!r} quantstats {want!r}")
    assert not bad, "\n".join(bad)


def _frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.bdate_range("2010-01-04", periods=n))


def _fat_tailed(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(3, n) * 0.01 + rng.normal(0.0, 0.0005)


@pytest.mark.parametrize(("seed", "rf"), [(0, 0.0), (1, 0.0), (2, 0.04), (3, 0.04)])
def test_compute_matches_quantstats_on_fat_tailed_paths(seed, rf):
    df = _frame({f"p{j}": _fat_tailed(10 * seed + j) for j in range(2)})
    res = compute(df, rf=rf)
    assert list(res.index) == list(df.columns)
    assert list(res.columns) == list(METRIC_NAMES)
    for col in df:
        assert_matches_qs(res.loc[col], df[col], rf=rf)


def test_compute_matches_quantstats_on_sp500():
    from arch.data import sp500

    s = sp500.load()["Adj Close"].pct_change().iloc[1:]
    s.name = "sp500"
    res = compute(s.to_frame())
    assert_matches_qs(res.loc["sp500"], s)


def test_compute_matches_quantstats_with_weekly_periods():
    df = _frame({"w": _fat_tailed(7, 150)})
    res = compute(df, periods_per_year=52)
    # QuantStats' rar annualises with a fixed 252 whatever `periods` says (documented).
    assert_matches_qs(res.loc["w"], df["w"], periods=52, skip={"rar"})
    ref = _safe(S.rar, df["w"], periods=252)
    assert res.loc["w", "rar"] != pytest.approx(ref)
    assert compute(df).loc["w", "rar"] == pytest.approx(ref, rel=RTOL)


def test_compute_matches_quantstats_with_nan_and_zero_bars():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0004, 0.01, 500)
    x[rng.random(500) < 0.08] = np.nan
    x[rng.random(500) < 0.08] = 0.0
    x[0] = np.nan  # a leading gap
    df = _frame({"gappy": x})
    for rf in (0.0, 0.02):
        assert_matches_qs(compute(df, rf=rf).loc["gappy"], df["gappy"], rf=rf)


def test_compute_matches_quantstats_on_all_loss_paths():
    rng = np.random.default_rng(3)
    df = _frame({"loss": -np.abs(rng.normal(0.001, 0.01, 300)), "flat_loss": np.full(300, -0.01)})
    res = compute(df)
    assert_matches_qs(res.loc["loss"], df["loss"])
    # A constant loss has zero variance: QuantStats divides by an exactly-zero std (-inf), and
    # its autocorrelation penalty correlates floating-point noise; diffbt reports NaN and a
    # penalty of 1 (documented in diffbt.metrics.returns).
    noise = {"sharpe", "smart_sharpe", "smart_sortino"}
    assert_matches_qs(res.loc["flat_loss"], df["flat_loss"], skip=noise)
    assert np.isnan(res.loc["flat_loss", "sharpe"])
    assert res.loc["flat_loss", "smart_sortino"] == res.loc["flat_loss", "sortino"]
    assert res.loc["loss", "profit_factor"] == 0.0
    assert res.loc["loss", "win_rate"] == 0.0
    assert res.loc["loss", "max_drawdown"] < 0


def test_compute_zero_variance_paths():
    df = _frame({"zero": np.zeros(200), "const": np.full(200, 0.001)})
    res = compute(df)
    assert_matches_qs(res.loc["zero"], df["zero"])
    # const: pandas' std is ~1e-19 noise, so QuantStats reports a Sharpe near 1e17 and a VaR;
    # diffbt uses an exact 0 std and reports NaN for the ratios (documented).
    noise = {"volatility", "sharpe", "smart_sharpe", "risk_return_ratio", "var"}
    assert_matches_qs(res.loc["const"], df["const"], skip=noise)
    assert res.loc["const", "volatility"] == 0.0
    for name in noise - {"volatility"}:
        assert np.isnan(res.loc["const", name])


def test_compute_ndarray_equals_dataframe():
    df = _frame({j: _fat_tailed(40 + j) for j in range(4)})
    a = compute(df.to_numpy().T)
    b = compute(df)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert list(a.index) == [0, 1, 2, 3]


def test_var_hist_and_drawdown_duration_against_brute_force():
    x = _fat_tailed(11, 300)
    x[5] = np.nan
    row = compute(x).iloc[0]
    assert row["var_hist"] == np.quantile(x[~np.isnan(x)], 0.05)
    eq = np.cumprod(1 + np.nan_to_num(x))
    peak = np.maximum.accumulate(np.maximum(eq, 1.0))
    longest = run = 0
    for e, p in zip(eq, peak, strict=True):
        run = run + 1 if e < p else 0
        longest = max(longest, run)
    assert row["max_drawdown_duration"] == longest


def test_single_kernels_match_fused_kernel():
    mat = np.ascontiguousarray(np.stack([_fat_tailed(s, 200) for s in range(5)]))
    res = compute(mat)
    np.testing.assert_allclose(_nb.sharpe_nb(mat, 252.0), res["sharpe"], rtol=1e-12)
    np.testing.assert_allclose(_nb.sortino_nb(mat, 252.0), res["sortino"], rtol=1e-12)
    np.testing.assert_array_equal(_nb.max_drawdown_nb(mat), res["max_drawdown"])
    np.testing.assert_allclose(_nb.cvar_nb(mat), res["cvar"], rtol=1e-12)


def test_equity_and_drawdown_match_quantstats():
    df = _frame({"a": _fat_tailed(1, 100), "b": _fat_tailed(2, 100)})
    df.iloc[3, 0] = np.nan
    dd = drawdown(df)
    for col in df:
        np.testing.assert_allclose(dd[col], S.to_drawdown_series(df[col]), rtol=RTOL, atol=0)
        np.testing.assert_allclose(
            equity(df)[col], S.compsum(df[col]) + 1.0, rtol=RTOL, atol=0
        )
    assert drawdown(df.to_numpy().T).shape == (2, 100)


def test_compute_rejects_infinite_returns():
    x = np.zeros((2, 5))
    x[1, 3] = np.inf
    with pytest.raises(DataError, match="row 3"):
        compute(x)


def test_compute_rejects_3d_input():
    with pytest.raises(DataError):
        compute(np.zeros((2, 3, 4)))


def test_tail_selection_quantiles_equal_numpy_quantile():
    rng = np.random.default_rng(0)
    for n in [*range(1, 45), 252, 2521]:
        for x in (rng.standard_t(3, n), np.round(rng.standard_t(3, n)), np.ones(n)):
            k_lo = int(np.floor((n - 1) * 0.05)) + 2
            k_hi = n - int(np.floor((n - 1) * 0.95))
            lo, hi = _nb.tails_nb(x, k_lo, k_hi)
            for q in (0.0, 0.01, 0.05, 0.95, 0.99, 1.0):
                assert _nb.quantile_tails_nb(lo, hi, n, q) == np.quantile(x, q), (n, q)
