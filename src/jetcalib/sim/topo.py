"""4-2-0 topological clustering with ATLAS-style splitting at cell maxima (numba), and the
local hadronic (LC) cluster calibration.

Clustering: seeds |E| > 4σ (in order of significance) grow through neighbours (8 in the same
layer, with φ wrap-around, and every cell of the adjacent layers that overlaps the cell in
(η, φ): layers have different granularities, see :class:`~jetcalib.sim.geometry.Grid`) with
|E| > 2σ, and take the ring of neighbours with |E| > 0σ; clusters that touch merge. σ =
electronic noise ⊕ expected pile-up noise √(⟨μ⟩·var), per row of cells.

Splitting (as ATLAS's cluster splitter): in each cluster, local maxima are cells with
E > ``split_e_gev``, at least ``split_min_neighbours`` in-layer neighbours in the cluster and
more energy than each of them and, in a primary layer, than the overlapping cells of an adjacent
primary layer (so one shower seen in EM2 and EM3 is one maximum). Maxima in the *primary* layers (the middle and back EM layers)
are always used; a maximum in another layer only where no primary maximum lies in the 3 × 3
cells around it in (η, φ) (primary maxima count with half their cell size). With two or more maxima the cluster is re-grown from all of them
at once, breadth first inside the original cluster: a cell reached first by one maximum joins
it; a cell reached in the same step by two is *shared*, with weights
w₁ = E₁ / (E₁ + E₂·exp(d₁ − d₂)) (E_i the energy of cluster i without shared cells, d_i the
(η, φ) distance of the cell to maximum i in units of ``share_scale``), and does not grow on.
Cells still unreached (behind shared ones) join the cluster of the neighbour that reaches them.
"""

from __future__ import annotations

import numba
import numpy as np

from .config import CalorimeterConfig, TopoConfig
from .geometry import Grid

__all__ = ["N_CLUSTER_FIELDS", "PRIMARY_LAYERS", "REFERENCE_CELL_AREA", "cluster_cells", "cluster_event", "lc_weights",
           "primary_layer_mask"]

#: columns of the cluster array: E, eta, phi, E_layer0..5, E_pileup, E_em_true, n_cells (shared
#: cells count with their weight), E_hadw (Σ of the LC hadronic cell weight × cell E, GeV),
#: isolation (fraction of the cluster's in-layer border cells that belong to no cluster)
N_CLUSTER_FIELDS = 14

#: clusters of at most this energy (GeV, without shared cells) get isolation 1 without counting
ISOLATION_MIN_E = 1.0

#: the cell area (Δη × Δφ) at which a cell's LC density weight is that of its energy: cells of
#: other sizes have their energy scaled by this over their area (an energy density)
REFERENCE_CELL_AREA = 0.05 * 2 * np.pi / 128

#: layers where a local maximum is always a splitting point (ATLAS: EMB2/EMB3, EME2/EME3)
PRIMARY_LAYERS = ("EM2", "EM3")


def primary_layer_mask(layers: tuple[str, ...]) -> np.ndarray:
    """Boolean per layer: is it a primary layer for splitting."""
    return np.array([name in PRIMARY_LAYERS for name in layers], dtype=np.bool_)


@numba.njit(cache=True)
def _decode(c, cell_off, n_phi, cell_row, row_layer, row_off):
    """(layer, i_eta, i_phi) of cell ``c``, by table lookup (a search over the layers and two
    integer divisions per cell cost a sixth of the clustering)."""
    row = cell_row[c]
    ly = row_layer[row]
    ie = row - row_off[ly]
    return ly, ie, c - cell_off[ly] - ie * n_phi[ly]


@numba.njit(cache=True)
def _wrap_phi(p, np_l):
    """i_phi ``p`` in [−1, np_l] wrapped onto [0, np_l): no modulo (an integer division), which
    cost more than the neighbour search around it."""
    if p < 0:
        return p + np_l
    if p >= np_l:
        return p - np_l
    return p


