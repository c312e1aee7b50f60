"""Particle showers → calorimeter cell deposits (vectorised over a whole batch).

Per particle: energy lost in front (dead material), crack response (in the barrel–endcap gap
mostly of the EM shower component), then
* EM showers (γ, e): response 1, σ/E = a/√E ⊕ b, Gamma(3) depth profile deepening with ln E;
* hadron showers: first interaction at Exp(1) λ_int; a fluctuating EM fraction f_em with
  ⟨f_em⟩ = 1 − E^(k−1) seen at full scale, the rest at h/e (non-compensation); the EM part
  deposits right after the first interaction, the hadronic part deeper (Gamma(2)), so layer
  fractions correlate with the response; leakage beyond the last layer is lost;
* muons: a MIP deposit spread over layers by thickness; neutrinos: nothing.
Laterally each (particle, layer) deposit is split into ``n_spots`` Gaussian-spread points.
Outputs flat arrays of spots: event, cell, visible energy, visible EM-component energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CalorimeterConfig, TrackingConfig
from .generator import NEUTRINOS, PDG, Particles
from .geometry import Grid

__all__ = ["Deposits", "calo_entry_phi", "deposit", "mean_hadron_response"]



@dataclass
class Deposits:
    """Spots of deposited energy (GeV), shape (n_spots,)."""

    evt: np.ndarray
    cell: np.ndarray
    e: np.ndarray  #: visible (EM-scale) energy
    e_em: np.ndarray  #: visible energy of the electromagnetic shower component (truth)


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

    # lateral spread: n_spots Gaussian points per (particle, layer) with a deposit
    pi, li = np.nonzero(lay_tot > 1e-4)
    k = cfg.n_spots
    sig = np.where(is_em, cfg.em_lateral_sigma, cfg.had_lateral_sigma)[pi]
    m = len(pi)
    deta = rng.standard_normal((m, k)) * sig[:, None]
    dphi = rng.standard_normal((m, k)) * sig[:, None]
    s_eta = (eta[pi][:, None] + deta).ravel()
    s_phi = (phi[pi][:, None] + dphi).ravel()
    ieta = grid.eta_index(s_eta)
    iphi = grid.phi_index(s_phi)
    layer = np.repeat(li, k)
    cell = grid.cell_index(layer, ieta, iphi)
    ok = ieta >= 0
    e_spot = np.repeat(lay_tot[pi, li] / k, k)
    em_spot = np.repeat(lay_em[pi, li] / k, k)
    assert n_layers == grid.n_layers
    return Deposits(np.repeat(evt[pi], k)[ok], cell[ok], e_spot[ok], em_spot[ok])
