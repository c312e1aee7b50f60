"""Tiny Lightning training runs on toy data: the LGK loss finds the MODE of a skewed response
(MSE finds the mean), resuming from a checkpoint reproduces an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.dnn.conftest import tiny_config

from jetcalib.dnn import DNNCalibration, train
from jetcalib.errors import ArtifactError, InputError
from jetcalib.features import feature_matrix


def _bias(model: DNNCalibration, table: dict) -> tuple[float, float]:
    """Median of log r̂ − log(true mode), energy and mass (mass where m_true > 30 GeV)."""
    r_e, r_m = model.predict_responses(feature_matrix(table, model.features))
    heavy = table["m_true"] > 30
    return (float(np.median(np.log(r_e) - np.log(table["toy_mode_e"]))),
            float(np.median(np.log(r_m[heavy]) - np.log(table["toy_mode_m"][heavy]))))


def test_lgk_learns_the_mode_better_than_mse(tmp_path, toy_train, toy_test):
    lgk = train(toy_train, tmp_path / "lgk", tiny_config(epochs=5), progress=False)
    cfg = tiny_config(epochs=5, loss={"kind": "mse"})
    mse = train(toy_train, tmp_path / "mse", cfg, progress=False)
    b_lgk, b_mse = _bias(lgk, toy_test), _bias(mse, toy_test)
    # The toy's energy tail is low and its mass tail high: the mean sits ~0.09 below / ~0.1
    # above the mode; the mode-seeking loss must land much closer to the mode.
    assert abs(b_lgk[0]) < 0.03
    assert abs(b_lgk[1]) < 0.04
    assert b_mse[0] < -0.05
    assert b_mse[1] > 0.05
    assert abs(b_lgk[0]) < 0.5 * abs(b_mse[0])
    assert abs(b_lgk[1]) < 0.5 * abs(b_mse[1])
    s = lgk.summary
    assert s["jets_per_s"] > 0
    assert s["n_val"] >= 0.1 * (s["n_train"] + s["n_val"])
    assert (tmp_path / "lgk" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "lgk" / "logs" / "version_0" / "metrics.csv").is_file()


def test_resume_from_checkpoint_reproduces_an_uninterrupted_run(tmp_path, toy_train):
    table = {k: v[:6000] for k, v in toy_train.items()}
    cfg = tiny_config(epochs=3)
    full = train(table, tmp_path / "full", cfg, progress=False)
    train(table, tmp_path / "cut", cfg, progress=False, stop_after_epochs=2)
    with pytest.raises(InputError, match="--resume"):
        train(table, tmp_path / "cut", cfg, progress=False)
    resumed = train(table, tmp_path / "cut", cfg, progress=False, resume=True)
    a, b = full.net.state_dict(), resumed.net.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert resumed.summary["epochs_run"] == full.summary["epochs_run"] == 3
    # The final weights too (the saved model is the best epoch, which could predate the cut).
    last = [torch.load(tmp_path / d / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
            for d in ("full", "cut")]
    assert last[0]["net.head_e.weight"].abs().sum() > 0
    assert all(torch.allclose(last[0][k], last[1][k], atol=1e-6) for k in last[0])


def test_resume_without_checkpoint_is_refused(tmp_path, toy_train):
    with pytest.raises(InputError, match="nothing to resume"):
        train(toy_train, tmp_path / "none", tiny_config(), resume=True, progress=False)


def test_missing_truth_column_is_named(tmp_path, toy_train):
    table = {k: v for k, v in toy_train.items() if k != "m_true"}
    with pytest.raises(InputError, match="training table: missing column m_true"):
        train(table, tmp_path / "m", tiny_config(), progress=False)


class _Payload:
    """Unpickling this creates ``path``: what a crafted checkpoint would do to a victim."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_checkpoint_never_runs_code_on_resume(tmp_path, toy_train):
    model_dir, victim = tmp_path / "m", tmp_path / "pwned"
    (model_dir / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "x": _Payload(str(victim))}, model_dir / "checkpoints" / "last.ckpt")
    with pytest.raises(ArtifactError, match=r"last\.ckpt: not a readable training checkpoint"):
        train(toy_train, model_dir, tiny_config(), resume=True, progress=False)
    assert not victim.exists()


def test_checkpoint_outside_the_model_directory_or_corrupt_is_refused(tmp_path, toy_train):
    model_dir = tmp_path / "m"
    (model_dir / "checkpoints").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.ckpt"
    torch.save({"state_dict": {}}, elsewhere)
    (model_dir / "checkpoints" / "last.ckpt").symlink_to(elsewhere)
    with pytest.raises(ArtifactError, match=r"outside .*checkpoints; refusing to load it"):
        train(toy_train, model_dir, tiny_config(), resume=True, progress=False)
    (model_dir / "checkpoints" / "last.ckpt").unlink()
    (model_dir / "checkpoints" / "last.ckpt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ArtifactError, match="not a readable training checkpoint"):
        train(toy_train, model_dir, tiny_config(), resume=True, progress=False)


def test_config_is_frozen():
    # a config is hashed into the model: it changes only through validation
    import pydantic

    cfg = tiny_config()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.training.epochs = 0