@numba.njit(cache=True)
def _neighbours(ly, ie, ip, n_layers, n_eta, n_phi, cell_off, row_off, cross_lo, cross_hi,
                cross_plo, cross_phi, cross_poff, buf, in_layer_only):
    """Fill ``buf`` with the neighbours of cell (ly, ie, ip): first the (up to) 8 around it in
    its layer, then, unless ``in_layer_only``, the overlapping cells of the layers in front and
    behind (their φ ranges from the :attr:`Grid.cross_phi` tables). Returns how many."""
    n = 0
    np_l = n_phi[ly]
    base = cell_off[ly]
    for de in range(-1, 2):
        e2 = ie + de
        if e2 < 0 or e2 >= n_eta[ly]:
            continue
        row = base + e2 * np_l
        for dp in range(-1, 2):
            if de == 0 and dp == 0:
                continue
            buf[n] = row + _wrap_phi(ip + dp, np_l)
            n += 1
    if in_layer_only:
        return n
    row = row_off[ly] + ie
    for side in range(2):
        l2 = ly - 1 if side == 0 else ly + 1
        if l2 < 0 or l2 >= n_layers:
            continue
        lo = cross_lo[row, side]
        hi = cross_hi[row, side]
        n_o = n_phi[l2]
        t = cross_poff[2 * ly + side] + ip
        plo = cross_plo[t]
        phi_hi = cross_phi[t]
        for e2 in range(lo, hi + 1):
            b2 = cell_off[l2] + e2 * n_o
            for p2 in range(plo, phi_hi + 1):
                buf[n] = b2 + p2
                n += 1
    return n


@numba.njit(cache=True)
def _phi_centre(ip, np_l):
    return -np.pi + (ip + 0.5) * 2.0 * np.pi / np_l


@numba.njit(cache=True)
def _hadronic_cell_weight(ec, density_scale, fem_k, h_over_e, strength):
    """LC hadronic weight of a cell from ``ec``, its energy density (GeV per REFERENCE_CELL_AREA):
    dense cells are EM-like (weight → 1), sparse ones get up to 1/⟨R_h⟩."""
    if ec <= 0.0:
        return 1.0
    eq = ec * density_scale
    # most clustered cells are soft (noise, pile-up): 1 ** x is 1, without the pow
    f = 1.0 - eq ** (fem_k - 1.0) if eq > 1.0 else 0.0
    r = f + h_over_e * (1.0 - f)
    return 1.0 + strength * (1.0 / r - 1.0)


@numba.njit(cache=True)
def _start_cluster(c, nclus, tail, label, step, max_cell, queue):
    """Make cell ``c`` the first cell of cluster ``nclus``; returns (clusters, queue length)."""
    label[c] = nclus
    step[c] = 0
    max_cell[nclus] = c
    queue[tail] = c
    return nclus + 1, tail + 1


