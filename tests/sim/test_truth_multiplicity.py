"""benchmarks/truth_multiplicity.py's merging of nearby particles (issue #13's diagnostic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_resolvable_merges_particles_closer_than_d_into_harder_ones(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from truth_multiplicity import resolvable

    e = np.array([50.0, 20.0, 10.0, 0.5])
    eta = np.array([0.0, 0.03, 0.5, 0.9])
    phi = np.array([3.13, -3.13, 0.0, 0.0])  # the first two are 0.03 apart in eta and 0.013 across the phi wrap
    assert resolvable(e, eta, phi, 0.05) == 2  # the 20 GeV one merges into the 50 GeV one; 0.5 GeV is below 1 GeV
    assert resolvable(e, eta, phi, 0.01) == 3
    assert resolvable(e, eta, phi, 4.0) == 1  # the 10 GeV one is dR = 3.17 away
    assert resolvable(e, eta, phi, 0.01, e_min=0.1) == 4
