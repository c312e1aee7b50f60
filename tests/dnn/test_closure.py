"""The residual closure after the network (DNNConfig.closure): fitted at the end of training,
stored in the artifact and the ONNX export, applied by every runtime, and refused if edited."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from jetcalib.dnn import DNNCalibration, train
from jetcalib.errors import ArtifactError

from .conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_train):
    """The same tiny training with and without the residual closure."""
    out = {}
    for closure in ("numerical", "none"):
        cfg = tiny_config(closure=closure)
        d = tmp_path_factory.mktemp(closure) / "model"
        train(toy_train, d, cfg, progress=False)
        out[closure] = d
    return out


def _worst_median_closure(table, cal) -> float:
    """max |median(E_cal/E_true) − 1| over pT_true bins above 200 GeV (|η_true| < 2)."""
    ok = (cal["calib_flag"] == 0) & (np.abs(table["eta_true"]) < 2)
    r = cal["e_cal"] / table["e_true"]
    worst = 0.0
    for lo, hi in itertools.pairwise([200, 400, 700, 1200, 3000]):
        sel = ok & (table["pt_true"] >= lo) & (table["pt_true"] < hi)
        worst = max(worst, abs(float(np.median(r[sel])) - 1))
    return worst


def test_closure_is_fitted_stored_and_improves_median_closure(trained, toy_test):
    with_res = DNNCalibration.load(trained["numerical"])
    without = DNNCalibration.load(trained["none"])
    assert with_res.residual is not None
    assert without.residual is None
    assert with_res.summary["closure_jets"] > 10_000
    # The closure does not touch the network: same seed, same weights, same raw responses.
    x = np.stack([toy_test[f] for f in with_res.features], axis=1)[:2000]
    assert np.array_equal(with_res.predict_responses(x)[0], without.predict_responses(x)[0])
    cal_res, cal_net = with_res.calibrate(toy_test), without.calibrate(toy_test)
    assert np.array_equal(cal_res["calib_flag"] != 0, cal_net["calib_flag"] != 0)
    worst_res, worst_net = _worst_median_closure(toy_test, cal_res), _worst_median_closure(toy_test, cal_net)
    assert worst_res < 0.01
    assert worst_res < worst_net


def test_onnxruntime_applies_the_residual_too(trained, toy_test):
    import jetcalib

    torch_cal = jetcalib.load(trained["numerical"], runtime="torch").calibrate(toy_test)
    ort_cal = jetcalib.load(trained["numerical"], runtime="onnxruntime").calibrate(toy_test)
    assert np.array_equal(torch_cal["calib_flag"], ort_cal["calib_flag"])
    np.testing.assert_allclose(ort_cal["e_cal"], torch_cal["e_cal"], rtol=1e-5)
    np.testing.assert_allclose(ort_cal["m_cal"], torch_cal["m_cal"], rtol=1e-5)


def test_an_edited_residual_is_refused(trained, tmp_path):
    import shutil

    import onnx

    from jetcalib.deploy import OnnxCalibration
    from jetcalib.deploy.onnx_export import onnx_bytes

    d = tmp_path / "m"
    shutil.copytree(trained["numerical"], d)
    doc = json.loads((d / "artifact.json").read_text())
    doc["residual"]["jes"]["bins"][0]["coef"][0] *= 1.01
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)

    proto = onnx.load_from_string(onnx_bytes(DNNCalibration.load(trained["numerical"])))
    prop = next(p for p in proto.metadata_props if p.key == "residual")
    payload = json.loads(prop.value)
    payload["jes"]["bins"][0]["coef"][0] *= 1.01
    prop.value = json.dumps(payload)
    with pytest.raises(ArtifactError, match=r"metadata property 'residual' changed after jetcalib export"):
        OnnxCalibration(proto.SerializeToString())
