"""Data-parallel training (DDP, gloo on CPU): 2 processes with the same global batch give the
result of 1 process; each rank takes its own shard of every global batch; only rank 0 writes.

The two ranks are forked from the test process with the environment torchrun gives its
workers (RANK, LOCAL_RANK, WORLD_SIZE, TORCHELASTIC_RUN_ID, ...), so Lightning takes the same
"launched externally" path as under ``torchrun`` without a fresh interpreter per rank (importing
torch + Lightning costs ~10 s on this machine).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.dnn.conftest import tiny_config

from jetcalib.dnn import DNNCalibration, train
from jetcalib.dnn.data import EpochBatchSampler, ShardedTensors
from jetcalib.errors import InputError
from jetcalib.features import feature_matrix

WORLD = 2
#: 1 vs 2 processes differ only in the order of floating-point sums (DDP's all-reduce of two
#: half-batch gradients against one whole-batch gradient). Seen after 14 steps (val 15 %): 7e-9 on the
#: weights (3e-7 without weight decay); a missing ×world in the loss gives 4e-3.
ATOL = 5e-6


def _config():
    # Global batch 256 over ~1800 training jets: 8 steps per epoch, 2 epochs. One thread per
    # rank: the two ranks share the two cores, and a forked child must not use the parent's
    # OpenMP pool. Weight decay makes each Adam step depend on the gradient's scale (Adam
    # alone is nearly scale-free), so a wrong loss normalisation under DDP shows.
    return tiny_config(epochs=2, batch_size=256, weight_decay=0.05,
                       network={"width": 16, "n_blocks": 1})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, port: int, table: dict, out: Path, result: Path) -> None:
    """One DDP rank, environment as torchrun sets it (runs in a forked child)."""
    try:
        os.environ.update(
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
            LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(WORLD), GROUP_RANK="0",
            TORCHELASTIC_RUN_ID="jetcalib-test",
        )
        model = train(table, out, _config(), progress=False, devices=WORLD, strategy="ddp", threads=1)
        torch.save({"state": model.net.state_dict(), "summary": model.summary}, result)
    except BaseException:  # noqa: BLE001 -- a rank's child process: any failure is exit 1, never pytest's handlers
        traceback.print_exc()
        os._exit(1)
    os._exit(0)  # skip the parent's (pytest's) atexit handlers


def _run_ddp(table: dict, out: Path, tmp: Path) -> list[dict]:
    port = _free_port()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_rank, args=(r, port, table, out, tmp / f"rank{r}.pt")) for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert [p.exitcode for p in procs] == [0] * WORLD, "a DDP rank failed (traceback in captured stderr)"
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, toy_train):
    table = {k: v[:2000] for k, v in toy_train.items()}
    one = train(table, tmp_path / "one", _config(), progress=False, threads=1)
    ranks = _run_ddp(table, tmp_path / "two", tmp_path)

    # The replicas stay identical (DDP broadcasts, then applies the same averaged gradient).
    assert _max_diff(ranks[0]["state"], ranks[1]["state"]) == 0.0
    # Final weights (last checkpoint) and the saved best model both match the 1-process run.
    last = [torch.load(tmp_path / d / "checkpoints" / "last.ckpt", weights_only=True) for d in ("one", "two")]
    assert last[0]["global_step"] == last[1]["global_step"] == 16
    assert _max_diff(last[0]["state_dict"], last[1]["state_dict"]) < ATOL
    two = DNNCalibration.load(tmp_path / "two")  # written by rank 0, verified hash
    assert _max_diff(one.net.state_dict(), two.net.state_dict()) < ATOL
    x = feature_matrix(table, one.features)[:500]
    for r1, r2 in zip(one.predict_responses(x), two.predict_responses(x), strict=True):
        np.testing.assert_allclose(r2, r1, rtol=1e-5)
    # Validation loss is the exact weighted mean over both ranks' shards: same value.
    s1, s2 = one.summary, two.summary
    assert s2["best_val_loss"] == pytest.approx(s1["best_val_loss"], rel=1e-5)
    assert s2["epochs_run"] == s1["epochs_run"] == 2
    # jets/s counts both ranks' jets, not rank 0's half.
    assert ranks[0]["summary"]["jets_per_s"] > 0
    # One writer: a single run directory of logs.
    assert sorted(p.name for p in (tmp_path / "two" / "logs").iterdir()) == ["version_0"]


def test_sampler_shards_each_global_batch():
    n, batch = 1003, 100
    per_rank = [list(EpochBatchSampler(n, batch, 7, rank=r, world_size=3)) for r in range(3)]
    assert all(len(items) == 11 for items in per_rank)  # the same number of steps on every rank
    for step in zip(*per_rank, strict=True):
        batches = [b for b, _ in step]
        assert all(torch.equal(batches[0], b) for b in batches)  # one global permutation
        shards = torch.cat([s for _, s in step])
        assert torch.equal(shards, batches[0])  # shards partition the global batch, in order
        assert max(len(s) for _, s in step) - min(len(s) for _, s in step) <= 1
    # The 1-process sampler yields the same global batches with shard == batch.
    single = list(EpochBatchSampler(n, batch, 7))
    for (b, s), p in zip(single, per_rank[0], strict=True):
        assert torch.equal(b, s)  # shard == batch
        assert torch.equal(b, p[0])  # the global batch of the 3-rank run


def test_sharded_tensors_return_global_weight_totals():
    w_e = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w_m = torch.tensor([1.0, 0.0, 3.0, 4.0])
    ds = ShardedTensors((torch.arange(4.0)[:, None], w_e, w_e, w_e, w_m))
    batch = torch.tensor([0, 1, 2, 3])
    *rows, totals = ds[batch, batch[2:]]
    assert torch.equal(rows[0][:, 0], torch.tensor([2.0, 3.0]))
    assert totals.tolist() == [10.0, 8.0]  # Σw_E and Σw_m over the GLOBAL batch, not the shard


def test_bad_parallel_settings_are_input_errors(tmp_path, toy_train, monkeypatch):
    with pytest.raises(InputError, match="--strategy: unknown strategy 'fsdp'"):
        train(toy_train, tmp_path / "s", tiny_config(), strategy="fsdp", progress=False)
    with pytest.raises(InputError, match="--devices/--num-nodes: must be >= 1"):
        train(toy_train, tmp_path / "d", tiny_config(), devices=0, progress=False)
    # Under torchrun with 2 processes: --devices 1 would have each rank train alone and both
    # write one directory (seen before this check); --devices 3 disagrees with the launcher.
    for key, value in {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0",
                       "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InputError, match="one of 2 processes started by torchrun"):
        train(toy_train, tmp_path / "t1", tiny_config(), progress=False)
    with pytest.raises(InputError, match=r"--devices/--num-nodes: .*world size \(2\)"):
        train(toy_train, tmp_path / "t3", tiny_config(), devices=3, progress=False)
    assert not (tmp_path / "t1" / "checkpoints").exists()
