"""Central-value estimators against analytic distributions."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.numerical.stats import central_value, gauss_core, half_sample_mode, mode_estimate


@pytest.mark.parametrize(
    ("name", "true_mode"),
    [("lognormal_0.3", np.exp(-0.09)), ("lognormal_0.15", np.exp(-0.0225)), ("gamma_20", 19.0), ("gamma_8", 7.0)],
)
def test_mode_estimate_within_one_percent(name, true_mode):
    rng = np.random.default_rng(11)
    n = 100_000
    kind, par = name.split("_")
    x = rng.lognormal(0, float(par), n) if kind == "lognormal" else rng.gamma(float(par), 1.0, n)
    est = mode_estimate(x)
    assert abs(est / true_mode - 1) < 0.01, est
    # the median and a Gaussian-core mean are pulled towards the tail: the test can tell
    assert abs(np.median(x) / true_mode - 1) > 0.02


def test_gauss_core_on_gaussian_with_tails():
    rng = np.random.default_rng(12)
    core = rng.normal(0.9, 0.08, 90_000)
    tail = rng.uniform(0.3, 0.9, 10_000)  # a low tail, as from out-of-cone losses
    mu, sig = gauss_core(np.concatenate([core, tail]))
    assert abs(mu - 0.9) < 0.005
    assert abs(sig / 0.08 - 1) < 0.05
    assert np.median(np.concatenate([core, tail])) < 0.89


def test_half_sample_mode_and_small_samples():
    rng = np.random.default_rng(13)
    assert abs(half_sample_mode(rng.normal(2.0, 0.1, 20_000)) - 2.0) < 0.02
    assert np.isnan(central_value(np.array([]), "mode"))
    assert central_value(np.array([1.0, 2.0, 3.0]), "mode") == pytest.approx(2.0, abs=0.6)
    with pytest.raises(ValueError, match="unknown"):
        central_value(np.ones(3), "mean")
