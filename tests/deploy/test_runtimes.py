"""Deployment runtimes: onnxruntime equals torch (1e-5), correctionlib equals jetcalib's
numerical calibration (1e-6), both with the same flags; the CLI picks them by artifact."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from tests.deploy.conftest import with_bad_jets
from tests.numerical.toys import make_toy

import jetcalib
from jetcalib.cli import main
from jetcalib.deploy import CorrectionlibCalibration, OnnxCalibration
from jetcalib.dnn.toys import toy_jets
from jetcalib.io import write_table
from jetcalib.numerical import NumericalCalibration, write_correctionlib


def _assert_close(a, b, rtol):
    np.testing.assert_array_equal(a["calib_flag"], b["calib_flag"])
    for name in ("e_cal", "pt_cal", "m_cal"):
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, err_msg=name)


@pytest.fixture(scope="module")
def onnx_path(model_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", str(model_dir), "-o", str(path)]) == 0
    return path


def test_onnxruntime_equals_torch(model_dir, onnx_path):
    table = with_bad_jets(toy_jets(6000, seed=21))
    torch_cal = jetcalib.load(model_dir)
    ref = torch_cal.calibrate(table)
    in_memory = jetcalib.load(model_dir, runtime="auto", threads=2)
    from_file = jetcalib.load(onnx_path, threads=1)
    assert isinstance(in_memory, OnnxCalibration)
    assert isinstance(from_file, OnnxCalibration)
    assert from_file.features == torch_cal.features
    assert from_file.header.content_hash == torch_cal.header.content_hash
    for cal in (in_memory, from_file, pickle.loads(pickle.dumps(from_file))):
        _assert_close(cal.calibrate(table), ref, rtol=1e-5)
    assert list(ref["calib_flag"][:6]) == [1, 2, 2, 5, 5, 1]
    assert (ref["calib_flag"] == 0).mean() > 0.9


def test_onnx_file_runs_without_torch(onnx_path, tmp_path):
    src = tmp_path / "in.parquet"
    write_table(src, toy_jets(500, seed=3))
    code = (
        "import sys, jetcalib; from jetcalib.io import read_table\n"
        f"cal = jetcalib.load({str(onnx_path)!r}, runtime='auto')\n"
        f"out = cal.calibrate(read_table({str(src)!r})[0])\n"
        "print(int((out['calib_flag'] == 0).sum()), 'torch' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_ok, torch_loaded = res.stdout.split()
    assert int(n_ok) > 450
    assert torch_loaded == "False"


def test_cli_runtimes_agree(model_dir, onnx_path, tmp_path, capsys):
    src = tmp_path / "in.parquet"
    write_table(src, with_bad_jets(toy_jets(3000, seed=4)))
    outs = {}
    for name, args in {"default": [str(model_dir)], "onnx": [str(onnx_path), "--method", "dnn"],
                       "torch": [str(model_dir), "--runtime", "torch"]}.items():
        outs[name] = tmp_path / f"{name}.parquet"
        assert main(["calibrate", *args, str(src), "-o", str(outs[name])]) == 0, capsys.readouterr().err
    tables = {k: jetcalib.io.read_table(v)[0] for k, v in outs.items()}
    _assert_close(tables["default"], tables["torch"], rtol=1e-5)
    _assert_close(tables["onnx"], tables["torch"], rtol=1e-5)
    # the same graph in memory and from the file: identical
    np.testing.assert_array_equal(tables["default"]["e_cal"], tables["onnx"]["e_cal"])


@pytest.mark.parametrize("legacy", [False, True])
def test_correctionlib_equals_numerical(numcal_path, tmp_path, legacy):
    num = NumericalCalibration.load(numcal_path)
    cl_path = write_correctionlib(num, tmp_path / "cl.json")
    if legacy:  # a file written before jms_min_energy existed: threshold from the description
        raw = json.loads(cl_path.read_text())
        from jetcalib.numerical.export import correctionlib_hash, stored_correctionlib_hash

        raw["corrections"] = [c for c in raw["corrections"] if c["name"] != "jms_min_energy"]
        # re-signed, as such a file would be refused by its content hash
        raw["description"] = raw["description"].replace(stored_correctionlib_hash(raw), correctionlib_hash(raw))
        cl_path.write_text(json.dumps(raw))
    table = with_bad_jets(make_toy(20_000, seed=8))
    table["eta"][6:40] = np.linspace(-4.5, 4.5, 34)  # beyond the fitted η range (clamped)
    ref = num.calibrate(table)
    cal = jetcalib.load(cl_path)
    assert isinstance(cal, CorrectionlibCalibration)
    assert cal.min_energy == num.jms.min_energy
    for c in (cal, pickle.loads(pickle.dumps(cal)), jetcalib.load(numcal_path, runtime="correctionlib")):
        _assert_close(c.calibrate(table), ref, rtol=1e-6)
    flags = ref["calib_flag"]
    assert list(flags[:5]) == [1, 2, 2, 5, 5]
    assert (flags == 6).sum() > 0
    assert (flags == 0).sum() > 15_000


def test_cli_numerical_on_correctionlib(numcal_path, tmp_path, capsys):
    src = tmp_path / "in.parquet"
    write_table(src, with_bad_jets(make_toy(4000, seed=9)))
    cl_path = write_correctionlib(NumericalCalibration.load(numcal_path), tmp_path / "cl.json")
    runs = {"numpy": [str(numcal_path)], "cl_file": [str(cl_path), "--method", "numerical"],
            "cl_runtime": [str(numcal_path), "--runtime", "correctionlib"]}
    for name, args in runs.items():
        assert main(["calibrate", *args, str(src), "-o", str(tmp_path / f"{name}.parquet")]) == 0, \
            capsys.readouterr().err
    tables = {k: jetcalib.io.read_table(tmp_path / f"{k}.parquet")[0] for k in runs}
    _assert_close(tables["cl_file"], tables["numpy"], rtol=1e-6)
    np.testing.assert_array_equal(tables["cl_file"]["m_cal"], tables["cl_runtime"]["m_cal"])


@pytest.mark.parametrize(("args", "message"), [
    (["{num}", "--runtime", "torch"], "runtime torch cannot run a numerical-calibration artifact"),
    (["{num}", "--method", "dnn"], "a numerical calibration, not dnn"),
    (["{bad_onnx}"], "onnxruntime cannot load it"),
    (["{cl_no_jes}"], "correctionlib file without a jetcalib content hash"),  # not a jetcalib export
])
def test_runtime_refusals(numcal_path, tmp_path, capsys, args, message):
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    raw = {"schema_version": 2, "corrections": []}
    (tmp_path / "cl.json").write_text(json.dumps(raw))
    src = tmp_path / "in.parquet"
    write_table(src, make_toy(200, seed=1))
    fill = {"num": numcal_path, "bad_onnx": tmp_path / "bad.onnx", "cl_no_jes": tmp_path / "cl.json"}
    argv = ["calibrate", *(a.format(**fill) for a in args), str(src), "-o", str(tmp_path / "o.parquet")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.parquet").exists()
