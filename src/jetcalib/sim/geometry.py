"""The calorimeter cells: one projective (η, φ) geometry per layer (docs/detector.md#cells).

Each layer has its own granularity: Δη per |η| region (finer in the barrel strips, coarser
beyond |η| = 3.2) and a uniform φ segmentation. Every layer is η-symmetric and φ-uniform, and
every layer's number of φ cells is a multiple of the coarsest layer's, so rotating a pile-up
event by whole cells of the coarsest layer and reflecting it in η maps cells onto cells exactly
in every layer (the overlay stays index arithmetic).

Cells are numbered layer by layer: cell = cell_off[layer] + i_eta · n_phi[layer] + i_phi. A
"row" is one (layer, i_eta) ring of cells: row = row_off[layer] + i_eta (noise σ is per row).

Neighbours (for topo-clustering): the 8 cells around a cell in its layer (φ wraps around), and
in the layers in front and behind every cell that overlaps it in (η, φ): a fine EM1 strip has
one EM2 cell in η but several in φ, an HAD0 cell covers 2 × 4 EM3 cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .config import CalorimeterConfig

__all__ = ["Grid", "layer_eta_edges"]

#: the tolerance (in η) within which two cell edges are the same edge
_EDGE_TOL = 1e-7


def layer_eta_edges(regions: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Cell edges in η (ascending, symmetric about 0) of one layer from its
    ``(upper |η| edge, Δη)`` regions, listed from η = 0 outwards."""
    pos = [0.0]
    lo = 0.0
    for hi, d in regions:
        n = round((hi - lo) / d)
        pos.extend(lo + (np.arange(1, n + 1) * (hi - lo) / n))
        lo = hi
    p = np.asarray(pos)
    return np.concatenate([-p[::-1], p[1:]])


