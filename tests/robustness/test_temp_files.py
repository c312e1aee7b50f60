"""Temporary files and output names: a temporary output is created exclusively under a random
short name (never written through a planted symlink, never a function of the process id), any
output name the file system accepts works, a longer one is refused before any work, and
``generate``'s predictable resume directory is never a planted symlink."""

from __future__ import annotations

import os
import re

import pytest
from tests.conftest import one_error_line, run

from jetcalib.io import atomic_path


def test_temporary_names_are_random_short_and_exclusive(tmp_path):
    target = tmp_path / ("x" * 240 + ".parquet")
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b
        assert a.is_file()
        assert not a.is_symlink()
        assert str(os.getpid()) not in a.name
        assert len(a.name) < 32
        a.write_text("first")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_symlink_at_the_output_name_is_replaced_not_followed(tmp_path, assets, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("not jetcalib's")
    out = tmp_path / "cal.parquet"
    out.symlink_to(victim)
    code, _, err = run(capsys, "calibrate", assets["numcal"], assets["good"], "-o", out)
    assert code == 0, err
    assert victim.read_text() == "not jetcalib's"
    assert out.is_file()
    assert not out.is_symlink()


def test_longest_valid_output_name_works(tmp_path, assets, capsys):
    out = tmp_path / ("c" * 247 + ".parquet")  # 255 bytes, the most ext4 and tmpfs allow
    code, _, err = run(capsys, "calibrate", assets["numcal"], assets["good"], "-o", out)
    assert code == 0, err
    assert out.is_file()


@pytest.mark.parametrize("case", ["name", "path"])
def test_output_name_the_file_system_cannot_hold_is_one_line(case, tmp_path, assets, capsys):
    if case == "name":
        out, words = tmp_path / ("c" * 300 + ".parquet"), "file name is longer than"
    else:
        out, words = tmp_path.joinpath(*["d" * 200] * 25, "cal.parquet"), "path is longer than"
    code, _, err = run(capsys, "calibrate", assets["numcal"], assets["good"], "-o", out)
    assert code == 2, err
    assert words in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sim
def test_generate_refuses_a_planted_work_directory(tmp_path, capsys):
    from jetcalib.sim.runner import _run_key, _workdir

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "g.parquet"
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text("pileup: {pool_size: 100}\n")
    from jetcalib.sim import SimConfig

    cfg = SimConfig.model_validate({"pileup": {"pool_size": 100}})
    key = _run_key("dijet", 4, 9, (10.0, 20.0), cfg)
    workdir = _workdir(out, key)  # the name this run will use...
    workdir.rmdir()
    workdir.symlink_to(elsewhere)  # ...planted as a symlink by someone else
    code, _, err = run(capsys, "generate", "--events", "4", "--seed", "9", "--mu", "10:20",
                       "--config", cfg_path, "--out", out)
    assert code == 2, err
    assert re.search(r"not a directory of yours", one_error_line(err))
    assert list(elsewhere.iterdir()) == []
    assert not out.exists()
