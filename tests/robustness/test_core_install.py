"""The core install (no extras) calibrates: a child interpreter in which the modules of every
extra (torch, Lightning, Pythia, FastJet, numba, dask, matplotlib, ...) cannot be imported
calibrates a Parquet table with an ONNX export, a correctionlib file and a numerical
calibration, and never imports them; a command that needs an extra says which, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jetcalib._extras import EXTRA_OF
from jetcalib.cli import main

BLOCKER = f'''
import importlib.abc, sys
BLOCK = {sorted(EXTRA_OF)!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from jetcalib.cli import main
code = main(sys.argv[1:])
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in BLOCK))
sys.exit(code)
'''


def _core(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKER, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def exports(assets, tmp_path_factory) -> dict[str, Path]:
    from jetcalib.numerical import NumericalCalibration, write_correctionlib

    d = tmp_path_factory.mktemp("core")
    assert main(["export", str(assets["model"]), "-o", str(d / "m.onnx")]) == 0
    write_correctionlib(NumericalCalibration.load(assets["numcal"]), d / "num.corr.json")
    return {"onnx": d / "m.onnx", "correctionlib": d / "num.corr.json", "numerical": assets["numcal"]}


@pytest.mark.parametrize("kind", ["onnx", "correctionlib", "numerical"])
def test_core_install_calibrates_without_any_extra(kind, exports, assets, tmp_path):
    out = tmp_path / "cal.parquet"
    proc = _core("calibrate", exports[kind], assets["good"], "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout
    assert out.is_file()


@pytest.mark.parametrize(("args", "extra"), [
    (["generate", "--events", "5", "--out", "{d}/g.parquet"], "sim"),
    (["train", "--data", "{good}", "-o", "{d}/m", "--config", "{tiny}", "-q"], "train"),
    (["calibrate", "{model}", "{good}", "-o", "{d}/c.parquet"], "train"),
])
def test_a_command_needing_an_extra_names_it(args, extra, assets, tmp_path):
    filled = [a.format(d=tmp_path, good=assets["good"], tiny=assets["tiny"], model=assets["model"]) for a in args]
    proc = _core(*filled)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'jetcalib[{extra}]'" in lines[0]
