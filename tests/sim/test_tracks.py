"""Pile-up tracks, longitudinal (z0) track–vertex association and the Σ pT² primary vertex
(docs/detector.md#tracks)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from jetcalib.sim import pipeline
from jetcalib.sim.config import SimConfig
from jetcalib.sim.geometry import Grid
from jetcalib.sim.pileup import load_or_make_pool, overlay
from jetcalib.sim.tracking import (
    Tracks,
    add_pileup_tracks,
    associate_to_pv,
    make_tracks,
    primary_vertex,
    sigma_z0,
    track_sums_near,
    vertex_z,
)

CFG = SimConfig()
GRID = Grid.from_config(CFG.calorimeter)


def _tracks(evt, pt, vtx):
    n = len(pt)
    return Tracks(np.asarray(evt, np.int32), np.asarray(pt, float), np.zeros(n), np.zeros(n),
                  np.asarray(vtx, np.int32))


def test_primary_vertex_is_largest_sum_pt2() -> None:
    # event 0: vertex 0 one 10 GeV track (Σ pT² 100, Σ pT 10); vertex 1 eight 3 GeV (72, 24)
    # event 1: vertex 0 a 2 GeV track (4), vertex 2 a 3 GeV one (9); event 2: no tracks
    t = _tracks([0] + [0] * 8 + [1, 1], [10.0] + [3.0] * 8 + [2.0, 3.0], [0] + [1] * 8 + [0, 2])
    assert primary_vertex(t, np.array([2, 3, 4])).tolist() == [0, 2, 0]


def test_z0_window_association() -> None:
    # event 0: PV = vertex 0 at z 10 mm, pile-up vertex 1 at the same z, vertex 2 10 mm away;
    # event 1: the PV is its vertex 1 (at −30 mm), vertex 0 sits 10 mm away from it
    cfg = CFG.tracking
    n = 20000
    pt = np.r_[np.full(n, 1.0), np.full(n, 100.0)]  # σ_z0 ≈ 0.80 mm and 0.05 mm
    evt = np.repeat([0, 0, 0, 1, 1], 2 * n)
    vtx = np.repeat([0, 1, 2, 0, 1], 2 * n)
    t = _tracks(evt, np.tile(pt, 5), vtx)
    z_vtx = np.array([10.0, 10.0, 20.0, -20.0, -30.0])
    assoc = associate_to_pv(t, np.array([3, 2]), np.array([0, 1]), z_vtx, cfg, np.random.default_rng(0))
    groups = assoc.reshape(5, 2, n)  # (vertex of the table above, low/high pT, track)
    kept = 0.9973  # P(|x| < 3σ)
    assert groups[0].mean(axis=1) == pytest.approx([kept, kept], abs=0.003)  # hard scatter
    assert groups[1].mean(axis=1) == pytest.approx([kept, kept], abs=0.003)  # same z: associated
    assert not groups[2].any()
    assert not groups[3].any()
    assert groups[4].mean() == pytest.approx(kept, abs=0.003)  # PV ≠ hard scatter
    # z0 = z of the true vertex + Normal(0, σ_z0(pT)), σ_z0 = 0.05 mm ⊕ 0.8 mm·GeV / pT
    assert sigma_z0(np.array([1.0, 100.0]), cfg) == pytest.approx([np.hypot(0.05, 0.8), np.hypot(0.05, 0.008)])
    pull = (t.z0 - z_vtx[np.repeat(np.arange(5), 2 * n)]) / sigma_z0(t.pt, cfg)
    assert pull.mean() == pytest.approx(0.0, abs=0.01)
    assert pull.std() == pytest.approx(1.0, abs=0.01)
    # a wider window takes in the vertex 10 mm away for 1 GeV tracks (12.5 σ), not for 100 GeV
    wide = associate_to_pv(t, np.array([3, 2]), np.array([0, 1]), z_vtx,
                           cfg.model_copy(update={"assoc_z0_sigmas": 20.0}), np.random.default_rng(0))
    g = wide.reshape(5, 2, n)
    assert g[2, 0].all()
    assert not g[2, 1].any()
    # the vertices spread along the beam with the beam-spot width
    z = vertex_z(np.full(20000, 3), cfg, np.random.default_rng(1))
    assert len(z) == 60000
    assert z.std() == pytest.approx(cfg.beamspot_sigma_z_mm, rel=0.02)


def test_z0_config_ranges() -> None:
    ok = {"beamspot_sigma_z_mm": 35.0, "z0_res_const_mm": 0.0, "z0_res_mstk_mm": 0.5, "assoc_z0_sigmas": 2.0}
    assert SimConfig.model_validate({"tracking": ok}).tracking.z0_res_const_mm == 0.0
    SimConfig.model_validate({"tracking": {"z0_res_mstk_mm": 0.0}})  # the constant term alone
    for bad in ({"beamspot_sigma_z_mm": 0.0}, {"beamspot_sigma_z_mm": -45.0},
                {"z0_res_const_mm": -0.01}, {"z0_res_mstk_mm": -0.8},
                {"z0_res_const_mm": 0.0, "z0_res_mstk_mm": 0.0},
                {"assoc_z0_sigmas": 0.0}, {"assoc_z0_sigmas": -3.0},
                {"beamspot_sigma_z_mm": float("nan")},
                {"vertex_assoc_eff": 0.95}):  # the flat association probability is gone
        with pytest.raises(ValidationError):
            SimConfig.model_validate({"tracking": bad})


@pytest.mark.parametrize(("shift", "reflect"), [(0, False), (37, False), (50, True), (63, True)])
def test_overlaid_tracks_rotate_and_reflect_with_their_cells(shift: int, reflect: bool) -> None:
    # one pool event: one track off-centre in its cell, one deposit in the cell it points to
    eta0, phi0 = 0.83, 2.9
    # in HAD0, a layer of the coarsest φ segmentation: a rotation step is one of its cells
    ie, ip = int(GRID.eta_index(3, np.array([eta0]))[0]), int(GRID.phi_index(3, np.array([phi0]))[0])
    ideal = CFG.tracking.model_copy(update={"eff_low_pt": 1.0, "eff_high_pt": 1.0,
                                            "sigma_pt_quad": 0.0, "sigma_pt_const": 0.0})
    none = _tracks([], [], [])
    t = add_pileup_tracks(none, np.array([0]), np.array([0]), np.array([shift]), np.array([reflect]),
                          np.array([0, 1]), np.array([5.0], np.float32), np.array([eta0], np.float32),
                          np.array([phi0], np.float32), GRID.dphi_rotation, ideal, np.random.default_rng(0))
    assert len(t.pt) == 1
    assert t.pt[0] == pytest.approx(5.0)
    assert t.vtx.tolist() == [1]
    assert -np.pi <= t.phi[0] < np.pi
    assert t.eta[0] == pytest.approx(-eta0 if reflect else eta0, abs=1e-6)
    e = np.zeros(GRID.n_cells)
    overlay(e, np.zeros_like(e), np.zeros_like(e), np.array([0, 1]), np.array([3], np.int8),
            np.array([ie], np.int16), np.array([ip], np.int16), np.ones(1, np.float32),
            np.ones(1, np.float32), np.array([0]), np.array([shift]), np.array([reflect]),
            GRID.n_eta, GRID.n_phi, GRID.cell_off)
    cell = GRID.cell_index(3, GRID.eta_index(3, t.eta)[0], GRID.phi_index(3, t.phi)[0])
    assert e[cell] == 1.0
    # the position inside the cell is kept (rotation by whole cells, η-symmetric grid)
    frac = lambda x, lo, w: ((x - lo) / w) % 1.0  # noqa: E731
    f_phi = frac(phi0, -np.pi, GRID.dphi_rotation)
    assert frac(t.phi[0], -np.pi, GRID.dphi_rotation) == pytest.approx(f_phi, abs=1e-4)


@pytest.mark.sim
def test_pileup_tracks_pv_and_mu_zero_unchanged(tiny_cfg, sim_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    from jetcalib.sim.generator import generate_batch, make_pythia, process_settings

    pool = load_or_make_pool(tiny_cfg)
    assert (np.diff(pool.trk_off) == pool.n_trackable).all()
    assert len(pool.trk_pt) == pool.trk_off[-1]
    assert np.abs(pool.trk_eta).max() < tiny_cfg.tracking.eta_max
    n_ev = 16
    py = make_pythia(process_settings("dijet", tiny_cfg.generation, 1), 5)
    p = generate_batch(py, n_ev)
    chunk = pipeline.Chunk(0, "dijet", 1, 0, n_ev, 5, 1.0)

    def rows(mu, pu_tracks=True):
        if not pu_tracks:  # the behaviour before pile-up tracks: hard-scatter tracks only
            monkeypatch.setattr(pipeline, "_pileup_tracks", lambda hard, *a: hard)
        r = pipeline.reconstruct_rows(p, chunk, (mu, mu), tiny_cfg, pool, np.random.default_rng([5, 1]),
                                      pipeline._Timer())
        monkeypatch.undo()
        return r

    track_cols = {"charged_pt_frac", "charged_m_frac", "neutral_e_frac"}

    def cpf(r):
        return r["charged_pt_frac"][(r["pt_true"] > 300) & (r["pt_true"] < 500)]

    # (a) μ = 0: the non-track columns are those of hard-scatter tracks only; the z window loses
    # ~0.3 % of the hard-scatter tracks
    r0, r0_old = rows(0.0), rows(0.0, pu_tracks=False)
    assert all(np.array_equal(r0[k], r0_old[k], equal_nan=True) for k in r0 if k not in track_cols)
    assert np.mean(r0["charged_pt_frac"] == r0_old["charged_pt_frac"]) > 0.8
    assert abs(np.median(cpf(r0)) - np.median(cpf(r0_old))) < 0.005
    # calorimeter side untouched by the pile-up tracks at μ = 20, 60; charged fractions changed
    r20, r20_old = rows(20.0), rows(20.0, pu_tracks=False)
    r60, r60_old = rows(60.0), rows(60.0, pu_tracks=False)
    for r, old in ((r20, r20_old), (r60, r60_old)):
        assert all(np.array_equal(r[k], old[k], equal_nan=True) for k in r if k not in track_cols)
    assert not np.allclose(r60["charged_pt_frac"], r60_old["charged_pt_frac"])
    assert np.array_equal(r0["pt_true"], r60["pt_true"])  # same jets: fixed generated events
    # the pile-up tracks leaking into the primary vertex raise the charged fraction of more jets
    # the higher μ (per jet, against the same event with hard-scatter tracks only; at μ = 0 the
    # z window can only lose tracks) ...
    gain = {mu: cpf(r) - cpf(old) for mu, r, old in ((0, r0, r0_old), (20, r20, r20_old), (60, r60, r60_old))}
    assert np.mean(gain[0] > 0) < 0.05
    assert np.sum(gain[0] > 0) < np.sum(gain[20] > 0) < np.sum(gain[60] > 0)
    assert np.median(gain[60]) > 0
    assert np.median(cpf(r60)) > np.median(cpf(r60_old))
    # ... but not by as much as the calorimeter pile-up in pt_reco lowers it: the median still
    # falls from μ 0 to μ 60 (docs/detector.md#tracks), less than with hard-scatter tracks only
    drop, drop_old = np.median(cpf(r0)) - np.median(cpf(r60)), np.median(cpf(r0_old)) - np.median(cpf(r60_old))
    assert drop < drop_old

    # (b), (c) on the tracks themselves
    def pv_tracks(mu):
        rng = np.random.default_rng(2)
        hard = make_tracks(p, tiny_cfg.tracking, rng)
        ov: list = []
        _, n_pu, _ = pipeline.reconstruct(p, tiny_cfg, pool, np.full(n_ev, mu), rng, None, ov)
        n_vtx = 1 + n_pu
        chosen = np.concatenate([o[0] for o in ov])
        t = add_pileup_tracks(hard, np.repeat(np.arange(n_ev), n_pu), chosen,
                              np.concatenate([o[1] for o in ov]), np.concatenate([o[2] for o in ov]),
                              pool.trk_off, pool.trk_pt, pool.trk_eta, pool.trk_phi, GRID.dphi_rotation,
                              tiny_cfg.tracking, rng)
        assert (np.diff(t.evt) >= 0).all()
        assert len(t.pt) == len(hard.pt) + (t.vtx > 0).sum()
        assert t.vtx.max(initial=0) <= n_pu.max(initial=0)
        pv = primary_vertex(t, n_vtx)
        assoc = associate_to_pv(t, n_vtx, pv, vertex_z(n_vtx, tiny_cfg.tracking, rng), tiny_cfg.tracking, rng)
        return t, pv, t.select(assoc)

    (t0, pv0, sel0), (_, pv20, sel20), (t60, pv60, sel60) = (pv_tracks(mu) for mu in (0.0, 20.0, 60.0))
    assert (pv0 == 0).all()
    assert (sel0.vtx == 0).all()
    assert len(sel0.pt) / len(t0.pt) == pytest.approx(0.997, abs=0.005)
    assert np.mean(pv60 == 0) > 0.95
    hs60 = (t60.vtx == pv60[t60.evt]).sum()
    assert ((sel60.vtx == pv60[sel60.evt]).sum() / hs60) == pytest.approx(0.997, abs=0.005)
    assert t60.vtx.max() >= 40
    assert len(t60.pt) > 10 * len(t0.pt)
    # pile-up contamination of the primary vertex's tracks grows with μ
    pu20, pu60 = ((s.vtx != pv[s.evt]).sum() for s, pv in ((sel20, pv20), (sel60, pv60)))
    assert 0 < pu20 < pu60
    assert pu60 / len(sel60.pt) > pu20 / len(sel20.pt) > 0.02


def test_track_sums_near_equal_a_loop_over_jets() -> None:
    rng = np.random.default_rng(11)
    n_ev, n = 6, 400
    evt = np.sort(rng.integers(0, n_ev, n))
    evt = evt[evt != 2]  # an event without tracks
    t = Tracks(evt, rng.exponential(3.0, len(evt)) + 0.5, rng.uniform(-2.5, 2.5, len(evt)),
               rng.uniform(-np.pi, np.pi, len(evt)))
    j_evt = np.array([0, 0, 2, 5, 3, 5])  # several jets per event, any order
    j_eta, j_phi = rng.uniform(-2, 2, len(j_evt)), rng.uniform(-np.pi, np.pi, len(j_evt))
    got = track_sums_near(t, j_evt, j_eta, j_phi, 0.8)
    for k in range(len(j_evt)):
        s = t.evt == j_evt[k]
        dphi = (t.phi[s] - j_phi[k] + np.pi) % (2 * np.pi) - np.pi
        near = np.hypot(t.eta[s] - j_eta[k], dphi) < 0.8
        pt, eta, phi = t.pt[s][near], t.eta[s][near], t.phi[s][near]
        ref = [np.sum(pt * np.cos(phi)), np.sum(pt * np.sin(phi)), np.sum(pt * np.sinh(eta)),
               np.sum(pt * np.cosh(eta))]
        assert got[k] == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert got[2].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert track_sums_near(t, np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0.8).shape == (0, 4)