@numba.njit(cache=True)
def cluster_event(e, e_pu, e_em, sigma_row, n_layers, n_eta, n_phi, cell_off, row_off, cell_row,
                  row_layer, cross_lo, cross_hi, cross_plo, cross_phi, cross_poff, eta_row, deta_row, density_row, t_seed, t_grow, t_cell, split_e, split_min_neigh,
                  primary, share_scale, lc_density_scale, fem_k, h_over_e, lc_strength, label,
                  queue, nbuf):
    """Cluster one event. ``e`` etc. are dense per-cell arrays (n_cells,); ``sigma_row`` the
    noise σ per row of cells; the grid arrays are :class:`~jetcalib.sim.geometry.Grid`'s
    (``eta_row``/``deta_row``: η centre and size per row; ``density_row``: the reference cell
    area over the row's cell area, energy → energy density); ``primary`` a bool per layer;
    ``label``/``queue`` int32 scratch arrays of n_cells (``label`` must be −1 everywhere; it is
    reset before returning; int32 because the growth is bound by memory traffic), ``nbuf`` an int scratch array of ``Grid.max_neighbours``.
    Returns (n_clusters, N_CLUSTER_FIELDS) floats.

    One breadth-first pass does the 4-2-0 growth and the splitting together: the local maxima
    (which are seeds, and whose neighbours above the cell threshold are therefore all in their
    cluster) grow at once, step by step; a cell first reached in the same step by two maxima is
    shared. Seeds no maximum reached then grow one by one, as unsplit clusters."""
    n_cells = e.size
    # --- seeds, and the local maxima among them ----------------------------------------------
    cand = np.empty(n_cells, np.int64)
    signif = np.empty(n_cells)
    ns = 0
    for ly in range(n_layers):  # nested loops: no index arithmetic per cell on the dense grid
        np_l = n_phi[ly]
        for ie in range(n_eta[ly]):
            sig = sigma_row[row_off[ly] + ie]
            thr = t_seed * sig
            base = cell_off[ly] + ie * np_l
            for ip in range(np_l):
                c = base + ip
                if abs(e[c]) > thr:
                    cand[ns] = c
                    signif[ns] = abs(e[c]) / sig
                    ns += 1
    cand = cand[:ns][np.argsort(-signif[:ns])]
    is_max = np.zeros(ns, np.bool_)
    for i in range(ns):
        c = cand[i]
        if e[c] <= split_e:
            continue
        ly, ie, ip = _decode(c, cell_off, n_phi, cell_row, row_layer, row_off)
        # in-layer neighbours, and for a primary-layer cell also the overlapping cells of an
        # adjacent primary layer: one shower seen in EM2 and in EM3 is one maximum, not two
        n_layer = _neighbours(ly, ie, ip, n_layers, n_eta, n_phi, cell_off, row_off, cross_lo,
                              cross_hi, cross_plo, cross_phi, cross_poff, nbuf, True)
        nn = n_layer
        if primary[ly]:
            nn = _neighbours(ly, ie, ip, n_layers, n_eta, n_phi, cell_off, row_off, cross_lo,
                             cross_hi, cross_plo, cross_phi, cross_poff, nbuf, False)
        n_in = 0
        ok = True
        for k in range(nn):
            c2 = nbuf[k]
            if k >= n_layer and not primary[_decode(c2, cell_off, n_phi, cell_row, row_layer, row_off)[0]]:
                continue
            if e[c2] >= e[c]:
                ok = False
                break
            if k < n_layer and abs(e[c2]) > t_cell * sigma_row[cell_row[c2]]:
                n_in += 1
        if ok and n_in >= split_min_neigh:
            is_max[i] = True
    # secondary maxima only where no primary maximum lies in the 3 × 3 cells around them
    n_prim = 0
    p_eta = np.empty(ns)
    p_phi = np.empty(ns)
    p_heta = np.empty(ns)  # half the primary maximum's cell size in η and φ
    p_hphi = np.empty(ns)
    for i in range(ns):
        if is_max[i]:
            ly, ie, ip = _decode(cand[i], cell_off, n_phi, cell_row, row_layer, row_off)
            if primary[ly]:
                row = row_off[ly] + ie
                p_eta[n_prim] = eta_row[row]
                p_phi[n_prim] = _phi_centre(ip, n_phi[ly])
                p_heta[n_prim] = 0.5 * deta_row[row]
                p_hphi[n_prim] = np.pi / n_phi[ly]
                n_prim += 1
    for i in range(ns):
        if not is_max[i] or n_prim == 0:
            continue
        ly, ie, ip = _decode(cand[i], cell_off, n_phi, cell_row, row_layer, row_off)
        if primary[ly]:
            continue
        row = row_off[ly] + ie
        eta_i = eta_row[row]
        phi_i = _phi_centre(ip, n_phi[ly])
        h_eta = 1.5 * deta_row[row]
        h_phi = 3.0 * np.pi / n_phi[ly]
        for q in range(n_prim):
            dphi = abs(phi_i - p_phi[q])
            if dphi > np.pi:
                dphi = 2 * np.pi - dphi
            if abs(eta_i - p_eta[q]) < h_eta + p_heta[q] and dphi < h_phi + p_hphi[q]:
                is_max[i] = False
                break
    # --- growth ----------------------------------------------------------------------------------
    step = np.empty(n_cells, np.int32)  # the step a cell was reached in (valid where labelled)
    second = np.empty(n_cells, np.int32)  # a shared cell's second cluster (valid where shared)
    shared = np.zeros(n_cells, np.bool_)
    max_cell = np.empty(ns, np.int64)  # per cluster: its maximum or seed cell
    nclus = 0
    tail = 0
    for i in range(ns):
        if is_max[i]:
            nclus, tail = _start_cluster(cand[i], nclus, tail, label, step, max_cell, queue)
    head = 0
    for i in range(ns + 1):
        if i > 0:  # after the maxima: each seed not reached yet starts its own cluster
            if label[cand[i - 1]] >= 0:
                continue
            nclus, tail = _start_cluster(cand[i - 1], nclus, tail, label, step, max_cell, queue)
        while head < tail:
            c = queue[head]
            head += 1
            ly, ie, ip = _decode(c, cell_off, n_phi, cell_row, row_layer, row_off)
            if abs(e[c]) <= t_grow * sigma_row[row_off[ly] + ie]:
                continue  # ring cell: does not grow further
            own = label[c]
            nn = _neighbours(ly, ie, ip, n_layers, n_eta, n_phi, cell_off, row_off, cross_lo,
                             cross_hi, cross_plo, cross_phi, cross_poff, nbuf, False)
            for k in range(nn):
                c2 = nbuf[k]
                if label[c2] >= 0:
                    # reached in this same step by another cluster: shared by the two
                    if (label[c2] != own and step[c2] == step[c] + 1 and not shared[c2]
                            and step[c] + 1 > 0 and i == 0):
                        shared[c2] = True
                        second[c2] = own
                    continue
                if abs(e[c2]) > t_cell * sigma_row[cell_row[c2]]:
                    label[c2] = own
                    step[c2] = step[c] + 1
                    queue[tail] = c2
                    tail += 1
    # --- cluster properties ----------------------------------------------------------------------
    e_own = np.zeros(nclus)  # energy without shared cells, for the sharing weights
    for q in range(tail):
        c = queue[q]
        if not shared[c]:
            e_own[label[c]] += max(e[c], 0.0)
    out = np.zeros((nclus, N_CLUSTER_FIELDS))
    wsum = np.zeros(nclus)
    border = np.zeros(nclus)
    free = np.zeros(nclus)
    m_eta = np.empty(nclus)
    m_phi = np.empty(nclus)
    for j in range(nclus):
        ly, ie, ip = _decode(max_cell[j], cell_off, n_phi, cell_row, row_layer, row_off)
        m_eta[j] = eta_row[row_off[ly] + ie]
        m_phi[j] = _phi_centre(ip, n_phi[ly])
    for q in range(tail):
        c = queue[q]
        ly, ie, ip = _decode(c, cell_off, n_phi, cell_row, row_layer, row_off)
        row = row_off[ly] + ie
        eta_cell = eta_row[row]
        phi_cell = _phi_centre(ip, n_phi[ly])
        ec = e[c]
        whad = _hadronic_cell_weight(ec * density_row[row], lc_density_scale, fem_k, h_over_e, lc_strength)
        # isolation is worked out for clusters that carry energy only (tiny noise and pile-up
        # clusters, most of the ring cells, keep 1: it would cost a third of the clustering)
        ring = abs(ec) <= t_grow * sigma_row[row] and e_own[label[c]] > ISOLATION_MIN_E
        w1 = 1.0
        if shared[c]:
            d1 = 0.0
            d2 = 0.0
            for t in range(2):
                jj = label[c] if t == 0 else second[c]
                dphi = abs(phi_cell - m_phi[jj])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                d = np.hypot(eta_cell - m_eta[jj], dphi) / share_scale
                if t == 0:
                    d1 = d
                else:
                    d2 = d
            e1 = e_own[label[c]]
            e2 = e_own[second[c]]
            den = e1 + e2 * np.exp(d1 - d2)
            w1 = e1 / den if den > 0 else 0.5
        for t in range(2):
            if t == 1 and not shared[c]:
                break
            j = label[c] if t == 0 else second[c]
            w = w1 if t == 0 else 1.0 - w1
            out[j, 0] += w * ec
            out[j, 3 + ly] += w * ec
            out[j, 9] += w * e_pu[c]
            out[j, 10] += w * e_em[c]
            out[j, 11] += w
            out[j, 12] += w * whad * ec
            if ec > 0:
                dphi = phi_cell - m_phi[j]
                if dphi > np.pi:
                    dphi -= 2 * np.pi
                elif dphi < -np.pi:
                    dphi += 2 * np.pi
                wsum[j] += w * ec
                out[j, 1] += w * ec * eta_cell
                out[j, 2] += w * ec * dphi
            if ring:  # a growing cell's neighbours are all clustered: only ring cells border
                np_l = n_phi[ly]
                for k in range(4):  # isolation: the in-layer η/φ neighbours in no cluster
                    e2 = ie + (k == 0) - (k == 1)
                    if e2 < 0 or e2 >= n_eta[ly]:
                        continue
                    c2 = cell_off[ly] + e2 * np_l + _wrap_phi(ip + (k == 2) - (k == 3), np_l)
                    if label[c2] < 0:
                        border[j] += w
                        free[j] += w
                    elif label[c2] != j:
                        border[j] += w
    for j in range(nclus):
        if wsum[j] > 0:
            out[j, 1] /= wsum[j]
            ph = m_phi[j] + out[j, 2] / wsum[j]
            out[j, 2] = (ph + np.pi) % (2 * np.pi) - np.pi
        else:
            out[j, 1] = m_eta[j]
            out[j, 2] = m_phi[j]
        out[j, 13] = free[j] / border[j] if border[j] > 0 else 1.0
    for q in range(tail):
        label[queue[q]] = -1
    return out


