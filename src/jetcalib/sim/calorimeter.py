"""Particle showers → calorimeter cell deposits (vectorised over a whole batch).

Per particle: energy lost in front (dead material), crack response (in the barrel–endcap gap
mostly of the EM shower component), then
* EM showers (γ, e): response 1, σ/E = a/√E ⊕ b, Gamma(3) depth profile deepening with ln E;
* hadron showers: first interaction at Exp(1) λ_int; a fluctuating EM fraction f_em with
  ⟨f_em⟩ = 1 − E^(k−1) seen at full scale, the rest at h/e (non-compensation); the EM part
  deposits right after the first interaction, the hadronic part deeper (Gamma(2)), so layer
  fractions correlate with the response; leakage beyond the last layer is lost;
* muons: a MIP deposit spread over layers by thickness; neutrinos: nothing.
:func:`deposit` gives one record per (particle, layer): its visible energy and the impact point.
Laterally (:func:`spread_event`, numba) each record is a core + halo profile (two Gaussians in
η and φ; narrow for EM showers, wide for hadronic ones) integrated over the cells of its layer,
so the cell energies are smooth functions of the impact point in every layer's granularity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .config import CalorimeterConfig, TrackingConfig
from .generator import NEUTRINOS, PDG, Particles
from .geometry import Grid

__all__ = ["Deposits", "Spreader", "calo_entry_phi", "deposit", "lateral_profiles",
           "mean_hadron_response", "spread_event"]

#: lateral profile kinds (rows of :func:`lateral_profiles`)
PROFILE_EM, PROFILE_HAD = 0, 1


@dataclass
class Deposits:
    """Energy deposited per (particle, layer), ordered by event; shape (n,) per field; GeV."""

    evt: np.ndarray
    layer: np.ndarray
    eta: np.ndarray  #: impact point
    phi: np.ndarray
    e: np.ndarray  #: visible (EM-scale) energy
    e_em: np.ndarray  #: visible energy of the electromagnetic shower component (truth)
    profile: np.ndarray  #: lateral profile kind (PROFILE_EM, PROFILE_HAD)
    particle: np.ndarray  #: index of the depositing particle in the batch's ``Particles``


class Spreader:
    """:func:`spread_event` with the geometry, profiles and scratch arrays of one detector."""

    def __init__(self, cfg: CalorimeterConfig, grid: Grid) -> None:
        self.grid = grid
        self.prof = lateral_profiles(cfg)
        self.window = cfg.lateral_window_sigmas
        self.min_cell = cfg.lateral_min_cell_gev
        r = self.window * float(self.prof[:, 1].max())
        n = int(np.ceil(2 * r / float(grid.row_deta().min()))) + 3
        self.f_eta = np.empty((2, n))
        self.f_phi = np.empty((2, int(np.ceil(2 * r / (2 * np.pi / grid.n_phi.max()))) + 3))

    def __call__(self, dense_e: np.ndarray, dense_em: np.ndarray, d: Deposits, lo: int, hi: int) -> None:
        """Add deposits ``lo:hi`` of ``d`` (one event's) to the dense cell arrays, in place."""
        g = self.grid
        spread_event(dense_e, dense_em, d.layer, d.eta, d.phi, d.e, d.e_em, d.profile, lo, hi,
                     g.edges_flat, g.edge_off, g.n_phi, g.cell_off, self.prof, self.window,
                     self.min_cell, self.f_eta, self.f_phi)


def lateral_profiles(cfg: CalorimeterConfig) -> np.ndarray:
    """(core σ, halo σ, halo fraction) per profile kind, (2, 3)."""
    return np.array([[cfg.em_core_sigma, cfg.em_halo_sigma, cfg.em_halo_frac],
                     [cfg.had_core_sigma, cfg.had_halo_sigma, cfg.had_halo_frac]])


def mean_hadron_response(e: np.ndarray, cfg: CalorimeterConfig) -> np.ndarray:
    """Mean EM-scale response of a hadron of energy ``e`` GeV: ⟨f⟩ + h/e (1 − ⟨f⟩)."""
    f = 1.0 - np.power(np.maximum(e, 1.0), cfg.fem_k - 1.0)
    return f + cfg.h_over_e * (1.0 - f)


def calo_entry_phi(p: Particles, trk: TrackingConfig) -> tuple[np.ndarray, np.ndarray]:
    """φ at the calorimeter face (charged tracks bend by bend_coeff·q/pT) and a mask of
    particles that reach the calorimeter (charged below min_pt_reach_calo loop inside)."""
    pt = p.pt
    charged = p.charge != 0
    phi = p.phi + np.where(charged, trk.bend_coeff * p.charge / np.maximum(pt, 1e-3), 0.0)
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    reach = ~charged | (pt >= trk.min_pt_reach_calo)
    return phi, reach


def _gamma3_cdf(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return 1.0 - np.exp(-x) * (1.0 + x + 0.5 * x * x)


def _gamma2_cdf(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return 1.0 - np.exp(-x) * (1.0 + x)


def _layer_fractions(cdf, start: np.ndarray, scale: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of a profile (start + Gamma(scale)) in each layer, shape (n, n_layers)."""
    c = cdf((edges[None, :] - start[:, None]) / scale[:, None])
    return np.diff(c, axis=1)


def deposit(p: Particles, cfg: CalorimeterConfig, trk: TrackingConfig, grid: Grid,
            rng: np.random.Generator) -> Deposits:
    """Shower every particle of ``p`` into cell spots."""
    apid = np.abs(p.pid)
    phi, reach = calo_entry_phi(p, trk)
    eta = p.eta
    keep = reach & ~np.isin(apid, NEUTRINOS) & (np.abs(eta) < cfg.eta_max)
    kept_index = np.nonzero(keep)[0]
    evt, e, apid, eta, phi = p.evt[keep], p.e[keep], apid[keep], eta[keep], phi[keep]
    n = len(e)
    is_mu = apid == PDG.MUON
    is_em = (apid == PDG.PHOTON) | (apid == PDG.ELECTRON)
    is_had = ~is_mu & ~is_em
    edges = np.asarray(cfg.layer_edges_lambda)
    n_layers = len(edges) - 1

    # energy lost in front of the calorimeter: matters for low-energy particles
    lost = rng.exponential(cfg.dead_material_gev, n)
    e_dep = np.maximum(e - lost, 0.0)
    aeta = np.abs(eta)
    crack = np.ones(n)
    lo, hi = cfg.crack_forward
    crack[(aeta > lo) & (aeta < hi)] = cfg.crack_forward_response
    e_dep = e_dep * crack
    lo, hi = cfg.crack_barrel_endcap
    in_gap = (aeta > lo) & (aeta < hi)

    # electromagnetic fraction of each shower (1 for EM particles)
    fbar = 1.0 - np.power(np.maximum(e_dep, 1.0), cfg.fem_k - 1.0)
    fbar = np.clip(fbar, 0.02, 0.98)
    kappa = cfg.fem_concentration
    f_em = np.where(is_had, rng.beta(kappa * fbar, kappa * (1 - fbar)), 1.0)

    # sampling fluctuations of the visible energy
    safe = np.maximum(e_dep, 1e-3)
    sig_em = np.hypot(cfg.em_stochastic / np.sqrt(safe), cfg.em_constant)
    sig_had = np.hypot(cfg.had_stochastic / np.sqrt(safe), cfg.had_constant)
    smear = np.maximum(1.0 + rng.standard_normal(n) * np.where(is_em, sig_em, sig_had), 0.0)
    vis_em = e_dep * f_em * smear * np.where(in_gap, cfg.crack_barrel_endcap_em_response, 1.0)
    vis_had = e_dep * (1.0 - f_em) * cfg.h_over_e * smear * np.where(in_gap, cfg.crack_barrel_endcap_had_response, 1.0)

    # longitudinal profiles
    start = np.where(is_had, rng.exponential(1.0, n), 0.0)
    s_em = cfg.em_x0_lambda * (np.log(np.maximum(e_dep * f_em, 0.05) / cfg.em_critical_gev) + 1.0) / 3.0
    s_em = np.maximum(s_em, 0.02)
    frac_em = _layer_fractions(_gamma3_cdf, start, s_em, edges)
    frac_had = _layer_fractions(_gamma2_cdf, start, np.full(n, cfg.had_depth_scale), edges)
    lay_em = vis_em[:, None] * frac_em
    lay_tot = lay_em + vis_had[:, None] * frac_had
    if is_mu.any():
        thick = np.diff(edges) / edges[-1]
        mip = cfg.muon_mip_gev * rng.uniform(0.8, 1.2, int(is_mu.sum()))
        lay_tot[is_mu] = mip[:, None] * thick[None, :]
        lay_em[is_mu] = 0.0

    assert n_layers == grid.n_layers
    # EM showers and muons (which ionise along a line): the narrow profile, centred on the
    # particle; a hadron's hadronic component: the wide profile, centred on the particle
    narrow = ~is_had | is_mu
    lay_wide = np.where(narrow[:, None], 0.0, lay_tot - lay_em)
    lay_narrow = np.where(narrow[:, None], lay_tot, 0.0)
    pn, ln = np.nonzero(lay_narrow > 1e-4)
    pw, lw = np.nonzero(lay_wide > 1e-4)
    parts = [(pn, ln, eta[pn], phi[pn], lay_narrow[pn, ln], lay_em[pn, ln], PROFILE_EM),
             (pw, lw, eta[pw], phi[pw], lay_wide[pw, lw], np.zeros(len(pw)), PROFILE_HAD)]
    # a hadron's EM component (its π⁰ → γγ) as ``had_em_subshowers`` narrow showers displaced
    # from the axis, the same displacement in every layer, with energy shares ~ flat Dirichlet
    # (π⁰ energies are unequal): the lumps that make local maxima
    k = cfg.had_em_subshowers
    sub = np.nonzero(is_had & ~is_mu)[0]
    d_eta = rng.standard_normal((len(sub), k)) * cfg.had_em_subshower_sigma
    d_phi = rng.standard_normal((len(sub), k)) * cfg.had_em_subshower_sigma
    share = rng.dirichlet(np.ones(k), size=len(sub))
    ps, ls = np.nonzero(lay_em[sub] > 1e-4)
    for j in range(k):
        e_sub = lay_em[sub[ps], ls] * share[ps, j]
        parts.append((sub[ps], ls, eta[sub[ps]] + d_eta[ps, j], _wrap(phi[sub[ps]] + d_phi[ps, j]),
                      e_sub, e_sub, PROFILE_EM))
    pi = np.concatenate([q[0] for q in parts])
    order = np.argsort(evt[pi], kind="stable")
    cat = [np.concatenate([q[f] for q in parts])[order] for f in range(1, 6)]
    prof = np.concatenate([np.full(len(q[0]), q[6], np.int8) for q in parts])[order]
    return Deposits(evt[pi][order], cat[0].astype(np.int8), cat[1], cat[2], cat[3], cat[4], prof,
                    kept_index[pi][order])


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


@numba.njit(cache=True)
def _cdf(x):
    return 0.5 * (1.0 + math.erf(x * 0.7071067811865476))


@numba.njit(cache=True)
def _impact_cell(eta, phi, edges_flat, e0, ne, np_l, base):
    ie = np.searchsorted(edges_flat[e0:e0 + ne + 1], eta, side="right") - 1
    if ie < 0 or ie >= ne:
        return -1
    return base + ie * np_l + math.floor((phi + math.pi) * np_l / (2.0 * math.pi)) % np_l


@numba.njit(cache=True)
def _reach(e, sigma, area, min_cell):
    """Distance from the axis at which a Gaussian of energy ``e`` and width ``sigma`` puts
    ``min_cell`` into a cell of ``area``: beyond it no cell is above the threshold."""
    peak = e * area / (2.0 * math.pi * sigma * sigma)
    if peak <= min_cell:
        return 0.0
    return sigma * math.sqrt(2.0 * math.log(peak / min_cell))


@numba.njit(cache=True)
def _cell_fractions(rel, n, sc, sh, out):
    """Fractions of a unit Gaussian of width ``sc`` (row 0) and of width ``sh`` (row 1) in the
    ``n`` cells whose edges, relative to the centre, are ``rel[0..n]``; into ``out``."""
    pc = _cdf(rel[0] / sc)
    ph = _cdf(rel[0] / sh)
    for t in range(n):
        qc = _cdf(rel[t + 1] / sc)
        qh = _cdf(rel[t + 1] / sh)
        out[0, t] = qc - pc
        out[1, t] = qh - ph
        pc = qc
        ph = qh


@numba.njit(cache=True)
def spread_event(dense_e, dense_em, layer, eta, phi, e, e_em, profile, lo, hi, edges_flat, edge_off,
                 n_phi, cell_off, prof, window, min_cell, f_eta, f_phi):
    """Add deposits ``lo:hi`` to the dense per-cell arrays ``dense_e``/``dense_em`` (GeV, in place).

    Each deposit's profile (1 − a)·G(σ_core) + a·G(σ_halo) in η and φ is integrated over the
    cells of its layer within ``window`` halo σ of the impact point; cells that would receive
    less than ``min_cell`` GeV are skipped and the deposit's energy is shared among the others in
    proportion (so energy is conserved; a deposit too soft for any cell goes to the cell of its
    impact point). ``f_eta``/``f_phi`` are float scratch arrays of shape (2, ≥ cells in a window).
    The window shrinks to where either Gaussian still gives a cell ``min_cell``: soft deposits
    touch few cells."""
    rel = np.empty(max(f_eta.shape[1], f_phi.shape[1]) + 1)  # cell edges relative to the impact
    for i in range(lo, hi):
        ly = layer[i]
        e0 = edge_off[ly]
        ne = edge_off[ly + 1] - e0 - 1
        np_l = n_phi[ly]
        base = cell_off[ly]
        ei = e[i]
        if ei <= min_cell:  # too soft to share: all of it in the impact cell
            c = _impact_cell(eta[i], phi[i], edges_flat, e0, ne, np_l, base)
            if c >= 0:
                dense_e[c] += ei
                dense_em[c] += e_em[i]
            continue
        k = profile[i]
        sc = prof[k, 0]
        sh = prof[k, 1]
        a = prof[k, 2]
        dphi = 2.0 * math.pi / np_l
        ic = np.searchsorted(edges_flat[e0:e0 + ne + 1], eta[i], side="right") - 1
        ic = min(max(ic, 0), ne - 1)
        area = (edges_flat[e0 + ic + 1] - edges_flat[e0 + ic]) * dphi
        r = max(_reach(ei * (1.0 - a), sc, area, min_cell), _reach(ei * a, sh, area, min_cell))
        r = min(r, window * sh)
        # η window: cells [ia, ib] of this layer, the CDFs at their nie + 1 edges
        ia = max(np.searchsorted(edges_flat[e0:e0 + ne + 1], eta[i] - r, side="right") - 1, 0)
        ib = min(np.searchsorted(edges_flat[e0:e0 + ne + 1], eta[i] + r, side="right") - 1, ne - 1)
        nie = min(ib - ia + 1, f_eta.shape[1] - 1)
        for t in range(nie + 1):
            rel[t] = edges_flat[e0 + ia + t] - eta[i]
        _cell_fractions(rel, nie, sc, sh, f_eta)
        # φ window: cells ja..jb unwrapped (index mod n_phi), edges at −π + j·Δφ
        ja = math.floor((phi[i] + math.pi - r) / dphi)
        jb = math.floor((phi[i] + math.pi + r) / dphi)
        nip = min(jb - ja + 1, f_phi.shape[1] - 1, np_l)
        x0 = -math.pi + ja * dphi - phi[i]
        rel[0] = x0
        for t in range(nip):
            rel[t + 1] = x0 + (t + 1) * dphi
        _cell_fractions(rel, nip, sc, sh, f_phi)
        mc = 0.0
        mh = 0.0
        for t in range(nip):
            mc = max(mc, f_phi[0, t])
            mh = max(mh, f_phi[1, t])
        thr = min_cell / ei
        # pass 1: the kept fraction (rows whose best cell is below the threshold are skipped)
        kept = 0.0
        for u in range(nie):
            if (1.0 - a) * f_eta[0, u] * mc + a * f_eta[1, u] * mh < thr:
                continue
            for t in range(nip):
                f = (1.0 - a) * f_eta[0, u] * f_phi[0, t] + a * f_eta[1, u] * f_phi[1, t]
                if f >= thr:
                    kept += f
        if kept <= 0.0:
            c = _impact_cell(eta[i], phi[i], edges_flat, e0, ne, np_l, base)
            if c >= 0:
                dense_e[c] += ei
                dense_em[c] += e_em[i]
            continue
        we = ei / kept
        wm = e_em[i] / kept
        for u in range(nie):
            if (1.0 - a) * f_eta[0, u] * mc + a * f_eta[1, u] * mh < thr:
                continue
            row = base + (ia + u) * np_l
            for t in range(nip):
                f = (1.0 - a) * f_eta[0, u] * f_phi[0, t] + a * f_eta[1, u] * f_phi[1, t]
                if f >= thr:
                    c = row + (ja + t) % np_l
                    dense_e[c] += f * we
                    dense_em[c] += f * wm
