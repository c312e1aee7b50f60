"""Inner-detector tracks (|η| < 2.5): efficiency, pT resolution, vertices and the primary vertex.

Modelled: hard-scatter tracks (vertex 0) and the tracks of every overlaid pile-up interaction
(vertex 1, 2, … in overlay order; the pool stores each minimum-bias event's trackable charged
particles, rotated and reflected with the event's cells), all with the same pT-dependent
efficiency and pT smearing. Each found track is assigned to its true vertex with probability
``vertex_assoc_eff`` and otherwise to a uniformly chosen other vertex of the event (if there is
one). The primary vertex is the vertex with the largest Σ pT² of its found tracks (vertex
finding groups tracks by their true vertex; ties and events without tracks: the hard scatter);
jets use only the tracks *assigned* to it, so pile-up tracks leak in and hard-scatter tracks
leave. Not modelled:
vertex positions, impact parameters, fake tracks, track merging in dense cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TrackingConfig
from .generator import Particles

__all__ = ["Tracks", "add_pileup_tracks", "assign_vertices", "count_trackable", "make_tracks",
           "n_primary_vertices", "primary_vertex", "trackable_kinematics"]


@dataclass
class Tracks:
    """Reconstructed tracks, shape (n_tracks,), ordered by event; GeV. ``vtx``: true vertex
    (0 = hard scatter, k = k-th overlaid interaction); ``vtx_assoc``: the vertex the track is
    assigned to (equal to ``vtx`` until :func:`assign_vertices`)."""

    evt: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    vtx: np.ndarray | None = None
    vtx_assoc: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vtx is None:
            self.vtx = np.zeros(len(self.pt), np.int32)
        if self.vtx_assoc is None:
            self.vtx_assoc = self.vtx.copy()

    def select(self, mask: np.ndarray) -> Tracks:
        return Tracks(self.evt[mask], self.pt[mask], self.eta[mask], self.phi[mask],
                      self.vtx[mask], self.vtx_assoc[mask])


def _trackable(p: Particles, cfg: TrackingConfig) -> np.ndarray:
    return (p.charge != 0) & (p.pt > cfg.track_min_pt) & (np.abs(p.eta) < cfg.eta_max)


def trackable_kinematics(p: Particles, cfg: TrackingConfig) -> tuple[np.ndarray, ...]:
    """(evt, pt, eta, phi) of the trackable charged particles (before efficiency)."""
    sel = _trackable(p, cfg)
    return p.evt[sel], p.pt[sel], p.eta[sel], p.phi[sel]


def _find_and_smear(pt: np.ndarray, cfg: TrackingConfig,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, measured pT of the found ones): efficiency then σ/pT = a·pT ⊕ b."""
    eff = np.where(pt < 1.0, cfg.eff_low_pt, cfg.eff_high_pt)
    found = rng.random(len(pt)) < eff
    pt = pt[found]
    rel = np.hypot(cfg.sigma_pt_quad * pt, cfg.sigma_pt_const)
    return found, pt * np.maximum(1.0 + rel * rng.standard_normal(len(pt)), 0.05)


def make_tracks(p: Particles, cfg: TrackingConfig, rng: np.random.Generator) -> Tracks:
    """Charged particles with pT > track_min_pt inside the tracker, found with a pT-dependent
    efficiency, pT smeared by σ/pT = a·pT ⊕ b. φ and η are the production values. Vertex 0."""
    sel = _trackable(p, cfg)
    found, pt_meas = _find_and_smear(p.pt[sel], cfg, rng)
    return Tracks(p.evt[sel][found], pt_meas, p.eta[sel][found], p.phi[sel][found])


