"""Metric functions against analytic distributions, and the binned table."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.evaluate import binned_metrics, closure, quantiles, resolution, resolution_iqr


def test_gaussian_resolution_is_sigma_over_mu():
    rng = np.random.default_rng(21)
    x = rng.normal(0.95, 0.076, 400_000)
    assert resolution(x) == pytest.approx(0.076 / 0.95, rel=0.01)
    assert resolution_iqr(x) == pytest.approx(0.076 / 0.95, rel=0.01)
    assert closure(x) == pytest.approx(0.95, rel=1e-3)


def test_mode_closure_on_lognormal():
    rng = np.random.default_rng(22)
    x = rng.lognormal(0.0, 0.25, 100_000)
    assert closure(x, "mode") == pytest.approx(np.exp(-0.0625), rel=0.01)
    assert closure(x, "median") == pytest.approx(1.0, rel=0.01)


def test_weighted_quantiles_equal_duplicated_sample():
    rng = np.random.default_rng(23)
    x = rng.normal(size=2000)
    w = rng.integers(1, 4, 2000)
    dup = np.repeat(x, w)
    got = quantiles(x, [0.16, 0.5, 0.84], w.astype(float))
    np.testing.assert_allclose(got, np.quantile(dup, [0.16, 0.5, 0.84]), atol=0.01)
    assert resolution(x, weights=np.ones(2000)) == pytest.approx(resolution(x), rel=0.01)


def test_binned_metrics_recovers_known_widths_with_errors():
    rng = np.random.default_rng(24)
    v = rng.uniform(0, 3, 60_000)
    sigma = 0.05 + 0.05 * np.floor(v)  # 5 %, 10 %, 15 % in the three bins
    r = rng.normal(1.0, sigma)
    res = binned_metrics(r, v, np.array([0, 1, 2, 3.0, 4.0]), n_boot=30, seed=1)
    np.testing.assert_allclose(res["resolution"][:3], [0.05, 0.10, 0.15], rtol=0.03)
    assert np.all(res["resolution_err"][:3] > 0)
    assert np.all(res["resolution_err"][:3] < 0.005)
    assert res["n"][3] == 0
    assert np.isnan(res["median"][3])
    again = binned_metrics(r, v, np.array([0, 1, 2, 3.0, 4.0]), n_boot=30, seed=1)
    np.testing.assert_array_equal(res["median_err"], again["median_err"])  # seeded
