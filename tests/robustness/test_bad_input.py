"""Bad input for every command (issue #8): each case gives one ``error:`` line naming the file
or column, the documented exit code (2: bad input, see ``jetcalib.errors``), no traceback, and
no output that looks valid. Jets with NaN/inf, m <= 0, E < m or |eta| > 4.9 are not errors for
``calibrate``: they pass through uncalibrated with ``calib_flag`` set and are counted.

Invoked in-process through :func:`jetcalib.cli.main` (what the ``jetcalib`` script runs).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import one_error_line, run

from jetcalib.io import CalibFlag, DatasetMetadata, TableWriter, read_table, write_table

from .conftest import base_table, disk_full, leftovers


# --- the commands that read a jet table ----------------------------------------------------------
def _argv(command: str, src: Path, out: Path, a: dict[str, Path]) -> list[object]:
    return {
        "info": ["info", src, "--check", "train"],
        "numerical fit": ["numerical", "fit", src, "-o", out / "cal.json"],
        "train": ["train", "--data", src, "-o", out / "model", "--config", a["tiny"], "-q"],
        "calibrate numerical": ["calibrate", a["numcal"], src, "-o", out / "cal.parquet"],
        "calibrate dnn": ["calibrate", a["model"], src, "-o", out / "cal.parquet"],
        "evaluate": ["evaluate", src, "--method", f"numerical={a['numcal']}", "-o", out / "report",
                     "--bootstrap", "2"],
    }[command]


TABLE_COMMANDS = ("info", "numerical fit", "train", "calibrate numerical", "calibrate dnn", "evaluate")


def _write_variant(path: Path, change) -> Path:
    table = base_table()
    change(table)
    write_table(path, table)
    return path


def _arrow_variant(path: Path, column: str, array: pa.Array) -> Path:
    table = base_table()
    arrays = {k: pa.array(v) for k, v in table.items()}
    arrays[column] = array
    pq.write_table(pa.table(arrays), path)
    return path


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(path: Path) -> Path:
    write_table(path, base_table())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


#: case → (make the input file in a directory, words the error line must hold)
INPUT_CASES = {
    "missing file": (lambda d: d / "nope.parquet", "file not found"),
    "0 rows": (lambda d: _write_variant(d / "empty.parquet", lambda t: [t.__setitem__(k, v[:0]) for k, v in list(t.items())]),
               "empty (0 rows)"),
    "0-byte file": (lambda d: _file(d / "zero.parquet", b""), "corrupt or truncated"),
    "csv": (lambda d: _file(d / "jets.csv", b"e_reco,m_reco\n1,2\n"), "unknown format"),
    "garbage .parquet": (lambda d: _file(d / "junk.parquet", os.urandom(3000)),
                         "corrupt or truncated"),
    "txt": (lambda d: _file(d / "jets.txt", b"not a table\n"), "unknown format"),
    "truncated": (lambda d: _truncated(d / "cut.parquet"), "corrupt or truncated"),
    "missing column": (lambda d: _write_variant(d / "nomass.parquet", lambda t: t.pop("m_reco")),
                       "missing required column m_reco"),
    "string column": (lambda d: _arrow_variant(d / "strmass.parquet", "m_reco",
                                               pa.array([f"{x:.1f}" for x in base_table()["m_reco"]])),
                      "column m_reco has type string, expected float32"),
    "bool column": (lambda d: _arrow_variant(d / "boolmass.parquet", "m_reco", pa.array(np.ones(1500, bool))),
                    "column m_reco has type bool, expected float32"),
}


@pytest.mark.parametrize("case", list(INPUT_CASES))
@pytest.mark.parametrize("command", TABLE_COMMANDS)
def test_bad_table_is_refused(command, case, assets, tmp_path, capsys):
    make, words = INPUT_CASES[case]
    src = make(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, *_argv(command, src, out, assets))
    assert code == 2, err
    line = one_error_line(err)
    assert str(src) in line, line
    assert words in line, line
    assert leftovers(out) == []


@pytest.mark.parametrize("command", ["info", "numerical fit", "calibrate numerical", "calibrate dnn"])
def test_integer_column_where_float_expected_is_accepted(command, assets, tmp_path, capsys):
    # an integer column is a lossless widening to float: read and cast, not refused
    src = _write_variant(tmp_path / "intmass.parquet", lambda t: t.__setitem__("m_reco", np.rint(t["m_reco"]).astype(np.int32)))
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, *_argv(command, src, out, assets))
    assert code == 0, err
    if command.startswith("calibrate"):
        table, _ = read_table(out / "cal.parquet", ["m_reco", "m_cal"])
        # values kept (the column comes back as the schema's float32: see the report)
        assert np.array_equal(table["m_reco"], np.rint(base_table()["m_reco"]))
        assert np.isfinite(table["m_cal"]).all()


# --- values no calibration can use ---------------------------------------------------------------
BAD_ROWS = 10


def _set_rows(column: str, value):
    def change(t):
        t[column] = t[column].copy()
        t[column][:BAD_ROWS] = value(t)[:BAD_ROWS] if callable(value) else value
    return change


def _both(*changes):
    def change(t):
        for c in changes:
            c(t)
    return change


#: case → (change to the first rows, calib_flag of the DNN, calib_flag of the numerical method)
VALUE_CASES = {
    "NaN feature": (_set_rows("c2", np.nan), CalibFlag.NON_FINITE_INPUT, None),  # c2: no numerical input
    "inf feature": (_set_rows("width", np.inf), CalibFlag.NON_FINITE_INPUT, None),
    "inf energy": (_set_rows("e_reco", np.inf), CalibFlag.NON_FINITE_INPUT, CalibFlag.NON_FINITE_INPUT),
    # regression: E = m = inf passed through made pT = sqrt(inf - inf) warn (a traceback in tests)
    "inf energy and mass": (_both(_set_rows("e_reco", np.inf), _set_rows("m_reco", np.inf)),
                            CalibFlag.NON_FINITE_INPUT, CalibFlag.NON_FINITE_INPUT),
    "NaN mass": (_set_rows("m_reco", np.nan), CalibFlag.NON_FINITE_INPUT, CalibFlag.NON_FINITE_INPUT),
    "-inf eta": (_both(_set_rows("eta_reco", -np.inf), _set_rows("eta", -np.inf)),
                 CalibFlag.NON_FINITE_INPUT, CalibFlag.NON_FINITE_INPUT),
    "m = 0": (_set_rows("m_reco", 0.0), CalibFlag.NON_POSITIVE_MASS, CalibFlag.NON_POSITIVE_MASS),
    "m < 0": (_set_rows("m_reco", -5.0), CalibFlag.NON_POSITIVE_MASS, CalibFlag.NON_POSITIVE_MASS),
    "E < m": (_set_rows("m_reco", lambda t: 2 * t["e_reco"]), CalibFlag.OUT_OF_RANGE, CalibFlag.OUT_OF_RANGE),
    "|eta| > 4.9": (_both(_set_rows("eta_reco", 5.5), _set_rows("eta", 5.5)),
                    CalibFlag.OUT_OF_RANGE, CalibFlag.OUT_OF_RANGE),
}


@pytest.mark.parametrize("case", list(VALUE_CASES))
@pytest.mark.parametrize("method", ["dnn", "numerical"])
def test_calibrate_passes_unusable_jets_through_flagged(method, case, assets, tmp_path, capsys):
    change, flag_dnn, flag_num = VALUE_CASES[case]
    expected = flag_dnn if method == "dnn" else flag_num
    src = _write_variant(tmp_path / "bad.parquet", change)
    dst = tmp_path / "cal.parquet"
    code, out, err = run(capsys, *_argv(f"calibrate {method}", src, tmp_path, assets))
    assert code == 0, err
    table, _ = read_table(dst)
    flag = table["calib_flag"]
    bad = slice(0, BAD_ROWS)
    if expected is None:  # not an input of this method: calibrated as usual
        assert not np.isin(flag[bad], [CalibFlag.NON_FINITE_INPUT, CalibFlag.NON_POSITIVE_MASS]).any()
        return
    assert (flag[bad] == expected).all(), flag[bad]
    # passed through: reco kinematics unchanged (NaN stays NaN)
    np.testing.assert_array_equal(table["e_cal"][bad], table["e_reco"][bad].astype(np.float32))
    np.testing.assert_array_equal(table["m_cal"][bad], table["m_reco"][bad].astype(np.float32))
    # the good jets are still calibrated, and the summary counts every flag
    assert (flag[BAD_ROWS:] == 0).mean() > 0.5
    for value, n in zip(*np.unique(flag[flag != 0], return_counts=True), strict=True):
        assert f"flag {value}: {n}" in out, out
    assert f"{int((flag != 0).sum()):,} flagged" in out


def _mixed_bad(t):
    # one kind of bad value per block of 10 rows, most rows good
    for i, (change, _, _) in enumerate(VALUE_CASES.values()):
        block = {k: v[i * BAD_ROWS:] for k, v in t.items()}
        change(block)
        for k, v in block.items():
            t[k] = t[k].copy()
            t[k][i * BAD_ROWS:(i + 1) * BAD_ROWS] = v[:BAD_ROWS]


def test_info_stats_counts_non_finite_values(assets, tmp_path, capsys):
    src = _write_variant(tmp_path / "bad.parquet", _set_rows("c2", np.nan))
    code, out, err = run(capsys, "info", src, "--stats")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.split()[:1] == ["c2"])
    assert row.split()[-1] == str(BAD_ROWS)


def test_numerical_fit_leaves_out_unusable_jets_and_says_so(assets, tmp_path, capsys):
    from jetcalib.dnn.toys import toy_jets

    table = {k: v for k, v in toy_jets(8000, seed=3).items() if not k.startswith("toy_")}
    _mixed_bad(table)
    src = tmp_path / "bad.parquet"
    write_table(src, table)
    code, out, err = run(capsys, "numerical", "fit", src, "-o", tmp_path / "cal.json")
    assert code == 0, err
    # NaN/inf c2 and width are no numerical inputs: those blocks are used
    n_bad = BAD_ROWS * sum(1 for _, _, flag_num in VALUE_CASES.values() if flag_num is not None)
    assert f"left out {n_bad} of 8,000 jets" in out
    import jetcalib

    assert jetcalib.load(tmp_path / "cal.json").calibrate(table)["e_cal"].size == 8000


@pytest.mark.parametrize("command", ["numerical fit", "train", "evaluate"])
def test_table_without_one_usable_jet_is_refused(command, assets, tmp_path, capsys):
    src = _write_variant(tmp_path / "allbad.parquet", lambda t: t.__setitem__("e_reco", np.full_like(t["e_reco"], np.nan)))
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, *_argv(command, src, out, assets))
    assert code == 2, err
    line = one_error_line(err)
    assert "allbad.parquet" in line or command == "train", line
    assert "usable" in line or "0 of" in line or "no jet" in line, line
    # train makes its (still empty) model directory before it reads the data: no artifact.json
    assert leftovers(out) in ([], ["model"])


def test_train_and_evaluate_run_with_some_unusable_jets(assets, tmp_path, monkeypatch, capsys):
    # rendering the ~20 PNGs costs ~10 s on 2 busy cores; the figures are still built
    import matplotlib.pyplot as plt

    import jetcalib.evaluate.report

    monkeypatch.setattr(jetcalib.evaluate.report, "_png", lambda fig: plt.close(fig) or "")
    table = base_table()
    _mixed_bad(table)
    src = tmp_path / "bad.parquet"
    write_table(src, table)
    code, _, err = run(capsys, "train", "--data", src, "-o", tmp_path / "model", "--config", assets["tiny"], "-q")
    assert code == 0, err
    model = tmp_path / "model"
    code, _, err = run(capsys, "evaluate", src, "--method", f"dnn={model}", "-o", tmp_path / "report",
                         "--bootstrap", "2")
    assert code == 0, err
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    # the flagged jets are evaluated with their fallback (reco) kinematics, and counted
    assert summary["flagged_fraction"]["dnn"] >= len(VALUE_CASES) * BAD_ROWS / len(table["e_reco"]) - 1e-9


# --- generate and export: their inputs are a config and a model ----------------------------------
GENERATE_CONFIGS = {
    "missing config": (None, "cannot read detector config"),
    "binary config": (bytes(range(256)) * 4, "detector config"),
    "not a mapping": (b"- 1\n- 2\n", "must be a YAML mapping"),
    "mistyped value": (b"calorimeter: {h_over_e: lots}\n", "calorimeter.h_over_e"),
    "unknown key": (b"calorimeter: {no_such_knob: 1}\n", "no_such_knob"),
    "unknown grooming": (b"jets: {grooming: pruning}\n", "jets.grooming"),
    "softdrop z_cut out of range": (b"jets: {grooming: softdrop, softdrop_zcut: 0.7}\n", "jets.softdrop_zcut"),
    "softkiller grid out of range": (b"jets: {softkiller: true, softkiller_grid: 0}\n", "jets.softkiller_grid"),
}


@pytest.mark.parametrize("case", list(GENERATE_CONFIGS))
def test_generate_bad_config(case, tmp_path, capsys):
    content, words = GENERATE_CONFIGS[case]
    cfg = tmp_path / "det.yaml"
    if content is not None:
        cfg.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, "generate", "--events", "5", "--config", cfg, "--out", out / "x.parquet")
    assert code == 2, err
    line = one_error_line(err)
    assert "det.yaml" in line, line
    assert words in line, line
    assert leftovers(out) == []


def test_generate_empty_config_means_defaults(tmp_path, capsys):
    cfg = tmp_path / "empty.yaml"
    cfg.write_bytes(b"")
    code, out, err = run(capsys, "generate", "--dump-config", "--config", cfg)
    assert code == 0, err
    assert "h_over_e: 0.6" in out


EXPORT_INPUTS = {
    "missing model": (lambda d: d / "nomodel", "calibration artifact not found"),
    "empty directory": (lambda d: (d / "m").mkdir() or d / "m", "no artifact.json"),
    "0-byte artifact.json": (lambda d: (d / "m").mkdir() or _file(d / "m" / "artifact.json", b"").parent,
                             "not a jetcalib calibration artifact"),
    "a jet table": (lambda d: _write_variant(d / "jets.parquet", lambda t: None), "not a jetcalib calibration artifact"),
    "a text file": (lambda d: _file(d / "m.txt", b"hello"), "not a jetcalib calibration artifact"),
}


@pytest.mark.parametrize("case", list(EXPORT_INPUTS))
def test_export_bad_model(case, tmp_path, capsys):
    make, words = EXPORT_INPUTS[case]
    src = make(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, "export", src, "-o", out / "model.onnx")
    assert code == 2, err
    line = one_error_line(err)
    assert str(src) in line, line
    assert words in line, line
    assert leftovers(out) == []


def test_export_refuses_a_numerical_calibration(assets, tmp_path, capsys):
    code, _, err = run(capsys, "export", assets["numcal"], "-o", tmp_path / "m.onnx")
    assert code == 2
    assert "only a DNN model" in one_error_line(err)
    assert leftovers(tmp_path) == []


# --- failing writes: read-only directory, full disk ----------------------------------------------
@pytest.fixture
def fast_generation(monkeypatch):
    """``generate`` without Pythia: every chunk yields 3 toy jets (the writes are under test)."""
    import jetcalib.sim.pipeline as pipeline
    import jetcalib.sim.runner as runner

    def simulate_chunk(chunk, mu_range, cfg, pool):
        t = base_table(3, seed=chunk.index)
        t["event"] = np.arange(chunk.first_event, chunk.first_event + 3, dtype=np.int64)
        return t, {}

    monkeypatch.setattr(runner, "_pool_for", lambda cfg_json: None)
    monkeypatch.setattr(pipeline, "simulate_chunk", simulate_chunk)


def _output_argv(command: str, out: Path, a: dict[str, Path]) -> list[object]:
    if command == "generate":
        return ["generate", "--events", "10", "--out", out / "gen.parquet"]
    if command == "export":
        return ["export", a["model"], "-o", out / "model.onnx"]
    return _argv(command, a["good"], out, a)


#: (command, the writer that fails as on a full disk)
WRITERS = [
    ("generate", "pyarrow.parquet.ParquetWriter.write_table"),
    ("numerical fit", "pathlib.Path.write_text"),
    ("train", "torch.save"),  # the first checkpoint
    ("calibrate numerical", "pyarrow.parquet.ParquetWriter.write_table"),
    ("calibrate dnn", "pyarrow.parquet.ParquetWriter.write_table"),
    ("calibrate dnn", "pyarrow.parquet.ParquetWriter.close"),  # the last row group's flush
    ("evaluate", "pathlib.Path.write_text"),  # summary.json, after binned_metrics.*
    ("export", "pathlib.Path.write_bytes"),  # model.onnx
    ("export", "pathlib.Path.write_text"),  # the sidecar, after both .onnx files
]
COMMANDS_WITH_OUTPUT = list(dict.fromkeys(c for c, _ in WRITERS))


@pytest.mark.parametrize("command", COMMANDS_WITH_OUTPUT)
def test_read_only_output_directory(command, assets, readonly_dir, fast_generation, capsys):
    code, _, err = run(capsys, *_output_argv(command, readonly_dir, assets))
    assert code == 2, err
    line = one_error_line(err)
    assert str(readonly_dir) in line, line
    assert "not writable" in line or "Permission denied" in line, line
    assert leftovers(readonly_dir) == []


@pytest.mark.parametrize(("command", "writer"), WRITERS)
def test_disk_full(command, writer, assets, tmp_path, monkeypatch, fast_generation, capsys):
    out = tmp_path / "out"
    out.mkdir()
    disk_full(monkeypatch, writer)
    code, _, err = run(capsys, *_output_argv(command, out, assets))
    assert code == 2, err
    line = one_error_line(err)
    assert os.strerror(errno.ENOSPC) in line, line
    assert str(out) in line, line
    # nothing that looks like a finished output: generate keeps its hidden chunk files to
    # resume; train its logs (a model directory without artifact.json is refused by load)
    left = [p for p in leftovers(out) if not p.startswith((".gen.parquet.chunks-", "model/logs"))]
    assert left in ([], ["model"], ["model", "model/checkpoints"]), leftovers(out)


# --- a million jets ---------------------------------------------------------------------------------
def _peak_mb_of_calibrate(calibration: Path, src: Path, dst: Path) -> tuple[float, str]:
    code = (
        "import sys\n"
        "from jetcalib.cli import main\n"
        f"rc = main(['calibrate', {str(calibration)!r}, {str(src)!r}, '-o', {str(dst)!r}, "
        "'--chunk-rows', '100000'])\n"
        # VmHWM, not ru_maxrss (which survives fork+exec: see tests/cli/test_info_memory.py)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK_KB', hwm.split()[1])\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split("PEAK_KB")[1].split()[0]) / 1024, proc.stdout


@pytest.mark.slow
def test_calibrate_million_jets_with_bounded_memory(assets, tmp_path):
    """1M jets through ``calibrate`` in 100k-row chunks: the peak memory is that of 100k jets.
    (``info`` on 1M rows: tests/cli/test_info_memory.py.) Regression: the numerical JMS copied
    its 24 × 20 grid for every jet, 0.4 GB per 100k-jet chunk (peak 645 MB, now ~280 MB with
    every column of the schema)."""
    block = {k: v for k, v in base_table(100_000, seed=5).items()
             if k in ("event", "weight", "e_reco", "m_reco", "eta_reco", "eta", "pt_reco", "phi_reco",
                      "e_true", "m_true")}
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    write_table(small, block)
    with TableWriter(big, DatasetMetadata(producer="memory test")) as w:
        for i in range(10):
            block["event"] = np.arange(i * 100_000, (i + 1) * 100_000, dtype=np.int64)
            w.write(block)
    del block
    peak_small, _ = _peak_mb_of_calibrate(assets["numcal"], small, tmp_path / "small_cal.parquet")
    peak_big, out = _peak_mb_of_calibrate(assets["numcal"], big, tmp_path / "big_cal.parquet")
    assert "1,000,000 jets" in out
    assert pq.ParquetFile(tmp_path / "big_cal.parquet").metadata.num_rows == 1_000_000
    assert peak_big - peak_small < 60, f"1M jets: {peak_big:.0f} MB, 100k jets: {peak_small:.0f} MB"
    assert peak_big < 300, f"peak RSS {peak_big:.0f} MB"
    print(f"jetcalib calibrate: peak RSS {peak_small:.0f} MB on 100k jets, {peak_big:.0f} MB on 1M")


@pytest.mark.parametrize(("content", "words"), [
    (b"simulation_version: '1'\n", "this config is for simulation version 1"),
    (b"calorimeter: {crack_barrel_endcap_response: 0.7}\n", "is a setting of simulation version 1"),
    (b"topo: {lc_ooc_dm_factor: 1.06}\n", "is a setting of simulation version 1"),
    (b"simulation_version: '2'\n", "this config is for simulation version 2"),
    (b"calorimeter: {cell_deta: 0.05, n_phi: 128}\n", "is a setting of simulation version 2"),
    (b"calorimeter: {n_spots: 4}\n", "is a setting of simulation version 2"),
])
def test_generate_config_of_another_simulation_version(content, words, tmp_path, capsys):
    cfg = tmp_path / "det.yaml"
    cfg.write_bytes(content)
    code, _, err = run(capsys, "generate", "--events", "5", "--config", cfg, "--out", tmp_path / "x.parquet")
    assert code == 2, err
    assert words in one_error_line(err)


def _layer(regions, n_phi=64):
    return {"eta_regions": [list(r) for r in regions], "n_phi": n_phi}


@pytest.mark.parametrize(("layers", "words"), [
    ([_layer([(4.9, 0.1)])], "6 layers"),
    ([_layer([(4.9, 0.3)])] * 6, "whole number of cells"),
    ([_layer([(3.2, 0.1)])] * 6, "not at eta_max"),
    ([_layer([(4.9, 0.1)])] * 5 + [_layer([(4.9, 0.1)], 96)], "not a multiple"),
    ([_layer([(2.0, 0.1), (1.0, 0.1), (4.9, 0.1)])] * 6, "eta_regions"),
])
def test_generate_inconsistent_granularity(layers, words, tmp_path, capsys):
    import yaml

    cfg = tmp_path / "det.yaml"
    cfg.write_text(yaml.safe_dump({"calorimeter": {"granularity": layers}}))
    code, _, err = run(capsys, "generate", "--events", "5", "--config", cfg, "--out", tmp_path / "x.parquet")
    assert code == 2, err
    assert words in one_error_line(err)
    assert not (tmp_path / "x.parquet").exists()


def test_training_table_of_another_simulation_version_is_refused(tmp_path, assets, capsys):
    from jetcalib.io import DatasetMetadata, write_table

    old = tmp_path / "v1.parquet"
    meta = DatasetMetadata(producer="jetcalib generate", generator={"process": "dijet"})  # no version: v1
    write_table(old, base_table(), meta)
    code, _, err = run(capsys, "numerical", "fit", old, "-o", tmp_path / "n.json")
    assert code == 2, err
    assert "simulation version 1" in one_error_line(err)
    assert "regenerate" in err
    code, _, err = run(capsys, "train", "--data", old, "--data", assets["good"], "-o", tmp_path / "m",
                       "--config", assets["tiny"], "-q")
    assert code == 2, err
    assert "simulation version 1" in one_error_line(err)
    assert not (tmp_path / "m").exists()
