"""Parquet ↔ ROOT round trips keep every column bit for bit, and the provenance."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_jet_table

from jetcalib.io import (
    DatasetMetadata,
    TableWriter,
    open_jets,
    read_table,
    write_table,
)


def _assert_identical(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        # bit for bit: compare the raw bytes, so that -0.0 vs 0.0 or NaN payloads would show
        assert a[name].tobytes() == b[name].tobytes(), name


def test_parquet_root_parquet_bit_for_bit(tmp_path):
    table = make_jet_table(2000, seed=3)
    table["pt_reco"][5] = np.nan  # non-finite values survive too
    table["m_reco"][7] = -0.0
    meta = DatasetMetadata(producer="test", generator={"process": "dijet", "mu": [10, 60]},
                           seeds=[1, 2, 3], n_events=1000)
    write_table(tmp_path / "a.parquet", table, meta)
    t1, m1 = read_table(tmp_path / "a.parquet")
    write_table(tmp_path / "b.root", t1, m1)
    t2, m2 = read_table(tmp_path / "b.root")
    write_table(tmp_path / "c.parquet", t2, m2)
    t3, m3 = read_table(tmp_path / "c.parquet")
    for t in (t1, t2, t3):
        _assert_identical(table, t)
    assert m1 == meta
    assert m2 == meta
    assert m3 == meta


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_chunked_writer_and_reader(tmp_path, suffix):
    table = make_jet_table(1000, seed=1)
    path = tmp_path / f"t{suffix}"
    with TableWriter(path, DatasetMetadata(producer="chunks")) as w:
        for start in range(0, 1000, 300):
            w.write({k: v[start:start + 300] for k, v in table.items()})
    assert w.rows_written == 1000
    with open_jets(path) as f:
        assert f.num_rows == 1000
        sizes = []
        got = {"pt_reco": [], "event": []}
        for chunk in f.iter_chunks(["pt_reco", "event"], step_rows=256):
            sizes.append(len(chunk["event"]))
            for k in got:
                got[k].append(chunk[k])
    assert sum(sizes) == 1000
    assert max(sizes) <= 256
    np.testing.assert_array_equal(np.concatenate(got["pt_reco"]), table["pt_reco"])
    np.testing.assert_array_equal(np.concatenate(got["event"]), table["event"])


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.parquet"
    def fail_half_way() -> None:
        with TableWriter(path) as w:
            w.write({"event": np.arange(3)})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_half_way()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_untouched_on_failure(tmp_path):
    path = tmp_path / "out.parquet"
    write_table(path, {"event": np.arange(3)})
    before = path.read_bytes()
    with pytest.raises(ValueError, match="unequal length"), TableWriter(path) as w:
        w.write({"event": np.arange(3), "weight": np.ones(2)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_user_root_file_without_metadata_and_extra_branches(tmp_path):
    import awkward as ak
    import uproot

    path = tmp_path / "user.root"
    with uproot.recreate(path) as f:
        f["ntuple"] = {
            "jet_E": np.array([500.0, 800.0]),
            "jet_M": np.array([80.0, 10.0]),
            "n_sub": np.array([2, 3], dtype=np.int32),
            "sub_pt": ak.Array([[1.0, 2.0], [3.0, 4.0, 5.0]]),
        }
    with open_jets(path) as f:
        assert f.tree_name == "ntuple"
        assert f.metadata is None
        assert f.num_rows == 2
        table = f.read()
    assert table["jet_E"].tolist() == [500.0, 800.0]
    assert ak.to_list(table["sub_pt"]) == [[1.0, 2.0], [3.0, 4.0, 5.0]]


def test_parquet_float_columns_are_not_dictionary_encoded(tmp_path):
    """Regression (issue #20): dictionary encoding of all-distinct floats made writing 2.4x
    slower and files larger; integers (event numbers, flags) keep it."""
    import numpy as np
    import pyarrow.parquet as pq

    from jetcalib.io import DatasetMetadata, TableWriter

    out = tmp_path / "t.parquet"
    rng = np.random.default_rng(0)
    with TableWriter(out, DatasetMetadata(producer="test")) as w:
        w.write({"e_reco": rng.random(1000), "calib_flag": np.zeros(1000, np.int8)})
    rg = pq.ParquetFile(out).metadata.row_group(0)
    enc = {rg.column(i).path_in_schema: set(rg.column(i).encodings) for i in range(rg.num_columns)}
    assert not any("DICTIONARY" in e for e in enc["e_reco"]), enc
    assert any("DICTIONARY" in e for e in enc["calib_flag"]), enc
