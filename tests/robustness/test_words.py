"""The right words for a mistake, and absurd physics refused (issue #19): an out-of-range option
is a usage error about that option, not a "corrupt file"; ``info --check`` asks for exactly the
columns a job reads; m at E up to rounding is MASS_ABOVE_ENERGY, clearly above it or an energy
beyond 14 TeV is OUT_OF_RANGE; ``numerical fit`` leaves out (or refuses) absurd truth."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import one_error_line, run

from jetcalib.features import ENERGY_MAX, MASS_ENERGY_RTOL, input_flags
from jetcalib.io import REQUIRED_FOR, CalibFlag, read_table, write_table

from .conftest import base_table


def test_huge_chunk_rows_is_a_usage_error_about_the_option(assets, tmp_path, capsys):
    code, _, err = run(capsys, "calibrate", assets["numcal"], assets["good"], "-o", tmp_path / "o.parquet",
                       "--chunk-rows", "99999999999999999999")
    assert code == 2
    assert "--chunk-rows" in err
    assert "corrupt" not in err
    assert "Traceback" not in err
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("job", ["calibrate", "train", "evaluate"])
def test_info_check_asks_only_for_what_the_job_reads(job, tmp_path, capsys):
    table = {k: v for k, v in base_table().items() if not k.startswith("phi_")}
    write_table(tmp_path / "nophi.parquet", table)
    code, out, err = run(capsys, "info", tmp_path / "nophi.parquet", "--check", job)
    assert code == 0, err
    assert f"has every column '{job}' needs" in out
    assert not any(c.startswith("phi_") for c in REQUIRED_FOR[job])


@pytest.mark.parametrize("method", ["numcal", "model"])
def test_columns_of_info_check_calibrate_are_enough_to_calibrate(method, assets, tmp_path, capsys):
    full = base_table()
    write_table(tmp_path / "min.parquet", {c: full[c] for c in REQUIRED_FOR["calibrate"]})
    code, _, err = run(capsys, "info", tmp_path / "min.parquet", "--check", "calibrate")
    assert code == 0, err
    code, _, err = run(capsys, "calibrate", assets[method], tmp_path / "min.parquet", "-o", tmp_path / "o.parquet")
    assert code == 0, err
    code, _, err = run(capsys, "info", tmp_path / "min.parquet", "--check", "train")
    assert code == 2
    assert "e_true" in one_error_line(err)


def test_mass_at_energy_up_to_rounding_is_not_out_of_range():
    e = np.array([500.0, 500.0, 500.0, 500.0, 500.0])
    m = e * np.array([0.2, 1.0, 1 + MASS_ENERGY_RTOL / 2, 1 + 10 * MASS_ENERGY_RTOL, 1.01])
    flag = input_flags(e, m, np.zeros(5))
    assert flag.tolist() == [0, 0, 0, CalibFlag.OUT_OF_RANGE, CalibFlag.OUT_OF_RANGE]


def test_calibrate_calibrates_mass_at_energy_and_flags_absurd_jets_5(assets, tmp_path, capsys):
    table = base_table()
    e = table["e_reco"].astype(np.float64)
    table["m_reco"][0] = np.float32(e[0] * (1 + 2e-7))  # one float32 step above E
    table["m_reco"][1] = np.float32(e[1] * 1.5)
    for row, value in ((2, 1e30), (3, 2 * ENERGY_MAX)):
        table["e_reco"][row] = value
        table["log_e"][row] = np.log(value)
    write_table(tmp_path / "t.parquet", table)
    code, out, err = run(capsys, "calibrate", assets["numcal"], tmp_path / "t.parquet", "-o", tmp_path / "o.parquet")
    assert code == 0, err
    got = pq.read_table(tmp_path / "o.parquet")
    flag = got["calib_flag"].to_numpy()
    # m = E up to rounding is calibrated like m = E: flag 0 when the calibrated mass lands
    # below the calibrated energy, else MASS_ABOVE_ENERGY; never OUT_OF_RANGE
    above = got["m_cal"].to_numpy()[0] >= got["e_cal"].to_numpy()[0]
    assert flag[0] == (CalibFlag.MASS_ABOVE_ENERGY if above else CalibFlag.OK)
    assert got["e_cal"].to_numpy()[0] != table["e_reco"][0]
    assert flag[1:4].tolist() == [CalibFlag.OUT_OF_RANGE] * 3
    assert "flag 5: 3" in out


def _fit_table(tmp_path, change):
    from jetcalib.dnn.toys import toy_jets

    table = {k: v for k, v in toy_jets(8000, seed=3).items() if not k.startswith("toy_")}
    change(table)
    write_table(tmp_path / "fit.parquet", table)
    return tmp_path / "fit.parquet"


def test_numerical_fit_leaves_out_absurd_truth_and_says_so(tmp_path, capsys):
    def absurd(t):
        t["e_true"][:5] = 1e30
        t["m_true"][5:8] = t["e_true"][5:8] * 2

    src = _fit_table(tmp_path, absurd)
    code, out, err = run(capsys, "numerical", "fit", src, "-o", tmp_path / "cal.json")
    assert code == 0, err
    assert "left out 8 of 8,000 jets" in out
    assert "8 of them for an unphysical truth" in out
    # the energy scale is that of the sane jets, not scaled by 1e27
    from jetcalib.numerical import NumericalCalibration

    cal = NumericalCalibration.load(tmp_path / "cal.json")
    t, _ = read_table(src, ["e_reco", "m_reco", "eta_reco", "eta", "e_true"])
    ratio = np.median(cal.calibrate(t)["e_cal"][8:] / t["e_true"][8:])
    assert 0.8 < ratio < 1.2


def test_numerical_fit_refuses_a_table_with_mostly_absurd_truth(tmp_path, capsys):
    def mev(t):
        t["e_true"] *= 1000.0  # MeV
        t["m_true"] *= 1000.0

    src = _fit_table(tmp_path, mev)
    code, _, err = run(capsys, "numerical", "fit", src, "-o", tmp_path / "cal.json")
    assert code == 2
    assert "GeV" in one_error_line(err)
    assert not (tmp_path / "cal.json").exists()


def test_flag_docs_state_the_ranges():
    from pathlib import Path

    import jetcalib.io.schema as schema

    source = Path(schema.__file__).read_text()
    assert "14 TeV" in source
    assert "MASS_ENERGY_RTOL" in source
    assert int(CalibFlag.OUT_OF_RANGE) == 5
    assert ENERGY_MAX == 14_000.0


def test_a_warning_is_one_line(capsys):
    import warnings

    from jetcalib.cli._main import _one_line_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with _one_line_warnings():
            warnings.warn("invalid value encountered in divide\nsecond line", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.strip() == "warning: RuntimeWarning: invalid value encountered in divide"
