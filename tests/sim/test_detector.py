"""Tracking, topo-clustering, LC weights and the pile-up overlay on controlled inputs."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.sim.config import SimConfig
from jetcalib.sim.geometry import Grid
from jetcalib.sim.pileup import overlay
from jetcalib.sim.topo import cluster_event, lc_weights
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


def _cluster(e, sigma=0.05):
    n = GRID.n_cells
    sig = np.full((GRID.n_layers, GRID.n_eta), sigma)
    lab = np.full(n, -1, np.int64)
    q = np.empty(n, np.int64)
    out = cluster_event(e, np.zeros(n), np.zeros(n), sig, GRID.n_layers, GRID.n_eta, GRID.n_phi,
                        4.0, 2.0, 0.0, 0.5, GRID.eta_centres(), GRID.phi_centres(), lab, q)
    assert (lab == -1).all()  # scratch reset for the next event
    return out


def _cell(layer, eta, phi):
    return int(GRID.cell_index(layer, GRID.eta_index(np.array([eta]))[0], GRID.phi_index(np.array([phi]))[0]))


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
    assert big[1] == pytest.approx(GRID.eta_centres()[GRID.eta_index(np.array([0.51]))[0]])
    assert big[4] == pytest.approx(10.34)  # all in EM2


def test_topo_grows_across_layers_and_splits_separate_maxima() -> None:
    e = np.zeros(GRID.n_cells)
    e[_cell(1, 0.0, 0.0)] = 5.0
    e[_cell(2, 0.0, 0.0)] = 2.0
    e[_cell(3, 0.0, 0.0)] = 1.0
    out = _cluster(e)
    assert len(out) == 1 and out[0, 0] == pytest.approx(8.0)
    assert out[0, 3:9] == pytest.approx([0, 5, 2, 1, 0, 0])
    # two showers touching through a valley of cells above 2σ: two local maxima → two clusters
    e = np.zeros(GRID.n_cells)
    for k, val in enumerate([6.0, 1.0, 0.2, 1.0, 6.0]):
        e[_cell(1, 0.0, -np.pi + (k + 10.5) * GRID.dphi)] = val
    out = _cluster(e)
    assert len(out) == 2
    assert out[:, 0].sum() == pytest.approx(14.2)
    assert out[:, 0].min() >= 7.0  # each maximum keeps its own side of the valley


def test_topo_noise_only_has_few_clusters() -> None:
    rng = np.random.default_rng(3)
    e = rng.normal(0, 0.05, GRID.n_cells)
    out = _cluster(e)
    # P(|z| > 4) ≈ 6e-5 per cell
    assert len(out) < 40
    assert len(_cluster(np.zeros(GRID.n_cells))) == 0


def test_lc_weights_em_vs_hadronic() -> None:
    cl = np.zeros((3, 12))
    cl[0, [0, 4]] = 20.0  # all in EM2: EM-like
    cl[1, [0, 6]] = 20.0  # all in HAD0: hadron-like
    cl[2, 0] = 20.0
    cl[2, 4] = 14.0  # EM fraction 0.7: in between
    cl[2, 6] = 6.0
    w = lc_weights(cl, CFG.calorimeter, CFG.topo)
    f = CFG.topo.lc_ooc_dm_factor
    assert w[0] == pytest.approx(f)
    assert w[1] > w[2] > w[0]
    assert w[1] / f == pytest.approx(1 + CFG.topo.lc_had_strength * (1 / 0.77 - 1), abs=0.02)


def test_overlay_rotation_and_reflection_map_cells_exactly() -> None:
    n = GRID.n_cells
    layer = np.array([0, 3], np.int16)
    ieta = np.array([10, 150], np.int16)
    iphi = np.array([5, 127], np.int16)
    pe = np.array([1.0, 2.0], np.float32)
    off = np.array([0, 2], np.int64)
    args = (off, layer, ieta, iphi, pe, pe * 0.5)

    def run(shift, reflect):
        a, b, c = np.zeros(n), np.zeros(n), np.zeros(n)
        overlay(a, b, c, *args, np.array([0, 0]), np.array(shift), np.array(reflect),
                GRID.n_eta, GRID.n_phi)
        return a, b, c

    a, b, c = run([0, 3], [False, True])
    assert a.sum() == pytest.approx(6.0) and b.sum() == pytest.approx(3.0) and np.allclose(a, c)
    assert a[GRID.cell_index(0, 10, 5)] == pytest.approx(1.0)
    assert a[GRID.cell_index(3, 150, 127)] == pytest.approx(2.0)
    assert a[GRID.cell_index(0, GRID.n_eta - 1 - 10, 8)] == pytest.approx(1.0)  # reflected, rotated
    assert a[GRID.cell_index(3, GRID.n_eta - 1 - 150, 2)] == pytest.approx(2.0)  # φ wraps around
    a2, _, _ = run([GRID.n_phi, 0], [False, False])
    a0, _, _ = run([0, 0], [False, False])
    assert np.array_equal(a0, a2)
