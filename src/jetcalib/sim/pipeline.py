"""One chunk of events through the whole chain → rows of the jet table (schema names).

generator → tracks → calorimeter deposits → pile-up overlay → noise → topo-clusters → LC
weights → pile-up tracks, track–vertex association, primary vertex → reco jets (from
clusters) and truth jets (hard-scatter particles, no ν/μ) → trimming → matching →
substructure → rows. ``timings`` collects seconds per stage.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..io.schema import COLUMNS, Process
from .calorimeter import Spreader, calo_entry_phi, deposit
from .config import SimConfig
from .generator import NEUTRINOS, PDG, Particles, generate_batch, make_pythia, process_settings
from .geometry import Grid
from .jets import find_jets, groom_kwargs, kinematics, match_jets, softkiller_mask
from .pileup import PileupPool, overlay
from .substructure import eff_n, fastjet_substructure, safe_ratio, width
from .topo import N_CLUSTER_FIELDS, cluster_cells, lc_weights
from .tracking import (
    Tracks,
    add_pileup_tracks,
    associate_to_pv,
    make_tracks,
    n_primary_vertices,
    primary_vertex,
    track_sums_near,
    tracks_near,
    vertex_z,
)

__all__ = ["Chunk", "Clusters", "reconstruct", "simulate_chunk"]

_PROCESS_CODE = {"dijet": Process.DIJET, "wprime": Process.WPRIME,
                 "zprime_tt": Process.ZPRIME_TT, "dijet_alt": Process.DIJET_ALT}


@dataclass(frozen=True)
class Chunk:
    """A unit of work: ``n_events`` of one process slice, with its own seed."""

    index: int
    process: str
    slice_index: int
    first_event: int
    n_events: int
    seed: int
    weight_norm: float  #: 1 / (events generated in this slice over the whole run)


@dataclass
class Clusters:
    """Topo-clusters of a batch, flat, ordered by event: shape (n_clusters,) per field;
    ``layers`` (n_clusters, 6) EM-scale layer energies; energies in GeV; ``n_cells`` counts
    shared cells by their weight; ``isolation`` as topo's cluster field."""

    evt: np.ndarray
    e_em_scale: np.ndarray
    e_lc: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    layers: np.ndarray
    e_pileup: np.ndarray
    e_em_true: np.ndarray
    n_cells: np.ndarray
    isolation: np.ndarray
    counts: np.ndarray


class _Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.t[name] += now - self._last
        self._last = now


