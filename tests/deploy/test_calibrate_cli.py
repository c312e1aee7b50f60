"""`jetcalib calibrate` and `jetcalib.load`: streaming, columns kept, bad files skipped."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from tests.numerical.toys import make_toy

import jetcalib
from jetcalib.cli import main
from jetcalib.errors import ArtifactError
from jetcalib.io import read_table, write_table
from jetcalib.numerical import NumericalCalibration


def test_load_dispatches_and_refuses(numcal_path, tmp_path):
    cal = jetcalib.load(numcal_path)
    assert isinstance(cal, NumericalCalibration)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match=r"no artifact\.json"):
        jetcalib.load(tmp_path / "empty")
    other = tmp_path / "other.json"
    other.write_text('{"header": {"artifact": "something-else"}}')
    with pytest.raises(ArtifactError, match="not a jetcalib calibration artifact"):
        jetcalib.load(other)


def test_root_extra_branches_kept_byte_identical(numcal_path, tmp_path, capsys):
    toy = make_toy(3000, seed=2)
    src = tmp_path / "user.root"
    extra = {
        "run": np.arange(3000, dtype=np.uint32),
        "flag_b": np.arange(3000) % 2 == 0,
        "small_i": (np.arange(3000) % 100).astype(np.int8),
        "sub_pt": ak.Array([[float(i)] * (i % 3) for i in range(3000)]),
    }
    with uproot.recreate(src) as f:
        f.mktree("CollectionTree", {k: (v.dtype if isinstance(v, np.ndarray) else v.type)
                                    for k, v in {**toy, **extra}.items()})
        f["CollectionTree"].extend({**toy, **extra})
    out = tmp_path / "out.root"
    code = main(["calibrate", str(numcal_path), str(src), "-o", str(out), "--chunk-rows", "1000"])
    assert code == 0, capsys.readouterr().err
    before = uproot.open(src)["CollectionTree"]
    after = uproot.open(out)["CollectionTree"]
    for name in [*toy, "run", "flag_b", "small_i"]:
        a, b = before[name].array(library="np"), after[name].array(library="np")
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), name
    assert ak.to_list(before["sub_pt"].array()) == ak.to_list(after["sub_pt"].array())
    e_cal = after["e_cal"].array(library="np")
    flag = after["calib_flag"].array(library="np")
    # the toy reaches |η| = 2.4, the fit |η| < 2: jets beyond are calibrated, flagged 7
    assert np.all(np.isfinite(e_cal))
    assert np.isin(flag, [0, 7]).mean() > 0.9
    # the numerical calibration raises the LC-scale energy towards truth
    ok = flag == 0
    assert np.median(e_cal[ok] / toy["e_true"][ok]) == pytest.approx(1.0, abs=0.02)


def test_bad_file_among_many_is_skipped(numcal_path, tmp_path, capsys):
    good = []
    for i in range(2):
        p = tmp_path / f"good{i}.parquet"
        write_table(p, make_toy(500, seed=10 + i))
        good.append(p)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 truncated")
    out = tmp_path / "out"
    code = main(["calibrate", str(numcal_path), str(good[0]), str(bad), str(good[1]), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 4
    assert "bad.parquet" in err
    assert "skipped" in err
    assert sorted(p.name for p in out.iterdir()) == ["good0.parquet", "good1.parquet"]
    table, meta = read_table(out / "good1.parquet")
    assert {"e_cal", "pt_cal", "m_cal", "calib_flag"} <= set(table)
    assert meta is not None
    assert meta.producer == "jetcalib calibrate"


def test_missing_column_refused(numcal_path, tmp_path, capsys):
    toy = make_toy(100, seed=3)
    del toy["m_reco"]
    p = tmp_path / "nomass.parquet"
    write_table(p, toy)
    code = main(["calibrate", str(numcal_path), str(p), "-o", str(tmp_path / "o.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing required column m_reco" in err
    assert not (tmp_path / "o.parquet").exists()
