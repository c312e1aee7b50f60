"""Tables in MeV (issue #14): ``calibrate --units MeV``, a map file's ``units`` key and
``calibrate(table, units="MeV")`` give the GeV results × 1000; a table that looks like the
other unit is refused with one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import one_error_line, run

import jetcalib
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import InputError
from jetcalib.io import COLUMNS, read_table, write_table
from jetcalib.io.units import check_plausible, table_to_gev

OUTPUTS = ("e_cal", "pt_cal", "m_cal")


def gev_table(n: int = 3000) -> dict[str, np.ndarray]:
    return {k: v for k, v in toy_jets(n, seed=8).items() if not k.startswith("toy_")}


def in_mev(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``table`` as an ATLAS ntuple would hold it: every GeV column × 1000, logs of MeV."""
    out = {}
    for name, values in table.items():
        unit = COLUMNS[name].unit if name in COLUMNS else ""
        if unit == "GeV":
            values = (values.astype(np.float64) * 1000).astype(np.float32)
        elif unit == "ln GeV":
            values = (values.astype(np.float64) + math.log(1000)).astype(np.float32)
        out[name] = values
    return out


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("units")
    gev = gev_table()
    write_table(d / "gev.parquet", gev)
    write_table(d / "mev.parquet", in_mev(gev))
    return d


def _artifact(which, numcal_path, model_dir):
    return {"numcal": numcal_path, "model": model_dir}[which]


