"""Input normalisation: fitted robustly or to [-1, 1], affine x·scale + offset, round trip."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.errors import ArtifactError
from jetcalib.features import Normalisation


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([rng.normal(5, 2, 5000), rng.exponential(3, 5000), np.full(5000, 7.0)], axis=1)


def test_robust_centres_median_and_scales_iqr(x):
    norm = Normalisation.fit(x, ["a", "b", "c"], "robust")
    xn = norm.apply(x)
    assert xn.dtype == np.float32
    assert np.allclose(np.median(xn[:, :2], axis=0), 0, atol=1e-5)
    q25, q75 = np.percentile(xn[:, :2], [25, 75], axis=0)
    assert np.allclose(q75 - q25, 1, atol=1e-4)
    assert np.allclose(xn[:, 2], 0)  # constant feature: shifted, scale 1, no division by zero
    assert np.allclose(norm.apply(x), x * norm.scale + norm.offset, atol=1e-5)


def test_minmax_maps_training_range_onto_unit_interval(x):
    xn = Normalisation.fit(x, ["a", "b", "c"], "minmax").apply(x)
    assert np.allclose(xn[:, :2].min(axis=0), -1, atol=1e-5)
    assert np.allclose(xn[:, :2].max(axis=0), 1, atol=1e-5)


def test_non_finite_entries_are_ignored_when_fitting(x):
    dirty = x.copy()
    dirty[:10, 0] = np.nan
    dirty[10:20, 1] = np.inf
    a = Normalisation.fit(dirty, ["a", "b", "c"])
    b = Normalisation.fit(x[20:], ["a", "b", "c"])
    assert np.all(np.isfinite(a.scale))
    assert np.allclose(a.scale, b.scale, rtol=0.02)


def test_round_trip_through_dict_and_inverse(x):
    norm = Normalisation.fit(x, ["a", "b", "c"])
    back = Normalisation.from_dict(norm.to_dict())
    assert back.features == ("a", "b", "c")
    assert np.array_equal(back.scale, norm.scale)
    assert np.array_equal(back.offset, norm.offset)
    assert np.allclose(back.invert(back.apply(x)), x, rtol=1e-5, atol=1e-4)


def test_inconsistent_stored_normalisation_is_refused():
    with pytest.raises(ArtifactError, match="inconsistent"):
        Normalisation.from_dict({"features": ["a", "b"], "scale": [1.0], "offset": [0.0, 0.0]})
    with pytest.raises(ArtifactError, match="invalid normalisation"):
        Normalisation.from_dict({"features": ["a"]})
