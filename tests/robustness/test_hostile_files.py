"""Hostile or careless files where a command reads JSON, YAML or TOML (a calibration, a config,
a column map): deeply nested documents (Python's parsers recurse), binary bytes, a document of
the wrong shape. Each is one ``error:`` line naming the file, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import one_error_line, run

NESTED_JSON = b"[" * 100_000 + b"]" * 100_000
NESTED_YAML = b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n"
BINARY = bytes(range(256)) * 16

FILES = {
    "nested JSON": ("x.json", NESTED_JSON),
    "nested YAML": ("x.yaml", NESTED_YAML),
    "binary JSON": ("x.json", BINARY),
    "binary YAML": ("x.yaml", BINARY),
    "binary TOML": ("x.toml", BINARY),
    "JSON list": ("x.json", b"[1, 2]"),
}


def _command(kind: str, path: Path, assets: dict[str, Path], out: Path) -> list[object]:
    if kind == "calibration":
        return ["calibrate", path, assets["good"], "-o", out / "cal.parquet"]
    if kind == "map file":
        return ["calibrate", assets["numcal"], assets["good"], "-o", out / "cal.parquet", "--map-file", path]
    return ["train", "--data", assets["good"], "-o", out / "model", "--config", path, "-q"]


CASES = [(case, kind) for kind in ("calibration", "map file", "training config") for case in FILES
         if kind != "calibration" or FILES[case][0].endswith(".json")]  # a calibration is JSON


@pytest.mark.parametrize(("case", "kind"), CASES)
def test_hostile_document_is_one_line(case, kind, assets, tmp_path, capsys):
    name, content = FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, *_command(kind, path, assets, out))
    assert code == 2, err
    assert name in one_error_line(err)
    assert list(out.iterdir()) == []