def _assert_times_1000(mev: dict, gev: dict) -> None:
    np.testing.assert_array_equal(mev["calib_flag"], gev["calib_flag"])
    assert (np.asarray(gev["calib_flag"]) == 0).mean() > 0.5
    for name in OUTPUTS:
        np.testing.assert_allclose(np.asarray(mev[name], dtype=np.float64),
                                   np.asarray(gev[name], dtype=np.float64) * 1000, rtol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("which", ["numcal", "model"])
def test_cli_units_mev_gives_gev_outputs_times_1000(which, numcal_path, model_dir, tables, tmp_path, capsys):
    cal = _artifact(which, numcal_path, model_dir)
    code, _, err = run(capsys, "calibrate", cal, tables / "gev.parquet", "-o", tmp_path / "gev.parquet")
    assert code == 0, err
    code, _, err = run(capsys, "calibrate", cal, tables / "mev.parquet", "-o", tmp_path / "mev.parquet",
                       "--units", "MeV")
    assert code == 0, err
    gev, _ = read_table(tmp_path / "gev.parquet")
    mev, _ = read_table(tmp_path / "mev.parquet")
    _assert_times_1000(mev, gev)
    # the input's own columns come back as they were, in MeV
    np.testing.assert_array_equal(mev["e_reco"], in_mev(gev_table())["e_reco"])


def test_cli_mev_table_without_units_is_refused(numcal_path, tables, tmp_path, capsys):
    out = tmp_path / "o.parquet"
    code, _, err = run(capsys, "calibrate", numcal_path, tables / "mev.parquet", "-o", out)
    assert code == 2
    line = one_error_line(err)
    assert "e_reco: median" in line
    assert "looks like MeV; pass --units MeV" in line
    median = np.median(in_mev(gev_table())["e_reco"])
    assert f"{median:,.0f}" in line
    assert not out.exists()


def test_cli_gev_table_given_as_mev_is_refused_when_implausible(numcal_path, tmp_path, capsys):
    soft = gev_table()  # a plain GeV table (median E of a few hundred): no large-R jets in MeV
    write_table(tmp_path / "soft.parquet", soft)
    code, _, err = run(capsys, "calibrate", numcal_path, tmp_path / "soft.parquet", "-o",
                       tmp_path / "o.parquet", "--units", "MeV")
    assert code == 2
    assert "looks like GeV" in one_error_line(err)


def test_cli_bad_units_value(numcal_path, tables, tmp_path, capsys):
    code, _, err = run(capsys, "calibrate", numcal_path, tables / "gev.parquet", "-o",
                       tmp_path / "o.parquet", "--units", "keV")
    assert code == 2
    assert "'keV' is not a unit" in one_error_line(err)


def test_units_in_a_map_file(numcal_path, tables, tmp_path, capsys):
    mev = read_table(tables / "mev.parquet")[0]
    mev["jet_E"] = mev.pop("e_reco")
    write_table(tmp_path / "user.parquet", mev)
    (tmp_path / "map.toml").write_text('units = "MeV"\n[columns]\ne_reco = "jet_E"\n')
    (tmp_path / "map.yaml").write_text('units: mev\ne_reco: jet_E\n')
    code, _, err = run(capsys, "calibrate", numcal_path, tables / "gev.parquet", "-o", tmp_path / "gev.parquet")
    assert code == 0, err
    gev, _ = read_table(tmp_path / "gev.parquet")
    for name in ("map.toml", "map.yaml"):
        out = tmp_path / f"out_{name}.parquet"
        code, _, err = run(capsys, "calibrate", numcal_path, tmp_path / "user.parquet", "-o", out,
                           "--map-file", tmp_path / name)
        assert code == 0, err
        _assert_times_1000(read_table(out)[0], gev)
    # --units on the command line wins over the file's
    code, _, err = run(capsys, "calibrate", numcal_path, tmp_path / "user.parquet", "-o",
                       tmp_path / "o.parquet", "--map-file", tmp_path / "map.toml", "--units", "GeV")
    assert code == 2
    assert "e_reco (branch jet_E): median" in one_error_line(err)
    (tmp_path / "bad.toml").write_text('units = "TeV"\n')
    code, _, err = run(capsys, "calibrate", numcal_path, tmp_path / "user.parquet", "-o",
                       tmp_path / "o.parquet", "--map-file", tmp_path / "bad.toml")
    assert code == 2
    assert "units: 'TeV' is not a unit" in one_error_line(err)


@pytest.mark.parametrize(("which", "runtime"), [("numcal", None), ("numcal", "correctionlib"),
                                                ("model", None), ("model", "onnxruntime")])
def test_api_units(which, runtime, numcal_path, model_dir):
    cal = jetcalib.load(_artifact(which, numcal_path, model_dir), runtime=runtime)
    gev = gev_table()
    mev = in_mev(gev)
    _assert_times_1000(cal.calibrate(mev, units="MeV"), cal.calibrate(gev))
    with pytest.raises(InputError, match=r"e_reco: median [\d,]+ looks like MeV"):
        cal.calibrate(mev)
    with pytest.raises(InputError, match="not a unit"):
        cal.calibrate(gev, units="TeV")
    empty = cal.calibrate({k: v[:0] for k, v in mev.items()})  # no jets: nothing to check
    assert all(len(empty[name]) == 0 for name in OUTPUTS)


def test_plausibility_check_and_conversion():
    check_plausible(np.array([]), "GeV")
    check_plausible(np.array([np.nan, np.inf] * 10), "GeV")
    check_plausible(np.array([5e5, 3e4, 3e4] * 4), "MeV")
    check_plausible(np.array([3e4] * 9), "GeV")  # too few jets to judge: each is range-flagged instead
    with pytest.raises(InputError, match="median 500 looks like GeV"):
        check_plausible(np.array([300.0, 500.0, 3e3] * 4), "MeV")  # GeV medians lie below 20,000
    with pytest.raises(InputError, match="median 30,000 looks like MeV"):
        check_plausible(np.array([500.0, 3e4, 3e4] * 4), "GeV")
    with pytest.raises(InputError, match="looks like GeV"):
        check_plausible(np.array([0.5, 1.0, 2.0] * 4), "MeV")
    # log_m keeps its 1 GeV floor whichever floor the MeV file used
    got = table_to_gev({"log_m": np.log([1.0, 1000.0, 5e4]), "e_reco": np.array([5e5]),
                        "eta": np.array([0.3])}, "MeV")
    np.testing.assert_allclose(got["log_m"], [0.0, 0.0, np.log(50.0)], atol=1e-12)
    assert got["e_reco"][0] == 500.0
    assert got["eta"][0] == 0.3


def test_numerical_fit_and_evaluate_read_mev(tmp_path, capsys):
    """``numerical fit`` and ``evaluate`` convert a MeV table to GeV: the same calibration and
    the same report as from the GeV table."""
    import json

    train = {k: v for k, v in toy_jets(8000, seed=3).items() if not k.startswith("toy_")}
    write_table(tmp_path / "train_gev.parquet", train)
    write_table(tmp_path / "train_mev.parquet", in_mev(train))
    code, _, err = run(capsys, "numerical", "fit", tmp_path / "train_gev.parquet", "-o", tmp_path / "gev.json")
    assert code == 0, err
    code, _, err = run(capsys, "numerical", "fit", tmp_path / "train_mev.parquet", "-o", tmp_path / "mev.json",
                       "--units", "MeV")
    assert code == 0, err
    code, _, err = run(capsys, "numerical", "fit", tmp_path / "train_mev.parquet", "-o", tmp_path / "x.json")
    assert code == 2
    assert "looks like MeV" in one_error_line(err)
    assert not (tmp_path / "x.json").exists()
    test = gev_table()
    a = jetcalib.load(tmp_path / "gev.json").calibrate(test)
    b = jetcalib.load(tmp_path / "mev.json").calibrate(test)
    for name in OUTPUTS:  # a few float32 values differ by one step after MeV -> GeV
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, err_msg=name)

    write_table(tmp_path / "test_gev.parquet", test)
    write_table(tmp_path / "test_mev.parquet", in_mev(test))
    summaries = []
    for name, extra in (("test_gev", ()), ("test_mev", ("--units", "MeV"))):
        out = tmp_path / f"report_{name}"
        code, _, err = run(capsys, "evaluate", tmp_path / f"{name}.parquet", "--method",
                           f"numerical={tmp_path / 'gev.json'}", "-o", out, "--bootstrap", "2", *extra)
        assert code == 0, err
        summaries.append(json.loads((out / "summary.json").read_text()))
    for method in ("uncalibrated", "numerical"):
        for kind in ("energy", "mass"):
            assert summaries[1]["closure_max_deviation"][method][kind] == pytest.approx(
                summaries[0]["closure_max_deviation"][method][kind], rel=1e-3, abs=1e-5)
    code, _, err = run(capsys, "evaluate", tmp_path / "test_mev.parquet", "-o", tmp_path / "r", "--bootstrap", "2")
    assert code == 2
    assert "looks like MeV" in one_error_line(err)


