"""The training domain (docs/flags.md#training-domain): stored and hashed in every artifact, jets
outside it flagged 7-9 by every runtime, in-domain jets exactly as before, old artifacts read."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tests.conftest import run

import jetcalib
from jetcalib.dnn import DNNCalibration
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import ArtifactError
from jetcalib.features import TrainingDomain
from jetcalib.io import CalibFlag, content_hash, read_table, write_table
from jetcalib.numerical import NumericalCalibration

CAL = ("e_cal", "pt_cal", "m_cal")
#: rows made to lie outside the training domain, and the flag each gets
ETA_ROW, PT_ROW, INPUT_ROW = 0, 1, 2
EXPECTED = {ETA_ROW: CalibFlag.OUTSIDE_TRAINING_ETA, PT_ROW: CalibFlag.OUTSIDE_TRAINING_PT,
            INPUT_ROW: CalibFlag.INPUT_OUTSIDE_TRAINING}


def outside_jets(n: int = 2000, seed: int = 21) -> dict[str, np.ndarray]:
    """Toy jets (trained on |η| < 2, pT_true > 150 GeV) with: row 0 at |η| = 3.5, row 1 at
    pT_reco = 50 GeV (E, m and the features derived from them consistent), row 2 with
    τ21 = −999 (a foreign sentinel)."""
    t = {k: np.array(v, copy=True) for k, v in toy_jets(n, seed=seed).items() if not k.startswith("toy_")}
    t["eta_reco"][ETA_ROW] = t["eta"][ETA_ROW] = 3.5
    r = PT_ROW
    m = 10.0
    e = np.sqrt((50.0 * np.cosh(t["eta_reco"][r])) ** 2 + m * m)
    t["e_reco"][r], t["m_reco"][r] = e, m
    t["log_e"][r], t["log_m"][r] = np.log(e), np.log(m)
    if "pt_reco" in t:
        t["pt_reco"][r] = 50.0
    t["tau21"][INPUT_ROW] = -999.0
    return t


@pytest.fixture(scope="module")
def table():
    return outside_jets()


def _check_flag_rule(cal, table) -> None:
    """The rule of every method: 'flag' = 'ignore' bit for bit in the kinematics, flags 7-9 only
    on jets that 'ignore' leaves at 0; 'strict' keeps reco kinematics there."""
    flagged = cal.calibrate(table)
    plain = cal.calibrate(table, domain="ignore")
    for c in CAL:
        assert flagged[c].tobytes() == plain[c].tobytes(), c
    changed = flagged["calib_flag"] != plain["calib_flag"]
    # only jets whose energy was calibrated (0, or the mass fallbacks 3 and 6) take codes 7-9
    assert np.all(np.isin(plain["calib_flag"][changed], [0, 3, 6]))
    assert np.all(np.isin(flagged["calib_flag"][changed], [7, 8, 9]))
    assert not np.isin(plain["calib_flag"], [7, 8, 9]).any()
    # most of the sample lies inside: unchanged, flag as before
    assert (~changed).mean() > 0.9
    strict = cal.calibrate(table, domain="strict")
    assert strict["calib_flag"].tolist() == flagged["calib_flag"].tolist()
    out = np.isin(strict["calib_flag"], [7, 8, 9])
    np.testing.assert_array_equal(strict["e_cal"][out], table["e_reco"][out].astype(np.float32))
    np.testing.assert_array_equal(strict["m_cal"][out], table["m_reco"][out].astype(np.float32))
    for c in CAL:
        np.testing.assert_allclose(strict[c][~out], flagged[c][~out], rtol=1e-6)
    with pytest.raises(jetcalib.InputError, match="unknown policy"):
        cal.calibrate(table, domain="loose")


# --- DNN --------------------------------------------------------------------------------------
def test_dnn_domain_stored_and_flags(model_dir, table):
    model = DNNCalibration.load(model_dir)
    dom = model.training_domain
    assert dom is not None
    assert dom.selection["pt_true_min"] == 150.0
    assert dom.selection["abs_eta_true_max"] == 2.0
    assert 1.9 < dom.abs_eta_max < 2.2
    assert dom.pt is not None
    assert dom.pt[0] > 50.0
    assert set(dom.inputs) == set(model.features)
    assert dom.inputs["tau21"][0] > -999.0
    out = model.calibrate(table)
    for row, code in EXPECTED.items():
        assert out["calib_flag"][row] == code, row
        assert np.isfinite(out["e_cal"][row])
        assert out["e_cal"][row] != np.float32(table["e_reco"][row])
    _check_flag_rule(model, table)


def test_onnx_flags_as_torch(model_dir, table, tmp_path):
    from jetcalib.deploy import export_onnx
    from jetcalib.deploy.runtimes import OnnxCalibration

    torch_out = DNNCalibration.load(model_dir).calibrate(table)
    in_memory = jetcalib.load(model_dir, runtime="onnxruntime", threads=1)
    assert in_memory.training_domain == DNNCalibration.load(model_dir).training_domain
    paths = export_onnx(DNNCalibration.load(model_dir), tmp_path / "m.onnx")
    from_file = OnnxCalibration.from_file(paths["onnx"], threads=1)
    sidecar = json.loads(paths["sidecar"].read_text())
    assert TrainingDomain.from_dict(sidecar["training_domain"]) == from_file.training_domain
    for cal in (in_memory, from_file):
        out = cal.calibrate(table)
        assert out["calib_flag"].tolist() == torch_out["calib_flag"].tolist()
        for row, code in EXPECTED.items():
            assert out["calib_flag"][row] == code
    _check_flag_rule(from_file, table)


def test_onnx_domain_metadata_is_hashed(model_dir, tmp_path):
    import onnx

    from jetcalib.deploy import export_onnx
    from jetcalib.deploy.runtimes import OnnxCalibration

    path = export_onnx(DNNCalibration.load(model_dir), tmp_path / "m.onnx")["onnx"]
    proto = onnx.load(path)
    entry = next(p for p in proto.metadata_props if p.key == "training_domain")
    raw = json.loads(entry.value)
    raw["abs_eta_reco_max"] = 4.0  # widen the domain
    entry.value = json.dumps(raw)
    onnx.save(proto, tmp_path / "edited.onnx")
    with pytest.raises(ArtifactError, match="'training_domain' changed"):
        OnnxCalibration.from_file(tmp_path / "edited.onnx")


@pytest.mark.parametrize("edit", ["widen", "remove"])
def test_dnn_domain_tampering_refused(model_dir, tmp_path, edit):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    doc = json.loads((d / "artifact.json").read_text())
    if edit == "widen":
        doc["training_domain"]["abs_eta_reco_max"] = 4.0
    else:
        doc.pop("training_domain")
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)


def test_dnn_without_domain_still_calibrates(model_dir, table, tmp_path):
    """A format-2.0 model (written before domains, its config holding 0.1's training.threads):
    loads, hash as then, the same config as today's, no flags 7-9."""
    from jetcalib.dnn.model import _payload_hash

    d = tmp_path / "old"
    shutil.copytree(model_dir, d)
    doc = json.loads((d / "artifact.json").read_text())
    doc.pop("training_domain")
    model = DNNCalibration.load(model_dir)
    doc["header"]["format_version"] = "2.0"
    doc["config"]["training"]["threads"] = 2  # a run-time setting that 0.1 stored and hashed
    doc["header"]["content_hash"] = _payload_hash((d / "weights.pt").read_bytes(), doc["config"],
                                                  model.normalisation, doc["residual"])
    (d / "artifact.json").write_text(json.dumps(doc))
    old = DNNCalibration.load(d)
    assert old.config == model.config
    assert old.training_domain is None
    out = old.calibrate(table)
    assert not np.isin(out["calib_flag"], [7, 8, 9]).any()
    ref = model.calibrate(table, domain="ignore")
    for c in (*CAL, "calib_flag"):
        assert out[c].tobytes() == ref[c].tobytes(), c
    assert old.calibrate(table, domain="strict")["calib_flag"].tolist() == out["calib_flag"].tolist()
    # and through onnxruntime (an export of the old model has no training_domain property)
    onnx_old = jetcalib.load(d, runtime="onnxruntime", threads=1)
    assert onnx_old.training_domain is None
    assert not np.isin(onnx_old.calibrate(table)["calib_flag"], [7, 8, 9]).any()


# --- numerical --------------------------------------------------------------------------------
def test_numerical_domain_stored_and_flags(numcal_path, table, tmp_path):
    cal = NumericalCalibration.load(numcal_path)
    dom = cal.training_domain
    assert dom is not None
    assert dom.pt is None
    assert dom.energy is not None
    assert not dom.inputs
    assert dom.abs_eta_max <= cal.config.eta_max
    out = cal.calibrate(table)
    assert out["calib_flag"][ETA_ROW] == CalibFlag.OUTSIDE_TRAINING_ETA
    # 50 GeV pT at |η| < 2: E below the fitted reco energies
    assert table["e_reco"][PT_ROW] < dom.energy[0]
    assert out["calib_flag"][PT_ROW] == CalibFlag.OUTSIDE_TRAINING_PT
    # τ21 is not a numerical input
    assert out["calib_flag"][INPUT_ROW] == cal.calibrate(table, domain="ignore")["calib_flag"][INPUT_ROW]
    _check_flag_rule(cal, table)
    # the correctionlib runtime, converted in memory, keeps the domain
    via_clib = jetcalib.load(numcal_path, runtime="correctionlib")
    assert via_clib.calibrate(table)["calib_flag"].tolist() == out["calib_flag"].tolist()
    # ... and so does its correctionlib export (the domain_* corrections)
    from jetcalib.deploy.runtimes import CorrectionlibCalibration
    from jetcalib.numerical import write_correctionlib

    path = write_correctionlib(cal, tmp_path / "cal.corr.json")
    from_file = CorrectionlibCalibration.from_file(path)
    assert from_file.training_domain.energy == dom.energy
    assert from_file.calibrate(table)["calib_flag"].tolist() == out["calib_flag"].tolist()


def test_numerical_domain_hashed_and_old_file_read(numcal_path, table, tmp_path):
    raw = json.loads(numcal_path.read_text())
    assert raw["header"]["format_version"] == "1.1"
    assert "domain" in raw["payload"]
    edited = json.loads(json.dumps(raw))
    edited["payload"]["domain"]["abs_eta_reco_max"] = 4.0
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        NumericalCalibration.load(tmp_path / "edited.json")
    old = json.loads(json.dumps(raw))
    old["payload"].pop("domain")
    old["header"]["format_version"] = "1.0"
    old["header"]["content_hash"] = content_hash(old["payload"])
    (tmp_path / "old.json").write_text(json.dumps(old))
    cal = NumericalCalibration.load(tmp_path / "old.json")
    assert cal.training_domain is None
    out = cal.calibrate(table)
    ref = NumericalCalibration.load(numcal_path).calibrate(table, domain="ignore")
    for c in (*CAL, "calib_flag"):
        assert out[c].tobytes() == ref[c].tobytes(), c


# --- CLI --------------------------------------------------------------------------------------
def test_cli_counts_and_strict(model_dir, table, tmp_path, capsys):
    src = tmp_path / "jets.parquet"
    write_table(src, table)
    code, out, err = run(capsys, "calibrate", model_dir, src, "-o", tmp_path / "flag.parquet")
    assert code == 0, err
    got, _ = read_table(tmp_path / "flag.parquet")
    flags = np.asarray(got["calib_flag"])
    for code_ in (7, 8, 9):
        n = int((flags == code_).sum())
        assert n >= 1
        assert f"flag {code_}: {n} {CalibFlag(code_).name}" in out, out
    code, out, err = run(capsys, "calibrate", model_dir, src, "-o", tmp_path / "strict.parquet",
                         "--domain", "strict")
    assert code == 0, err
    strict, _ = read_table(tmp_path / "strict.parquet")
    rows = list(EXPECTED)
    assert np.asarray(strict["calib_flag"])[rows].tolist() == [int(v) for v in EXPECTED.values()]
    np.testing.assert_array_equal(np.asarray(strict["e_cal"])[rows],
                                  table["e_reco"][rows].astype(np.float32))
    code, out, err = run(capsys, "calibrate", model_dir, src, "-o", tmp_path / "ignore.parquet",
                         "--domain", "ignore")
    assert code == 0, err
    ignored, _ = read_table(tmp_path / "ignore.parquet")
    assert not np.isin(np.asarray(ignored["calib_flag"]), [7, 8, 9]).any()
    assert np.asarray(ignored["e_cal"]).tobytes() == np.asarray(got["e_cal"]).tobytes()
