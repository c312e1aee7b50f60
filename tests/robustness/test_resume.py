"""``train`` refuses, in one line and before any training, what cannot work: an output path
that is a file, a ``--resume`` with fewer epochs than already run or with another network, a
checkpoint whose Lightning state names files outside the model directory (Lightning would
delete them), and a table too small for the residual closure fitted after training."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import yaml

from jetcalib.cli import main

from .conftest import base_table


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3-epoch training run of a tiny network, and its config."""
    from jetcalib.io import write_table

    d = tmp_path_factory.mktemp("resume")
    write_table(d / "train.parquet", base_table(3000, seed=41))
    net = {"width": 8, "n_blocks": 1, "mass_residual_width": 4}
    training = {"epochs": 3, "batch_size": 512, "threads": 1, "patience": 3}
    (d / "dnn.yaml").write_text(yaml.safe_dump({"network": net, "training": training,
                                                "loss": {"pretrain_epochs": 1, "anneal_epochs": 1}}))
    assert main(["train", "--data", str(d / "train.parquet"), "-o", str(d / "model"),
                 "--config", str(d / "dnn.yaml"), "-q"]) == 0
    return {"data": d / "train.parquet", "config": d / "dnn.yaml", "model": d / "model"}


def _config(tmp_path: Path, trained: dict[str, Path], **changes: dict) -> Path:
    doc = yaml.safe_load(trained["config"].read_text())
    for section, values in changes.items():
        doc[section].update(values)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _train(capsys: pytest.CaptureFixture[str], data: Path, out: Path, cfg: Path, *extra: str) -> tuple[int, str]:
    code = main(["train", "--data", str(data), "-o", str(out), "--config", str(cfg), "-q", *extra])
    return code, capsys.readouterr().err


def _copy(model: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "model"
    shutil.copytree(model, target)
    (target / "artifact.json").unlink()  # as if killed before the end
    return target


def test_output_that_is_a_file_is_refused(tmp_path, trained, capsys):
    out = tmp_path / "model"
    out.write_text("mine")
    code, err = _train(capsys, trained["data"], out, trained["config"])
    assert code == 2
    assert "is not a directory" in err
    assert out.read_text() == "mine"


def test_resume_with_fewer_epochs_than_done_is_refused(tmp_path, trained, capsys):
    model = _copy(trained["model"], tmp_path)
    code, err = _train(capsys, trained["data"], model, _config(tmp_path, trained, training={"epochs": 2}), "--resume")
    assert code == 2
    assert "3 epochs already done" in err
    assert len(err.strip().splitlines()) <= 2  # one message (rich may wrap it), no traceback


def test_resume_with_another_network_is_refused(tmp_path, trained, capsys):
    model = _copy(trained["model"], tmp_path)
    code, err = _train(capsys, trained["data"], model, _config(tmp_path, trained, network={"width": 16}), "--resume")
    assert code == 2
    assert "another network" in err
    assert "Traceback" not in err


def test_resume_from_a_checkpoint_naming_files_outside_is_refused(tmp_path, trained, capsys):
    model = _copy(trained["model"], tmp_path)
    victim = tmp_path / "precious.txt"
    victim.write_text("not jetcalib's")
    last = model / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    key = next(k for k in ckpt["callbacks"] if k.startswith("ModelCheckpoint"))
    state = ckpt["callbacks"][key]
    state["kth_best_model_path"] = str(victim)  # what Lightning removes when a better model comes
    state["best_k_models"] = {str(victim): torch.tensor(1e9)}
    torch.save(ckpt, last)
    code, err = _train(capsys, trained["data"], model,
                       _config(tmp_path, trained, training={"epochs": 5}), "--resume")
    assert code == 2
    assert "lies outside" in err
    assert victim.read_text() == "not jetcalib's"


def test_resume_to_more_epochs_continues(tmp_path, trained, capsys):
    from jetcalib.dnn import DNNCalibration

    model = _copy(trained["model"], tmp_path)
    code, err = _train(capsys, trained["data"], model, _config(tmp_path, trained, training={"epochs": 4}), "--resume")
    assert code == 0, err
    assert DNNCalibration.load(model).summary["epochs_run"] == 4
    # the copy kept its best-model record, re-rooted at its own directory
    ckpt = torch.load(model / "checkpoints" / "last.ckpt", weights_only=True)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert Path(state["best_model_path"]).parent == (model / "checkpoints").resolve()
    assert state["best_model_score"] is not None


def test_too_small_a_table_for_the_closure_fails_before_training(tmp_path, capsys):
    from jetcalib.io import write_table

    data = tmp_path / "small.parquet"
    write_table(data, base_table(90, seed=42))
    cfg = tmp_path / "dnn.yaml"
    cfg.write_text(yaml.safe_dump({"network": {"width": 8, "n_blocks": 1, "mass_residual_width": 4},
                                   "training": {"epochs": 200, "batch_size": 32, "threads": 1}}))
    t0 = time.perf_counter()
    code, err = _train(capsys, data, tmp_path / "model", cfg)
    assert code == 2
    assert "residual closure" in err
    assert time.perf_counter() - t0 < 20  # 200 epochs were not run first
    assert not (tmp_path / "model" / "checkpoints").exists()