def add_pileup_tracks(hard: Tracks, n_events: int, pu_evt: np.ndarray, chosen: np.ndarray,
                      shift: np.ndarray, reflect: np.ndarray, trk_off: np.ndarray,
                      trk_pt: np.ndarray, trk_eta: np.ndarray, trk_phi: np.ndarray, dphi: float,
                      cfg: TrackingConfig, rng: np.random.Generator) -> Tracks:
    """Hard tracks plus the tracks of the overlaid pool events, ordered by event.

    Overlay j (shape (n_overlays,) arrays, grouped by event ``pu_evt`` in overlay order) is pool
    event ``chosen[j]`` whose trackable particles are ``trk_off[k]:trk_off[k+1]`` of ``trk_*``;
    its tracks are rotated by ``shift[j]·dphi`` and η-reflected where ``reflect[j]``, exactly as
    its cells, and get vertex 1, 2, … within the event. Efficiency and smearing as make_tracks."""
    n_ov = len(chosen)
    if n_ov == 0:
        return hard
    start = trk_off[chosen]
    cnt = trk_off[chosen + 1] - start
    tot = int(cnt.sum())
    first = np.cumsum(cnt) - cnt
    j = np.repeat(np.arange(n_ov), cnt)
    idx = start[j] + np.arange(tot) - first[j]
    eta = np.where(reflect[j], -trk_eta[idx], trk_eta[idx]).astype(float)
    phi = (trk_phi[idx] + shift[j] * dphi + np.pi) % (2 * np.pi) - np.pi
    # vertex number of overlay j: its rank within its event, plus one
    ov_first = np.searchsorted(pu_evt, pu_evt)
    vtx_ov = (np.arange(n_ov) - ov_first + 1).astype(np.int32)
    found, pt_meas = _find_and_smear(trk_pt[idx].astype(float), cfg, rng)
    evt = np.concatenate([hard.evt, pu_evt[j][found].astype(hard.evt.dtype)])
    order = np.argsort(evt, kind="stable")
    return Tracks(evt[order], np.concatenate([hard.pt, pt_meas])[order],
                  np.concatenate([hard.eta, eta[found]])[order],
                  np.concatenate([hard.phi, phi[found]])[order],
                  np.concatenate([hard.vtx, vtx_ov[j][found]])[order])


def assign_vertices(t: Tracks, n_vtx: np.ndarray, cfg: TrackingConfig,
                    rng: np.random.Generator) -> Tracks:
    """Track–vertex association: each track keeps its true vertex with probability
    vertex_assoc_eff, otherwise goes to a uniformly chosen other vertex of its event
    (``n_vtx`` (n_events,) vertices per event; a single-vertex event keeps all)."""
    nv = n_vtx[t.evt]
    move = (rng.random(len(t.pt)) >= cfg.vertex_assoc_eff) & (nv > 1)
    other = (rng.random(len(t.pt)) * np.maximum(nv - 1, 1)).astype(np.int64)
    other = np.minimum(other, np.maximum(nv - 2, 0))
    # 0 … nv-2 mapped onto the vertices other than the true one
    new = np.where(other >= t.vtx, other + 1, other)
    t.vtx_assoc = np.where(move, new, t.vtx).astype(np.int32)
    return t


def primary_vertex(t: Tracks, n_vtx: np.ndarray, assigned: bool = False) -> np.ndarray:
    """Per event (n_events,): the vertex with the largest Σ pT² of its found tracks (ATLAS
    rule); on ties (e.g. no tracks at all) the lowest vertex number, i.e. the hard scatter.

    Vertex finding groups the tracks by their true vertex (``t.vtx``); with ``assigned`` the
    sums use ``t.vtx_assoc`` instead. The default keeps one mis-associated leading track from
    turning a pile-up vertex into the primary one."""
    n_vtx = np.asarray(n_vtx, np.int64)
    base = np.concatenate([[0], np.cumsum(n_vtx)])
    v = t.vtx_assoc if assigned else t.vtx
    s = np.bincount(base[t.evt] + v, t.pt**2, int(base[-1]))
    vevt = np.repeat(np.arange(len(n_vtx)), n_vtx)
    order = np.lexsort((-s, vevt))  # by event, then Σ pT² descending; stable → lowest vertex
    return order[base[:-1]] - base[:-1]


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
