"""The integrity promise for every artifact kind: a result-changing edit of an ONNX metadata
property, a correctionlib file without or with a wrong content hash, a DNN's residual-closure
file given as a calibration, and a jetcalib table rewritten by another tool are all refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import one_error_line, run

import jetcalib
from jetcalib.errors import ArtifactError


@pytest.fixture(scope="module")
def exported(assets, tmp_path_factory) -> Path:
    from jetcalib.cli import main

    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", str(assets["model"]), "-o", str(out)]) == 0
    return out


def _edit_prop(path: Path, key: str, value: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == key:
            p.value = value
    onnx.save(proto, str(path))


@pytest.mark.parametrize(("key", "value"), [
    ("mass_min_reco", "1.0"),
    ("features", None),  # the same features, another order
    ("normalisation", "inside "),
    ("jetcalib_version", "0.0.1"),
])
def test_edited_onnx_metadata_property_refused(key, value, exported, assets, tmp_path, capsys):
    import onnx

    p = tmp_path / "model.onnx"
    shutil.copy(exported, p)
    if value is None:
        feats = json.loads({q.key: q.value for q in onnx.load(str(p)).metadata_props}["features"])
        value = json.dumps(feats[::-1])
    _edit_prop(p, key, value)
    _refused_as_calibration(p, f"'{key}' changed.*metadata was modified", (key, "metadata was modified"),
                            assets, tmp_path, capsys)


def test_onnx_without_metadata_hash_asks_for_reexport(exported, tmp_path):
    import onnx

    p = tmp_path / "model.onnx"
    proto = onnx.load(str(exported))
    keep = [(q.key, q.value) for q in proto.metadata_props if q.key != "metadata_hash"]
    del proto.metadata_props[:]
    for k, v in keep:
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(p))
    with pytest.raises(ArtifactError, match="re-export"):
        jetcalib.load(p)


def test_onnx_added_property_refused(exported, tmp_path):
    import onnx

    p = tmp_path / "model.onnx"
    proto = onnx.load(str(exported))
    proto.metadata_props.add(key="mass_min_reco", value="1.0")  # a duplicate: which one wins?
    onnx.save(proto, str(p))
    with pytest.raises(ArtifactError, match="more than once"):
        jetcalib.load(p)


# --- correctionlib ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corrlib(assets, tmp_path_factory) -> Path:
    from jetcalib.numerical import write_correctionlib

    p = tmp_path_factory.mktemp("cl") / "numcal.corr.json"
    write_correctionlib(jetcalib.load(assets["numcal"]), p)
    return p


def _refused_as_calibration(p: Path, load_words: str, line_words: tuple[str, ...], assets, tmp_path, capsys) -> None:
    """``jetcalib.load(p)`` refuses with ``load_words``; ``calibrate`` with it is one error line
    naming ``p`` and ``line_words``, exit 2, and writes nothing."""
    with pytest.raises(ArtifactError, match=load_words):
        jetcalib.load(p)
    code, _, err = run(capsys, "calibrate", p, assets["good"], "-o", tmp_path / "o.parquet")
    assert code == 2
    line = one_error_line(err)
    assert str(p) in line
    for words in line_words:
        assert words in line
    assert not (tmp_path / "o.parquet").exists()


def _first_number(node):
    if isinstance(node, dict):
        for v in node.values():
            found = _first_number(v)
            if found is not None:
                return found
    if isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, float):
                return node, i
            found = _first_number(v)
            if found is not None:
                return found
    return None


def _scale_parameter(doc):
    lst, i = _first_number(doc["corrections"][0]["data"])
    lst[i] += 0.01  # (the first may be 0: an added offset, not a factor)


def _strip_hash(doc):
    doc["description"] = doc["description"].split("; jetcalib content hash")[0]


def _wrong_hash(doc):
    doc["description"] = doc["description"][:-64] + "0" * 64


@pytest.mark.parametrize(("edit", "words"), [
    (_scale_parameter, "content hash mismatch"),
    (_wrong_hash, "content hash mismatch"),
    (_strip_hash, "without a jetcalib content hash"),
], ids=["edited number", "wrong hash", "no hash"])
def test_correctionlib_without_valid_hash_refused(edit, words, corrlib, assets, tmp_path, capsys):
    p = tmp_path / "c.json"
    doc = json.loads(corrlib.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    _refused_as_calibration(p, words, (words,), assets, tmp_path, capsys)


def test_residual_closure_file_is_not_a_calibration(exported, assets, tmp_path, capsys):
    residual = exported.with_suffix(".residual.corr.json")
    assert residual.is_file()
    _refused_as_calibration(residual, "residual closure of a DNN model", ("not a calibration by itself",),
                            assets, tmp_path, capsys)


# --- Parquet provenance -------------------------------------------------------------------------
def test_table_rewritten_outside_jetcalib_refused(assets, tmp_path, capsys):
    p = tmp_path / "rewritten.parquet"
    pq.write_table(pq.read_table(assets["good"]), p)  # metadata kept, page checksums lost
    assert b"jetcalib_metadata" in pq.read_schema(p).metadata
    for argv in (["info", p], ["calibrate", assets["numcal"], p, "-o", tmp_path / "o.parquet"],
                 ["evaluate", p, "-o", tmp_path / "r"]):
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        line = one_error_line(err)
        assert str(p) in line, line
        assert "rewritten outside jetcalib" in line, line
    assert not (tmp_path / "o.parquet").exists()


def test_users_own_table_without_jetcalib_metadata_calibrates(assets, tmp_path, capsys):
    p = tmp_path / "mine.parquet"
    t = pq.read_table(assets["good"])
    pq.write_table(t.replace_schema_metadata(None), p)  # no checksums, no provenance: a user's table
    code, _, err = run(capsys, "calibrate", assets["numcal"], p, "-o", tmp_path / "o.parquet")
    assert code == 0, err
    assert (tmp_path / "o.parquet").is_file()
