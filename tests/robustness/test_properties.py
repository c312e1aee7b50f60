"""Invariants of calibration and evaluation, tried on generated jets (hypothesis; bounded
``max_examples`` so that the file runs in a few seconds):

* calibration keeps η and φ: the calibrated four-vector (pT_cal, η_reco, φ_reco, m_cal) has
  energy E_cal, i.e. E_cal² = (pT_cal cosh η)² + m_cal², and calibrate_file leaves the η, φ
  columns untouched;
* calibrating twice with the identity calibration changes nothing;
* the metrics (quantiles, closure, resolution, binned tables with bootstrap errors) do not
  depend on the order of the rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jetcalib.errors import InputError
from jetcalib.evaluate import binned_metrics, closure, quantiles, resolution, resolution_iqr
from jetcalib.features import apply_responses, input_flags
from jetcalib.io import CalibFlag

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def jets(draw, min_size: int = 1, max_size: int = 60, bad: bool = True):
    """Reco jets (GeV): pT 10 GeV–5 TeV, |η| < 5.5, m from 0 to above E; with ``bad``, some
    NaN/inf/negative values mixed in (those must pass through flagged)."""
    n = draw(st.integers(min_size, max_size))
    pt = draw(arrays(np.float64, n, elements=st.floats(10.0, 5000.0)))
    eta = draw(arrays(np.float64, n, elements=st.floats(-5.5, 5.5)))
    m_over_pt = draw(arrays(np.float64, n, elements=st.floats(0.0, 1.2)))
    m = m_over_pt * pt
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
    if draw(st.booleans()):  # E < m now and then
        e = np.where(m_over_pt > 1.1, 0.5 * m, e)
    phi = draw(arrays(np.float64, n, elements=st.floats(-np.pi, np.pi)))
    table = {"e_reco": e, "m_reco": m, "eta_reco": eta, "pt_reco": pt, "phi_reco": phi}
    if bad and draw(st.booleans()):
        for name in ("e_reco", "m_reco", "eta_reco"):
            mask = draw(arrays(bool, n, elements=st.booleans()))
            special = draw(arrays(np.float64, n, elements=st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0])))
            table[name] = np.where(mask, special, table[name])
    table = {k: v.astype(np.float32) for k, v in table.items()}
    table["eta"] = table["eta_reco"]
    return table


responses = arrays(np.float64, 60, elements=st.floats(0.2, 5.0)) | arrays(
    np.float64, 60, elements=st.sampled_from([np.nan, np.inf, 0.0, -1.0, 0.5, 1.0, 2.0]))


def _assert_four_vector_consistent(table, out):
    e, pt, m = (out[k].astype(np.float64) for k in ("e_cal", "pt_cal", "m_cal"))
    eta = table["eta_reco"].astype(np.float64)
    flag = out["calib_flag"]
    # calibrated: 0, the mass fallbacks 3 and 6, and (domain="flag", the default) the jets
    # outside the training domain, 7-9
    cal = np.isin(flag, [CalibFlag.OK, CalibFlag.MASS_ABOVE_ENERGY, CalibFlag.MASS_NOT_CALIBRATED,
                         CalibFlag.OUTSIDE_TRAINING_ETA, CalibFlag.OUTSIDE_TRAINING_PT,
                         CalibFlag.INPUT_OUTSIDE_TRAINING])
    # E² = (pT cosh η)² + m²: the calibrated jet keeps η (and φ, which no method touches)
    np.testing.assert_allclose((pt[cal] * np.cosh(eta[cal])) ** 2 + m[cal] ** 2, e[cal] ** 2, rtol=2e-5)
    assert (m[cal] < e[cal]).all()
    assert (m[cal] > 0).all()
    assert (pt[cal] > 0).all()
    # everything else passes through with its reco kinematics (NaN stays NaN)
    np.testing.assert_array_equal(e[~cal], table["e_reco"][~cal])
    np.testing.assert_array_equal(m[~cal], table["m_reco"][~cal])


@SETTINGS
@given(table=jets(max_size=60), r_e=responses, r_m=responses, mass=st.booleans())
def test_apply_responses_keeps_eta_and_is_consistent(table, r_e, r_m, mass):
    n = len(table["e_reco"])
    flag = input_flags(table["e_reco"], table["m_reco"], table["eta_reco"])
    out = apply_responses(table["e_reco"], table["m_reco"], table["eta_reco"], r_e[:n],
                          r_m[:n], flag, calibrate_mass=np.full(n, mass))
    _assert_four_vector_consistent(table, out)
    # the input flags are kept: a jet no method may calibrate is never calibrated
    assert (out["calib_flag"][flag != 0] == flag[flag != 0]).all()


@pytest.fixture(scope="module")
def numcal(assets):
    from jetcalib.numerical import NumericalCalibration

    return NumericalCalibration.load(assets["numcal"])


def _looks_like_mev(table) -> bool:
    """A table the unit check refuses (median E above 20 TeV over enough jets): read as GeV it
    cannot be LHC jets, so calibrate stops with one line instead of flagging every jet."""
    from jetcalib.io.units import GEV_MEDIAN_MAX, UNIT_CHECK_MIN_JETS

    e = np.asarray(table["e_reco"], dtype=np.float64)
    e = e[np.isfinite(e)]
    return e.size >= UNIT_CHECK_MIN_JETS and float(np.median(e)) > GEV_MEDIAN_MAX


@SETTINGS
@given(table=jets())
def test_numerical_calibration_keeps_eta_and_is_consistent(numcal, table):
    if _looks_like_mev(table):
        with pytest.raises(InputError, match="looks like MeV"):
            numcal.calibrate(table)
        return
    _assert_four_vector_consistent(table, numcal.calibrate(table))


def _identity_dnn():
    import torch

    from jetcalib.dnn import CalibrationNet, DNNCalibration, DNNConfig
    from jetcalib.features import Normalisation

    cfg = DNNConfig.from_dict({"network": {"width": 8, "n_blocks": 1, "mass_residual_width": 4}})
    net = CalibrationNet(len(cfg.features), cfg.network)
    with torch.no_grad():  # every weight 0: log r̂ = 0, so r̂_E = r̂_m = 1 exactly
        for p in net.parameters():
            p.zero_()
    n = len(cfg.features)
    norm = Normalisation(features=tuple(cfg.features), scale=np.ones(n), offset=np.zeros(n))
    return DNNCalibration(net, cfg, norm)


def _identity_numerical(fitted):
    """A fitted calibration with every JES polynomial set to 1 and every JMS grid value to 1."""
    from jetcalib.numerical import NumericalCalibration
    from jetcalib.numerical.jes import JESFit
    from jetcalib.numerical.jms import JMSFit

    jes, jms = fitted.jes.to_dict(), fitted.jms.to_dict()
    for b in jes["bins"]:
        b["coef"] = [1.0] + [0.0] * (len(b["coef"]) - 1)
    jms["values"] = np.ones_like(np.asarray(jms["values"], dtype=np.float64)).tolist()
    return NumericalCalibration(fitted.config, JESFit.from_dict(jes), JMSFit.from_dict(jms))


@pytest.fixture(scope="module", params=["dnn", "numerical"])
def identity(request, numcal):
    return _identity_dnn() if request.param == "dnn" else _identity_numerical(numcal)


def _full_table(table):
    """The kinematic columns of ``table`` plus plausible DNN inputs (derived from them)."""
    from jetcalib.io import INPUT_FEATURES

    n = len(table["e_reco"])
    rng = np.random.default_rng(n)
    out = {name: rng.uniform(0.1, 1.0, n).astype(np.float32) for name in INPUT_FEATURES}
    out.update(table)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["log_e"] = np.log(table["e_reco"]).astype(np.float32)
        out["log_m"] = np.log(np.maximum(table["m_reco"], 1.0)).astype(np.float32)
    return out


@SETTINGS
@given(table=jets())
def test_identity_calibration_twice_changes_nothing(identity, table):
    table = _full_table(table)
    if _looks_like_mev(table):
        with pytest.raises(InputError, match="looks like MeV"):
            identity.calibrate(table)
        return
    once = identity.calibrate(table)
    again = identity.calibrate({**table, "e_reco": once["e_cal"], "m_reco": once["m_cal"],
                                "pt_reco": once["pt_cal"]})
    ok = once["calib_flag"] != CalibFlag.BAD_PREDICTION
    for k in ("e_cal", "m_cal"):
        # the identity: calibrated = reco; twice: the same again
        np.testing.assert_allclose(once[k][ok], table[k.replace("_cal", "_reco")][ok], rtol=2e-6)
        np.testing.assert_allclose(again[k], once[k], rtol=2e-6)
    np.testing.assert_allclose(again["pt_cal"], once["pt_cal"], rtol=2e-5, atol=1e-3)
    np.testing.assert_array_equal(again["calib_flag"], once["calib_flag"])


def test_identity_dnn_really_is_the_identity():
    model = _identity_dnn()
    r_e, r_m = model.predict_responses(np.random.default_rng(0).normal(size=(100, len(model.features))))
    assert (r_e == 1).all()
    assert (r_m == 1).all()


def test_calibrate_file_keeps_eta_phi_columns_byte_identical(numcal, tmp_path):
    from jetcalib.deploy import calibrate_file
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.io import read_table, write_table

    table = {k: v for k, v in toy_jets(3000, seed=9).items() if not k.startswith("toy_")}
    table["eta_reco"][:5] = [np.nan, 5.5, -np.inf, 0.0, 4.9]
    write_table(tmp_path / "in.parquet", table)
    calibrate_file(numcal, tmp_path / "in.parquet", tmp_path / "out.parquet", step_rows=1000)
    out, _ = read_table(tmp_path / "out.parquet")
    for name in ("eta_reco", "phi_reco", "eta", "eta_true", "phi_true"):
        assert out[name].tobytes() == table[name].tobytes(), name
    _assert_four_vector_consistent(table, out)


# --- metrics do not depend on the row order ------------------------------------------------------
samples = st.integers(2, 300).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=st.floats(0.3, 2.0) | st.sampled_from([1.0, 1.0, np.nan])),
    arrays(np.float64, n, elements=st.floats(0.0, 5.0) | st.just(1.0)),
    st.randoms(use_true_random=False),
))


@SETTINGS
@given(sample=samples)
def test_point_metrics_invariant_to_row_order(sample):
    x, w, rnd = sample
    perm = np.array(rnd.sample(range(len(x)), len(x)))
    q = [0.1, 0.16, 0.5, 0.84, 0.9]
    np.testing.assert_array_equal(quantiles(x, q), quantiles(x[perm], q))
    np.testing.assert_allclose(quantiles(x, q, w), quantiles(x[perm], q, w[perm]), rtol=1e-12)
    for f in (resolution, resolution_iqr):
        np.testing.assert_allclose(f(x), f(x[perm]), rtol=1e-12)
        np.testing.assert_allclose(f(x, w), f(x[perm], w[perm]), rtol=1e-12)
    np.testing.assert_allclose(closure(x, "median", w), closure(x[perm], "median", w[perm]), rtol=1e-12)
    np.testing.assert_allclose(closure(x, "mode"), closure(x[perm], "mode"), rtol=1e-9)


def test_weighted_quantile_with_ties_does_not_depend_on_row_order():
    # regression: tied values with different weights were taken in row order, so the same
    # sample in another order gave another quantile (1.75 vs 1.5 here)
    x, w = np.array([1.0, 1.0, 2.0]), np.array([1.0, 3.0, 1.0])
    assert quantiles(x, [0.8], w)[0] == quantiles(x[[1, 0, 2]], [0.8], w[[1, 0, 2]])[0]


@settings(SETTINGS, max_examples=15)
@given(sample=samples, weighted=st.booleans())
def test_binned_metrics_with_bootstrap_invariant_to_row_order(sample, weighted):
    x, w, rnd = sample
    n = len(x)
    v = np.asarray([rnd.uniform(0, 3) for _ in range(n)])
    perm = np.array(rnd.sample(range(n), n))
    kw = {"n_boot": 4, "n_boot_mode": 2, "min_entries": 5}
    a = binned_metrics(x, v, np.array([0, 1, 2, 3.0]), weights=w if weighted else None, **kw)
    b = binned_metrics(x[perm], v[perm], np.array([0, 1, 2, 3.0]), weights=w[perm] if weighted else None, **kw)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, equal_nan=True, err_msg=key)