def cluster_cells(e: np.ndarray, e_pu: np.ndarray, e_em: np.ndarray, sigma_row: np.ndarray, grid: Grid,
                  calo: CalorimeterConfig, topo: TopoConfig, label: np.ndarray, queue: np.ndarray) -> np.ndarray:
    """:func:`cluster_event` with the settings of ``calo`` and ``topo`` (see there for the
    arguments): the topo-clusters of one event, (n_clusters, N_CLUSTER_FIELDS)."""
    plo, phi, poff = grid.cross_phi
    return cluster_event(e, e_pu, e_em, sigma_row, grid.n_layers, grid.n_eta, grid.n_phi, grid.cell_off,
                         grid.row_off, grid.cell_row, grid.row_layer, grid.cross_lo, grid.cross_hi, plo, phi, poff,
                         grid.row_eta_centres(), grid.row_deta(),
                         REFERENCE_CELL_AREA / grid.row_area(),
                         topo.seed_sigma, topo.grow_sigma, topo.cell_sigma, topo.split_e_gev,
                         topo.split_min_neighbours, primary_layer_mask(calo.layers), topo.share_scale,
                         topo.lc_density_scale, calo.fem_k, calo.h_over_e, topo.lc_had_strength,
                         label, queue, np.empty(grid.max_neighbours, np.int64))


