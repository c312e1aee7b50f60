"""4-2-0 topological clustering (numba) and local hadronic (LC) cluster calibration.

Seeds: |E| > 4σ; grow through neighbours (8 in the same layer, with φ wrap-around, and the
same (η, φ) cell in the adjacent layers) with |E| > 2σ; add the ring of neighbours with
|E| > 0σ. σ = electronic noise ⊕ expected pile-up noise √(⟨μ⟩·var). Clusters are not split.
"""

from __future__ import annotations

import numba
import numpy as np

from .calorimeter import mean_hadron_response
from .config import CalorimeterConfig, TopoConfig

__all__ = ["N_CLUSTER_FIELDS", "cluster_event", "lc_weights"]

#: columns of the cluster array: E, eta, phi, E_layer0..5, E_pileup, E_em_true, n_cells
N_CLUSTER_FIELDS = 12


@numba.njit(cache=True)
def _neighbour(k, ly, ie, ip, n_layers, n_eta, n_phi):
    """k-th neighbour (0..7 in-layer, 8/9 the layer below/above) of a cell, or −1."""
    l2 = ly
    e2 = ie
    p2 = ip
    if k < 8:
        kk = k if k < 4 else k + 1  # skip the centre of the 3×3 block
        e2 = ie + kk // 3 - 1
        p2 = (ip + kk % 3 - 1) % n_phi
        if e2 < 0 or e2 >= n_eta:
            return -1
    elif k == 8:
        l2 = ly - 1
    else:
        l2 = ly + 1
    if l2 < 0 or l2 >= n_layers:
        return -1
    return (l2 * n_eta + e2) * n_phi + p2


@numba.njit(cache=True)
def cluster_event(e, e_pu, e_em, sigma_le, n_layers, n_eta, n_phi, t_seed, t_grow, t_cell,
                  split_e, eta_c, phi_c, label, queue):
    """Cluster one event. ``e`` etc. are dense per-cell arrays (n_cells,); ``sigma_le`` the
    noise σ per (layer, i_eta); ``label``/``queue`` int scratch arrays of n_cells (label
    must be −1 everywhere; it is reset before returning). Returns (n_clusters, 12) floats.

    Splitting (ATLAS splits clusters at local maxima): seeds in towers (η, φ summed over
    layers) that are local maxima above ``split_e`` GeV grow simultaneously (breadth first), so
    that each cell joins the nearest of them; remaining seeds then grow one by one."""
    n_cells = e.size
    n_tow = n_eta * n_phi
    tower = np.zeros(n_tow)
    for c in range(n_cells):
        tower[c % n_tow] += e[c]
    cand = np.empty(n_cells, np.int64)
    ns = 0
    best = np.full(n_tow, -1, np.int64)
    for c in range(n_cells):
        ie = (c // n_phi) % n_eta
        ly = c // n_tow
        if abs(e[c]) > t_seed * sigma_le[ly, ie]:
            cand[ns] = c
            ns += 1
            t = c % n_tow
            if best[t] < 0 or e[c] > e[best[t]]:
                best[t] = c
    cand = cand[:ns]
    order = np.argsort(-np.abs(e[cand]))
    cand = cand[order]
    phi0 = np.zeros(ns)
    nclus = 0
    tail = 0
    # pass 1: local-maximum towers grow together
    for s in cand:
        t = s % n_tow
        if best[t] != s or tower[t] <= split_e:
            continue
        ip = t % n_phi
        ie = t // n_phi
        ismax = True
        for k in range(8):
            c2 = _neighbour(k, 0, ie, ip, 1, n_eta, n_phi)
            if c2 >= 0 and tower[c2] > tower[t]:
                ismax = False
        if not ismax:
            continue
        label[s] = nclus
        phi0[nclus] = phi_c[ip]
        nclus += 1
        queue[tail] = s
        tail += 1
    head = 0
    for s in cand:
        if label[s] < 0:  # pass 2: a seed not reached yet starts its own cluster
            label[s] = nclus
            phi0[nclus] = phi_c[s % n_phi]
            nclus += 1
            queue[tail] = s
            tail += 1
        while head < tail:
            c = queue[head]
            head += 1
            ip = c % n_phi
            ie = (c // n_phi) % n_eta
            ly = c // n_tow
            if abs(e[c]) <= t_grow * sigma_le[ly, ie]:
                continue  # ring cell: does not grow further
            for k in range(10):
                c2 = _neighbour(k, ly, ie, ip, n_layers, n_eta, n_phi)
                if c2 < 0 or label[c2] >= 0:
                    continue
                e2 = (c2 // n_phi) % n_eta
                l2 = c2 // n_tow
                if abs(e[c2]) > t_cell * sigma_le[l2, e2]:
                    label[c2] = label[c]
                    queue[tail] = c2
                    tail += 1
    # cluster properties
    out = np.zeros((nclus, 12))
    wsum = np.zeros(nclus)
    for q in range(tail):
        c = queue[q]
        j = label[c]
        ip = c % n_phi
        ie = (c // n_phi) % n_eta
        ly = c // n_tow
        ec = e[c]
        out[j, 0] += ec
        out[j, 3 + ly] += ec
        out[j, 9] += e_pu[c]
        out[j, 10] += e_em[c]
        out[j, 11] += 1
        if ec > 0:
            dphi = phi_c[ip] - phi0[j]
            if dphi > np.pi:
                dphi -= 2 * np.pi
            elif dphi < -np.pi:
                dphi += 2 * np.pi
            wsum[j] += ec
            out[j, 1] += ec * eta_c[ie]
            out[j, 2] += ec * dphi
    for j in range(nclus):
        if wsum[j] > 0:
            out[j, 1] /= wsum[j]
            ph = phi0[j] + out[j, 2] / wsum[j]
            out[j, 2] = (ph + np.pi) % (2 * np.pi) - np.pi
        else:
            out[j, 2] = phi0[j]
    for q in range(tail):
        label[queue[q]] = -1
    return out


def lc_weights(clusters: np.ndarray, calo: CalorimeterConfig, topo: TopoConfig) -> np.ndarray:
    """Local hadronic calibration weight per cluster (shape (n,)).

    EM-like clusters (EM-layer fraction ≥ lc_em_frac_hi) keep weight 1; hadron-like ones
    (≤ lc_em_frac_lo) get 1 / ⟨hadron response⟩ at the cluster energy, linear in between;
    times one constant out-of-cluster/dead-material factor. Deliberately imperfect: a
    cluster is not a single particle, and f_em fluctuations are not corrected."""
    e = clusters[:, 0]
    em = clusters[:, 3:6].sum(axis=1)
    f = np.divide(em, e, out=np.ones_like(e), where=e > 0)
    p_em = np.clip((f - topo.lc_em_frac_lo) / (topo.lc_em_frac_hi - topo.lc_em_frac_lo), 0.0, 1.0)
    w_had = 1.0 + topo.lc_had_strength * (1.0 / mean_hadron_response(np.maximum(e, 1.0), calo) - 1.0)
    return (p_em + (1.0 - p_em) * w_had) * topo.lc_ooc_dm_factor
