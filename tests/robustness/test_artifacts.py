"""Artifacts that cannot be confused (issue #8): for every kind jetcalib reads (jet tables with
``jetcalib_metadata``, the numerical-calibration JSON, the DNN model directory, the ONNX export,
the correctionlib export), a tampered payload, another format or schema version, or an artifact
of the wrong kind is refused: :class:`~jetcalib.errors.ArtifactError` (or, for damaged table
data, :class:`~jetcalib.errors.InputError`) from the API, one ``error:`` line and exit 2 from
every command that reads it.

Compatibility rule (ARCHITECTURE.md): the same major format/schema version is read (a newer
minor only adds), another major is refused with a message saying to re-create the artifact.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import one_error_line, run

import jetcalib
from jetcalib.errors import ArtifactError, InputError
from jetcalib.io import DatasetMetadata, open_jets, read_table, write_table

from .conftest import base_table


# --- helpers that modify a stored artifact -------------------------------------------------------
def _edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(doc):
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value
    return edit


def _scale_first(*keys, factor=1.001):
    def edit(doc):
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]][0] *= factor
    return edit


def _scale_first_coef(doc):
    doc["residual"]["jes"]["bins"][0]["coef"][0] *= 1.001


def _flip_bit(path: Path, where: float = 0.5) -> None:
    """One bit of the file flipped: the smallest damage (a Parquet page without its CRC
    reads it as a different number without complaint)."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    path.write_bytes(bytes(data))


def _flip_bytes(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i : i + 8] = bytes(b ^ 0x5A for b in data[i : i + 8])
    path.write_bytes(bytes(data))


# --- the numerical calibration JSON --------------------------------------------------------------
def _jes_coef(doc):
    doc["payload"]["jes"]["bins"][3]["coef"][0] *= 1.01


NUMERICAL_CASES = {
    # case: (edit of the JSON document, words of the refusal)
    "tampered payload": (_jes_coef, "content hash mismatch"),
    "tampered hash": (_set("header", "content_hash", "sha256:" + "0" * 64), "content hash mismatch"),
    "newer format": (_set("header", "format_version", "2.0"), "format 2.0, this jetcalib reads 1.1"),
    "older format": (_set("header", "format_version", "0.3"), "format 0.3, this jetcalib reads 1.1"),
    "newer schema": (_set("header", "schema_version", "2.0"), "jet-table schema 2.0"),
    "older schema": (_set("header", "schema_version", "0.9"), "jet-table schema 0.9"),
    "wrong kind": (_set("header", "artifact", "dnn-model"), "its header says 'dnn-model'"),
    "unknown kind": (_set("header", "artifact", "weather-forecast"), "its header says 'weather-forecast'"),
    "no header": (lambda d: d.pop("header"), "not a jetcalib calibration artifact"),
    "unknown header field": (_set("header", "colour", "blue"), "invalid artifact header: colour"),
}


@pytest.fixture
def numcal_copy(assets, tmp_path) -> Path:
    p = tmp_path / "numcal.json"
    shutil.copy(assets["numcal"], p)
    return p


@pytest.mark.parametrize("case", list(NUMERICAL_CASES))
def test_numerical_calibration_refused_by_api(case, numcal_copy):
    edit, words = NUMERICAL_CASES[case]
    _edit_json(numcal_copy, edit)
    with pytest.raises(ArtifactError, match=re.escape(words)):
        jetcalib.load(numcal_copy)


@pytest.mark.parametrize("command", ["calibrate", "evaluate"])
@pytest.mark.parametrize("case", list(NUMERICAL_CASES))
def test_numerical_calibration_refused_by_cli(case, command, numcal_copy, assets, tmp_path, capsys):
    edit, words = NUMERICAL_CASES[case]
    _edit_json(numcal_copy, edit)
    argv = {"calibrate": ["calibrate", numcal_copy, assets["good"], "-o", tmp_path / "o.parquet"],
            "evaluate": ["evaluate", assets["good"], "--method", f"numerical={numcal_copy}", "-o", tmp_path / "r"]}
    code, _, err = run(capsys, *argv[command])
    assert code == 2, err
    line = one_error_line(err)
    assert str(numcal_copy) in line, line
    assert words in line, line
    assert not (tmp_path / "o.parquet").exists()
    assert not (tmp_path / "r").exists()