def test_train_reads_mev(tmp_path, capsys):
    train = {k: v for k, v in toy_jets(3000, seed=4).items() if not k.startswith("toy_")}
    write_table(tmp_path / "mev.parquet", in_mev(train))
    (tmp_path / "tiny.toml").write_text(
        "[network]\nwidth = 8\nn_blocks = 1\nmass_residual_width = 4\n"
        "[loss]\npretrain_epochs = 0\nanneal_epochs = 1\n"
        "[training]\nepochs = 1\nbatch_size = 512\n"
    )
    common = ("--config", tmp_path / "tiny.toml", "-q")
    code, _, err = run(capsys, "train", "--data", tmp_path / "mev.parquet", "-o", tmp_path / "bad", *common)
    assert code == 2
    assert "looks like MeV" in one_error_line(err)
    code, _, err = run(capsys, "train", "--data", tmp_path / "mev.parquet", "-o", tmp_path / "model",
                       "--units", "MeV", *common)
    assert code == 0, err
    # the model works in GeV: its normalisation is centred on ln(E / GeV), not ln(E / MeV)
    norm = jetcalib.load(tmp_path / "model").normalisation
    i = norm.features.index("log_e")
    centre = -norm.offset[i] / norm.scale[i]
    assert abs(centre - np.median(np.log(train["e_reco"]))) < 1.0
