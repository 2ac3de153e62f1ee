"""Features <-> bars: round trip on real data, valid bars for any features, the scaler."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from diffbt.data.features import (
    FEATURES,
    LOG_LIMIT,
    FeatureScaler,
    from_features,
    to_features,
)


def _assert_valid_bars(bars: np.ndarray) -> None:
    o, h, lo, c, v = (bars[..., k] for k in range(5))
    assert np.isfinite(bars).all()
    assert (o > 0).all() and (c > 0).all() and (lo > 0).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (v >= 0).all()


def test_to_features_matches_the_formulas_on_one_bar():
    bars = np.array([[[9.0, 10.0, 8.0, 10.0, 5.0]], [[11.0, 13.0, 9.0, 12.0, 7.0]]])
    f = to_features(bars)
    assert f.shape == (1, 1, len(FEATURES))
    np.testing.assert_allclose(f[0, 0], [np.log(12 / 10), np.log(11 / 10), np.log(13 / 12),
                                         np.log(11 / 9), np.log(8.0)])


def test_features_round_trip_on_the_bundled_data(bundled):
    values = bundled.values
    f = to_features(values)
    assert f.shape == (len(values) - 1, 2, 5) and np.isfinite(f).all()
    back = from_features(f, values[0, :, 3])
    np.testing.assert_allclose(back, values[1:], rtol=1e-9)


def test_features_round_trip_with_a_paths_axis(bundled):
    paths = np.stack([bundled.values[:50], bundled.values[100:150]])  # (2, 50, 2, 5)
    back = from_features(to_features(paths), paths[:, 0, :, 3])
    np.testing.assert_allclose(back, paths[:, 1:], rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 3), st.just(5)),
               elements=st.floats(-1e4, 1e4, allow_nan=False)),
    st.floats(1e-6, 1e6),
)
def test_from_features_always_gives_valid_bars(features, start):
    _assert_valid_bars(from_features(features, start))


@pytest.mark.parametrize("value", [1e308, -1e308, 700.0, -700.0])
def test_from_features_stays_finite_at_float_extremes(value):
    bars = from_features(np.full((4, 2, 5), value), np.array([1.0, 2.0]))
    _assert_valid_bars(bars)
    assert bars.max() <= np.exp(LOG_LIMIT)


def test_feature_scaler_standardises_per_asset_and_feature():
    rng = np.random.default_rng(0)
    f = rng.normal(3.0, 2.0, size=(200, 2, 5))
    f[:, 1, 4] = 7.0  # constant feature: std 0, z = 0, and it comes back constant
    scaler = FeatureScaler.fit(f)
    np.testing.assert_allclose(scaler.mean, f.mean(axis=0))
    expected_std = f.std(axis=0)
    expected_std[1, 4] = 0.0
    np.testing.assert_allclose(scaler.std, expected_std)
    z = scaler.transform(f)
    assert np.isfinite(z).all() and np.all(z[:, 1, 4] == 0.0)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse(z), f)
    # whatever a network outputs for the constant feature, it decodes to the constant
    noisy = scaler.inverse(rng.normal(0.0, 3.0, size=z.shape))
    np.testing.assert_allclose(noisy[:, 1, 4], 7.0)
    again = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again == scaler
