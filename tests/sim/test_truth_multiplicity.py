"""benchmarks/truth_multiplicity.py's merging of nearby particles (issue #13's diagnostic)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "truth_multiplicity.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_truth_multiplicity", BENCH)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_resolvable_merges_particles_closer_than_d_into_harder_ones():
    resolvable = _module().resolvable
    e = np.array([50.0, 20.0, 10.0, 0.5])
    eta = np.array([0.0, 0.03, 0.5, 0.9])
    phi = np.array([3.13, -3.13, 0.0, 0.0])  # the first two are 0.03 apart in eta and 0.013 across the phi wrap
    assert resolvable(e, eta, phi, 0.05) == 2  # the 20 GeV one merges into the 50 GeV one; 0.5 GeV is below 1 GeV
    assert resolvable(e, eta, phi, 0.01) == 3
    assert resolvable(e, eta, phi, 4.0) == 1  # the 10 GeV one is dR = 3.17 away
    assert resolvable(e, eta, phi, 0.01, e_min=0.1) == 4