def _overlap_range(edges: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each cell of ``edges``: the first and last index of the cells of ``other`` that
    overlap it in η (by more than the edge tolerance); (−1, −2) where none does."""
    lo = np.searchsorted(other, edges[:-1] + _EDGE_TOL, side="right") - 1
    hi = np.searchsorted(other, edges[1:] - _EDGE_TOL, side="left") - 1
    n = len(other) - 1
    lo = np.clip(lo, 0, n - 1)
    hi = np.clip(hi, -1, n - 1)
    none = (edges[1:] <= other[0] + _EDGE_TOL) | (edges[:-1] >= other[-1] - _EDGE_TOL) | (hi < lo)
    return np.where(none, -1, lo), np.where(none, -2, hi)


@dataclass(frozen=True)
class Grid:
    """The cells of every layer; flat numpy arrays that the numba kernels take directly."""

    layers: tuple[str, ...]
    eta_max: float
    edges_flat: np.ndarray  #: all layers' η edges, concatenated
    edge_off: np.ndarray  #: layer l's edges are edges_flat[edge_off[l]:edge_off[l+1]]
    n_eta: np.ndarray  #: η cells per layer
    n_phi: np.ndarray  #: φ cells per layer
    row_off: np.ndarray = field(repr=False)  #: (n_layers + 1,) first row of each layer
    cell_off: np.ndarray = field(repr=False)  #: (n_layers + 1,) first cell of each layer
    #: (n_rows, 2): in the layer in front (0) / behind (1), the first and last i_eta of the
    #: cells overlapping this row in η; (−1, −2) where there is no such layer
    cross_lo: np.ndarray = field(repr=False)
    cross_hi: np.ndarray = field(repr=False)
    max_neighbours: int = 8
    cell_row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32), repr=False)  #: row of every cell

    @classmethod
    def from_config(cls, cfg: CalorimeterConfig) -> Grid:
        edges = [layer_eta_edges(g.eta_regions) for g in cfg.granularity]
        n_eta = np.array([len(e) - 1 for e in edges], np.int64)
        n_phi = np.array([g.n_phi for g in cfg.granularity], np.int64)
        edge_off = np.concatenate([[0], np.cumsum(n_eta + 1)]).astype(np.int64)
        row_off = np.concatenate([[0], np.cumsum(n_eta)]).astype(np.int64)
        cell_off = np.concatenate([[0], np.cumsum(n_eta * n_phi)]).astype(np.int64)
        n_layers = len(edges)
        cross_lo = np.full((int(row_off[-1]), 2), -1, np.int64)
        cross_hi = np.full((int(row_off[-1]), 2), -2, np.int64)
        most = 0
        for layer in range(n_layers):
            rows = slice(row_off[layer], row_off[layer + 1])
            for side, other in ((0, layer - 1), (1, layer + 1)):
                if 0 <= other < n_layers:
                    lo, hi = _overlap_range(edges[layer], edges[other])
                    cross_lo[rows, side], cross_hi[rows, side] = lo, hi
                    n_phi_over = max(1, int(n_phi[other] // n_phi[layer]))
                    most = max(most, int((hi - lo + 1).max(initial=0)) * n_phi_over)
        cell_row = np.repeat(np.arange(int(row_off[-1]), dtype=np.int32), np.repeat(n_phi, n_eta))
        return cls(tuple(cfg.layers), cfg.eta_max, np.concatenate(edges), edge_off, n_eta, n_phi,
                   row_off, cell_off, cross_lo, cross_hi, 8 + 2 * most, cell_row)

    @property
    def n_layers(self) -> int:
        return len(self.n_eta)

    @property
    def n_cells(self) -> int:
        return int(self.cell_off[-1])

    @property
    def n_rows(self) -> int:
        return int(self.row_off[-1])

    @property
    def n_phi_rotation(self) -> int:
        """φ cells of the coarsest layer: pile-up events are rotated in whole cells of it."""
        return int(self.n_phi.min())

    @property
    def dphi_rotation(self) -> float:
        """φ size (rad) of one rotation step (a cell of the coarsest layer)."""
        return 2 * np.pi / self.n_phi_rotation

    def eta_edges(self, layer: int) -> np.ndarray:
        return self.edges_flat[self.edge_off[layer]:self.edge_off[layer + 1]]

    def eta_centres(self, layer: int) -> np.ndarray:
        e = self.eta_edges(layer)
        return 0.5 * (e[1:] + e[:-1])

    def phi_centres(self, layer: int) -> np.ndarray:
        return -np.pi + (np.arange(self.n_phi[layer]) + 0.5) * 2 * np.pi / self.n_phi[layer]

    @cached_property
    def _rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # built once per grid: the clustering asks for them for every event
        eta = np.concatenate([self.eta_centres(k) for k in range(self.n_layers)])
        deta = np.concatenate([np.diff(self.eta_edges(k)) for k in range(self.n_layers)])
        return eta, deta, deta * np.repeat(2 * np.pi / self.n_phi, self.n_eta)

    @cached_property
    def row_layer(self) -> np.ndarray:
        """Layer of every row, (n_rows,) int64."""
        return np.repeat(np.arange(self.n_layers, dtype=np.int64), self.n_eta)

    @cached_property
    def cross_phi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the neighbours across layers: (first, last, offset). Cell i_phi of layer l
        overlaps the cells ``first[t] .. last[t]`` in φ of the layer in front (side 0) or behind
        (side 1), t = offset[2 l + side] + i_phi; int64 tables of Σ 2 n_phi entries (looked up
        because the integer divisions cost more than the neighbour search around them)."""
        first, last, off = [], [], [0]
        for layer in range(self.n_layers):
            np_l = int(self.n_phi[layer])
            ip = np.arange(np_l, dtype=np.int64)
            for other in (layer - 1, layer + 1):
                n_o = int(self.n_phi[other]) if 0 <= other < self.n_layers else np_l
                first.append((ip * n_o) // np_l)
                last.append(((ip + 1) * n_o - 1) // np_l)
                off.append(off[-1] + np_l)
        return np.concatenate(first), np.concatenate(last), np.asarray(off[:-1], np.int64)

    def row_eta_centres(self) -> np.ndarray:
        """η centre of every row, (n_rows,)."""
        return self._rows[0]

    def row_deta(self) -> np.ndarray:
        """Δη of every row, (n_rows,)."""
        return self._rows[1]

    def row_area(self) -> np.ndarray:
        """Cell area Δη × Δφ of every row, (n_rows,)."""
        return self._rows[2]

    def eta_index(self, layer: int, eta: np.ndarray) -> np.ndarray:
        """i_eta in ``layer`` per η (int64); −1 outside the calorimeter (|η| ≥ eta_max)."""
        e = self.eta_edges(layer)
        i = np.searchsorted(e, np.asarray(eta, dtype=float), side="right") - 1
        return np.where((i >= 0) & (i < len(e) - 1), i, -1).astype(np.int64)

    def phi_index(self, layer: int, phi: np.ndarray) -> np.ndarray:
        n = int(self.n_phi[layer])
        return np.floor((np.asarray(phi) + np.pi) / (2 * np.pi / n)).astype(np.int64) % n

    def cell_index(self, layer: np.ndarray | int, ieta: np.ndarray | int, iphi: np.ndarray | int) -> np.ndarray:
        layer = np.asarray(layer)
        return self.cell_off[layer] + np.asarray(ieta) * self.n_phi[layer] + np.asarray(iphi)

    def cell_at(self, layer: int, eta: float, phi: float) -> int:
        """The cell of ``layer`` at (η, φ) (−1 outside the calorimeter)."""
        ie = int(self.eta_index(layer, np.array([eta]))[0])
        if ie < 0:
            return -1
        return int(self.cell_index(layer, ie, int(self.phi_index(layer, np.array([phi]))[0])))

    def decode(self, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(layer, i_eta, i_phi) of cell indices."""
        cell = np.asarray(cell, dtype=np.int64)
        layer = np.searchsorted(self.cell_off, cell, side="right") - 1
        rest = cell - self.cell_off[layer]
        return layer, rest // self.n_phi[layer], rest % self.n_phi[layer]

    def cell_eta_phi(self, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(η, φ) centres of cells."""
        layer, ie, ip = self.decode(cell)
        eta = self.row_eta_centres()[self.row_off[layer] + ie]
        return eta, -np.pi + (ip + 0.5) * 2 * np.pi / self.n_phi[layer]
