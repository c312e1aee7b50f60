"""Fitting the DNN calibration with PyTorch Lightning: seeded, checkpointed every epoch,
resumable, early-stopped on the validation loss, CPU by default and GPU when present."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import ArtifactHeader
from .config import DNNConfig
from .data import EpochBatchSampler, PreparedData, prepare_training_data
from .model import ARTIFACT_KIND, FORMAT_VERSION, DNNCalibration

__all__ = ["CHECKPOINT_DIR", "train"]

#: Sub-directory of the model directory holding Lightning checkpoints (``last.ckpt``, ``best.ckpt``).
CHECKPOINT_DIR = "checkpoints"


def _quiet_lightning() -> None:
    # Batches are sliced from in-memory tensors in the main process: worker processes would
    # only add pickling cost, so Lightning's advice to add DataLoader workers does not apply.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # lightning 2.6 with torch >= 2.10 trips over torch's own pytree deprecation; harmless.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)
    # On --resume the checkpoint directory is expected to exist.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        import logging

        logging.getLogger(name).setLevel(logging.WARNING)


def _loader(tensors: tuple[Any, ...], batch_size: int, seed: int, shuffle: bool) -> Any:
    from torch.utils.data import DataLoader, TensorDataset

    # batch_size=None + a sampler of index tensors: one fancy-indexing gather per batch from
    # the single in-memory copy, instead of N per-sample __getitem__ calls and a collate.
    sampler = EpochBatchSampler(tensors[0].shape[0], batch_size, seed, shuffle=shuffle)
    return DataLoader(TensorDataset(*tensors), sampler=sampler, batch_size=None)


def train(
    table: Mapping[str, np.ndarray],
    out_dir: str | Path,
    config: DNNConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    provenance: list[dict[str, Any]] | None = None,
    stop_after_epochs: int | None = None,
) -> DNNCalibration:
    """Train on a jet table (needs truth, reco and the configured features) and save the model
    artifact into ``out_dir``; returns the trained :class:`DNNCalibration`.

    ``resume`` continues from ``out_dir/checkpoints/last.ckpt``. ``stop_after_epochs`` ends
    this run early as an interruption would (the schedule still spans ``config.training.epochs``).
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from .module import CalibrationModule, StopAfter, Throughput
    from .network import CalibrationNet

    cfg = config or DNNConfig()
    t = cfg.training
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    last = ckpt_dir / "last.ckpt"
    if resume and not last.is_file():
        raise InputError(f"{out}: nothing to resume (no {CHECKPOINT_DIR}/last.ckpt)")
    if not resume and last.is_file():
        raise InputError(f"{out}: already holds a training run; pass --resume to continue it "
                         "or choose another output directory")
    out.mkdir(parents=True, exist_ok=True)
    _quiet_lightning()
    torch.set_num_threads(t.threads)
    L.seed_everything(t.seed, workers=True, verbose=False)

    data: PreparedData = prepare_training_data(table, cfg)
    net = CalibrationNet(len(cfg.features), cfg.network)
    _, le, lm, _, mask = data.train
    net.set_output_bias(float(le.median()), float(lm[mask > 0].median()) if mask.sum() > 0 else 0.0)
    module = CalibrationModule(net, cfg)

    throughput = Throughput()
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_loss", mode="min",
                                 save_top_k=1, save_last=True, every_n_epochs=1)
    callbacks: list[Any] = [throughput, checkpoint, EarlyStopping(monitor="val_loss", patience=t.patience)]
    if stop_after_epochs is not None:
        callbacks.append(StopAfter(stop_after_epochs))
    # One version_N sub-directory per run: a resumed run must not overwrite the first run's log.
    loggers: list[Any] = [CSVLogger(out, name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard"))
    except ImportError:
        pass
    n_batches = (data.train[0].shape[0] + t.batch_size - 1) // t.batch_size
    trainer = L.Trainer(
        max_epochs=t.epochs,
        accelerator="auto",
        devices=1,
        callbacks=callbacks,
        logger=loggers,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, n_batches)),
        use_distributed_sampler=False,
        default_root_dir=out,
    )
    t0 = time.perf_counter()
    trainer.fit(
        module,
        train_dataloaders=_loader(data.train, t.batch_size, t.seed, True),
        val_dataloaders=_loader(data.val, 65536, t.seed, False),
        ckpt_path=str(last) if resume else None,
    )
    wall = time.perf_counter() - t0
    best = checkpoint.best_model_path
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    net = module.net.cpu()
    summary = {
        "epochs_run": int(trainer.current_epoch),
        "best_val_loss": float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None,
        "train_seconds": round(wall, 2),
        "jets_per_s": round(throughput.jets / max(throughput.seconds, 1e-9), 1),
        "n_train": int(data.train[0].shape[0]),
        "n_val": int(data.val[0].shape[0]),
        "n_selected": data.n_selected,
        "n_table": data.n_total,
    }
    header = ArtifactHeader(
        artifact=ARTIFACT_KIND, format_version=FORMAT_VERSION, features=list(cfg.features),
        seeds={"training": t.seed}, training_data=list(provenance or []),
    )
    model = DNNCalibration(net, cfg, data.normalisation, header, summary)
    model.save(out)
    return model