def test_numerical_newer_minor_format_is_read(numcal_copy):
    # same major version: read (a minor version only adds); the hash still guards the payload
    _edit_json(numcal_copy, _set("header", "format_version", "1.4"))
    assert jetcalib.load(numcal_copy).header.format_version == "1.4"


def test_truncated_numerical_json_is_refused(numcal_copy, capsys, assets, tmp_path):
    numcal_copy.write_text(numcal_copy.read_text()[:500])
    with pytest.raises(ArtifactError, match="not a jetcalib calibration artifact"):
        jetcalib.load(numcal_copy)
    code, _, err = run(capsys, "calibrate", numcal_copy, assets["good"], "-o", tmp_path / "o.parquet")
    assert code == 2
    assert "numcal.json" in one_error_line(err)


# --- the DNN model directory ---------------------------------------------------------------------
def _tamper_weights(d: Path) -> None:
    _flip_bytes(d / "weights.pt", 0.7)


DNN_CASES = {
    "tampered weights": (_tamper_weights, "content hash mismatch"),
    "tampered config": (lambda d: _edit_json(d / "artifact.json", _set("config", "mass_min_reco", 99.0)),
                        "content hash mismatch"),
    "tampered normalisation": (lambda d: _edit_json(d / "artifact.json", _scale_first("normalisation", "scale")),
                               "content hash mismatch"),
    "tampered hash": (lambda d: _edit_json(d / "artifact.json", _set("header", "content_hash", "sha256:" + "f" * 64)),
                      "content hash mismatch"),
    "missing weights": (lambda d: (d / "weights.pt").unlink(), "weights file weights.pt is missing"),
    "tampered residual closure": (lambda d: _edit_json(d / "artifact.json", _scale_first_coef),
                                  "content hash mismatch"),
    "newer format": (lambda d: _edit_json(d / "artifact.json", _set("header", "format_version", "3.0")),
                     "format 3.0, this jetcalib reads 2.1"),
    # 1.0: before the residual closure (session 3); such models must be retrained
    "older format": (lambda d: _edit_json(d / "artifact.json", _set("header", "format_version", "1.0")),
                     "format 1.0, this jetcalib reads 2.1"),
    "newer schema": (lambda d: _edit_json(d / "artifact.json", _set("header", "schema_version", "3.1")),
                     "jet-table schema 3.1"),
    "wrong kind": (lambda d: _edit_json(d / "artifact.json", _set("header", "artifact", "numerical-calibration")),
                   "its header says 'numerical-calibration'"),
    "garbage artifact.json": (lambda d: (d / "artifact.json").write_bytes(b"\x00\x01garbage"),
                              "not a jetcalib calibration artifact"),
}


@pytest.fixture
def model_copy(assets, tmp_path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(assets["model"], d)
    return d


@pytest.mark.parametrize("case", list(DNN_CASES))
def test_dnn_model_refused_by_api(case, model_copy):
    edit, words = DNN_CASES[case]
    edit(model_copy)
    with pytest.raises(ArtifactError, match=re.escape(words)):
        jetcalib.load(model_copy)


@pytest.mark.parametrize("command", ["calibrate", "evaluate", "export"])
@pytest.mark.parametrize("case", list(DNN_CASES))
def test_dnn_model_refused_by_cli(case, command, model_copy, assets, tmp_path, capsys):
    edit, words = DNN_CASES[case]
    edit(model_copy)
    out = tmp_path / "out"
    out.mkdir()
    argv = {"calibrate": ["calibrate", model_copy, assets["good"], "-o", out / "o.parquet"],
            "evaluate": ["evaluate", assets["good"], "--method", f"dnn={model_copy}", "-o", out / "r"],
            "export": ["export", model_copy, "-o", out / "m.onnx"]}
    code, _, err = run(capsys, *argv[command])
    assert code == 2, err
    line = one_error_line(err)
    assert str(model_copy) in line, line
    assert words in line, line
    assert list(out.iterdir()) == []


# --- the ONNX export -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(assets, tmp_path_factory) -> Path:
    from jetcalib.cli import main

    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", str(assets["model"]), "-o", str(out)]) == 0
    return out


def _set_onnx_meta(key: str, value: str | None):
    def edit(path: Path) -> None:
        import onnx

        proto = onnx.load(str(path))
        props = [p for p in proto.metadata_props if p.key != key]
        del proto.metadata_props[:]
        for p in props:
            proto.metadata_props.add(key=p.key, value=p.value)
        if value is not None:
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(path))
    return edit


