"""Every calorimeter effect of docs/detector.md shows its effect on single particles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from jetcalib.sim.calorimeter import Spreader, calo_entry_phi, deposit, mean_hadron_response
from jetcalib.sim.config import SimConfig
from jetcalib.sim.geometry import Grid

from .conftest import particles

CFG = SimConfig()
GRID = Grid.from_config(CFG.calorimeter)


def _response(pid, e, eta=0.3, n=3000, seed=0, charge=None):
    p = particles([pid] * n, [e] * n, eta, charge=charge)
    d = deposit(p, CFG.calorimeter, CFG.tracking, GRID, np.random.default_rng(seed))
    vis = np.bincount(d.evt, d.e, n)
    em = np.bincount(d.evt, d.e_em, n)
    lay = np.stack([np.bincount(d.evt[d.layer == k], d.e[d.layer == k], n) for k in range(6)], axis=1)
    return vis / e, em, lay


def test_defaults_are_simulation_md() -> None:
    c, t = CFG.calorimeter, CFG.tracking
    assert (c.h_over_e, c.fem_k, c.noise_em_gev, c.noise_had_gev) == (0.6, 0.82, 0.03, 0.05)
    assert (c.em_stochastic, c.em_constant, c.had_stochastic, c.had_constant) == (0.1, 0.007, 0.5, 0.03)
    assert (t.b_field_t, t.calo_radius_m, t.min_pt_reach_calo, t.track_min_pt) == (2.0, 1.5, 0.45, 0.5)
    assert c.crack_barrel_endcap == (1.37, 1.52)
    assert c.eta_max == 4.9
    assert c.layer_edges_lambda[3] == pytest.approx(1.2)  # EM calorimeter ≈ 1.2 λ deep


def test_mean_hadron_response_non_compensation() -> None:
    assert mean_hadron_response(np.array([10.0]), CFG.calorimeter)[0] == pytest.approx(0.74, abs=0.01)
    assert mean_hadron_response(np.array([100.0]), CFG.calorimeter)[0] == pytest.approx(0.83, abs=0.01)


def test_pion_response_and_resolution() -> None:
    r10, _, _ = _response(211, 10.0, charge=1.0)
    r100, _, _ = _response(211, 100.0, charge=1.0)
    # dead material and leakage sit on top of h/e: slightly below 0.74 / 0.83
    assert 0.62 < np.mean(r10) < 0.76
    assert 0.76 < np.mean(r100) < 0.85
    assert np.std(r10) / np.mean(r10) > np.std(r100) / np.mean(r100) > 0.05


def test_em_response_and_resolution() -> None:
    r, em, lay = _response(22, 50.0)
    assert np.mean(r) == pytest.approx(1.0, abs=0.02)  # 0.35 GeV lost in front
    assert 0.01 < np.std(r) < 0.03  # 10 %/√50 ⊕ 0.7 % ≈ 1.6 %
    assert np.allclose(em, r * 50.0)
    assert lay[:, :3].sum() / lay.sum() > 0.95  # a few % leak into HAD0


def test_em_showers_deepen_with_energy() -> None:
    _, _, lo = _response(22, 2.0)
    _, _, hi = _response(22, 200.0)
    f_lo = lo[:, 0].sum() / lo.sum()
    f_hi = hi[:, 0].sum() / hi.sum()
    assert f_lo > f_hi * 1.3
    assert hi[:, 2].sum() / hi.sum() > lo[:, 2].sum() / lo.sum()


def test_fem_fluctuations_drive_response_and_layers() -> None:
    r, em, lay = _response(211, 50.0, charge=1.0)
    fem = em / np.maximum(r * 50.0, 1e-9)
    assert np.std(fem) > 0.1
    assert spearmanr(fem, r).statistic > 0.5
    em_frac = lay[:, :3].sum(axis=1) / np.maximum(lay.sum(axis=1), 1e-9)
    assert spearmanr(em_frac, r).statistic > 0.1  # layer fractions carry the response
    late = lay[:, :3].sum(axis=1) < 0.05 * lay.sum(axis=1)  # first interaction beyond the EM calo
    assert 0.15 < late.mean() < 0.45  # ≈ exp(−1.2)


def test_cracks_lower_the_response() -> None:
    cfg = SimConfig().calorimeter
    r_barrel, _, _ = _response(22, 50.0, eta=0.5, n=500)
    r_crack, _, _ = _response(22, 50.0, eta=1.45, n=500)
    r_fwd, _, _ = _response(22, 50.0, eta=3.2, n=500)
    # the barrel–endcap gap stops mostly the EM part: a photon loses the EM factor...
    assert np.median(r_crack) == pytest.approx(cfg.crack_barrel_endcap_em_response * np.median(r_barrel), rel=0.03)
    assert np.median(r_fwd) == pytest.approx(0.75 * np.median(r_barrel), rel=0.03)
    # ...a pion (EM and hadronic shower parts) loses less
    p_barrel, _, _ = _response(211, 50.0, eta=0.5, n=2000, charge=1.0)
    p_crack, _, _ = _response(211, 50.0, eta=1.45, n=2000, charge=1.0)
    ratio = np.median(p_crack) / np.median(p_barrel)
    assert cfg.crack_barrel_endcap_em_response < ratio < cfg.crack_barrel_endcap_had_response


def test_dead_material_hurts_low_energy() -> None:
    r1, _, _ = _response(22, 1.0)
    r50, _, _ = _response(22, 50.0)
    assert np.mean(r1) < 0.8 < np.mean(r50)


def test_muons_mip_and_neutrinos_nothing() -> None:
    r_mu, em, lay = _response(13, 100.0, n=200, charge=-1.0)
    assert 2.0 < np.mean(r_mu * 100.0) < 3.0
    assert (lay > 0).all(axis=None) or (lay[:, 3:] > 0).all()
    assert np.all(em == 0)
    r_nu, _, _ = _response(12, 100.0, n=50)
    assert np.all(r_nu == 0)


def _cells(pid, charge, n=200, e=50.0, eta=0.0, phi=0.3):
    """Dense cell energies of ``n`` particles shot at (η, φ), summed."""
    p = particles([pid] * n, [e] * n, eta, phi=phi, charge=charge)
    d = deposit(p, CFG.calorimeter, CFG.tracking, GRID, np.random.default_rng(1))
    dense, dense_em = np.zeros(GRID.n_cells), np.zeros(GRID.n_cells)
    Spreader(CFG.calorimeter, GRID)(dense, dense_em, d, 0, len(d.e))
    return dense, dense_em, d


def test_lateral_spread_em_narrower_than_hadron() -> None:
    def spread(pid, charge):
        dense, _, _ = _cells(pid, charge)
        eta, _ = GRID.cell_eta_phi(np.arange(GRID.n_cells))
        return np.sqrt(np.average(eta**2, weights=dense))

    s_em, s_had = spread(22, None), spread(211, 1.0)
    assert 0.008 < s_em < 0.02 < 0.035 < s_had < 0.07


def test_lateral_spread_keeps_the_energy_in_every_granularity() -> None:
    for pid, charge in ((22, None), (211, 1.0)):
        for eta in (0.3, 2.0, 2.9, 4.0):  # barrel strips, endcap strips, EM inner wheel, forward
            dense, dense_em, d = _cells(pid, charge, n=20, eta=eta)
            assert dense.sum() == pytest.approx(d.e.sum(), rel=1e-9)
            assert dense_em.sum() == pytest.approx(d.e_em.sum(), rel=1e-9)
            layer, _, _ = GRID.decode(np.flatnonzero(dense))
            per_layer = np.bincount(layer, dense[dense > 0], GRID.n_layers)
            assert per_layer == pytest.approx(np.bincount(d.layer, d.e, GRID.n_layers), rel=1e-9)


def test_lateral_profile_is_smooth_in_the_impact_point() -> None:
    """Moving the impact point across a cell moves energy smoothly to the next cell (the
    profile is integrated over cells, not sampled by random spots)."""
    nxt = GRID.cell_at(1, 0.33, 0.3)  # EM2 cell 0.325 < η < 0.35
    em2 = slice(GRID.cell_off[1], GRID.cell_off[2])
    shares = []
    for eta in np.linspace(0.3, 0.325, 6):  # across the EM2 cell 0.3 < η < 0.325
        dense, _, _ = _cells(22, None, n=1, eta=eta)
        shares.append(dense[nxt] / dense[em2].sum())
    f = np.array(shares)
    assert np.all(np.diff(f) > 0.0)  # the next cell's share grows steadily...
    assert np.diff(f).max() < 0.15  # ...in small steps


def test_soft_deposits_touch_few_cells() -> None:
    hard, _, _ = _cells(211, 1.0, n=10, e=100.0)
    soft, _, d = _cells(211, 1.0, n=10, e=0.6)
    assert 0 < np.count_nonzero(soft) < np.count_nonzero(hard) / 3
    # every deposit gives a cell at least the threshold, or all of itself if it is softer
    floor = min(CFG.calorimeter.lateral_min_cell_gev, float(d.e.min()))
    assert (soft[soft > 0] >= floor * (1 - 1e-9)).all()


def test_bending_and_loopers() -> None:
    p = particles([211, -211, 211, 22], [5.0, 5.0, 0.3, 0.3], 0.0, charge=[1.0, -1.0, 1.0, 0.0])
    phi, reach = calo_entry_phi(p, CFG.tracking)
    assert phi[0] == pytest.approx(0.45 / 5.0)
    assert phi[1] == pytest.approx(-0.45 / 5.0)
    assert reach.tolist() == [True, True, False, True]


def test_grid_symmetries() -> None:
    for layer in range(GRID.n_layers):
        eta_c = GRID.eta_centres(layer)
        assert np.allclose(eta_c, -eta_c[::-1])  # η-reflection maps cells onto cells
        n = int(GRID.n_phi[layer])
        assert GRID.phi_index(layer, GRID.phi_centres(layer) + 2 * np.pi / n * 5).tolist() == (
            (np.arange(n) + 5) % n).tolist()
        assert n % GRID.n_phi_rotation == 0  # a rotation step is whole cells of every layer


def test_grid_granularity_is_atlas_like() -> None:
    deta = {name: float(np.diff(GRID.eta_edges(k))[GRID.n_eta[k] // 2]) for k, name in enumerate(GRID.layers)}
    dphi = {name: 2 * np.pi / float(GRID.n_phi[k]) for k, name in enumerate(GRID.layers)}
    assert deta["EM1"] == pytest.approx(0.025 / 8)
    assert dphi["EM1"] == pytest.approx(0.098, abs=0.001)
    assert (deta["EM2"], deta["EM3"], deta["HAD0"]) == pytest.approx((0.025, 0.05, 0.1))
    assert (dphi["EM2"], dphi["EM3"], dphi["HAD0"]) == pytest.approx((0.0245, 0.0245, 0.098), abs=0.001)
    assert np.diff(GRID.eta_edges(1))[-1] > 0.2  # coarser forward cells beyond |η| = 3.2
    # neighbours across layers of different granularity: an HAD0 cell covers 2 × 4 EM3 cells
    row = GRID.row_off[3] + GRID.n_eta[3] // 2
    assert GRID.cross_hi[row, 0] - GRID.cross_lo[row, 0] + 1 == 2
