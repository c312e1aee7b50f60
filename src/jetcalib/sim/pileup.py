"""A reusable minimum-bias pool and its overlay onto hard-scatter events.

Each pool event's cell deposits are computed once and stored sparse (layer, i_eta, i_phi,
energy, EM-component energy), and so are its trackable charged particles (pT, η, φ before
efficiency and smearing, which are applied at each overlay); the pool is cached on disk keyed
by its settings (``$JETCALIB_CACHE`` or ``~/.cache/jetcalib``). Overlaying N pool events on a hard event is
then index arithmetic: a random whole-cell φ rotation and an optional η reflection per pool
event map cells onto cells exactly on the φ-uniform, η-symmetric grid; the event's tracks get
the same rotation (shift · Δφ) and reflection (η → −η) and their own vertex
(:func:`jetcalib.sim.tracking.add_pileup_tracks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ..io import atomic_path
from .calorimeter import deposit
from .config import SimConfig
from .generator import generate_batch, make_pythia, process_settings
from .geometry import Grid
from .tracking import count_trackable, trackable_kinematics

__all__ = ["PileupPool", "cache_dir", "load_or_make_pool", "overlay"]

_POOL_FORMAT = 2


def cache_dir() -> Path:
    """Where pools are cached: ``$JETCALIB_CACHE`` or ``~/.cache/jetcalib``."""
    env = os.environ.get("JETCALIB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "jetcalib"


@dataclass
class PileupPool:
    """Sparse cell deposits of ``n`` minimum-bias events; event i owns entries
    ``offsets[i]:offsets[i+1]``. ``var_cell`` (n_layers, n_eta): variance of one event's
    energy per cell, used as the expected pile-up noise σ² per unit μ. Event i's trackable
    charged particles (true pT, η, φ) are ``trk_off[i]:trk_off[i+1]`` of ``trk_pt``, ``trk_eta``,
    ``trk_phi``."""

    offsets: np.ndarray
    layer: np.ndarray
    ieta: np.ndarray
    iphi: np.ndarray
    e: np.ndarray
    e_em: np.ndarray
    n_trackable: np.ndarray
    var_cell: np.ndarray
    trk_off: np.ndarray
    trk_pt: np.ndarray
    trk_eta: np.ndarray
    trk_phi: np.ndarray

    @property
    def n(self) -> int:
        return len(self.offsets) - 1


def _pool_key(cfg: SimConfig) -> str:
    return f"pool-v{_POOL_FORMAT}-{cfg.digest('calorimeter', 'tracking', 'pileup')}-{cfg.generation.ecm_gev:g}"


def make_pool(cfg: SimConfig) -> PileupPool:
    """Generate the pool (SoftQCD non-diffractive) and shower it into sparse cells."""
    grid = Grid.from_config(cfg.calorimeter)
    settings = process_settings("minbias", cfg.generation, 0) + list(cfg.pileup.pool_settings)
    py = make_pythia(settings, cfg.pileup.pool_seed)
    rng = np.random.default_rng([cfg.pileup.pool_seed, 7])
    left = cfg.pileup.pool_size
    ntrk = []
    evt0 = 0
    offs_e, offs_cell, offs_e_val, offs_em = [], [], [], []
    trk: list[tuple[np.ndarray, ...]] = []
    while left > 0:
        n = min(left, 500)
        p = generate_batch(py, n)
        ntrk.append(count_trackable(p, cfg.tracking))
        trk.append(trackable_kinematics(p, cfg.tracking))
        d = deposit(p, cfg.calorimeter, cfg.tracking, grid, rng)
        key = (d.evt.astype(np.int64) + evt0) * grid.n_cells + d.cell
        uk, inv = np.unique(key, return_inverse=True)
        offs_e.append(uk // grid.n_cells)
        offs_cell.append(uk % grid.n_cells)
        offs_e_val.append(np.bincount(inv, d.e, len(uk)))
        offs_em.append(np.bincount(inv, d.e_em, len(uk)))
        evt0 += n
        left -= n
    evt = np.concatenate(offs_e)
    cell = np.concatenate(offs_cell)
    e = np.concatenate(offs_e_val)
    e_em = np.concatenate(offs_em)
    nevt = cfg.pileup.pool_size
    offsets = np.zeros(nevt + 1, np.int64)
    offsets[1:] = np.cumsum(np.bincount(evt, minlength=nevt))
    iphi = cell % grid.n_phi
    rest = cell // grid.n_phi
    ieta = rest % grid.n_eta
    layer = rest // grid.n_eta
    sq = np.bincount(layer * grid.n_eta + ieta, e * e, grid.n_layers * grid.n_eta)
    mean = np.bincount(layer * grid.n_eta + ieta, e, grid.n_layers * grid.n_eta) / (nevt * grid.n_phi)
    var = sq / (nevt * grid.n_phi) - mean**2
    ntrk_all = np.concatenate(ntrk)
    trk_off = np.concatenate([[0], np.cumsum(ntrk_all)]).astype(np.int64)
    trk_pt, trk_eta, trk_phi = (np.concatenate([t[i] for t in trk]).astype(np.float32) for i in (1, 2, 3))
    return PileupPool(offsets, layer.astype(np.int16), ieta.astype(np.int16), iphi.astype(np.int16),
                      e.astype(np.float32), e_em.astype(np.float32), ntrk_all,
                      var.reshape(grid.n_layers, grid.n_eta), trk_off, trk_pt, trk_eta, trk_phi)


def load_or_make_pool(cfg: SimConfig) -> PileupPool:
    """The cached pool for ``cfg`` (made and cached on first use, written atomically)."""
    path = cache_dir() / f"{_pool_key(cfg)}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return PileupPool(**{k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is simply remade
    pool = make_pool(cfg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **pool.__dict__)
    except Exception:  # noqa: BLE001 (the cache is an optimisation: a failed write costs only time)
        pass
    return pool


@numba.njit(cache=True)
def overlay(e_tot, e_em, e_pu, pool_off, p_layer, p_ieta, p_iphi, p_e, p_em,
            chosen, shift, reflect, n_eta, n_phi):
    """Add the chosen pool events (rotated by ``shift`` φ cells, η-reflected where ``reflect``)
    to the dense per-cell arrays ``e_tot``, ``e_em``, ``e_pu`` (in place)."""
    for j in range(len(chosen)):
        k = chosen[j]
        for i in range(pool_off[k], pool_off[k + 1]):
            ie = p_ieta[i]
            if reflect[j]:
                ie = n_eta - 1 - ie
            ip = (p_iphi[i] + shift[j]) % n_phi
            c = (p_layer[i] * n_eta + ie) * n_phi + ip
            e_tot[c] += p_e[i]
            e_em[c] += p_em[i]
            e_pu[c] += p_e[i]