def reconstruct(p: Particles, cfg: SimConfig, pool: PileupPool, mu: np.ndarray,
                rng: np.random.Generator, timer: _Timer | None = None,
                overlays: list | None = None,
                visible: list | None = None) -> tuple[Clusters, np.ndarray, np.ndarray]:
    """Detector simulation of a batch: returns (clusters, actual μ, NPV) per event.

    ``mu`` (n_events,) is each event's ⟨μ⟩; the overlay draws Poisson(⟨μ⟩) pool events, each
    rotated in φ by a random whole number of cells of the coarsest layer and reflected in η with
    probability ½. Each
    event's (chosen, shift, reflect) arrays are appended to ``overlays`` when given (for the
    pile-up tracks). ``visible``, when given, receives each particle's visible (EM-scale)
    deposited energy, (n_particles,) GeV (hidden truth; no random numbers are drawn for it)."""
    timer = timer or _Timer()
    grid = Grid.from_config(cfg.calorimeter)
    calo, topo = cfg.calorimeter, cfg.topo
    d = deposit(p, calo, cfg.tracking, grid, rng)
    if visible is not None:
        visible.append(np.bincount(d.particle, d.e, minlength=len(p.e)))
    spread = Spreader(calo, grid)
    timer.lap("calorimeter")
    n_ev = p.n_events
    bounds = np.searchsorted(d.evt, np.arange(n_ev + 1))
    n_cells = grid.n_cells
    noise_layer = np.array([calo.noise_em_gev] * 3 + [calo.noise_had_gev] * (grid.n_layers - 3))
    noise_cell = np.repeat(noise_layer, grid.n_eta * grid.n_phi).astype(np.float32)
    noise_row = np.repeat(noise_layer, grid.n_eta)
    # one bank of unit normals per batch, each event reading it from a random offset: drawing
    # n_cells normals per event would cost as much as the clustering
    bank = rng.standard_normal(3 * n_cells, dtype=np.float32)
    label = np.full(n_cells, -1, np.int32)  # int32: the clustering is memory-bound, half the bytes of int64
    queue = np.empty(n_cells, np.int32)
    e_sig, e_em, e_pu, e_tot = (np.zeros(n_cells) for _ in range(4))
    n_pu = rng.poisson(mu)
    npv = np.empty(n_ev, np.int64)
    out = []
    timer.lap("calorimeter")
    for ev in range(n_ev):
        spread(e_sig, e_em, d, int(bounds[ev]), int(bounds[ev + 1]))
        timer.lap("calorimeter")
        chosen = rng.integers(0, pool.n, n_pu[ev])
        shift = rng.integers(0, grid.n_phi_rotation, n_pu[ev])
        reflect = rng.random(n_pu[ev]) < 0.5
        if overlays is not None:
            overlays.append((chosen, shift, reflect))
        overlay(e_sig, e_em, e_pu, pool.offsets, pool.layer, pool.ieta, pool.iphi, pool.e,
                pool.e_em, chosen, shift, reflect, grid.n_eta, grid.n_phi, grid.cell_off)
        npv[ev] = n_primary_vertices(pool.n_trackable[chosen], cfg.tracking, rng)
        timer.lap("pileup")
        off = int(rng.integers(0, 2 * n_cells))
        np.multiply(noise_cell, bank[off:off + n_cells], out=e_tot)
        e_tot += e_sig
        var_pu = mu[ev] * pool.var_cell if topo.include_pileup_noise else 0.0
        sigma_row = np.sqrt(noise_row**2 + var_pu)
        timer.lap("noise")
        cl = cluster_cells(e_tot, e_pu, e_em, sigma_row, grid, calo, topo, label, queue)
        out.append(cl[cl[:, 0] > topo.min_cluster_e])
        e_sig.fill(0.0)
        e_em.fill(0.0)
        e_pu.fill(0.0)
        timer.lap("topo")
    counts = np.array([len(c) for c in out], np.int64)
    allc = np.concatenate(out) if out else np.zeros((0, N_CLUSTER_FIELDS))
    w = lc_weights(allc, calo, topo)
    clusters = Clusters(np.repeat(np.arange(n_ev), counts), allc[:, 0], allc[:, 0] * w,
                        allc[:, 1], allc[:, 2], allc[:, 3:9], allc[:, 9], allc[:, 10], allc[:, 11],
                        allc[:, 13], counts)
    timer.lap("lc")
    return clusters, n_pu, npv


