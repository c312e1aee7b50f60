"""The calorimeter cell grid: one common projective (η, φ) grid for all six layers.

φ-uniform and η-symmetric, so that rotating a pile-up event by a whole number of φ cells and
reflecting it in η maps cells onto cells exactly (pile-up overlay is index arithmetic).
Cell index = (layer · n_eta + i_eta) · n_phi + i_phi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CalorimeterConfig

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    n_layers: int
    n_eta: int
    n_phi: int
    eta_max: float
    deta: float

    @classmethod
    def from_config(cls, cfg: CalorimeterConfig) -> Grid:
        n_eta = round(2 * cfg.eta_max / cfg.cell_deta)
        return cls(len(cfg.layers), n_eta, cfg.n_phi, cfg.eta_max, 2 * cfg.eta_max / n_eta)

    @property
    def dphi(self) -> float:
        return 2 * np.pi / self.n_phi

    @property
    def n_cells(self) -> int:
        return self.n_layers * self.n_eta * self.n_phi

    def eta_index(self, eta: np.ndarray) -> np.ndarray:
        """i_eta per η (int64); −1 outside the calorimeter (|η| ≥ eta_max)."""
        i = np.floor((np.asarray(eta) + self.eta_max) / self.deta).astype(np.int64)
        return np.where((i >= 0) & (i < self.n_eta), i, -1)

    def phi_index(self, phi: np.ndarray) -> np.ndarray:
        return np.floor((np.asarray(phi) + np.pi) / self.dphi).astype(np.int64) % self.n_phi

    def cell_index(self, layer: np.ndarray, ieta: np.ndarray, iphi: np.ndarray) -> np.ndarray:
        return (layer * self.n_eta + ieta) * self.n_phi + iphi

    def eta_centres(self) -> np.ndarray:
        return -self.eta_max + (np.arange(self.n_eta) + 0.5) * self.deta

    def phi_centres(self) -> np.ndarray:
        return -np.pi + (np.arange(self.n_phi) + 0.5) * self.dphi
