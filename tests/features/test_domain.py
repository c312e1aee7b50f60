"""TrainingDomain: ranges, flags and their order, storage, the merge rule (docs/flags.md#training-domain)."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.errors import ArtifactError, InputError
from jetcalib.features import TrainingDomain, check_policy, domain_flags, merge_domain_flags
from jetcalib.io import CalibFlag


def _domain() -> TrainingDomain:
    rng = np.random.default_rng(0)
    n = 5000
    eta = rng.uniform(-2, 2, n)
    pt = rng.uniform(150, 1000, n)
    m = np.full(n, 50.0)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
    x = np.column_stack([eta, rng.uniform(0, 1, n)])
    return TrainingDomain.from_jets(e, m, eta, features=x, feature_names=("eta", "tau21"),
                                    selection={"pt_true_min": 150.0})


def test_ranges_and_flag_order():
    dom = _domain()
    assert dom.abs_eta_max == pytest.approx(2.0, abs=1e-3)
    assert 150 < dom.pt[0] < 170
    assert 990 < dom.pt[1] <= 1000
    assert dom.inputs["tau21"][0] >= 0
    assert dom.inputs["tau21"][1] <= 1
    eta = np.array([0.5, 3.5, 0.5, 0.5, 3.5, np.nan])
    pt = np.array([300.0, 300.0, 50.0, 300.0, 50.0, 300.0])
    m = np.full(6, 50.0)
    e = np.sqrt((pt * np.cosh(np.nan_to_num(eta))) ** 2 + m**2)
    x = np.column_stack([eta, [0.5, 0.5, 0.5, -999.0, -999.0, 0.5]])
    flags = dom.flags(e, m, eta, x, ("eta", "tau21"))
    assert flags.tolist() == [0, 7, 8, 9, 7, 0]  # |η| first, then pT, then inputs; NaN not judged


def test_round_trip_and_malformed():
    dom = _domain()
    assert TrainingDomain.from_dict(dom.to_dict()) == dom
    assert TrainingDomain.from_dict(None) is None
    bad = dom.to_dict()
    bad["pt_reco"] = [500.0, 100.0]
    with pytest.raises(ArtifactError, match="malformed training domain"):
        TrainingDomain.from_dict(bad, source="x")


def test_policies_and_merge():
    dom = _domain()
    e, m, eta = np.array([400.0]), np.array([50.0]), np.array([3.5])
    assert domain_flags(dom, "ignore", e, m, eta) is None
    assert domain_flags(None, "flag", e, m, eta) is None
    assert domain_flags(dom, "strict", e, m, eta).tolist() == [7]
    with pytest.raises(InputError):
        check_policy("loose")
    flag = np.array([0, 1, 2, 3, 4, 5, 6, 0], dtype=np.int8)
    outside = np.array([7, 7, 7, 8, 8, 9, 9, 0], dtype=np.int8)
    # calibrated jets (0, 3, 6) take the domain flag, reco-kinematics ones (1, 2, 4, 5) keep theirs
    assert merge_domain_flags(flag, outside).tolist() == [7, 1, 2, 8, 4, 5, 9, 0]
    assert int(CalibFlag.INPUT_OUTSIDE_TRAINING) == 9
