"""Parquet tables with nulls (what pandas and Spark write for missing values, issue #19): a
null in a float column is a missing value, NaN, so ``calibrate`` flags that jet
NON_FINITE_INPUT and the fits leave it out and count it; never a traceback."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import one_error_line, run

from jetcalib.io import CalibFlag, read_table

from .conftest import N_JETS, base_table

NULL_ROWS = {"m_reco": [3, 10], "e_true": [20], "d2": [30, 31], "e_reco": [40]}


def _table_with_nulls(path, *, null_event: bool = True):
    table = base_table()
    arrays = {k: pa.array(v) for k, v in table.items()}
    for name, rows in NULL_ROWS.items():
        mask = np.zeros(N_JETS, dtype=bool)
        mask[rows] = True
        arrays[name] = pa.array(table[name], mask=mask)
    if null_event:  # an integer column the command does not need: passed through, nulls kept
        mask = np.zeros(N_JETS, dtype=bool)
        mask[5] = True
        arrays["event"] = pa.array(table["event"], mask=mask)
    pq.write_table(pa.table(arrays), path)
    return path


def test_reader_turns_float_nulls_into_nan(tmp_path):
    src = _table_with_nulls(tmp_path / "nulls.parquet")
    t, _ = read_table(src, ["m_reco", "d2", "e_reco"])
    assert t["m_reco"].dtype == np.float32
    assert isinstance(t["m_reco"], np.ndarray)
    assert np.flatnonzero(np.isnan(t["m_reco"])).tolist() == NULL_ROWS["m_reco"]
    assert np.isnan(t["d2"][30])
    assert np.isfinite(t["d2"][29])


@pytest.mark.parametrize("method", ["numcal", "model"])
def test_calibrate_flags_jets_with_nulls(method, assets, tmp_path, capsys):
    src = _table_with_nulls(tmp_path / "nulls.parquet")
    out = tmp_path / "cal.parquet"
    code, stdout, err = run(capsys, "calibrate", assets[method], src, "-o", out)
    assert code == 0, err
    assert "Traceback" not in err
    got = pq.read_table(out)
    flag = got["calib_flag"].to_numpy()
    # the numerical calibration reads no d2; the DNN does
    rows = [3, 10, 40] + ([30, 31] if method == "model" else [])
    assert (flag[rows] == CalibFlag.NON_FINITE_INPUT).all()
    assert (flag[[0, 1, 2]] != CalibFlag.NON_FINITE_INPUT).all()
    assert got["event"].null_count == 1  # the user's column is passed through as it was
    assert "flag 1" in stdout


def test_numerical_fit_leaves_out_and_counts_jets_with_nulls(tmp_path, capsys):
    src = _table_with_nulls(tmp_path / "nulls.parquet")
    code, out, err = run(capsys, "numerical", "fit", src, "-o", tmp_path / "cal.json")
    assert code == 0, err
    assert "left out 4 of 1,500 jets" in out  # m_reco x2, e_true, e_reco (d2 is not read)
    assert (tmp_path / "cal.json").is_file()


def test_null_in_an_integer_column_a_job_computes_with_is_one_line(tmp_path, assets, capsys):
    table = base_table()
    arrays = {k: pa.array(v) for k, v in table.items()}
    mask = np.zeros(N_JETS, dtype=bool)
    mask[7] = True
    arrays["process"] = pa.array(table["process"], mask=mask)
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table(arrays), src)
    code, _, err = run(capsys, "evaluate", src, "--method", f"numerical={assets['numcal']}",
                       "-o", tmp_path / "report", "--bootstrap", "2")
    assert code == 2
    line = one_error_line(err)
    assert "process" in line
    assert "null" in line
