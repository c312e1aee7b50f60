"""The JSON artifacts jetcalib writes validate against the models of ``jetcalib.io.schemas``
(and so against the committed ``schemas/*.schema.json``, which must equal what the models
generate: a model changed without regenerating fails here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from jetcalib.cli import main
from jetcalib.io import schemas

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_committed_schema_equals_generated(name):
    committed = SCHEMA_DIR / f"{name}.schema.json"
    assert committed.is_file(), f"run: python -m jetcalib.io.schemas --write schemas/ ({name})"
    assert committed.read_text(encoding="utf-8") == schemas.schema_text(name), (
        f"{committed} is stale: python -m jetcalib.io.schemas --write schemas/")


def test_no_stray_committed_schema():
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")) == sorted(
        f"{n}.schema.json" for n in schemas.SCHEMAS)


def test_generator_writes_every_schema(tmp_path):
    assert schemas.main(["--write", str(tmp_path)]) == 0
    for name in schemas.SCHEMAS:
        assert (tmp_path / f"{name}.schema.json").read_text(encoding="utf-8") == schemas.schema_text(name)


def _validate(name: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    schemas.SCHEMAS[name].model_validate_json(text)
    if importlib.util.find_spec("jsonschema") is not None:  # not a dependency
        import jsonschema

        jsonschema.validate(json.loads(text), json.loads(schemas.schema_text(name)))


def test_numerical_calibration_validates(assets):
    _validate("numerical-calibration", assets["numcal"])
    doc = schemas.NumericalCalibrationArtifact.model_validate_json(assets["numcal"].read_text())
    assert doc.payload.domain is not None


def test_dnn_model_validates(assets):
    _validate("dnn-model", assets["model"] / "artifact.json")


def test_onnx_sidecar_validates(assets, tmp_path):
    pytest.importorskip("onnx")
    assert main(["export", str(assets["model"]), "-o", str(tmp_path / "m.onnx")]) == 0
    _validate("onnx-sidecar", tmp_path / "m.sidecar.json")


def test_evaluation_summary_validates(assets, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    assert main(["evaluate", str(assets["good"]), "--method", f"numerical={assets['numcal']}",
                 "-o", str(out), "--bootstrap", "2"]) == 0
    _validate("evaluation-summary", out / "summary.json")


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_models_refuse_unknown_top_level_keys(name):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        schemas.SCHEMAS[name].model_validate({"colour": "blue"})


# --- the readers validate through the models -------------------------------------------------
def _rehash_numerical(path: Path, edit) -> None:
    from jetcalib.io import content_hash

    doc = json.loads(path.read_text())
    edit(doc)
    doc["header"]["content_hash"] = content_hash(doc["payload"])
    path.write_text(json.dumps(doc))


def test_numerical_reader_refuses_a_document_off_its_schema(assets, tmp_path):
    from jetcalib.errors import ArtifactError
    from jetcalib.numerical import NumericalCalibration

    p = tmp_path / "numcal.json"
    p.write_text(assets["numcal"].read_text())
    _rehash_numerical(p, lambda d: d["payload"]["jes"].__setitem__("colour", "blue"))
    with pytest.raises(ArtifactError, match=r"malformed numerical-calibration artifact: "
                                            r"payload\.jes\.colour"):
        NumericalCalibration.load(p)


def test_numerical_reader_reads_a_newer_minor_with_added_keys(assets, tmp_path):
    from jetcalib.numerical import NumericalCalibration

    p = tmp_path / "numcal.json"
    p.write_text(assets["numcal"].read_text())

    def newer(d):
        d["header"]["format_version"] = "1.9"
        d["payload"]["added_in_1_9"] = [1, 2]

    _rehash_numerical(p, newer)
    assert NumericalCalibration.load(p).header.format_version == "1.9"


def test_dnn_reader_refuses_a_document_off_its_schema(assets, tmp_path):
    import shutil

    from jetcalib.dnn import DNNCalibration
    from jetcalib.errors import ArtifactError

    d = tmp_path / "model"
    shutil.copytree(assets["model"], d)
    doc = json.loads((d / "artifact.json").read_text())
    doc["summary"] = [1, 2]  # not hashed: only the schema catches it
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match=r"artifact.json: malformed dnn-model artifact: summary"):
        DNNCalibration.load(d)


def test_onnx_metadata_validates(assets, tmp_path):
    onnx = pytest.importorskip("onnx")
    assert main(["export", str(assets["model"]), "-o", str(tmp_path / "m.onnx")]) == 0
    for name in ("m.onnx", "m.nonorm.onnx"):
        props = {p.key: p.value for p in onnx.load(str(tmp_path / name)).metadata_props}
        schemas.SCHEMAS["onnx-metadata"].model_validate(props)


def test_table_metadata_validates(assets, tmp_path):
    import pyarrow.parquet as pq

    from jetcalib.io import METADATA_KEY

    out = tmp_path / "cal.parquet"
    assert main(["calibrate", str(assets["numcal"]), str(assets["good"]), "-o", str(out)]) == 0
    text = pq.read_schema(out).metadata[METADATA_KEY.encode()].decode()
    schemas.SCHEMAS["table-metadata"].model_validate_json(text)
