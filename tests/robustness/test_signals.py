"""SIGTERM (what SLURM and `kill` send) and SIGINT (Ctrl-C) of a running command: exit 143 / 130,
nothing partial left behind, nothing of the user's touched, and the work resumable.

Each command runs in a child forked from the test process (``main(args)``, what the
``jetcalib`` script runs), signalled at a random delay after a point where it is busy writing;
the delay is in every failure message.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from jetcalib.cli import main

from .children import run_ok, signal_when
from .conftest import base_table, leftovers

RNG = np.random.default_rng()
EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}
SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


@pytest.fixture(autouse=True)
def _sigint_not_ignored():
    """A suite started in the background (``make test &``, nohup) inherits SIGINT ignored, and
    so would every child, which then never sees the Ctrl-C these tests send: restore Python's
    handler for the duration of each test (regression: 5 failures in a backgrounded run)."""
    old = signal.getsignal(signal.SIGINT)
    if old == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _temporaries(directory: Path) -> list[str]:
    return [p for p in leftovers(directory) if ".jc-" in p or p.endswith(".tmp")]


# --- train -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from jetcalib.io import write_table

    d = tmp_path_factory.mktemp("signals-train")
    write_table(d / "train.parquet", base_table(20000, seed=31))  # ~0.2 s an epoch
    (d / "dnn.yaml").write_text(yaml.safe_dump({
        "network": {"width": 16, "n_blocks": 1, "mass_residual_width": 4},
        "loss": {"pretrain_epochs": 1, "anneal_epochs": 2},
        "training": {"epochs": 12, "batch_size": 256, "threads": 1, "patience": 12},
    }))
    return d / "train.parquet", d / "dnn.yaml"


def _train(data: Path, cfg: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "-o", str(out), "--config", str(cfg), "-q", *extra]


@SIGNALS
def test_signalled_train_exits_and_resumes(tmp_path, train_setup, capsys, sig):
    import torch

    from jetcalib.dnn import DNNCalibration

    data, cfg = train_setup
    out = tmp_path / "model"
    last = out / "checkpoints" / "last.ckpt"
    delay = float(RNG.uniform(0.0, 0.5))
    code = signal_when(_train(data, cfg, out), last.is_file, sig, delay)
    why = f"({signal.Signals(sig).name}, delay {delay:.2f} s)"
    assert code == EXIT[sig], why
    assert not (out / "artifact.json").exists(), why  # no finished-looking model
    assert _temporaries(out) == [], why
    assert torch.load(last, weights_only=True)["epoch"] < 11, why  # a whole checkpoint, mid-run
    run_ok(capsys, _train(data, cfg, out, "--resume"))
    model = DNNCalibration.load(out)
    assert model.summary["epochs_run"] == 12


# --- calibrate -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrate_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from jetcalib.io import write_table

    d = tmp_path_factory.mktemp("signals-calibrate")
    table = base_table(6000, seed=32)
    big = {k: np.tile(v, 25) for k, v in table.items()}  # 150k jets a file
    paths = [d / f"in{i}.parquet" for i in range(4)]
    for p in paths:
        write_table(p, big)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
@SIGNALS
def test_signalled_calibrate_leaves_nothing_partial(tmp_path, assets, calibrate_inputs, sig, workers):
    from jetcalib.io import read_table

    out = tmp_path / "cal"
    args = ["calibrate", str(assets["model"]), *map(str, calibrate_inputs), "-o", str(out),
            "--workers", str(workers), "--chunk-rows", "20000"]
    delay = float(RNG.uniform(0.0, 0.3))
    code = signal_when(args, lambda: out.is_dir() and bool(_temporaries(out)), sig, delay)
    why = f"({signal.Signals(sig).name}, delay {delay:.2f} s)"
    assert code == EXIT[sig], why
    listing = leftovers(out) if out.exists() else []
    assert _temporaries(out) == [] if out.exists() else True, why
    for name in listing:  # whatever was finished is whole
        cols, _ = read_table(out / name, None)
        assert len(cols["e_cal"]) == 150_000, f"{name} {why}"
    time.sleep(1.0)  # the workers are gone: nothing appears later
    assert (leftovers(out) if out.exists() else []) == listing, why


# --- generate --------------------------------------------------------------------------------


@pytest.mark.sim
@SIGNALS
def test_signalled_generate_with_workers_resumes(tmp_path, monkeypatch, capsys, sig):
    monkeypatch.setenv("JETCALIB_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"pileup": {"pool_size": 100}, "generation": {"chunk_size": 2}}))
    out = tmp_path / "g.parquet"
    args = ["generate", "--process", "wprime", "--events", "24", "--seed", "3", "--mu", "10:30",
            "--config", str(cfg), "--out", str(out), "--workers", "2"]
    run_ok(capsys, [*args[:-2], "--events", "4", "--out", str(tmp_path / "warm.parquet")])  # the pile-up pool

    def chunks() -> list[Path]:
        return sorted(tmp_path.glob(".g.parquet.chunks-*/chunk-*.npz"))

    delay = float(RNG.uniform(0.0, 0.5))
    code = signal_when(args, lambda: len(chunks()) >= 1, sig, delay, fresh=True)
    why = f"({signal.Signals(sig).name}, delay {delay:.2f} s)"
    assert code == EXIT[sig], why
    assert not out.exists(), why
    work = [p for p in leftovers(tmp_path) if p.startswith(".g.parquet.chunks-")]
    assert all(p.endswith(".npz") or "/" not in p for p in work), f"{work} {why}"  # only whole chunks
    done = len(chunks())
    assert run_ok(capsys, args).count(f"{done} chunks resumed") == 1, why
    assert out.is_file()
    assert not list(tmp_path.glob(".g.parquet.chunks-*")), why


# --- evaluate --------------------------------------------------------------------------------


@SIGNALS
def test_signalled_evaluate_keeps_the_users_files(tmp_path, assets, sig):
    from jetcalib.io import write_table

    test = tmp_path / "test.parquet"
    write_table(test, base_table(30000, seed=33))
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.json").write_text("the user's own file")  # a report name, not written by us
    (out / "notes.txt").write_text("keep")
    args = ["evaluate", str(test), "--method", f"numerical={assets['numcal']}", "--method",
            f"dnn={assets['model']}", "-o", str(out), "--bootstrap", "20"]
    delay = float(RNG.uniform(0.0, 1.0))
    code = signal_when(args, lambda: any(p.name.startswith(".jc-report-") for p in out.iterdir()), sig, delay)
    why = f"({signal.Signals(sig).name}, delay {delay:.2f} s)"
    assert code == EXIT[sig], why
    assert leftovers(out) == ["notes.txt", "summary.json"], why
    assert (out / "summary.json").read_text() == "the user's own file", why


def test_evaluate_refuses_to_overwrite_its_input(tmp_path, assets, capsys):
    from jetcalib.io import write_table

    out = tmp_path / "report"
    out.mkdir()
    test = out / "binned_metrics.parquet"  # the test table sits where a report file goes
    write_table(test, base_table(2000, seed=34))
    before = test.read_bytes()
    code = main(["evaluate", str(test), "--method", f"numerical={assets['numcal']}", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "would overwrite it" in err
    assert test.read_bytes() == before
    assert leftovers(out) == ["binned_metrics.parquet"]


# --- export ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError(28, "No space left on device")],
                         ids=["Ctrl-C", "disk full"])
def test_interrupted_export_keeps_an_earlier_export_whole(tmp_path, assets, monkeypatch, capsys, stop):
    import jetcalib.numerical as numerical

    out = tmp_path / "m.onnx"
    assert main(["export", str(assets["model"]), "-o", str(out)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert len(before) == 4  # graph, graph without normalisation, sidecar, residual closure
    (tmp_path / "notes.txt").write_text("the user's")

    def fail(*args: object, **kwargs: object) -> None:  # the last file of the export fails
        raise stop

    monkeypatch.setattr(numerical, "write_correctionlib", fail)
    code = main(["export", str(assets["model"]), "-o", str(out)])
    assert code == (130 if stop is KeyboardInterrupt else 2)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == {**before, "notes.txt": b"the user's"}