def _tamper_onnx_weights(path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    init = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # the largest weight
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(proto, str(path))


ONNX_CASES = {
    "tampered weights": (_tamper_onnx_weights, "content hash mismatch"),
    "older export (no graph hash)": (_set_onnx_meta("graph_hash", None), "re-export the model"),
    "garbage": (lambda p: p.write_bytes(b"\x08\x07not an onnx graph" * 20), "onnxruntime cannot load it"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:2000]), "onnxruntime cannot load it"),
    "edited residual closure": (_set_onnx_meta("residual_hash", "sha256:" + "0" * 64),
                                "'residual_hash' changed"),
    "removed property": (_set_onnx_meta("features", None), "'features' removed"),
    "unknown features": (_set_onnx_meta("features", json.dumps(["eta", "colour"])), "metadata was modified"),
    "normalisation outside (nonorm form)": (_set_onnx_meta("normalisation", "outside"), "metadata was modified"),
}


@pytest.mark.parametrize("case", list(ONNX_CASES))
def test_onnx_export_refused(case, exported, assets, tmp_path, capsys):
    edit, words = ONNX_CASES[case]
    p = tmp_path / "model.onnx"
    shutil.copy(exported, p)
    edit(p)
    with pytest.raises(ArtifactError, match=words):
        jetcalib.load(p)
    code, _, err = run(capsys, "calibrate", p, assets["good"], "-o", tmp_path / "o.parquet")
    assert code == 2, err
    assert str(p) in one_error_line(err)
    assert words in one_error_line(err)
    assert not (tmp_path / "o.parquet").exists()


def test_onnx_export_and_sidecar_carry_the_model_hash(exported, assets):
    model = jetcalib.load(assets["model"])
    onnx_cal = jetcalib.load(exported)
    assert onnx_cal.header.content_hash == model.header.content_hash
    sidecar = json.loads(exported.with_suffix(".sidecar.json").read_text())
    assert sidecar["content_hash"] == model.header.content_hash
    assert [i["name"] for i in sidecar["inputs"]] == list(model.features)


def test_nonorm_onnx_is_refused_for_calibration(exported):
    # the sidecar's graph (normalisation outside) fed raw inputs would give wrong responses
    with pytest.raises(ArtifactError, match="expects normalised inputs"):
        jetcalib.load(exported.with_suffix(".nonorm.onnx"))


# --- the correctionlib export --------------------------------------------------------------------
@pytest.fixture(scope="module")
def corrlib(assets, tmp_path_factory) -> Path:
    from jetcalib.numerical import write_correctionlib

    p = tmp_path_factory.mktemp("cl") / "numcal.corr.json"
    write_correctionlib(jetcalib.load(assets["numcal"]), p)
    return p


CORRLIB_CASES = {
    "no jes_response": (lambda d: d.__setitem__("corrections", [c for c in d["corrections"]
                                                                if c["name"] != "jes_response"]),
                        "without jes_response"),
    "invalid schema": (lambda d: d["corrections"][0].__setitem__("output", "nonsense"),
                       "not a valid correctionlib file"),
}


@pytest.mark.parametrize("case", list(CORRLIB_CASES))
def test_correctionlib_export_refused(case, corrlib, assets, tmp_path, capsys):
    edit, words = CORRLIB_CASES[case]
    from jetcalib.numerical.export import correctionlib_hash, stored_correctionlib_hash

    p = tmp_path / "c.json"
    shutil.copy(corrlib, p)

    def edit_and_resign(doc):  # re-signed, to reach the checks behind the content hash
        edit(doc)
        doc["description"] = doc["description"].replace(stored_correctionlib_hash(doc), correctionlib_hash(doc))
    _edit_json(p, edit_and_resign)
    with pytest.raises(ArtifactError, match=words):
        jetcalib.load(p)
    code, _, err = run(capsys, "calibrate", p, assets["good"], "-o", tmp_path / "o.parquet")
    assert code == 2
    assert words in one_error_line(err)


