"""Inner-detector tracks (|η| < 2.5): efficiency, pT resolution, vertices and the primary vertex.

Modelled: hard-scatter tracks (vertex 0) and the tracks of every overlaid pile-up interaction
(vertex 1, 2, … in overlay order; the pool stores each minimum-bias event's trackable charged
particles, rotated and reflected with the event's cells), all with the same pT-dependent
efficiency and pT smearing. The primary vertex is the vertex with the largest Σ pT² of its found
tracks (vertex finding groups tracks by their true vertex; ties and events without tracks: the
hard scatter). Longitudinal association: every vertex gets a z ~ Normal(0, beamspot σ_z), every
track z0 = z of its vertex + Normal(0, σ_z0(pT)), σ_z0 = c ⊕ m/pT; a track is associated to the
primary vertex when |z0 − z_PV| < k · σ_z0 or |z0 − z_PV| · sin θ < 3 mm (ATLAS's loose
association for jets). Jets use only those tracks, so the pile-up tracks of interactions that
happen to lie within a few mm of the primary vertex in z leak in, more of them the higher μ. Not modelled: transverse
impact parameters, vertex-position resolution (z_PV is the true one), vertex merging, fake
tracks, track merging in dense cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TrackingConfig
from .generator import Particles

__all__ = ["Tracks", "add_pileup_tracks", "associate_to_pv", "count_trackable", "make_tracks",
           "n_primary_vertices", "primary_vertex", "sigma_z0", "track_sums_near", "trackable_kinematics", "tracks_near",
           "vertex_z"]


@dataclass
class Tracks:
    """Reconstructed tracks, shape (n_tracks,), ordered by event; GeV, mm. ``vtx``: true vertex
    (0 = hard scatter, k = k-th overlaid interaction); ``z0``: measured longitudinal impact
    parameter (NaN until :func:`associate_to_pv`); ``dz0_pv``: z0 − z of the primary vertex,
    times sin θ (mm; NaN until the primary vertex is known), the vertex compatibility."""

    evt: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    vtx: np.ndarray | None = None
    z0: np.ndarray | None = None
    dz0_pv: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vtx is None:
            self.vtx = np.zeros(len(self.pt), np.int32)
        if self.z0 is None:
            self.z0 = np.full(len(self.pt), np.nan)
        if self.dz0_pv is None:
            self.dz0_pv = np.full(len(self.pt), np.nan)

    def select(self, mask: np.ndarray) -> Tracks:
        vtx, z0, dz = self.vtx, self.z0, self.dz0_pv
        assert vtx is not None
        assert z0 is not None
        assert dz is not None
        return Tracks(self.evt[mask], self.pt[mask], self.eta[mask], self.phi[mask], vtx[mask], z0[mask], dz[mask])


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


def add_pileup_tracks(hard: Tracks, pu_evt: np.ndarray, chosen: np.ndarray,
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


def sigma_z0(pt: np.ndarray, cfg: TrackingConfig) -> np.ndarray:
    """z0 resolution (mm): z0_res_const_mm ⊕ z0_res_mstk_mm / pT[GeV] (multiple scattering)."""
    return np.hypot(cfg.z0_res_const_mm, cfg.z0_res_mstk_mm / np.asarray(pt, float))


def vertex_z(n_vtx: np.ndarray, cfg: TrackingConfig, rng: np.random.Generator) -> np.ndarray:
    """z (mm) of every vertex, flat (Σ n_vtx,), event-major then vertex number: each
    interaction's position along the beam ~ Normal(0, beamspot_sigma_z_mm)."""
    return rng.normal(0.0, cfg.beamspot_sigma_z_mm, int(np.sum(n_vtx)))


