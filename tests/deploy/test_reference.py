"""The reference model (jetcalib.deploy.reference_model): found, absent, of another simulation
version; ``calibrate reference``, ``evaluate --method NAME=reference`` and the demo's row, with
a tiny stand-in export (no model is committed for the tests)."""

from __future__ import annotations

import json
import shutil

import pytest
from tests.conftest import make_jet_table, one_error_line, run

from jetcalib.cli.demo import REFERENCE_METHOD, _print_table, _reference
from jetcalib.deploy import export_onnx, load, reference
from jetcalib.deploy.reference import REFERENCE_ENV, reference_model
from jetcalib.errors import ArtifactError, InputError
from jetcalib.io import SIMULATION_VERSION, DatasetMetadata, write_table


def _export_with_version(model_dir, out_dir, version):
    """A copy of the tiny model whose training data says simulation ``version`` (the header's
    ``training_data`` is provenance, outside the content hash), exported to ONNX."""
    copy = out_dir / "model"
    shutil.copytree(model_dir, copy)
    art = json.loads((copy / "artifact.json").read_text())
    if version is not None:
        meta = DatasetMetadata(producer="jetcalib generate", generator={"simulation_version": version})
        art["header"]["training_data"] = [{"path": "train.parquet", "rows": 4000,
                                           "metadata": meta.model_dump(mode="json")}]
    (copy / "artifact.json").write_text(json.dumps(art))
    return export_onnx(load(copy), out_dir / "reference.onnx")["onnx"]


@pytest.fixture(scope="module")
def stand_in(model_dir, tmp_path_factory):
    return _export_with_version(model_dir, tmp_path_factory.mktemp("ref"), SIMULATION_VERSION)


@pytest.fixture(scope="module")
def other_version(model_dir, tmp_path_factory):
    return _export_with_version(model_dir, tmp_path_factory.mktemp("ref2"), "2")


@pytest.fixture
def no_install(monkeypatch, tmp_path):
    """No reference model installed, no environment variable."""
    monkeypatch.delenv(REFERENCE_ENV, raising=False)
    monkeypatch.setattr(reference, "installed_path", lambda: tmp_path / "absent" / "reference.onnx")


def test_found_through_the_environment(stand_in, no_install, monkeypatch):
    assert load(stand_in).simulation_version == SIMULATION_VERSION
    assert reference_model(stand_in) == stand_in
    monkeypatch.setenv(REFERENCE_ENV, str(stand_in))
    assert reference_model() == stand_in


def test_installed_path_is_package_data():
    path = reference.installed_path()
    assert path.name == "reference.onnx"
    assert path.parent.name == "reference"
    assert path.parent.parent.name == "jetcalib"


def test_absent(no_install, tmp_path, capsys):
    with pytest.raises(InputError, match="no reference model in this install"):
        reference_model()
    table = tmp_path / "jets.parquet"
    write_table(table, make_jet_table(50))
    code, _, err = run(capsys, "calibrate", "reference", table, "-o", tmp_path / "out.parquet")
    assert code == 2
    assert "no reference model in this install" in one_error_line(err)
    code, _, err = run(capsys, "evaluate", table, "--method", "ref=reference", "-o", tmp_path / "report")
    assert code == 2
    assert "no reference model in this install" in one_error_line(err)


def test_other_simulation_version_refused(other_version, no_install, monkeypatch, tmp_path, capsys):
    with pytest.raises(InputError, match=f"trained on simulation version 2; this jetcalib simulates "
                                         f"version {SIMULATION_VERSION}"):
        reference_model(other_version)
    monkeypatch.setenv(REFERENCE_ENV, str(other_version))
    table = tmp_path / "jets.parquet"
    write_table(table, make_jet_table(50))
    code, _, err = run(capsys, "calibrate", "reference", table, "-o", tmp_path / "out.parquet")
    assert code == 2
    assert "simulation version 2" in one_error_line(err)


def test_no_version_or_not_an_export_refused(model_dir, tmp_path):
    plain = export_onnx(load(model_dir), tmp_path / "plain.onnx")["onnx"]  # API model: no provenance
    with pytest.raises(InputError, match="records no simulation version"):
        reference_model(plain)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ArtifactError):
        reference_model(bad)


def test_calibrate_reference(stand_in, no_install, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(REFERENCE_ENV, str(stand_in))
    table = tmp_path / "jets.parquet"
    write_table(table, make_jet_table(200))
    out = tmp_path / "out.parquet"
    code, _, err = run(capsys, "calibrate", "reference", table, "-o", out)
    assert code == 0, err
    assert out.exists()
    # ./reference is a path, not the literal
    code, _, err = run(capsys, "calibrate", "./reference", table, "-o", tmp_path / "o2.parquet")
    assert code == 2
    assert "reference: calibration artifact not found" in one_error_line(err)


def test_demo_reference_row(stand_in, no_install, monkeypatch, capsys):
    # absent: one stderr line, and the demo goes on
    assert _reference() is None
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "no reference model in this install" in err
    monkeypatch.setenv(REFERENCE_ENV, str(stand_in))
    assert _reference() == stand_in
    regions = ("200-500", "500-1000", ">1000")
    methods = ["uncalibrated", "numerical", "dnn", REFERENCE_METHOD]
    summary = {
        "methods": methods, "baseline": "numerical",
        "resolution": {m: {"energy": dict.fromkeys(regions, 0.1), "mass": dict.fromkeys(regions, 0.2)}
                       for m in methods},
        "closure_max_deviation": {m: {"energy": 0.01, "mass": 0.02} for m in methods},
        "resolution_ratio": {"dnn": {"energy": dict.fromkeys(regions, 0.95)},
                             REFERENCE_METHOD: {"energy": dict.fromkeys(regions, 0.75)}},
    }
    _print_table(summary)
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert REFERENCE_METHOD in out
    assert "DNN (demo) / numerical energy resolution: 200-500: 0.95, 500-1000: 0.95, >1000: 0.95" in out
    assert "DNN (reference) / numerical energy resolution: 200-500: 0.75, 500-1000: 0.75, >1000: 0.75" in out
