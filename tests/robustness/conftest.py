"""Fixtures of the robustness suite: one good jet table, a fitted numerical calibration, a small
DNN model (random weights: enough to exercise loading and calibrating) and a tiny training
config, made once per session; and the two ways a write can fail (read-only directory, full disk)."""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest

#: Jets in the good table every bad-input case starts from.
N_JETS = 1500


def base_table(n: int = N_JETS, seed: int = 1) -> dict[str, np.ndarray]:
    """Toy jets with every schema column (the toy's hidden true modes dropped)."""
    from jetcalib.dnn.toys import toy_jets

    return {k: v for k, v in toy_jets(n, seed=seed).items() if not k.startswith("toy_")}


def leftovers(directory: Path) -> list[str]:
    """Every path below ``directory`` (for 'a failed command left nothing behind')."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """good.parquet, numcal.json (numerical calibration), model/ (DNN), tiny.toml (training)."""
    import torch

    from jetcalib.dnn import CalibrationNet, DNNCalibration, DNNConfig
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.features import Normalisation, feature_matrix
    from jetcalib.io import DatasetMetadata, write_table
    from jetcalib.numerical import NumericalCalibration

    d = tmp_path_factory.mktemp("assets")
    table = base_table()
    write_table(d / "good.parquet", table, DatasetMetadata(producer="robustness tests", seeds=[1]))
    numcal = NumericalCalibration.fit(toy_jets(8000, seed=2))  # 8k: 0.7 s, 20k: 3 s
    numcal.save(d / "numcal.json")
    torch.manual_seed(0)
    cfg = DNNConfig.from_dict({"network": {"width": 16, "n_blocks": 1, "mass_residual_width": 8}})
    norm = Normalisation.fit(feature_matrix(table, cfg.features), cfg.features)
    net = CalibrationNet(len(cfg.features), cfg.network)
    net.set_output_bias(-0.1, 0.05)  # responses ≈ 0.9 and 1.05: calibrated ≠ reco
    # residual closure: any numerical calibration will do for these tests
    DNNCalibration(net, cfg, norm, residual=numcal).save(d / "model")
    (d / "tiny.toml").write_text(
        "[network]\nwidth = 8\nn_blocks = 1\nmass_residual_width = 4\n"
        "[loss]\npretrain_epochs = 0\nanneal_epochs = 1\n"
        "[training]\nepochs = 1\nbatch_size = 512\nthreads = 1\n"
    )
    return {"dir": d, "good": d / "good.parquet", "numcal": d / "numcal.json", "model": d / "model",
            "tiny": d / "tiny.toml"}


# --- failing writes ------------------------------------------------------------------------------
@pytest.fixture
def readonly_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A read-only directory: mode 0555 and, because root ignores mode bits, the kernel's
    answer (EACCES) for every file or directory created below it."""
    directory = tmp_path / "readonly"
    directory.mkdir()
    directory.chmod(0o555)
    if os.geteuid() == 0:
        _deny_writes(monkeypatch, directory)
    yield directory
    monkeypatch.undo()
    directory.chmod(0o755)


def _deny_writes(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    root = str(directory.resolve())

    def inside(path: object) -> bool:
        try:
            return str(Path(os.fsdecode(path)).resolve()).startswith(root)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def refuse(path: object) -> OSError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))  # type: ignore[arg-type]

    real_open, real_os_open, real_mkdir, real_access = builtins.open, os.open, os.mkdir, os.access

    def fake_open(file, mode="r", *args, **kwargs):
        if isinstance(file, str | bytes | os.PathLike) and any(c in mode for c in "wax+") and inside(file):
            raise refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path):
            raise refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def fake_access(path, mode, *args, **kwargs):
        if mode & os.W_OK and inside(path):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "access", fake_access)


def disk_full(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """Make the writer ``target`` ("module.attr" or "module.Class.method") fail as on a full
    disk: ``OSError(ENOSPC)``."""
    import importlib

    module_name, _, attr = target.rpartition(".")
    try:
        owner: object = importlib.import_module(module_name)
    except ModuleNotFoundError:  # module.Class.method
        mod, _, cls = module_name.rpartition(".")
        owner = getattr(importlib.import_module(mod), cls)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(owner, attr, full)
