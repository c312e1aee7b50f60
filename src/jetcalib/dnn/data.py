"""Training data for the DNN: jet selection, targets, the train/validation split, and batches
drawn from single in-memory float32 tensors by whole-batch indexing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..features import Normalisation, as_columns, feature_matrix, flatten_weights
from .config import DNNConfig

__all__ = ["TRAIN_COLUMNS", "EpochBatchSampler", "PreparedData", "prepare_training_data"]

#: Truth and reco columns training reads besides the features.
TRAIN_COLUMNS = ("e_true", "pt_true", "eta_true", "m_true", "e_reco", "m_reco")


class EpochBatchSampler:
    """Yields index tensors of whole batches: a permutation seeded by (seed, epoch).

    Deterministic per epoch (Lightning calls :meth:`set_epoch`), so a run resumed from a
    checkpoint sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, shuffle: bool = True) -> None:
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        yield from order.split(self.batch_size)


@dataclass
class PreparedData:
    """Normalised tensors for training and validation, and what produced them.

    Each of ``train``/``val`` is ``(x [N, F], log_r_e [N], log_r_m [N], weight [N],
    mass_mask [N])``, all float32 (the mask as 0/1).
    """

    train: tuple[torch.Tensor, ...]
    val: tuple[torch.Tensor, ...]
    normalisation: Normalisation
    n_selected: int
    n_total: int


def prepare_training_data(table: Mapping[str, np.ndarray], cfg: DNNConfig) -> PreparedData:
    """Select trainable jets, split, fit the normalisation on the training part, weight.

    Selection (SPEC §2): pT_true > ``pt_true_min``, |η_true| < ``abs_eta_true_max``, finite
    inputs, E and m positive at reco and truth level for the energy (m_true may be 0: the mass
    loss is masked there).
    """
    t = cfg.training
    x = feature_matrix(table, cfg.features, what="training table")
    raw = as_columns(table, TRAIN_COLUMNS, what="training table")
    cols = {c: np.asarray(v, dtype=np.float64) for c, v in raw.items()}
    n_total = x.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_e = cols["e_reco"] / cols["e_true"]
        r_m = cols["m_reco"] / cols["m_true"]
    keep = (
        (cols["pt_true"] > t.pt_true_min)
        & (np.abs(cols["eta_true"]) < t.abs_eta_true_max)
        & np.all(np.isfinite(x), axis=1)
        & np.isfinite(r_e) & (r_e > 0)
        & (cols["m_reco"] > 0)
    )
    idx = np.flatnonzero(keep)
    rng = np.random.default_rng(t.seed)
    if t.max_jets is not None and idx.size > t.max_jets:
        idx = np.sort(rng.choice(idx, t.max_jets, replace=False))
    n_val = round(t.val_fraction * idx.size)
    if idx.size - n_val < 10 or n_val < 1:
        raise InputError(f"training table: only {idx.size} of {n_total} jets pass the training selection")
    perm = rng.permutation(idx)
    parts = {"val": np.sort(perm[:n_val]), "train": np.sort(perm[n_val:])}

    norm = Normalisation.fit(x[parts["train"]], cfg.features, cfg.normalisation)
    mass_ok = (cols["m_true"] > cfg.loss.mass_min_true) & np.isfinite(r_m) & (r_m > 0)
    log_r_m = np.where(mass_ok, np.log(np.where(mass_ok, r_m, 1.0)), 0.0)
    tensors: dict[str, tuple[torch.Tensor, ...]] = {}
    for name, sel in parts.items():
        w = (
            flatten_weights(cols["e_true"][sel], cols["m_true"][sel], bins=t.weight_bins, cap=t.weight_cap)
            if t.weights
            else np.ones(sel.size, dtype=np.float32)
        )
        tensors[name] = tuple(
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
            for a in (norm.apply(x[sel]), np.log(r_e[sel]), log_r_m[sel], w, mass_ok[sel])
        )
    return PreparedData(tensors["train"], tensors["val"], norm, int(idx.size), n_total)
