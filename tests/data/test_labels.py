"""Regime labels and jump flags: no look-ahead, planted events found, brute-force references."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffbt.data.features import RET, FeatureScaler, to_features
from diffbt.data.labels import JumpDetector, RegimeLabeler, parse_regime
from diffbt.data.market import Market

TRAIN_END = "2010-12-31"


def _fit_all(market: Market, window: int = 20):
    train, _ = market.split(TRAIN_END)
    f = to_features(train.values)
    ret = f[..., RET]
    return RegimeLabeler.fit(ret, window), JumpDetector.fit(ret), FeatureScaler.fit(f)


def test_fitted_thresholds_ignore_data_after_train_end(bundled):
    before = _fit_all(bundled)
    rng = np.random.default_rng(0)
    future = bundled.index > TRAIN_END
    values = bundled.values.copy()
    values[future, :, :4] *= np.exp(rng.normal(0.0, 0.2, size=(future.sum(), 2, 1)))
    values[future, :, 4] *= 10.0
    changed = Market(values, bundled.index, bundled.assets)
    assert not np.array_equal(changed.values, bundled.values)
    after = _fit_all(changed)
    assert after == before  # frozen dataclasses: every fitted number equal


def test_jump_flags_at_t_ignore_returns_after_t():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0, 0.01, size=(400, 2))
    det = JumpDetector.fit(r[:200])
    t = 250
    later = r.copy()
    later[t + 1:] = rng.normal(0.0, 0.2, size=(len(r) - t - 1, 2))  # wild future
    np.testing.assert_array_equal(det.zscores(later)[:t + 1], det.zscores(r)[:t + 1])
    np.testing.assert_array_equal(det.flags(later)[:t + 1], det.flags(r)[:t + 1])


def test_regime_labels_of_past_windows_ignore_later_returns():
    rng = np.random.default_rng(2)
    r = rng.normal(0.0, 0.01, size=(300, 2))
    labeler = RegimeLabeler.fit(r[:150], 20)
    later = r.copy()
    later[200:] += 0.05
    n_past = 200 - 20 + 1  # windows that end before bar 200
    for a, b in zip(labeler.label(r), labeler.label(later), strict=True):
        np.testing.assert_array_equal(a[:n_past], b[:n_past])


def test_jump_detector_flags_a_planted_crash_and_spike():
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.01, size=(500, 2))
    r[300] = [-0.15, -0.12]
    r[420, 1] = 0.15
    flags = JumpDetector.fit(r[:250]).flags(r)
    assert flags[300].tolist() == [-1, -1]
    assert flags[420, 1] == 1
    assert np.count_nonzero(flags) <= 5  # the planted three and at most a couple of others


def test_jump_zscores_match_a_brute_force_ewma():
    rng = np.random.default_rng(4)
    r = rng.normal(0.0, 0.02, size=(60, 1))
    det = JumpDetector(k=5.0, lam=0.9, init_scale=(0.015,), z_scale=(1.3,))
    z = det.zscores(r)[:, 0]
    for t in range(len(r)):
        var = 0.9 ** t * 0.015 ** 2 + sum(0.1 * 0.9 ** (t - 1 - k) * r[k, 0] ** 2
                                          for k in range(t))
        assert z[t] == pytest.approx(r[t, 0] / np.sqrt(var) / 1.3, rel=1e-10)


def test_regime_of_a_steadily_rising_window_is_bull():
    rng = np.random.default_rng(5)
    labeler = RegimeLabeler.fit(rng.normal(0.0, 0.01, size=(500, 2)), 20)
    rising = np.full((1, 20, 2), 0.01)
    trend, vol = labeler.label_windows(rising)
    assert labeler.names(trend, vol)[0].startswith("bull_")
    trend, _ = labeler.label_windows(-rising)
    assert trend[0] == parse_regime("bear")[0]
    series = np.concatenate([rng.normal(0.0, 0.01, size=(100, 2)), np.full((40, 2), 0.01)])
    trend, _ = labeler.label(series)
    assert (trend[-21:] == 2).all()  # every window inside the rise


def test_regime_thresholds_match_brute_force_window_stats():
    rng = np.random.default_rng(6)
    r = rng.normal(0.0, 0.01, size=(120, 3))
    labeler = RegimeLabeler.fit(r, 10)
    market = r.mean(axis=1)
    sums = [market[s:s + 10].sum() for s in range(len(r) - 9)]
    vols = [np.abs(market[s:s + 10]).mean() for s in range(len(r) - 9)]
    assert labeler.trend_lo == pytest.approx(np.quantile(sums, 1 / 3))
    assert labeler.trend_hi == pytest.approx(np.quantile(sums, 2 / 3))
    assert labeler.vol_mid == pytest.approx(np.median(vols))
    with pytest.raises(ValueError, match="at least 12 training bars"):
        RegimeLabeler.fit(r[:11], 10)


def test_parse_regime_reads_names_and_rejects_unknown_ones():
    assert parse_regime("bear_volatile") == (0, 1)
    assert parse_regime("Bull") == (2, None)
    assert parse_regime("calm") == (None, 0)
    with pytest.raises(ValueError, match="unknown regime"):
        parse_regime("crab")


def test_count_windows_counts_bars_with_any_jump():
    flags = np.zeros((10, 2), dtype=np.int8)
    flags[[2, 3]] = [[1, 0], [-1, -1]]
    det = JumpDetector(5.0, 0.94, (0.01, 0.01), (1.0, 1.0))
    np.testing.assert_array_equal(det.count_windows(flags, 4, stride=2), [2, 2, 0, 0])
    np.testing.assert_array_equal(det.count_windows(flags, 2), [0, 1, 2, 1, 0, 0, 0, 0, 0])


def test_labelers_round_trip_through_json(bundled):
    regimes, jumps, _ = _fit_all(bundled)
    assert RegimeLabeler.from_dict(json.loads(json.dumps(regimes.to_dict()))) == regimes
    assert JumpDetector.from_dict(json.loads(json.dumps(jumps.to_dict()))) == jumps
