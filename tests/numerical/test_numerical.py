"""Numerical calibration on a toy with a known non-linear response: closure, storage, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from tests.numerical.toys import make_toy, toy_response_e

from jetcalib.errors import ArtifactError, InputError
from jetcalib.numerical import NumericalCalibration, NumericalConfig, write_correctionlib


@pytest.fixture(scope="module")
def toy_fit():
    return NumericalCalibration.fit(make_toy(200_000, seed=1))


@pytest.fixture(scope="module")
def toy_test():
    return make_toy(200_000, seed=2)


def _binned_median(ratio, var, edges, sel):
    """Median of ``ratio`` per bin of ``var``; bins with < 300 jets are skipped (too noisy)."""
    idx = np.digitize(var, edges)
    groups = [ratio[sel & (idx == i)] for i in range(1, len(edges))]
    return np.array([np.median(g) for g in groups if g.size >= 300])


def test_jes_closure_within_one_percent(toy_fit, toy_test):
    out = toy_fit.calibrate(toy_test)
    t = toy_test
    ratio = out["e_cal"] / t["e_true"]
    # the fitted range: E_true from 250 GeV to 4 TeV
    edges = np.geomspace(250, 4000, 9)
    for lo, hi in ((0.0, 1.2), (1.2, 1.7), (1.7, 2.4)):  # includes the crack and the edge bins
        sel = (np.abs(t["eta_true"]) >= lo) & (np.abs(t["eta_true"]) < hi)
        closure = _binned_median(ratio, t["e_true"], edges, sel)
        assert closure.size >= 5
        assert np.all(np.abs(closure - 1) < 0.01), (lo, hi, closure)
    raw = _binned_median(t["e_reco"] / t["e_true"], t["e_true"], edges, np.abs(t["eta_true"]) < 2)
    assert np.all(raw < 0.96)  # the toy really needs calibrating


def test_jms_closure_within_two_percent(toy_fit, toy_test):
    out = toy_fit.calibrate(toy_test)
    t = toy_test
    sel = (t["m_true"] > 30) & (np.abs(t["eta_true"]) < 2) & (t["e_true"] > 300)
    y = np.log(t["m_true"] / t["e_true"])
    edges = np.linspace(-4.0, -1.5, 6)
    closure = _binned_median(out["m_cal"] / t["m_true"], y, edges, sel)
    raw = _binned_median(t["m_reco"] / t["m_true"], y, edges, sel)
    assert np.all(np.abs(closure - 1) < 0.02), closure
    assert np.max(np.abs(raw - 1)) > 0.05


def test_flags_and_no_nan(toy_fit):
    t = make_toy(2000, seed=5)
    t["m_reco"][0] = 0.0
    t["e_reco"][1] = np.nan
    t["eta"][2] = t["eta_reco"][2] = 3.5  # beyond the fitted range: edge bin
    t["e_reco"][3] = 100.0  # below the JMS energy threshold
    out = toy_fit.calibrate(t)
    assert out["calib_flag"][0] == 2
    assert out["calib_flag"][1] == 1
    # calibrated (edge bin), flagged as outside the fitted |η| range (docs/flags.md#training-domain)
    assert out["calib_flag"][2] == 7
    assert np.isfinite(out["e_cal"][2])
    plain = toy_fit.calibrate(t, domain="ignore")
    assert plain["calib_flag"][2] in (0, 3)
    # below the JMS threshold (6), and below the fitted reco energies: the domain flag wins
    assert plain["calib_flag"][3] == 6
    assert out["calib_flag"][3] == 8
    assert out["m_cal"][3] == plain["m_cal"][3]
    ok = out["calib_flag"] != 1
    assert np.all(np.isfinite(out["e_cal"][ok]))
    assert np.all(np.isfinite(out["m_cal"][ok]))


def test_sparse_and_empty_bins_are_merged():
    t = make_toy(60_000, seed=3)
    hole = (np.abs(t["eta"]) > 0.5) & (np.abs(t["eta"]) < 0.8)  # three empty η bins
    t = {k: v[~hole] for k, v in t.items()}
    cal = NumericalCalibration.fit(t, NumericalConfig(min_entries=100))
    assert max(cal.jes.merged) >= 1
    r = cal.jes.response(np.full(5, 800.0), np.array([0.55, 0.65, 0.75, 0.1, 1.9]))
    assert np.all(np.isfinite(r))
    assert np.all(np.abs(r - 0.94) < 0.03)


@pytest.mark.parametrize("central", ["gauss", "mode"])
def test_other_central_values(central):
    t = make_toy(60_000, seed=4)
    cal = NumericalCalibration.fit(t, NumericalConfig(central=central, jms=False))
    r = cal.jes.response(np.array([400.0]), np.array([0.3]))  # E_true ≈ 432 GeV
    assert abs(r[0] - toy_response_e(432.0, 0.3)) < 0.01


def test_save_load_roundtrip_and_tamper(toy_fit, tmp_path):
    path = toy_fit.save(tmp_path / "cal.json")
    back = NumericalCalibration.load(path)
    t = make_toy(1000, seed=6)
    a, b = toy_fit.calibrate(t), back.calibrate(t)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    raw = json.loads(path.read_text())
    raw["payload"]["jes"]["bins"][0]["coef"][0] += 0.01
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="hash mismatch"):
        NumericalCalibration.load(tmp_path / "bad.json")
    raw["header"]["artifact"] = "dnn-model"
    (tmp_path / "other.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="expected numerical-calibration"):
        NumericalCalibration.load(tmp_path / "other.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ArtifactError):
        NumericalCalibration.load(tmp_path / "junk.json")


def test_correctionlib_reproduces_to_1e6(toy_fit, tmp_path):
    import correctionlib

    path = write_correctionlib(toy_fit, tmp_path / "cl.json")
    cset = correctionlib.CorrectionSet.from_file(str(path))
    t = make_toy(20_000, seed=7)
    t["eta"][:50] = np.linspace(-4, 4, 50)  # beyond the fitted range too
    r_e, r_m, _ = toy_fit.responses(t)
    eta = t["eta"].astype(np.float64)
    got_e = cset["jes_response"].evaluate(eta, t["e_reco"].astype(np.float64))
    np.testing.assert_allclose(got_e, r_e, rtol=1e-6)
    e_jes, m_jes = t["e_reco"] / r_e, t["m_reco"] / r_e
    got_m = cset["jms_response"].evaluate(eta, e_jes, m_jes)
    np.testing.assert_allclose(got_m * r_e, r_m, rtol=1e-6)


def test_bad_config_and_tiny_table():
    with pytest.raises(ValidationError, match="central"):
        NumericalConfig(central="mean")
    with pytest.raises(InputError, match="usable jets"):
        NumericalCalibration.fit(make_toy(50, seed=0))
    with pytest.raises(InputError, match="no column"):
        NumericalCalibration.fit({"e_true": np.ones(3)})


def test_jms_max_energy_limits_the_mass_step_in_numpy_and_correctionlib(tmp_path):
    """jms_max_energy (used by the DNN's residual closure): above it the mass follows the
    energy, flagged like below jms_min_energy, in jetcalib's evaluation and in correctionlib."""
    import jetcalib

    train, test = make_toy(60_000, seed=1), make_toy(20_000, seed=8)
    limited = NumericalCalibration.fit(train, NumericalConfig(jms_max_energy=800.0))
    free = NumericalCalibration.fit(train)
    a, b = limited.calibrate(test), free.calibrate(test)
    e_jes = test["e_reco"] / limited.jes.response(test["e_reco"], test["eta"])
    high = e_jes >= 800.0
    assert 0.05 < high.mean() < 0.95
    assert np.all(a["calib_flag"][high & (b["calib_flag"] == 0)] == 6)
    np.testing.assert_allclose(a["m_cal"][high], test["m_reco"][high] / (test["e_reco"][high] / a["e_cal"][high]),
                               rtol=1e-5)
    assert np.array_equal(a["m_cal"][~high], b["m_cal"][~high])
    path = limited.save(tmp_path / "lim.json")
    assert NumericalCalibration.load(path).jms.max_energy == 800.0
    cl = write_correctionlib(limited, tmp_path / "lim.corr.json")
    c = jetcalib.load(cl).calibrate(test)
    assert np.array_equal(c["calib_flag"], a["calib_flag"])
    np.testing.assert_allclose(c["m_cal"], a["m_cal"], rtol=1e-6)
