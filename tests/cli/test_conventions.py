"""Command-line conventions: ``--version``, ``-h`` as ``--help`` everywhere, and an output
path ``calibrate`` cannot write refused instead of becoming a directory."""

from __future__ import annotations

import pytest
from tests.conftest import make_jet_table, one_error_line, run

import jetcalib
from jetcalib.io import write_table

COMMANDS = [["info"], ["generate"], ["numerical"], ["numerical", "fit"], ["train"], ["calibrate"],
            ["evaluate"], ["export"], ["demo"]]


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"jetcalib {jetcalib.__version__}"


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "jetcalib")
def test_dash_h_is_help(command, capsys):
    code, short, _ = run(capsys, *command, "-h")
    assert code == 0
    assert "Usage:" in short
    code, long, _ = run(capsys, *command, "--help")
    assert code == 0
    assert short == long


def test_every_command_is_covered():
    from jetcalib.cli import _COMMAND_MODULES

    assert set(_COMMAND_MODULES) <= {c[0] for c in COMMANDS}


@pytest.fixture(scope="module")
def numcal(tmp_path_factory):
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.numerical import NumericalCalibration

    path = tmp_path_factory.mktemp("cal") / "numcal.json"
    NumericalCalibration.fit(toy_jets(8000, seed=2)).save(path)
    return path


@pytest.mark.parametrize("name", ["out.csv", "out.parquet.gz", "out.txt"])
def test_output_with_unknown_suffix_is_refused(name, numcal, tmp_path, capsys):
    src = tmp_path / "jets.parquet"
    write_table(src, make_jet_table(300))
    code, _, err = run(capsys, "calibrate", numcal, src, "-o", tmp_path / name)
    assert code == 2
    line = one_error_line(err)
    assert name in line
    assert ".parquet" in line
    assert ".root" in line
    assert not (tmp_path / name).exists()


def test_output_directory_still_works(numcal, tmp_path, capsys):
    src = tmp_path / "jets.parquet"
    write_table(src, make_jet_table(300))
    code, _, err = run(capsys, "calibrate", numcal, src, "-o", tmp_path / "out")  # no suffix
    assert code == 0, err
    assert (tmp_path / "out" / "jets.parquet").is_file()
    (tmp_path / "v1.0").mkdir()  # a suffix, but already a directory
    code, _, err = run(capsys, "calibrate", numcal, src, "-o", tmp_path / "v1.0")
    assert code == 0, err
    assert (tmp_path / "v1.0" / "jets.parquet").is_file()


def test_several_inputs_into_a_table_name_is_refused(numcal, tmp_path, capsys):
    srcs = []
    for name in ("a", "b"):
        srcs.append(tmp_path / f"{name}.parquet")
        write_table(srcs[-1], make_jet_table(300))
    code, _, err = run(capsys, "calibrate", numcal, *srcs, "-o", tmp_path / "out.parquet")
    assert code == 2
    assert "2 inputs need an output directory" in one_error_line(err)
    assert not (tmp_path / "out.parquet").exists()


def test_stdout_carries_results_only(tmp_path):
    """Progress, spinners and FastJet's banner go to stderr; stdout has the result lines."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "JETCALIB_CACHE": str(tmp_path / "cache")}
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("pileup: {pool_size: 50}\ngeneration: {chunk_size: 5}\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; from jetcalib.cli import main; sys.exit(main())",
                           "generate", "--events", "5", "--config", str(cfg), "-o", str(tmp_path / "g.parquet")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "FastJet" not in proc.stdout
    assert "━" not in proc.stdout  # the progress bar
    assert proc.stdout.strip().startswith("wrote")
    assert "FastJet" in proc.stderr