def test_correctionlib_export_loads_and_matches(corrlib, assets):
    table, _ = read_table(assets["good"])
    a = jetcalib.load(corrlib).calibrate(table)
    b = jetcalib.load(assets["numcal"]).calibrate(table)
    np.testing.assert_allclose(a["e_cal"], b["e_cal"], rtol=1e-6)


# --- jet tables (Parquet and ROOT) with jetcalib_metadata ---------------------------------------------
def _rewrite_parquet_metadata(path: Path, text: str) -> None:
    t = pq.read_table(path)
    # with checksums, as jetcalib writes: without them the table is refused as rewritten
    pq.write_table(t.replace_schema_metadata({"jetcalib_metadata": text}), path, write_page_checksum=True)


def _rewrite_root_metadata(path: Path, text: str) -> None:
    import uproot

    table, _ = read_table(path)
    with uproot.recreate(path) as f:
        f["jetcalib_metadata"] = text
        f.mktree("jets", {k: v.dtype for k, v in table.items()})
        f["jets"].extend(table)


def _meta(**changes) -> str:
    doc = json.loads(DatasetMetadata(producer="test").to_json())
    doc.update(changes)
    return json.dumps(doc)


TABLE_META_CASES = {
    "newer schema": (_meta(schema_version="2.0"), "written with jet-table schema 2.0"),
    "older schema": (_meta(schema_version="0.5"), "written with jet-table schema 0.5"),
    "not JSON": ("{schema_version: 1.0", "jetcalib metadata is not valid JSON"),
    "not an object": ("[1, 2]", "jetcalib metadata is not a JSON object"),
    "another artifact's header": (json.dumps({"artifact": "numerical-calibration", "format_version": "1.0",
                                              "schema_version": "1.0"}), "invalid jetcalib metadata"),
    "mistyped field": (_meta(seeds="many"), "invalid jetcalib metadata: seeds"),
}


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
@pytest.mark.parametrize("case", list(TABLE_META_CASES))
def test_table_with_bad_metadata_refused(case, suffix, tmp_path, capsys, assets):
    text, words = TABLE_META_CASES[case]
    p = tmp_path / f"jets{suffix}"
    write_table(p, base_table(200))
    (_rewrite_parquet_metadata if suffix == ".parquet" else _rewrite_root_metadata)(p, text)
    with pytest.raises(ArtifactError, match=words):
        open_jets(p)
    # every command refuses it, also those that never show the provenance
    for argv in (["info", p], ["calibrate", assets["numcal"], p, "-o", tmp_path / f"o{suffix}"],
                 ["evaluate", p, "-o", tmp_path / "r"]):
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        line = one_error_line(err)
        assert str(p) in line, line
        assert words in line, line
    assert not (tmp_path / f"o{suffix}").exists()
    assert not (tmp_path / "r").exists()


def test_table_newer_minor_schema_is_read(tmp_path):
    p = tmp_path / "jets.parquet"
    write_table(p, base_table(50))
    _rewrite_parquet_metadata(p, _meta(schema_version="1.3"))
    assert open_jets(p).metadata.schema_version == "1.3"


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_table_with_tampered_data_refused(suffix, tmp_path, capsys, assets):
    # regression (Parquet): a modified data page was read as different numbers without a word;
    # jetcalib now writes a CRC32 per page and checks it. ROOT baskets carry zlib's checksum.
    p = tmp_path / f"jets{suffix}"
    write_table(p, base_table(20_000))
    _flip_bit(p, 0.5)
    with pytest.raises(InputError, match="CRC checksum" if suffix == ".parquet" else "corrupt"):
        read_table(p)
    code, _, err = run(capsys, "calibrate", assets["numcal"], p, "-o", tmp_path / f"o{suffix}")
    assert code == 2, err
    line = one_error_line(err)
    assert str(p) in line, line
    assert "corrupt" in line, line
    assert not (tmp_path / f"o{suffix}").exists()


def test_table_given_as_calibration_and_calibration_as_table(assets, tmp_path, capsys):
    code, _, err = run(capsys, "calibrate", assets["good"], assets["good"], "-o", tmp_path / "o.parquet")
    assert code == 2
    assert "not a jetcalib calibration artifact" in one_error_line(err)
    code, _, err = run(capsys, "info", assets["numcal"])
    assert code == 2
    assert "unknown format" in one_error_line(err)
    code, _, err = run(capsys, "info", assets["model"])
    assert code == 2
    assert "not a regular file" in one_error_line(err)