def simulate_chunk(chunk: Chunk, mu_range: tuple[float, float], cfg: SimConfig,
                   pool: PileupPool) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Run one chunk end to end. Returns (table of matched jets, seconds per stage)."""
    timer = _Timer()
    rng = np.random.default_rng([chunk.seed, 1])
    py = make_pythia(process_settings(chunk.process, cfg.generation, chunk.slice_index), chunk.seed)
    timer.lap("pythia_init")
    p = generate_batch(py, chunk.n_events)
    sigma_pb = float(py.infoPython().sigmaGen()) * 1e9  # mb → pb
    timer.lap("pythia")
    table = reconstruct_rows(p, chunk, mu_range, cfg, pool, rng, timer)
    table["weight"] = np.full(len(table["event"]), sigma_pb * chunk.weight_norm)
    return table, dict(timer.t)


def reconstruct_rows(p: Particles, chunk: Chunk, mu_range: tuple[float, float], cfg: SimConfig,
                     pool: PileupPool, rng: np.random.Generator, timer: _Timer) -> dict[str, np.ndarray]:
    """Detector, jets, matching and features for generated particles ``p`` (no weight column)."""
    jc = cfg.jets
    n_ev = p.n_events
    mu = rng.uniform(mu_range[0], mu_range[1], n_ev)
    tracks = make_tracks(p, cfg.tracking, rng)
    timer.lap("tracking")
    overlays: list = []
    visible: list = []
    clusters, n_pu, npv = reconstruct(p, cfg, pool, mu, rng, timer, overlays, visible)
    tracks = _pileup_tracks(tracks, n_ev, n_pu, overlays, pool, cfg, rng)
    timer.lap("tracking")

    # truth jets: hard-scatter stable particles except neutrinos and muons
    apid = np.abs(p.pid)
    is_truth = ~np.isin(apid, NEUTRINOS) & (apid != PDG.MUON)
    t = p.select(is_truth)
    tcounts = np.bincount(t.evt, minlength=n_ev)
    tj = find_jets(t.px, t.py, t.pz, t.e, tcounts, jc.radius, jc.min_pt_true, jc.trim_rsub, jc.trim_fcut,
                   **groom_kwargs(jc))
    timer.lap("truth_jets")
    pt_c = clusters.e_lc / np.cosh(clusters.eta)
    if jc.softkiller:  # pile-up suppression on the clusters of each event (jets.softkiller_mask)
        keep = softkiller_mask(pt_c, clusters.eta, clusters.phi, clusters.counts, jc.softkiller_grid,
                               jc.softkiller_eta_max)
        clusters = Clusters(**{f: getattr(clusters, f)[keep] for f in Clusters.__dataclass_fields__ if f != "counts"},
                            counts=np.bincount(clusters.evt[keep], minlength=n_ev))
        pt_c = pt_c[keep]
        timer.lap("softkiller")
    cpx, cpy = pt_c * np.cos(clusters.phi), pt_c * np.sin(clusters.phi)
    cpz = pt_c * np.sinh(clusters.eta)
    rj = find_jets(cpx, cpy, cpz, clusters.e_lc, clusters.counts, jc.radius, jc.min_pt_reco,
                   jc.trim_rsub, jc.trim_fcut, **groom_kwargs(jc))
    timer.lap("reco_jets")

    tk, rk = tj.kin(), rj.kin()
    match, dr = match_jets(tj.evt, tk["eta"], tk["phi"], rj.evt, rk["eta"], rk["phi"], jc.match_dr)
    good = (match >= 0) & (tk["pt"] > jc.min_pt_true) & (np.abs(tk["eta"]) < jc.max_abs_eta_true)
    # up to max_jets_per_event leading (groomed truth pT) matched jets per event
    cand = np.nonzero(good)[0]
    cand = cand[np.lexsort((-tk["pt"][cand], tj.evt[cand]))]
    rank = np.arange(len(cand)) - np.searchsorted(tj.evt[cand], tj.evt[cand])
    ti = cand[rank < jc.max_jets_per_event]
    ri = match[ti]
    rows = _features(ri, rj, clusters, tracks, cpx, cpy, cpz, cfg)
    rows.update(_hidden_truth(p, np.nonzero(is_truth)[0], visible[0], tj, ti, rj, ri, rows.pop("e_em_scale"),
                              rows["pileup_e_true"], cfg))
    timer.lap("substructure")
    ev = tj.evt[ti]
    tu = kinematics(tj.p4[ti])
    ru = kinematics(rj.p4[ri])
    rows.update({
        "event": chunk.first_event + ev, "process": np.full(len(ti), int(_PROCESS_CODE[chunk.process])),
        "mu_actual": n_pu[ev], "mu": mu[ev], "npv": npv[ev], "seed": np.full(len(ti), chunk.seed),
        "e_true": tk["e"][ti], "pt_true": tk["pt"][ti], "eta_true": tk["eta"][ti],
        "phi_true": tk["phi"][ti], "m_true": tk["m"][ti],
        "e_reco": rk["e"][ri], "pt_reco": rk["pt"][ri], "eta_reco": rk["eta"][ri],
        "phi_reco": rk["phi"][ri], "m_reco": rk["m"][ri],
        "e_reco_ungroomed": ru["e"], "m_reco_ungroomed": ru["m"],
        "e_true_ungroomed": tu["e"], "m_true_ungroomed": tu["m"], "dr_match": dr[ti],
    })
    rows["eta"] = rows["eta_reco"]
    rows["log_e"] = np.log(np.maximum(rows["e_reco"], 1e-3))
    rows["log_m"] = np.log(np.maximum(rows["m_reco"], 1.0))
    rows["groom_m_ratio"] = safe_ratio(rows["m_reco"], ru["m"])
    out = {name: np.asarray(rows[name]).astype(COLUMNS[name].numpy_dtype) for name in _OUTPUT}
    if cfg.constituents.store:
        out.update(_constituents(ri, rj, clusters, tracks, cfg))
        timer.lap("constituents")
    return out


def _pileup_tracks(hard, n_ev: int, n_pu: np.ndarray, overlays: list, pool: PileupPool,
                   cfg: SimConfig, rng: np.random.Generator):
    """All tracks of the batch (hard scatter + overlaid pool events, rotated/reflected like their
    cells) reduced to those associated in z to each event's primary vertex."""
    if overlays:
        chosen = np.concatenate([o[0] for o in overlays]).astype(np.int64)
        shift = np.concatenate([o[1] for o in overlays]).astype(np.int64)
        reflect = np.concatenate([o[2] for o in overlays])
    else:
        chosen, shift, reflect = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    pu_evt = np.repeat(np.arange(n_ev), n_pu)
    dphi = Grid.from_config(cfg.calorimeter).dphi_rotation
    t = add_pileup_tracks(hard, pu_evt, chosen, shift, reflect, pool.trk_off, pool.trk_pt,
                          pool.trk_eta, pool.trk_phi, dphi, cfg.tracking, rng)
    n_vtx = 1 + np.asarray(n_pu, np.int64)
    pv = primary_vertex(t, n_vtx)
    z_vtx = vertex_z(n_vtx, cfg.tracking, rng)
    return t.select(associate_to_pv(t, n_vtx, pv, z_vtx, cfg.tracking, rng))  # sets t.dz0_pv


