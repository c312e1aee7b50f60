"""SIGKILL a running ``generate`` / ``train`` at a random point, run it again (``train``: with
``--resume``), and get exactly what an uninterrupted run with the same seed gives.

The killed command runs in a child forked from the test process (``main(args)``, what the
``jetcalib`` script runs), so it does not pay the ~10 s of importing torch + Lightning again;
SIGKILL leaves it no chance to clean up, as a killed job or a lost node would. The reference
and the rerun run in the test process. The kill comes at a random delay after 1-2 chunk files /
the first checkpoint appear (for ``train`` up to 2.5 epochs, timed on the reference run); the
delay is in every failure message.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from .children import run_ok, signal_when

RNG = np.random.default_rng()


def _kill_when(args: list[str], ready: Callable[[], bool], delay: float) -> None:
    """Start ``jetcalib ARGS`` in a forked child, SIGKILL it ``delay`` s after ``ready()``."""
    code = signal_when(args, ready, signal.SIGKILL, delay)
    assert code == -signal.SIGKILL, f"ended with {code}, not by the kill (delay {delay:.2f} s)"


# --- generate ------------------------------------------------------------------------------


@pytest.mark.sim
def test_killed_generate_resumes_to_identical_rows(tmp_path, monkeypatch, capsys):
    from jetcalib.io import read_table

    monkeypatch.setenv("JETCALIB_CACHE", str(tmp_path / "cache"))  # the pool is made once, below
    cfg = tmp_path / "tiny.yaml"
    # 4 W' masses x 2 events, 2 events a chunk: 4 chunks, ~1 s each (mostly Pythia's init).
    cfg.write_text(yaml.safe_dump({"pileup": {"pool_size": 100}, "generation": {"chunk_size": 2}}))
    (tmp_path / "ref").mkdir()
    (tmp_path / "cut").mkdir()

    def args(d: str) -> list[str]:
        return ["generate", "--process", "wprime", "--events", "8", "--seed", "7", "--mu", "10:30",
                "--config", str(cfg), "--out", str(tmp_path / d / "g.parquet")]

    run_ok(capsys, args("ref"))

    def chunks() -> list[Path]:
        return sorted((tmp_path / "cut").glob(".g.parquet.chunks-*/chunk-*.npz"))

    # Once 1 or 2 of the 4 chunks are saved, and up to 0.5 s later: anywhere in the next
    # chunk (Pythia's init alone takes longer), its atomic write included.
    target, delay = int(RNG.integers(1, 3)), float(RNG.uniform(0.0, 0.5))
    _kill_when(args("cut"), lambda: len(chunks()) >= target, delay)
    done = len(chunks())
    assert target <= done < 4, f"{done} chunks done at the kill (delay {delay:.2f} s)"
    assert not (tmp_path / "cut" / "g.parquet").exists()  # no output that looks finished

    out = run_ok(capsys, args("cut"))  # the same command again: resumes by itself
    assert f"{done} chunks resumed" in out
    ref, _ = read_table(tmp_path / "ref" / "g.parquet", None)
    cut, _ = read_table(tmp_path / "cut" / "g.parquet", None)
    assert set(ref) == set(cut)
    assert len(ref["event"]) > 0
    for k in ref:
        assert np.array_equal(ref[k], cut[k], equal_nan=True), f"{k} (kill after {done} chunks, delay {delay:.2f} s)"
    assert not list((tmp_path / "cut").glob(".g.parquet.chunks-*"))  # work directory gone


# --- train ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.io import write_table

    path = tmp_path_factory.mktemp("interrupt") / "train.parquet"
    write_table(path, {k: v for k, v in toy_jets(4000, seed=21).items() if not k.startswith("toy_")})
    return path


def _train_args(data: Path, cfg: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "-o", str(out), "--config", str(cfg), "--deterministic", "-q", *extra]


def test_killed_train_resumes_to_identical_weights(tmp_path, train_file, capsys):
    from jetcalib.dnn import DNNCalibration

    cfg = tmp_path / "dnn.yaml"
    # 3400 training jets in batches of 256: 14 steps an epoch, 8 epochs (L1, then annealed
    # LGK: the loss changes with the epoch, as do the learning rate and early stopping's count).
    cfg.write_text(yaml.safe_dump({
        "network": {"width": 32, "n_blocks": 2, "mass_residual_width": 8},
        "loss": {"pretrain_epochs": 2, "anneal_epochs": 4},
        "training": {"epochs": 8, "batch_size": 256, "threads": 1, "patience": 3},
    }))
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    run_ok(capsys, _train_args(train_file, cfg, ref_dir))
    ref = DNNCalibration.load(ref_dir)
    per_epoch = ref.summary["train_seconds"] / ref.summary["epochs_run"]

    last = cut_dir / "checkpoints" / "last.ckpt"
    delay = float(RNG.uniform(0.0, 2.5)) * per_epoch  # somewhere in epochs 1-4 of 8
    _kill_when(_train_args(train_file, cfg, cut_dir), last.is_file, delay)
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert not (cut_dir / "artifact.json").exists(), f"delay {delay:.2f} s"  # no finished-looking model

    run_ok(capsys, _train_args(train_file, cfg, cut_dir, "--resume"))
    cut = DNNCalibration.load(cut_dir)
    why = f"(killed after epoch {killed_at}, delay {delay:.2f} s)"
    a, b = ref.net.state_dict(), cut.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), f"saved (best) weights differ {why}"
    ends = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=True) for d in (ref_dir, cut_dir)]
    assert ends[0]["epoch"] == ends[1]["epoch"]
    assert ends[0]["global_step"] == ends[1]["global_step"]
    assert all(torch.equal(ends[0]["state_dict"][k], ends[1]["state_dict"][k]) for k in ends[0]["state_dict"]), \
        f"final weights differ {why}"
    # Same weights + config + normalisation: the same content hash.
    assert cut.header.content_hash == ref.header.content_hash
    assert cut.summary["best_val_loss"] == ref.summary["best_val_loss"]