def lc_weights(clusters: np.ndarray, calo: CalorimeterConfig, topo: TopoConfig) -> np.ndarray:
    """Local hadronic calibration weight per cluster (shape (n,)).

    EM-like clusters (EM-layer fraction ≥ lc_em_frac_hi) keep weight 1; hadron-like ones
    (≤ lc_em_frac_lo) get the energy-weighted mean of their cells' hadronic weights (from each
    cell's energy density, so splitting or merging clusters does not change them), linear in
    between; then the out-of-cluster correction, larger for isolated clusters (energy lost
    outside them is not picked up by a neighbour), and the dead-material correction, larger in
    the barrel–endcap crack and for soft clusters (+ lc_dm_gev / E). Deliberately imperfect: f_em fluctuations are not corrected."""
    e = clusters[:, 0]
    em = clusters[:, 3:6].sum(axis=1)
    pos = e > 0
    f = np.divide(em, e, out=np.ones_like(e), where=pos)
    p_em = np.clip((f - topo.lc_em_frac_lo) / (topo.lc_em_frac_hi - topo.lc_em_frac_lo), 0.0, 1.0)
    w_had = np.divide(clusters[:, 12], e, out=np.ones_like(e), where=pos)
    ooc = 1.0 + topo.lc_ooc_isolated * clusters[:, 13]
    aeta = np.abs(clusters[:, 1])
    lo, hi = calo.crack_barrel_endcap
    # dead material takes about a fixed energy per particle: a larger share of a soft cluster
    dm = np.where((aeta > lo) & (aeta < hi), topo.lc_dm_crack_factor, topo.lc_dm_factor)
    dm = dm + topo.lc_dm_gev / np.maximum(e, topo.lc_dm_gev)
    return (p_em + (1.0 - p_em) * w_had) * ooc * dm