#: what a generated table holds: every column but those that calibrate writes (its calibrated
#: kinematics and the uncertainties of probabilistic heads) and the weight (added per chunk)
_OUTPUT = tuple(n for n, c in COLUMNS.items() if c.group not in ("calibrated", "uncertainty") and n != "weight")


def _features(ri: np.ndarray, rj, cl: Clusters, tracks, cpx, cpy, cpz,
              cfg: SimConfig) -> dict[str, np.ndarray]:
    """Detector-level inputs of the selected reco jets ``ri`` (groomed constituents)."""
    n = np.diff(rj.const_off)[ri]
    idx = np.concatenate([rj.const[rj.const_off[j]:rj.const_off[j + 1]] for j in ri]) if len(ri) else np.zeros(0, np.int64)
    off = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    rk = rj.kin()
    rows: dict[str, np.ndarray] = {"n_constituents": n}
    e_em = cl.e_em_scale[idx]
    lay = cl.layers[idx]

    def seg(x: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(x)])
        return c[off[1:]] - c[off[:-1]]

    e_sum = seg(e_em)
    rows["e_em_scale"] = e_sum
    rows["em_frac"] = safe_ratio(seg(lay[:, :3].sum(axis=1)), e_sum)
    rows["em3_frac"] = safe_ratio(seg(lay[:, 2]), e_sum)
    rows["tile0_frac"] = safe_ratio(seg(lay[:, 3]), e_sum)
    rows["eff_n_clusters"] = eff_n(cl.e_lc[idx], off)
    pt = np.hypot(cpx[idx], cpy[idx])
    rows["width"] = width(pt, cl.eta[idx], cl.phi[idx], rk["eta"][ri], rk["phi"][ri], off)
    rows["pileup_e_true"] = seg(cl.e_pileup[idx])
    rows["fem_true"] = safe_ratio(seg(cl.e_em_true[idx]), e_sum)
    rows.update(fastjet_substructure(cpx[idx], cpy[idx], cpz[idx], cl.e_lc[idx], off, cfg.jets.radius))
    # tracks from the primary vertex within ΔR < assoc_dr of the ungroomed jet axis
    ru = kinematics(rj.p4[ri])
    tsum = track_sums_near(tracks, rj.evt[ri], ru["eta"], ru["phi"], cfg.tracking.assoc_dr)
    tk = kinematics(tsum)
    rows["neutral_e_frac"] = np.clip(1.0 - safe_ratio(tk["e"], rk["e"][ri]), 0.0, 1.0)
    rows["charged_pt_frac"] = safe_ratio(np.hypot(tsum[:, 0], tsum[:, 1]), rk["pt"][ri])
    rows["charged_m_frac"] = safe_ratio(tk["m"], rk["m"][ri])
    return rows


