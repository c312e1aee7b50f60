"""Model artifact: save/load round trip, hash refusal, feature mismatch, flagging, table kinds."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch

from jetcalib.dnn import CalibrationNet, DNNCalibration, DNNConfig
from jetcalib.errors import ArtifactError, InputError
from jetcalib.features import Normalisation, feature_matrix
from jetcalib.io import CalibFlag


def _model(toy: dict, features: list[str] | None = None, **cfg: object) -> DNNCalibration:
    """An untrained but fully formed model (random weights): fast, enough for I/O tests."""
    torch.manual_seed(0)
    config = DNNConfig.from_dict({"network": {"width": 32, "n_blocks": 1}, **cfg,
                                  **({"features": features} if features else {})})
    norm = Normalisation.fit(feature_matrix(toy, config.features), config.features)
    net = CalibrationNet(len(config.features), config.network)
    net.set_output_bias(-0.1, 0.05)
    return DNNCalibration(net, config, norm)


def test_save_load_round_trip_gives_identical_predictions(tmp_path, toy_test):
    model = _model(toy_test)
    model.save(tmp_path / "m")
    back = DNNCalibration.load(tmp_path / "m")
    x = feature_matrix(toy_test, model.features)[:500]
    assert np.array_equal(model.predict_responses(x)[0], back.predict_responses(x)[0])
    assert back.header.artifact == "dnn-model"
    assert back.header.content_hash.startswith("sha256:")
    assert back.header.features == list(model.features)
    assert np.array_equal(back.normalisation.scale, model.normalisation.scale)


def test_same_model_saved_twice_has_the_same_bytes_and_hash(tmp_path, toy_test):
    # Regression: torch.save named the archive's inner folder after the temporary file it wrote
    # (.weights.pt.PID.tmp), so the content hash depended on the process id (now: a random name).
    model = _model(toy_test)
    a, b = model.save(tmp_path / "a"), model.save(tmp_path / "b")
    assert (a / "weights.pt").read_bytes() == (b / "weights.pt").read_bytes()
    assert DNNCalibration.load(a).header.content_hash == DNNCalibration.load(b).header.content_hash


def test_tampered_weights_or_config_are_refused(tmp_path, toy_test):
    d = _model(toy_test).save(tmp_path / "m")
    w = (d / "weights.pt").read_bytes()
    (d / "weights.pt").write_bytes(w[:-10] + bytes(10))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)
    (d / "weights.pt").write_bytes(w)
    DNNCalibration.load(d)  # restored: loads again
    doc = json.loads((d / "artifact.json").read_text())
    doc["normalisation"]["scale"][0] *= 1.01
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)


def test_wrong_kind_or_missing_artifact_is_refused(tmp_path, toy_test):
    with pytest.raises(ArtifactError, match="not a DNN model directory"):
        DNNCalibration.load(tmp_path)
    d = _model(toy_test).save(tmp_path / "m")
    doc = json.loads((d / "artifact.json").read_text())
    doc["header"]["artifact"] = "numerical-calibration"
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="expected dnn-model"):
        DNNCalibration.load(d)


def test_feature_mismatch_is_refused(toy_test):
    model = _model(toy_test)
    table = {k: v for k, v in toy_test.items() if k != "d2"}
    with pytest.raises(InputError, match=r"missing column d2.*does not match.*reads 21 features"):
        model.calibrate(table)
    small = _model(toy_test, features=["eta", "log_e", "em_frac"])
    with pytest.raises(InputError, match=r"reads \[N, 3\]"):
        small.predict_responses(np.zeros((3, 21), dtype=np.float32))


def test_non_finite_and_non_positive_mass_are_flagged_and_passed_through(toy_test):
    model = _model(toy_test)
    t = {k: v[:6].copy() for k, v in toy_test.items()}
    t["tau21"][1] = np.nan
    t["m_reco"][2] = 0.0
    t["split12"][3] = np.inf
    out = model.calibrate(t)
    flags = out["calib_flag"]
    assert flags[1] == CalibFlag.NON_FINITE_INPUT
    assert flags[3] == CalibFlag.NON_FINITE_INPUT
    assert flags[2] == CalibFlag.NON_POSITIVE_MASS
    for i in (1, 2, 3):
        assert out["e_cal"][i] == pytest.approx(t["e_reco"][i])
        assert out["m_cal"][i] == t["m_reco"][i]
    good = [0, 4, 5]
    assert np.all(flags[good] == 0)
    assert np.allclose(out["e_cal"][good], t["e_reco"][good] * np.exp(0.1), rtol=1e-5)
    assert np.allclose(out["m_cal"][good], t["m_reco"][good] * np.exp(-0.05), rtol=1e-5)


def test_mass_threshold_and_table_kinds(toy_test):
    model = _model(toy_test, mass_min_reco=40.0)
    t = {k: v[:300] for k, v in toy_test.items()}
    out = model.calibrate(t)
    light = (t["m_reco"] <= 40.0) & (out["calib_flag"] != CalibFlag.MASS_ABOVE_ENERGY)
    assert light.any()
    assert np.all(out["calib_flag"][light] == CalibFlag.MASS_NOT_CALIBRATED)
    out_ak = model.calibrate(ak.Array(t))
    assert np.array_equal(out["e_cal"], out_ak["e_cal"])
    assert set(model.required_columns) >= {"e_reco", "m_reco", "eta_reco", "log_e", "qw"}
