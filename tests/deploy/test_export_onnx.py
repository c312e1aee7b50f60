"""ONNX export: one graph with the normalisation inside, equal to PyTorch within 1e-5."""

from __future__ import annotations

import json

import numpy as np

from jetcalib.cli import main
from jetcalib.dnn.toys import toy_jets

from .conftest import untrained_head_model


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


def _sidecar_runtime(sidecar_path, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A runtime outside jetcalib: numpy, onnxruntime and (for the residual the sidecar names)
    correctionlib; it reads only the sidecar and the files it names, and follows its words
    (normalisation, calibration_rule, flag_rules, residual_rule, training_domain; 'flag'
    policy). ``table``: GeV columns e_reco, m_reco, eta_reco and the inputs."""
    import onnxruntime as ort

    side = json.loads(sidecar_path.read_text())
    where = sidecar_path.parent
    assert side["sidecar_version"].split(".")[0] == "2"
    assert side["units"]["energy"] == "GeV"
    e, m, eta = (np.asarray(table[c], dtype=np.float64) for c in ("e_reco", "m_reco", "eta_reco"))
    inputs = sorted(side["inputs"], key=lambda i: i["index"])
    x = np.stack([np.asarray(table[i["name"]], dtype=np.float32) for i in inputs], axis=1)
    n = len(e)
    # 1. flags 1, 2, 5 from the inputs, first that applies
    flag = np.zeros(n, dtype=np.int8)
    flag[~(np.isfinite(e) & np.isfinite(m) & np.isfinite(eta) & np.isfinite(x).all(axis=1))] = 1
    flag[(flag == 0) & ~(m > 0)] = 2
    with np.errstate(invalid="ignore"):
        out_of_range = ~(e > 0) | (e > 14000.0) | (m > e * (1 + 1e-5)) | (np.abs(eta) > 4.9)
    flag[(flag == 0) & out_of_range] = 5
    # 2. the network, normalisation outside the graph
    scale = np.array([i["NormScale"] for i in inputs], dtype=np.float32)
    offset = np.array([i["NormOffset"] for i in inputs], dtype=np.float32)
    sess = ort.InferenceSession(str(where / side["onnx_file"]), providers=["CPUExecutionProvider"])
    go = flag == 0
    r_e, r_m = np.full(n, np.nan), np.full(n, np.nan)
    out_e, out_m = sess.run(side["outputs"], {"features": x[go] * scale + offset})
    r_e[go], r_m[go] = out_e, out_m
    # 3. the residual closure
    if "residual_correctionlib" in side:
        import correctionlib

        cset = correctionlib.CorrectionSet.from_file(str(where / side["residual_correctionlib"]))
        e1, m1 = e[go] / r_e[go], m[go] / r_m[go]
        big_r_e = cset["jes_response"].evaluate(eta[go], e1)
        e2, m_jes = e1 / big_r_e, m1 / big_r_e
        jms = e2 > cset["jms_min_energy"].evaluate()
        if "jms_max_energy" in cset:
            jms &= e2 < cset["jms_max_energy"].evaluate()
        r_jms = np.ones_like(e2)
        r_jms[jms] = cset["jms_response"].evaluate(eta[go][jms], e2[jms], m_jes[jms])
        r_e[go] *= big_r_e
        r_m[go] *= big_r_e * r_jms
    # 4. responses to kinematics, mass fallbacks
    flag[(flag == 0) & ~(np.isfinite(r_e) & (r_e > 0) & np.isfinite(r_m) & (r_m > 0))] = 4
    ok = flag == 0
    e_cal, m_cal = e.copy(), m.copy()
    e_cal[ok], m_cal[ok] = e[ok] / r_e[ok], m[ok] / r_m[ok]
    no_mass = ok & ~(m > side["mass_min_GeV"])
    m_cal[no_mass] = m[no_mass] / r_e[no_mass]
    flag[no_mass] = 6
    above = ok & (m_cal >= e_cal)
    m_cal[above] = m[above] / r_e[above]
    flag[above] = 3
    # 6. the training domain, 'flag' policy: 7 before 8 before 9
    dom = side.get("training_domain")
    if dom is not None:
        with np.errstate(invalid="ignore"):
            pt = np.sqrt(np.maximum(e * e - m * m, 0)) / np.cosh(eta)
            outside = np.zeros(n, dtype=np.int8)
            for i in inputs:
                lo, hi = dom["inputs"].get(i["name"], (-np.inf, np.inf))
                outside[(x[:, i["index"]] < lo) | (x[:, i["index"]] > hi)] = 9
            if dom["pt_reco"] is not None:
                outside[(pt < dom["pt_reco"][0]) | (pt > dom["pt_reco"][1])] = 8
            outside[np.abs(eta) > dom["abs_eta_reco_max"]] = 7
        replace = np.isin(flag, (0, 3, 6)) & (outside != 0)
        flag[replace] = outside[replace]
    pt_cal = np.sqrt(np.maximum(e_cal * e_cal - m_cal * m_cal, 0)) / np.cosh(eta)
    return {"e_cal": e_cal, "pt_cal": pt_cal, "m_cal": m_cal, "calib_flag": flag}


def test_sidecar_rule_with_the_residual_correctionlib_file_reproduces_jetcalib(model_dir, tmp_path, capsys):
    """What a runtime outside jetcalib does with the export (the sidecar's words only:
    normalisation outside the graph, the residual closure from correctionlib, the flag rules)
    gives ``jetcalib calibrate`` with the .onnx, flags included, within 1e-5."""
    from tests.deploy.conftest import with_bad_jets

    import jetcalib
    from jetcalib.io import read_table, write_table

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(model_dir), "-o", str(onnx_path)]) == 0, capsys.readouterr().err
    model = jetcalib.load(model_dir, runtime="torch")
    assert model.residual is not None  # the default config fits a residual closure
    side = json.loads((tmp_path / "model.sidecar.json").read_text())
    assert side["residual_correctionlib"] == "model.residual.corr.json"
    table = with_bad_jets(toy_jets(4096, seed=9))
    table["tau32"][6] = -999.0  # a foreign sentinel: flag 9
    table["eta_reco"][7] = table["eta"][7] = 4.0  # beyond the training |η|: flag 7
    src = write_table(tmp_path / "in.parquet", table)
    out = tmp_path / "out.parquet"
    assert main(["calibrate", str(onnx_path), str(src), "-o", str(out)]) in (0, 4), capsys.readouterr().err
    cal, _ = read_table(out, ["e_reco", "m_reco", "eta_reco", *model.features, "e_cal", "pt_cal",
                              "m_cal", "calib_flag"])
    mine = _sidecar_runtime(tmp_path / "model.sidecar.json", cal)
    np.testing.assert_array_equal(mine["calib_flag"], cal["calib_flag"])
    assert set(cal["calib_flag"][:8].tolist()) >= {1, 2, 5, 7, 9}
    calibrated = ~np.isin(cal["calib_flag"], (1, 2, 4, 5))
    assert calibrated.mean() > 0.9
    for name in ("e_cal", "pt_cal", "m_cal"):
        np.testing.assert_allclose(mine[name][calibrated], cal[name][calibrated], rtol=1e-5, err_msg=name)
    # jetcalib's own (torch) calibration: the same within float32 rounding of the graph
    torch_cal = model.calibrate(cal)
    ok = torch_cal["calib_flag"] == 0
    np.testing.assert_allclose(torch_cal["e_cal"][ok], mine["e_cal"][ok], rtol=2e-5)
    # and the residual really does something: the network alone differs
    plain = jetcalib.load(onnx_path)
    r_e, _ = plain.predict_responses(np.stack([cal[f] for f in model.features], axis=1)[ok])
    assert np.abs(cal["e_reco"][ok] / r_e / mine["e_cal"][ok] - 1).max() > 1e-3


def test_sidecar_describes_inputs_outputs_and_flags(model_dir, tmp_path, capsys):
    """Each input's definition, unit and sentinel (schema and docs/inputs.md), the outputs,
    the normalisation formula and every calib_flag code; the keys of sidecar 1 kept."""
    import re
    from pathlib import Path

    from jetcalib.deploy.onnx_export import INPUT_FALLBACKS
    from jetcalib.io import COLUMNS, CalibFlag

    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(model_dir), "-o", str(onnx_path)]) == 0, capsys.readouterr().err
    side = json.loads((tmp_path / "m.sidecar.json").read_text())
    assert {"onnx_file", "outputs", "inputs", "mass_min_GeV", "content_hash"} <= set(side)
    assert side["onnx_file"] == "m.nonorm.onnx"
    assert side["sidecar_version"] == "2.0"
    assert "x_norm = x · NormScale + NormOffset" in side["normalisation"]["formula"]
    assert "m.nonorm.onnx" in side["normalisation"]["where"]
    assert "E_cal = E/outputE" in side["output_meaning"]["calibration"]
    assert [c["code"] for c in side["flag_rules"]["codes"]] == [int(c) for c in CalibFlag]
    assert side["environment"]["packages"]["onnx"]
    docs = (Path(__file__).parents[2] / "docs" / "inputs.md").read_text()
    for i, entry in enumerate(side["inputs"]):
        name = entry["name"]
        assert entry["index"] == i
        assert {"NormScale", "NormOffset"} <= set(entry)
        assert entry["definition"] == COLUMNS[name].description
        assert entry["unit"] == (COLUMNS[name].unit or "dimensionless")
        row = re.search(rf"^\| \d+ \| `{name}` \|.*\| (?P<fallback>[^|]*) \|$", docs, re.M)
        assert row is not None, name
        if entry["sentinel"] is not None:  # the value the docs give where it is undefined
            assert f"{entry['sentinel']:g}".replace("-", "−") in row["fallback"] or (
                name in ("em3_frac", "tile0_frac", "eff_n_clusters") and row["fallback"].strip() == "−0.1"), name
    assert set(INPUT_FALLBACKS) == {c for c, col in COLUMNS.items() if col.group == "input"}


def test_density_head_exports_response_and_quantiles(model_dir, tmp_path):
    """A density head's graph: outputE/outputM [N, 5] (response, q16, q84, median, correlation;
    columns 0-2 as the athena graph), onnxruntime equal to PyTorch within 1e-5 in every column;
    jetcalib's onnxruntime runtime gives the same calibrated columns and uncertainties."""
    import onnxruntime as ort

    import jetcalib
    from jetcalib.deploy.onnx_export import export_onnx
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.features import feature_matrix

    model = untrained_head_model(model_dir, "density", seed=2)
    paths = export_onnx(model, tmp_path / "dens.onnx")
    table = toy_jets(3000, seed=9)
    x = feature_matrix(table, model.features).astype(np.float32)
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    out_e, out_m = sess.run(["outputE", "outputM"], {"features": x})
    assert out_e.shape == out_m.shape == (x.shape[0], 5)
    d = model.predict_distribution(x)
    for out, t in ((out_e, "e"), (out_m, "m")):
        for col, name in enumerate((f"r_{t}", f"r_{t}_q16", f"r_{t}_q84", f"r_{t}_q50")):
            np.testing.assert_allclose(out[:, col], d[name], rtol=1e-5)
        np.testing.assert_allclose(out[:, 4], d["r_em_corr"], atol=1e-5)
    onnx_model = jetcalib.load(paths["onnx"])
    assert onnx_model.probabilistic
    onnx_cal = onnx_model.calibrate(table)
    torch_cal = model.calibrate(table)
    assert set(onnx_cal) == set(torch_cal)
    ok = torch_cal["calib_flag"] == 0
    for name in torch_cal:
        np.testing.assert_allclose(onnx_cal[name][ok], torch_cal[name][ok], rtol=1e-5, atol=1e-6, err_msg=name)
    import json

    sidecar = json.loads(paths["sidecar"].read_text())
    assert "[N, 5]" in sidecar["output_meaning"]["outputE"]
