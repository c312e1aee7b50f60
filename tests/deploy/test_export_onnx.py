"""ONNX export: one graph with the normalisation inside, equal to PyTorch within 1e-5."""

from __future__ import annotations

import json

import numpy as np

from jetcalib.cli import main
from jetcalib.dnn.toys import toy_jets


def test_onnx_matches_torch_at_several_batch_sizes(model_dir, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    import jetcalib

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(model_dir), "-o", str(onnx_path)]) == 0, capsys.readouterr().err
    model = jetcalib.load(model_dir)
    proto = onnx.load(str(onnx_path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["features"]) == list(model.features)
    assert props["content_hash"] == model.header.content_hash
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["features"]
    assert [o.name for o in sess.get_outputs()] == ["outputE", "outputM"]
    table = toy_jets(4096, seed=9)
    x = np.stack([table[f] for f in model.features], axis=1).astype(np.float32)
    for n in (1, 7, 4096):
        r_e, r_m = sess.run(None, {"features": x[:n]})
        t_e, t_m = model.predict_responses(x[:n].astype(np.float64))
        np.testing.assert_allclose(r_e, t_e, rtol=1e-5)
        np.testing.assert_allclose(r_m, t_m, rtol=1e-5)
    # the sidecar form: normalisation outside the graph, as ATLAS's runtime does it
    side = json.loads((tmp_path / "model.sidecar.json").read_text())
    assert [i["name"] for i in side["inputs"]] == list(model.features)
    scale = np.array([i["NormScale"] for i in side["inputs"]], dtype=np.float32)
    offset = np.array([i["NormOffset"] for i in side["inputs"]], dtype=np.float32)
    plain = ort.InferenceSession(str(tmp_path / side["onnx_file"]), providers=["CPUExecutionProvider"])
    p_e, _p_m = plain.run(None, {"features": x[:7] * scale + offset})
    np.testing.assert_allclose(p_e, model.predict_responses(x[:7].astype(np.float64))[0], rtol=1e-5)


def test_export_refuses_numerical_and_bad_suffix(model_dir, tmp_path, capsys):
    assert main(["export", str(model_dir), "-o", str(tmp_path / "model.bin")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_sidecar_rule_with_the_residual_correctionlib_file_reproduces_jetcalib(model_dir, tmp_path, capsys):
    """What a runtime outside jetcalib does with the export (normalisation outside the graph,
    then the residual closure from correctionlib, as the sidecar's residual_rule says) gives
    jetcalib's own calibration."""
    import correctionlib
    import onnxruntime as ort

    import jetcalib

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(model_dir), "-o", str(onnx_path)]) == 0, capsys.readouterr().err
    model = jetcalib.load(model_dir, runtime="torch")
    assert model.residual is not None  # the default config fits a residual closure
    side = json.loads((tmp_path / "model.sidecar.json").read_text())
    assert side["residual_correctionlib"] == "model.residual.corr.json"
    cset = correctionlib.CorrectionSet.from_file(str(tmp_path / side["residual_correctionlib"]))
    table = toy_jets(4096, seed=9)
    x = np.stack([table[i["name"]] for i in side["inputs"]], axis=1).astype(np.float32)
    scale = np.array([i["NormScale"] for i in side["inputs"]], dtype=np.float32)
    offset = np.array([i["NormOffset"] for i in side["inputs"]], dtype=np.float32)
    plain = ort.InferenceSession(str(tmp_path / side["onnx_file"]), providers=["CPUExecutionProvider"])
    out_e, out_m = plain.run(None, {"features": x * scale + offset})
    eta = table["eta_reco"].astype(np.float64)
    e1, m1 = table["e_reco"] / out_e, table["m_reco"] / out_m
    r_e = cset["jes_response"].evaluate(eta, e1)
    e2, m_jes = e1 / r_e, m1 / r_e
    jms = (e2 > cset["jms_min_energy"].evaluate()) & (e2 < cset["jms_max_energy"].evaluate())
    m2 = m_jes.copy()
    m2[jms] = m_jes[jms] / cset["jms_response"].evaluate(eta[jms], e2[jms], m_jes[jms])
    cal = model.calibrate(table)
    ok = cal["calib_flag"] == 0
    assert ok.mean() > 0.9 and jms.mean() > 0.5 and (e2 >= 1500).any()  # both limits matter
    np.testing.assert_allclose(cal["e_cal"][ok], e2[ok], rtol=2e-5)
    np.testing.assert_allclose(cal["m_cal"][ok], m2[ok], rtol=2e-5)
    # and the residual really does something: the network alone differs
    assert np.abs(e2 / e1 - 1).max() > 1e-3