def _hidden_truth(p: Particles, truth_index: np.ndarray, visible: np.ndarray, tj, ti: np.ndarray, rj,
                  ri: np.ndarray, e_em_reco: np.ndarray, pileup_e: np.ndarray,
                  cfg: SimConfig) -> dict[str, np.ndarray]:
    """The energy bookkeeping columns (``sim`` group, docs/inputs.md#hidden-truth) of the selected
    truth jets ``ti`` and their reco jets ``ri``. ``truth_index`` maps the truth-jet inputs to
    ``p``; ``visible`` (n_particles,) is each particle's visible deposit; ``e_em_reco`` and
    ``pileup_e`` the reco jets' EM-scale cluster energy and its pile-up part (GeV)."""
    n = len(ti)
    size = np.diff(tj.const_off)[ti]
    jet = np.repeat(np.arange(n), size)
    const = np.concatenate([tj.const[tj.const_off[j]:tj.const_off[j + 1]] for j in ti]) if n else np.zeros(0, np.int64)
    part = truth_index[const]  # the groomed truth jets' particles, in p
    vis = np.bincount(jet, visible[part], minlength=n)
    e_true = tj.p4_groomed[ti, 3]
    # out of cone: the particle's calorimeter entry point (charged ones bent) against the reco axis
    phi_entry, reach = calo_entry_phi(p, cfg.tracking)
    ru = kinematics(rj.p4[ri])
    dphi = (phi_entry[part] - ru["phi"][jet] + np.pi) % (2 * np.pi) - np.pi
    outside = reach[part] & (np.hypot(p.eta[part] - ru["eta"][jet], dphi) > cfg.jets.radius)
    e_ooc = np.bincount(jet, np.where(outside, p.e[part], 0.0), minlength=n)
    # hard-scatter ν and μ near the truth axis: massless sums (E = pT cosh η) as for tracks
    apid = np.abs(p.pid)
    nm = np.isin(apid, NEUTRINOS) | (apid == PDG.MUON)
    tu = kinematics(tj.p4[ti])
    numu = track_sums_near(Tracks(p.evt[nm], p.pt[nm], p.eta[nm], p.phi[nm]), tj.evt[ti], tu["eta"],
                           tu["phi"], cfg.jets.radius)[:, 3]
    return {"e_invisible_true": e_true - vis, "e_out_of_cluster_true": vis - (e_em_reco - pileup_e),
            "e_out_of_cone_true": e_ooc, "e_numu_true": numu}


def _constituents(ri: np.ndarray, rj, cl: Clusters, tracks, cfg: SimConfig) -> dict:
    """The jagged ``cl_*`` and ``trk_*`` columns (io.CONSTITUENT_COLUMNS) of the selected reco
    jets ``ri``: awkward arrays of float32, one list per jet."""
    import awkward as ak

    from ..io.schema import CLUSTER_COLUMNS, TRACK_COLUMNS

    cc = cfg.constituents
    n = len(ri)
    rk = rj.kin()
    jeta, jphi = rk["eta"][ri], rk["phi"][ri]
    # clusters: the groomed constituents, hardest first, at most max_clusters
    size = np.diff(rj.const_off)[ri]
    jet = np.repeat(np.arange(n), size)
    idx = np.concatenate([rj.const[rj.const_off[j]:rj.const_off[j + 1]] for j in ri]) if n else np.zeros(0, np.int64)
    order = np.lexsort((-cl.e_lc[idx], jet))
    jet, idx = jet[order], idx[order]
    rank = np.arange(len(jet)) - np.searchsorted(jet, jet)
    keep = rank < cc.max_clusters
    jet, idx = jet[keep], idx[keep]
    e_em = np.maximum(cl.e_em_scale[idx], 1e-9)
    cols = {"cl_e": cl.e_lc[idx], "cl_deta": cl.eta[idx] - jeta[jet], "cl_dphi": _dphi(cl.phi[idx], jphi[jet])}
    for lay, name in enumerate(CLUSTER_COLUMNS[3:9]):
        cols[name] = cl.layers[idx, lay] / e_em
    cols.update({"cl_n_cells": cl.n_cells[idx], "cl_lc_weight": cl.e_lc[idx] / e_em,
                 "cl_isolation": cl.isolation[idx]})
    n_cl = np.bincount(jet, minlength=n)
    # tracks: primary-vertex tracks near the ungroomed axis (as the track sums), highest pT first
    ru = kinematics(rj.p4[ri])
    kt, it = tracks_near(tracks, rj.evt[ri], ru["eta"], ru["phi"], cfg.tracking.assoc_dr)
    order = np.lexsort((-tracks.pt[it], kt))
    k, i = kt[order], it[order]
    rank = np.arange(len(k)) - np.searchsorted(k, k)
    keep = rank < cc.max_tracks
    k, i = k[keep], i[keep]
    cols.update({"trk_pt": tracks.pt[i], "trk_deta": tracks.eta[i] - jeta[k],
                 "trk_dphi": _dphi(tracks.phi[i], jphi[k]), "trk_dz0_sintheta": tracks.dz0_pv[i]})
    n_trk = np.bincount(k, minlength=n)
    assert set(cols) == set(CLUSTER_COLUMNS + TRACK_COLUMNS)
    return {name: ak.unflatten(np.asarray(cols[name], np.float32), n_cl if name.startswith("cl_") else n_trk)
            for name in CLUSTER_COLUMNS + TRACK_COLUMNS}


def _dphi(phi: np.ndarray, axis: np.ndarray) -> np.ndarray:
    return (phi - axis + np.pi) % (2 * np.pi) - np.pi
