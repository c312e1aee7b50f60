"""A reusable minimum-bias pool and its overlay onto hard-scatter events.

Each pool event's cell deposits are computed once and stored sparse (layer, i_eta, i_phi,
energy, EM-component energy), and so are its trackable charged particles (pT, η, φ before
efficiency and smearing, which are applied at each overlay); the pool is cached on disk keyed
by its settings (``$JETCALIB_CACHE`` or ``~/.cache/jetcalib``). Overlaying N pool events on a hard event is
then index arithmetic: a random φ rotation by whole cells of the coarsest layer and an optional
η reflection per pool event map cells onto cells exactly in every layer (each layer is
φ-uniform and η-symmetric, its φ cells a multiple of the coarsest layer's); the event's tracks
get the same rotation (shift · Δφ of the coarsest layer) and reflection (η → −η) and their own vertex
(:func:`jetcalib.sim.tracking.add_pileup_tracks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ..io import atomic_path
from .calorimeter import Spreader, deposit
from .config import SimConfig
from .generator import generate_batch, make_pythia, process_settings
from .geometry import Grid
from .tracking import count_trackable, trackable_kinematics

__all__ = ["PileupPool", "cache_dir", "load_or_make_pool", "overlay"]

_POOL_FORMAT = 3


def cache_dir() -> Path:
    """Where pools are cached: ``$JETCALIB_CACHE`` or ``~/.cache/jetcalib``."""
    env = os.environ.get("JETCALIB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "jetcalib"


@dataclass
class PileupPool:
    """Sparse cell deposits of ``n`` minimum-bias events; event i owns entries
    ``offsets[i]:offsets[i+1]``. ``var_cell``: variance of one event's
    energy per cell of each row (see :class:`~jetcalib.sim.geometry.Grid`), (n_rows,), used as
    the expected pile-up noise σ² per unit μ. Event i's trackable
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
    spread = Spreader(cfg.calorimeter, grid)
    dense_e = np.zeros(grid.n_cells)
    dense_em = np.zeros(grid.n_cells)
    ntrk, trk = [], []
    cells, es, ems, counts = [], [], [], []
    while left > 0:
        n = min(left, 500)
        p = generate_batch(py, n)
        ntrk.append(count_trackable(p, cfg.tracking))
        trk.append(trackable_kinematics(p, cfg.tracking))
        d = deposit(p, cfg.calorimeter, cfg.tracking, grid, rng)
        bounds = np.searchsorted(d.evt, np.arange(n + 1))
        for ev in range(n):
            spread(dense_e, dense_em, d, int(bounds[ev]), int(bounds[ev + 1]))
            nz = np.flatnonzero(dense_e)
            cells.append(nz)
            es.append(dense_e[nz].astype(np.float32))
            ems.append(dense_em[nz].astype(np.float32))
            counts.append(len(nz))
            dense_e[nz] = 0.0
            dense_em[nz] = 0.0
        left -= n
    cell = np.concatenate(cells)
    e = np.concatenate(es)
    e_em = np.concatenate(ems)
    nevt = cfg.pileup.pool_size
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    layer, ieta, iphi = grid.decode(cell)
    row = grid.row_off[layer] + ieta
    cells_per_row = np.repeat(grid.n_phi, grid.n_eta) * nevt
    e64 = e.astype(np.float64)
    mean = np.bincount(row, e64, grid.n_rows) / cells_per_row
    var = np.bincount(row, e64 * e64, grid.n_rows) / cells_per_row - mean**2
    ntrk_all = np.concatenate(ntrk)
    trk_off = np.concatenate([[0], np.cumsum(ntrk_all)]).astype(np.int64)
    trk_pt, trk_eta, trk_phi = (np.concatenate([t[i] for t in trk]).astype(np.float32) for i in (1, 2, 3))
    return PileupPool(offsets, layer.astype(np.int8), ieta.astype(np.int16), iphi.astype(np.int16),
                      e, e_em, ntrk_all, var, trk_off, trk_pt, trk_eta, trk_phi)


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
            chosen, shift, reflect, n_eta, n_phi, cell_off):
    """Add the chosen pool events (rotated by ``shift`` cells of the coarsest layer in φ,
    0 ≤ shift ≤ n_phi.min(),
    η-reflected where ``reflect``) to the dense per-cell arrays ``e_tot``, ``e_em``, ``e_pu``
    (in place). ``n_eta``, ``n_phi``, ``cell_off``: the grid's per-layer arrays."""
    n_rot = n_phi.min()
    n_layers = len(n_phi)
    step = np.empty(n_layers, np.int64)  # φ shift of each layer, in its own cells
    for j in range(len(chosen)):
        k = chosen[j]
        for ly in range(n_layers):
            step[ly] = shift[j] * (n_phi[ly] // n_rot)
        refl = reflect[j]
        # no integer division per entry (they were most of the overlay's cost): the shifted
        # i_phi is below 2 n_phi (shift ≤ n_rot), one conditional subtraction wraps it
        for i in range(pool_off[k], pool_off[k + 1]):
            ly = p_layer[i]
            ie = np.int64(p_ieta[i])
            if refl:
                ie = n_eta[ly] - 1 - ie
            np_l = n_phi[ly]
            ip = p_iphi[i] + step[ly]
            if ip >= np_l:
                ip -= np_l
            c = cell_off[ly] + ie * np_l + ip
            e_tot[c] += p_e[i]
            e_em[c] += p_em[i]
            e_pu[c] += p_e[i]
