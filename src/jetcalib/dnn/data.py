"""Training data for the DNN: jet selection, targets, the train/validation split, and batches
drawn from single in-memory float32 tensors by whole-batch indexing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..features import Normalisation, TrainingDomain, as_columns, feature_matrix, flatten_weights
from .config import DNNConfig

__all__ = ["TRAIN_COLUMNS", "EpochBatchSampler", "PreparedData", "ShardedTensors", "in_training_phase_space",
           "prepare_training_data"]

#: Truth and reco columns training reads besides the features.
TRAIN_COLUMNS = ("e_true", "pt_true", "eta_true", "m_true", "e_reco", "m_reco")


def _rank_and_world() -> tuple[int, int]:
    """(global rank, world size) of this process: (0, 1) unless a process group is running."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochBatchSampler:
    """Yields ``(batch, shard)`` index tensors: ``batch`` is a whole *global* batch of a
    permutation seeded by (seed, epoch), ``shard`` this process's contiguous part of it.

    Deterministic per epoch (Lightning calls :meth:`set_epoch`), so a run resumed from a
    checkpoint sees exactly the batches an uninterrupted run would have seen. Under DDP
    (``use_distributed_sampler=False``) every rank draws the same permutation and takes its
    own ``1/world`` of each global batch of ``batch_size`` jets, so N processes step through
    the same batches as one process does. ``rank``/``world_size`` default to those of the
    running ``torch.distributed`` process group, read when an epoch starts (the group does
    not exist yet when the sampler is built).
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, shuffle: bool = True,
                 rank: int | None = None, world_size: int | None = None) -> None:
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        # Global batches: the same count on every rank, as DDP's lock-step needs.
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rank, world = _rank_and_world()
        rank = rank if self.rank is None else self.rank
        world = world if self.world_size is None else self.world_size
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        for batch in order.split(self.batch_size):
            # Contiguous shards differing by at most one jet; a rank may get an empty shard
            # of a short last batch, which contributes nothing to the (global) loss.
            yield batch, batch.tensor_split(world)[rank]


class ShardedTensors:
    """Map-style dataset over in-memory training tensors, indexed by one ``(batch, shard)``
    item of :class:`EpochBatchSampler` (use with ``DataLoader(batch_size=None)``).

    Returns this rank's rows of ``(x, log_r_e, log_r_m, weight_e, weight_m)`` followed by
    ``totals = [Σ weight_e, Σ weight_m]`` over the whole global batch (float32 [2]):
    the denominators of the weighted losses. Every rank holds all tensors, so the totals
    need no communication, and normalising each rank's sum by them makes the DDP-averaged
    gradient equal the one-process gradient of the global batch.
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def __getitem__(self, item: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        batch, shard = item
        totals = torch.stack([self.tensors[3][batch].sum(), self.tensors[4][batch].sum()])
        return (*(t[shard] for t in self.tensors), totals)


@dataclass
class PreparedData:
    """Normalised tensors for training and validation, and what produced them.

    Each of ``train``/``val`` is ``(x [N, F], log_r_e [N], log_r_m [N], weight_e [N],
    weight_m [N])``, all float32: the per-jet weights of the energy and the mass loss. For a
    constituent network (``inputs: constituents``) ``x`` is ``[N, D]``, the flat layout of
    :class:`~jetcalib.features.constituents.ConstituentLayout` (normalised jet inputs, raw
    constituents and masks); the selection then also needs finite constituent values.
    ``domain``: the training domain spanned by the selected (training + validation) jets.
    ``weight_m`` is 0 where the mass loss is masked (m_true ≤ ``mass_min_true``); with
    ``training.weights`` it carries the flattening weights, which ``weight_e`` carries only
    with ``training.energy_weights`` (else 1).
    """

    train: tuple[torch.Tensor, ...]
    val: tuple[torch.Tensor, ...]
    normalisation: Normalisation
    n_selected: int
    n_total: int
    domain: TrainingDomain | None = None


def in_training_phase_space(pt_true: np.ndarray, eta_true: np.ndarray, cfg: DNNConfig) -> np.ndarray:
    """The truth selection of training (docs/method.md#selection): pT_true > ``pt_true_min`` (GeV) and
    |η_true| < ``abs_eta_true_max``; bool ``[N]``."""
    t = cfg.training
    return (np.asarray(pt_true) > t.pt_true_min) & (np.abs(np.asarray(eta_true)) < t.abs_eta_true_max)


def prepare_training_data(table: Mapping[str, np.ndarray], cfg: DNNConfig) -> PreparedData:
    """Select trainable jets, split, fit the normalisation on the training part, weight.

    Selection (docs/method.md#selection): pT_true > ``pt_true_min``, |η_true| < ``abs_eta_true_max``, finite
    inputs, E and m positive at reco and truth level for the energy (m_true may be 0: the mass
    loss is masked there).
    """
    t = cfg.training
    if cfg.oracle_features:  # hidden truth as extra inputs (docs/method.md#oracle)
        from .oracle import with_oracle_columns

        table = with_oracle_columns(table, cfg.oracle_features, keep=[*TRAIN_COLUMNS, *cfg.features, "eta_reco"])
    x = feature_matrix(table, cfg.network_features, what="training table")
    n_f = x.shape[1]
    if cfg.inputs == "constituents":
        # the jet inputs followed by the padded constituents and masks, built once for the
        # whole table (features.constituents): batches are then rows of one tensor, as before
        from ..features.constituents import ConstituentLayout, packed_inputs

        c = cfg.constituents
        x = packed_inputs(x, table, ConstituentLayout(n_f, c.max_clusters, c.max_tracks))
    raw = as_columns(table, TRAIN_COLUMNS, what="training table")
    cols = {c: np.asarray(v, dtype=np.float64) for c, v in raw.items()}
    n_total = x.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_e = cols["e_reco"] / cols["e_true"]
        r_m = cols["m_reco"] / cols["m_true"]
    keep = (
        in_training_phase_space(cols["pt_true"], cols["eta_true"], cfg)
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

    norm = Normalisation.fit(x[parts["train"], :n_f], cfg.network_features, cfg.normalisation)

    def network_rows(sel: np.ndarray) -> np.ndarray:
        # the jet inputs normalised; constituents raw (their transforms and normalisation are
        # inside the network, ConstituentEncoder)
        rows = x[sel]
        if rows.shape[1] == n_f:
            return norm.apply(rows)
        return np.concatenate([norm.apply(rows[:, :n_f]).astype(np.float32), rows[:, n_f:]], axis=1)

    mass_ok = (cols["m_true"] > cfg.loss.mass_min_true) & np.isfinite(r_m) & (r_m > 0)
    log_r_m = np.where(mass_ok, np.log(np.where(mass_ok, r_m, 1.0)), 0.0)
    tensors: dict[str, tuple[torch.Tensor, ...]] = {}
    for name, sel in parts.items():
        ones = np.ones(sel.size, dtype=np.float32)
        w = (
            flatten_weights(cols["e_true"][sel], cols["m_true"][sel], bins=t.weight_bins, cap=t.weight_cap)
            if t.weights
            else ones
        )
        w_e = w if t.energy_weights else ones
        w_m = w * mass_ok[sel]
        tensors[name] = tuple(
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
            for a in (network_rows(sel), np.log(r_e[sel]), log_r_m[sel], w_e, w_m)
        )
    eta_reco = np.asarray(as_columns(table, ("eta_reco",), what="training table")["eta_reco"], dtype=np.float64)
    domain = TrainingDomain.from_jets(
        cols["e_reco"][idx], cols["m_reco"][idx], eta_reco[idx],
        features=x[idx, :n_f], feature_names=cfg.network_features,
        selection={"pt_true_min": t.pt_true_min, "pt_true_max": float(cols["pt_true"][idx].max()),
                   "abs_eta_true_max": t.abs_eta_true_max},
    )
    return PreparedData(tensors["train"], tensors["val"], norm, int(idx.size), n_total, domain)
