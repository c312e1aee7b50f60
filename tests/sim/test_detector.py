"""Tracking, topo-clustering, LC weights and the pile-up overlay on controlled inputs."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.sim.config import SimConfig
from jetcalib.sim.geometry import Grid
from jetcalib.sim.pileup import overlay
from jetcalib.sim.topo import N_CLUSTER_FIELDS, cluster_cells, lc_weights
from jetcalib.sim.tracking import make_tracks, n_primary_vertices

from .conftest import particles

CFG = SimConfig()
GRID = Grid.from_config(CFG.calorimeter)


def test_track_efficiency_and_resolution() -> None:
    n = 20000
    lo = particles([211] * n, [0.8] * n, 0.0, charge=1.0)
    hi = particles([211] * n, [500.0] * n, 0.0, charge=1.0)
    out = particles([211] * n, [50.0] * n, 3.0, charge=1.0)
    rng = np.random.default_rng(0)
    t_lo, t_hi = make_tracks(lo, CFG.tracking, rng), make_tracks(hi, CFG.tracking, rng)
    assert len(t_lo.pt) / n == pytest.approx(0.85, abs=0.01)
    assert len(t_hi.pt) / n == pytest.approx(0.92, abs=0.01)
    # σ/pT = 0.05 % · 500 ⊕ 1 % ≈ 2.7 %
    assert np.std(t_hi.pt / 500.0) == pytest.approx(np.hypot(0.25, 0.01), rel=0.1)
    assert len(make_tracks(out, CFG.tracking, rng).pt) == 0  # outside |η| < 2.5
    neutral = particles([22] * 100, [50.0] * 100, 0.0)
    assert len(make_tracks(neutral, CFG.tracking, rng).pt) == 0


def test_npv_counts_found_vertices() -> None:
    rng = np.random.default_rng(1)
    assert n_primary_vertices(np.zeros(0, int), CFG.tracking, rng) == 1
    assert n_primary_vertices(np.zeros(50, int), CFG.tracking, rng) == 1  # no tracks, no vertex
    npv = [n_primary_vertices(np.full(100, 30), CFG.tracking, rng) for _ in range(200)]
    assert np.mean(npv) == pytest.approx(1 + 0.6 * 100, rel=0.03)


def _cluster(e, sigma=0.05, **topo):
    n = GRID.n_cells
    sig = np.full(GRID.n_rows, sigma)
    lab = np.full(n, -1, np.int32)
    q = np.empty(n, np.int32)
    cfg = SimConfig.model_validate({"topo": topo})
    out = cluster_cells(e, np.zeros(n), np.zeros(n), sig, GRID, cfg.calorimeter, cfg.topo, lab, q)
    assert (lab == -1).all()  # scratch reset for the next event
    assert out.shape[1] == N_CLUSTER_FIELDS
    return out


def _cell(layer, eta, phi):
    return GRID.cell_at(layer, eta, phi)


def _block(e, layer, ie, ip, peak):
    """A 3×3 block of cells in one layer: ``peak`` GeV at (ie, ip), a quarter of it around."""
    for de in (-1, 0, 1):
        for dp in (-1, 0, 1):
            e[GRID.cell_index(layer, ie + de, (ip + dp) % GRID.n_phi[layer])] += peak if de == dp == 0 else peak / 4


def _em2(eta, phi):
    """(i_eta, i_phi) of the EM2 cell at (η, φ)."""
    return int(GRID.eta_index(1, np.array([eta]))[0]), int(GRID.phi_index(1, np.array([phi]))[0])


def test_topo_one_shower_one_cluster_with_ring() -> None:
    e = np.zeros(GRID.n_cells)
    c = _cell(1, 0.51, 0.2)
    e[c] = 10.0
    e[c + 1] = 0.3  # above 2σ: grows
    e[c + 2] = 0.04  # below 2σ but > 0: ring cell
    e[c + 3] = 0.5  # beyond the ring of a grown cell: only reached through c+2, which does not grow
    out = _cluster(e)
    assert len(out) == 2  # c+3 is its own seed (> 4σ) cluster
    big = out[np.argmax(out[:, 0])]
    assert big[0] == pytest.approx(10.34)
    assert big[11] == 3
    assert big[1] == pytest.approx(GRID.eta_centres(1)[GRID.eta_index(1, np.array([0.51]))[0]])
    assert big[4] == pytest.approx(10.34)  # all in EM2
    assert big[13] == pytest.approx(2 / 3)  # ring cell c+2 has 3 η/φ neighbours outside, one (c+3) clustered


def test_topo_grows_across_layers() -> None:
    e = np.zeros(GRID.n_cells)
    e[_cell(1, 0.01, 0.01)] = 5.0
    e[_cell(2, 0.01, 0.01)] = 2.0  # EM3 and HAD0 cells cover the EM2 cell: neighbours
    e[_cell(3, 0.01, 0.01)] = 1.0
    out = _cluster(e)
    assert len(out) == 1
    assert out[0, 0] == pytest.approx(8.0)
    assert out[0, 3:9] == pytest.approx([0, 5, 2, 1, 0, 0])


def test_two_showers_two_cells_apart_are_split_one_shower_is_not() -> None:
    one = np.zeros(GRID.n_cells)
    _block(one, 1, 100, 40, 20.0)
    assert len(_cluster(one)) == 1  # one maximum: one cluster
    two = np.zeros(GRID.n_cells)
    _block(two, 1, 100, 40, 20.0)
    _block(two, 1, 102, 40, 12.0)  # ΔR = 0.05 (two EM2 cells): their borders overlap in row 101
    out = _cluster(two)
    assert len(out) == 2
    assert out[:, 0].sum() == pytest.approx(two.sum())  # shared cells split their energy, none lost
    eta = GRID.eta_centres(1)
    assert eta[102] - eta[100] == pytest.approx(0.05)
    assert sorted(out[:, 1]) == pytest.approx([eta[100], eta[102]], abs=0.01)
    # the 3 shared cells of row 101 go mostly to the larger, nearer-equal cluster
    big, small = out[np.argsort(-out[:, 0])]
    assert big[0] > 20.0 + 8 * 5.0 - 3 * 8.0  # its own block, less what row 101 held of the other
    assert big[11] % 1 != 0
    assert small[11] % 1 != 0


def test_shared_cells_of_equal_showers_split_half_half() -> None:
    e = np.zeros(GRID.n_cells)
    _block(e, 1, 100, 40, 10.0)
    _block(e, 1, 102, 40, 10.0)
    out = _cluster(e)
    assert len(out) == 2
    assert out[0, 0] == pytest.approx(out[1, 0], rel=1e-9)
    assert out[:, 0].sum() == pytest.approx(e.sum())


def test_maximum_needs_neighbours_and_energy() -> None:
    e = np.zeros(GRID.n_cells)
    phis = GRID.phi_centres(1)[10:15]
    for k, val in enumerate([6.0, 1.0, 0.2, 1.0, 6.0]):  # a 1-cell-high strip: 1 neighbour each
        e[_cell(1, 0.0, phis[k])] = val
    assert len(_cluster(e)) == 1  # no maximum with ≥ 4 neighbours: not split
    assert len(_cluster(e, split_min_neighbours=1)) == 2
    assert len(_cluster(e, split_min_neighbours=1, split_e_gev=7.0)) == 1


def test_secondary_maximum_only_away_from_a_primary_one() -> None:
    eta0, phi0 = 0.3125, 0.5  # the centre of EM2 cell (112, 148), of EM1 strips 99/100 in η
    ie2, ip2 = _em2(eta0 + 0.001, phi0)
    ie1 = int(GRID.eta_index(0, np.array([eta0 + 0.001]))[0])
    ip1 = int(GRID.phi_index(0, np.array([phi0]))[0])
    behind = np.zeros(GRID.n_cells)
    _block(behind, 1, ie2, ip2, 20.0)  # EM2: a primary maximum
    _block(behind, 0, ie1, ip1, 8.0)  # EM1 strips (secondary layer) in front of it
    assert len(_cluster(behind)) == 1
    beside = np.zeros(GRID.n_cells)
    _block(beside, 1, ie2, ip2, 20.0)
    _block(beside, 0, ie1, ip1 + 3, 8.0)  # an EM1 maximum 3 cells (0.3) away in φ...
    for dp in (0, 1):  # ...joined to the EM2 shower through EM1 strips
        beside[GRID.cell_index(0, ie1, ip1 + dp)] += 0.3
    out = _cluster(beside)
    assert len(out) == 2
    assert out[:, 3:5].max(axis=0) == pytest.approx([8.0 + 8 * 2.0, 20.0 + 8 * 5.0], abs=0.7)  # each its block


def test_topo_noise_only_has_few_clusters() -> None:
    rng = np.random.default_rng(3)
    e = rng.normal(0, 0.05, GRID.n_cells)
    out = _cluster(e)
    # P(|z| > 4) ≈ 6e-5 per cell
    assert len(out) < 40
    assert len(_cluster(np.zeros(GRID.n_cells))) == 0


def test_lc_weights_em_vs_hadronic_isolation_and_crack() -> None:
    cl = np.zeros((5, N_CLUSTER_FIELDS))
    cl[0, [0, 4, 12]] = 20.0  # all in EM2: EM-like
    cl[1, [0, 6]] = 20.0  # all in HAD0: hadron-like, cells' hadronic weight 1.2
    cl[1, 12] = 24.0
    cl[2, [0, 12]] = 20.0, 24.0
    cl[2, 4] = 14.0  # EM fraction 0.7: in between
    cl[2, 6] = 6.0
    cl[3] = cl[0]
    cl[3, 13] = 1.0  # isolated
    cl[4] = cl[0]
    cl[4, 1] = 1.45  # in the barrel–endcap crack
    t = CFG.topo
    w = lc_weights(cl, CFG.calorimeter, t)
    dm = t.lc_dm_factor + t.lc_dm_gev / 20.0  # every cluster here has 20 GeV
    assert w[0] == pytest.approx(dm)
    assert w[1] == pytest.approx(1.2 * dm)
    assert w[1] > w[2] > w[0]
    assert w[3] == pytest.approx((1 + t.lc_ooc_isolated) * dm)
    assert w[4] == pytest.approx(t.lc_dm_crack_factor + t.lc_dm_gev / 20.0)
    soft = cl[:1].copy()
    soft[0, [0, 4, 12]] = 1.0  # a 1 GeV cluster: dead material is a larger share of it
    assert lc_weights(soft, CFG.calorimeter, t)[0] == pytest.approx(t.lc_dm_factor + t.lc_dm_gev)


def test_hadronic_cell_weight_falls_with_density() -> None:
    from jetcalib.sim.topo import _hadronic_cell_weight

    c, t = CFG.calorimeter, CFG.topo
    w = [_hadronic_cell_weight(x, t.lc_density_scale, c.fem_k, c.h_over_e, t.lc_had_strength) for x in (0.1, 1.0, 10.0)]
    assert w[0] > w[1] > w[2] > 1.0
    assert _hadronic_cell_weight(-0.2, t.lc_density_scale, c.fem_k, c.h_over_e, t.lc_had_strength) == 1.0


def test_overlay_rotation_and_reflection_map_cells_exactly() -> None:
    n = GRID.n_cells
    layer = np.array([0, 3], np.int8)
    ieta = np.array([10, 70], np.int16)
    iphi = np.array([5, 63], np.int16)
    pe = np.array([1.0, 2.0], np.float32)
    off = np.array([0, 2], np.int64)
    args = (off, layer, ieta, iphi, pe, pe * 0.5)

    def run(shift, reflect):
        a, b, c = np.zeros(n), np.zeros(n), np.zeros(n)
        overlay(a, b, c, *args, np.array([0, 0]), np.array(shift), np.array(reflect),
                GRID.n_eta, GRID.n_phi, GRID.cell_off)
        return a, b, c

    a, b, c = run([0, 3], [False, True])
    assert a.sum() == pytest.approx(6.0)
    assert b.sum() == pytest.approx(3.0)
    assert np.allclose(a, c)
    assert a[GRID.cell_index(0, 10, 5)] == pytest.approx(1.0)
    assert a[GRID.cell_index(3, 70, 63)] == pytest.approx(2.0)
    assert a[GRID.cell_index(0, GRID.n_eta[0] - 1 - 10, 8)] == pytest.approx(1.0)  # reflected, rotated
    assert a[GRID.cell_index(3, GRID.n_eta[3] - 1 - 70, 2)] == pytest.approx(2.0)  # φ wraps around
    a2, _, _ = run([GRID.n_phi_rotation, 0], [False, False])
    a0, _, _ = run([0, 0], [False, False])
    assert np.array_equal(a0, a2)


def _photons_clustered(etas, phis, energy=50.0):
    """Photons showered, spread over the cells of every layer and clustered (no noise)."""
    from jetcalib.sim.calorimeter import Spreader, deposit

    from .conftest import particles

    p = particles([22] * len(etas), [energy] * len(etas), np.asarray(etas), phi=np.asarray(phis))
    p.evt[:] = 0  # one event
    p.n_events = 1
    d = deposit(p, CFG.calorimeter, CFG.tracking, GRID, np.random.default_rng(4))
    e, e_em = np.zeros(GRID.n_cells), np.zeros(GRID.n_cells)
    Spreader(CFG.calorimeter, GRID)(e, e_em, d, 0, len(d.e))
    return _cluster(e, sigma=0.03), float(d.e.sum())


def test_real_showers_at_delta_r_005_are_two_clusters_one_shower_is_one() -> None:
    one, _ = _photons_clustered([0.3125], [0.5])
    assert len(one[one[:, 0] > 1.0]) == 1
    two, total = _photons_clustered([0.3125, 0.3625], [0.5, 0.5])  # ΔR = 0.05: two EM2 cells
    big = two[two[:, 0] > 1.0]
    assert len(big) == 2
    assert big[:, 1] == pytest.approx([0.3125, 0.3625], abs=0.01) or big[::-1, 1] == pytest.approx(
        [0.3125, 0.3625], abs=0.01)
    assert two[:, 0].sum() == pytest.approx(total, rel=1e-6)  # shared cells lose nothing
