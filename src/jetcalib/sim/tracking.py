"""Inner-detector tracks (|η| < 2.5): efficiency, pT resolution, vertex counting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TrackingConfig
from .generator import Particles

__all__ = ["Tracks", "count_trackable", "make_tracks", "n_primary_vertices"]


@dataclass
class Tracks:
    """Reconstructed hard-scatter (primary-vertex) tracks, shape (n_tracks,); GeV."""

    evt: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray


def _trackable(p: Particles, cfg: TrackingConfig) -> np.ndarray:
    return (p.charge != 0) & (p.pt > cfg.track_min_pt) & (np.abs(p.eta) < cfg.eta_max)


def make_tracks(p: Particles, cfg: TrackingConfig, rng: np.random.Generator) -> Tracks:
    """Charged particles with pT > track_min_pt inside the tracker, found with a pT-dependent
    efficiency, pT smeared by σ/pT = a·pT ⊕ b. φ and η are the production values."""
    sel = _trackable(p, cfg)
    pt = p.pt[sel]
    eff = np.where(pt < 1.0, cfg.eff_low_pt, cfg.eff_high_pt)
    found = rng.random(len(pt)) < eff
    pt = pt[found]
    rel = np.hypot(cfg.sigma_pt_quad * pt, cfg.sigma_pt_const)
    pt_meas = pt * np.maximum(1.0 + rel * rng.standard_normal(len(pt)), 0.05)
    return Tracks(p.evt[sel][found], pt_meas, p.eta[sel][found], p.phi[sel][found])


def count_trackable(p: Particles, cfg: TrackingConfig) -> np.ndarray:
    """Number of trackable charged particles per event, shape (n_events,)."""
    return np.bincount(p.evt[_trackable(p, cfg)], minlength=p.n_events)


def n_primary_vertices(n_trackable: np.ndarray, cfg: TrackingConfig,
                       rng: np.random.Generator) -> int:
    """NPV = 1 + number of overlaid interactions (trackable counts ``n_trackable``) that have
    ≥ vertex_min_tracks found tracks and whose vertex is found (efficiency vertex_eff)."""
    if len(n_trackable) == 0:
        return 1
    found = rng.binomial(n_trackable, 0.5 * (cfg.eff_low_pt + cfg.eff_high_pt))
    ok = (found >= cfg.vertex_min_tracks) & (rng.random(len(n_trackable)) < cfg.vertex_eff)
    return 1 + int(ok.sum())