def associate_to_pv(t: Tracks, n_vtx: np.ndarray, pv: np.ndarray, z_vtx: np.ndarray,
                    cfg: TrackingConfig, rng: np.random.Generator) -> np.ndarray:
    """Longitudinal track–vertex association; returns the mask of tracks associated to their
    event's primary vertex ``pv`` (n_events,) and sets ``t.z0``.

    ``z_vtx`` is :func:`vertex_z`'s layout (``n_vtx`` (n_events,) vertices per event). Each track
    is measured at z0 = z of its true vertex + Normal(0, σ_z0(pT)) and associated when
    |z0 − z_PV| < assoc_z0_sigmas · σ_z0(pT) or, as ATLAS's loose track-to-vertex association,
    |z0 − z_PV| · sin θ < assoc_z0_sintheta_mm; z_PV is the true primary-vertex position.
    Also sets ``t.dz0_pv`` = (z0 − z_PV) · sin θ."""
    n_vtx = np.asarray(n_vtx, np.int64)
    base = np.concatenate([[0], np.cumsum(n_vtx)])[t.evt]
    sig = sigma_z0(t.pt, cfg)
    t.z0 = z_vtx[base + t.vtx] + sig * rng.standard_normal(len(t.pt))
    signed = t.z0 - z_vtx[base + np.asarray(pv, np.int64)[t.evt]]
    t.dz0_pv = signed / np.cosh(t.eta)
    dz = np.abs(signed)
    return (dz < cfg.assoc_z0_sigmas * sig) | (dz / np.cosh(t.eta) < cfg.assoc_z0_sintheta_mm)


def primary_vertex(t: Tracks, n_vtx: np.ndarray) -> np.ndarray:
    """Per event (n_events,): the vertex with the largest Σ pT² of its found tracks (ATLAS
    rule); on ties (e.g. no tracks at all) the lowest vertex number, i.e. the hard scatter.
    Vertex finding groups the tracks by their true vertex (``t.vtx``)."""
    n_vtx = np.asarray(n_vtx, np.int64)
    base = np.concatenate([[0], np.cumsum(n_vtx)])
    s = np.bincount(base[t.evt] + t.vtx, t.pt**2, int(base[-1]))
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


def tracks_near(t: Tracks, jet_evt: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray,
                max_dr: float) -> tuple[np.ndarray, np.ndarray]:
    """The (jet, track) pairs with the track in the jet's event within ΔR(η, φ) < ``max_dr`` of
    the jet axis: (jet index, track index) arrays, ordered by jet.

    ``t`` must be ordered by event (as :func:`add_pileup_tracks` leaves it). Done for all jets at
    once over (jet, track-of-its-event) pairs: a Python loop over jets cost more than the rest of
    the jet features together."""
    n = len(jet_evt)
    jet_evt = np.asarray(jet_evt, np.int64)
    n_ev = int(jet_evt.max(initial=-1)) + 1
    tb = np.searchsorted(t.evt, np.arange(n_ev + 1))
    start = tb[jet_evt]
    cnt = tb[jet_evt + 1] - start
    first = np.cumsum(cnt) - cnt
    k = np.repeat(np.arange(n), cnt)  # jet of each pair
    i = start[k] + np.arange(int(cnt.sum())) - first[k]  # track of each pair
    dphi = (t.phi[i] - jet_phi[k] + np.pi) % (2 * np.pi) - np.pi
    near = np.hypot(t.eta[i] - jet_eta[k], dphi) < max_dr
    return k[near], i[near]


def track_sums_near(t: Tracks, jet_evt: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray,
                    max_dr: float) -> np.ndarray:
    """Summed four-momentum (px, py, pz, E) in GeV, shape (n_jets,), of the tracks of each jet's
    event within ΔR(η, φ) < ``max_dr`` of the jet axis (tracks massless: E = pT cosh η); see
    :func:`tracks_near`."""
    n = len(jet_evt)
    k, i = tracks_near(t, jet_evt, jet_eta, jet_phi, max_dr)
    pt, eta, phi = t.pt[i], t.eta[i], t.phi[i]
    comps = (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta))
    return np.stack([np.bincount(k, c, minlength=n) for c in comps], axis=1).reshape(n, 4)
