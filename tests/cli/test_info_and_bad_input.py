"""`jetcalib info` and the foundation's bad-input contract: one line naming the file and the
problem, exit code 2, no traceback."""

from __future__ import annotations

import pytest
from tests.conftest import make_jet_table, one_error_line, run

from jetcalib.io import SCHEMA_VERSION, DatasetMetadata, write_table


@pytest.fixture
def good_parquet(tmp_path):
    path = tmp_path / "jets.parquet"
    write_table(path, make_jet_table(500), DatasetMetadata(producer="test", seeds=[7]))
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_info_prints_rows_columns_provenance(tmp_path, capsys, suffix):
    path = tmp_path / f"jets{suffix}"
    write_table(path, make_jet_table(500), DatasetMetadata(producer="unit test", seeds=[7, 8]))
    code, out, _ = run(capsys, "info", path, "--check", "train")
    assert code == 0
    assert "500 rows" in out
    assert f"schema {SCHEMA_VERSION}" in out
    assert "unit test" in out
    assert "seeds: 7, 8" in out
    assert "charged_m_frac" in out
    assert "GeV" in out
    assert "has every column 'train' needs" in out


def test_info_stats(good_parquet, capsys):
    code, out, _ = run(capsys, "info", good_parquet, "--stats")
    assert code == 0
    assert "non-finite" in out


def test_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "info", tmp_path / "nope.parquet")
    assert code == 2
    line = one_error_line(err)
    assert "nope.parquet" in line
    assert "file not found" in line


def test_brackets_in_message_are_printed_not_eaten_as_markup(tmp_path, capsys):
    # regression: rich treated "[b]" in a file name as a style tag and dropped it
    code, _, err = run(capsys, "info", tmp_path / "jets[b].parquet")
    assert code == 2
    assert "jets[b].parquet: file not found" in one_error_line(err)


def test_unknown_format(tmp_path, capsys):
    path = tmp_path / "jets.csv"
    path.write_text("a,b\n1,2\n")
    code, _, err = run(capsys, "info", path)
    assert code == 2
    line = one_error_line(err)
    assert "jets.csv" in line
    assert "unknown format" in line


def test_missing_required_column(tmp_path, capsys):
    table = make_jet_table(50)
    del table["c2"]
    path = tmp_path / "noc2.parquet"
    write_table(path, table)
    code, _, err = run(capsys, "info", path, "--check", "calibrate")
    assert code == 2
    line = one_error_line(err)
    assert "noc2.parquet" in line
    assert "missing required column c2" in line


def test_derivable_column_is_not_missing(tmp_path, capsys):
    table = make_jet_table(50)
    del table["log_e"], table["pt_reco"]
    path = tmp_path / "derive.parquet"
    write_table(path, table)
    code, out, _ = run(capsys, "info", path, "--check", "calibrate")
    assert code == 0, out


def test_wrong_dtype(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = make_jet_table(20)
    arrow = pa.table({**table, "m_reco": pa.array([f"{x}" for x in table["m_reco"]])})
    path = tmp_path / "strmass.parquet"
    pq.write_table(arrow, path)
    code, _, err = run(capsys, "info", path, "--check", "evaluate")
    assert code == 2
    line = one_error_line(err)
    assert "strmass.parquet" in line
    assert "column m_reco has type string, expected float32" in line


def test_empty_table(tmp_path, capsys):
    path = tmp_path / "empty.root"
    write_table(path, {k: v[:0] for k, v in make_jet_table(5).items()})
    code, _, err = run(capsys, "info", path)
    assert code == 2
    line = one_error_line(err)
    assert "empty.root" in line
    assert "empty (0 rows)" in line


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_truncated_file(tmp_path, capsys, suffix):
    path = tmp_path / f"cut{suffix}"
    write_table(path, make_jet_table(3000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "info", path, "--stats")
    assert code == 2
    line = one_error_line(err)
    assert f"cut{suffix}" in line
    assert ("corrupt or truncated" in line)


def test_garbage_with_known_suffix(tmp_path, capsys):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"this is not parquet" * 10)
    code, _, err = run(capsys, "info", path)
    assert code == 2
    assert "junk.parquet" in one_error_line(err)


def test_one_bad_file_among_many(good_parquet, tmp_path, capsys):
    code, out, err = run(capsys, "info", good_parquet, tmp_path / "missing.root")
    assert code == 4
    assert "500 rows" in out
    assert "missing.root: file not found" in err


def test_column_map_from_option_and_file(tmp_path, capsys):
    table = make_jet_table(30)
    table["jet_logE"] = table.pop("log_e")
    table["jet_C2"] = table.pop("c2")
    path = tmp_path / "user.parquet"
    write_table(path, table)
    mapfile = tmp_path / "map.toml"
    mapfile.write_text('[columns]\nc2 = "jet_C2"\n')
    code, _out, err = run(capsys, "info", path, "--check", "calibrate",
                         "--map", "log_e=jet_logE", "--map-file", mapfile)
    assert code == 0, err
    code, _, err = run(capsys, "info", path, "--check", "calibrate", "--map", "log_e")
    assert code == 2
    assert "expected NAME=BRANCH" in one_error_line(err)


def test_help_lists_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("info", "generate", "train", "calibrate", "evaluate", "export"):
        assert name in out
