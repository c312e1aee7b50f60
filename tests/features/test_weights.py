"""Sample weights flatten a steep spectrum in (ln E_true, ln m_true/E_true), capped."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.features import flatten_weights


def _steep(n: int = 200_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = 200.0 * (1 - rng.random(n)) ** (-1 / 3.0)  # dN/dE ∝ E^-4: steep like a dijet spectrum
    e = e[e < 3000]
    m = e * np.exp(rng.uniform(np.log(0.02), np.log(0.3), e.size))
    return e, m


def test_weights_flatten_a_steep_spectrum():
    e, m = _steep()
    w = flatten_weights(e, m, bins=(10, 5), cap=1e6)
    edges = np.linspace(np.log(e.min()), np.log(e.max()), 11)
    raw, _ = np.histogram(np.log(e), edges)
    flat, _ = np.histogram(np.log(e), edges, weights=w)
    assert raw.max() / raw.min() > 100  # the input really is steep
    assert flat.max() / flat.min() < 1.3
    assert w.dtype == np.float32
    assert np.isclose(w.mean(), 1.0, rtol=1e-5)


def test_cap_limits_the_largest_weight():
    e, m = _steep(50_000)
    w = flatten_weights(e, m, bins=(30, 20), cap=5.0)
    assert w.max() <= 5.0 * 1.0001
    assert np.isclose(w.mean(), 1.0, rtol=1e-4)
    assert flatten_weights(e, m, bins=(30, 20), cap=1e6).max() > 5.0


def test_massless_truth_jets_get_finite_weights():
    e = np.array([300.0, 400.0, 500.0, 600.0])
    w = flatten_weights(e, np.array([0.0, 20.0, 30.0, 40.0]), bins=(2, 2))
    assert np.all(np.isfinite(w))
    assert w.shape == (4,)


def test_bad_cap_is_refused():
    with pytest.raises(ValueError, match="cap"):
        flatten_weights(np.ones(3), np.ones(3), cap=0)
