"""Pile-up tracks, track–vertex association and the Σ pT² primary vertex (docs/detector.md#tracks)."""

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
    assign_vertices,
    make_tracks,
    primary_vertex,
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
    t.vtx_assoc = np.array([1] + [1] * 8 + [0, 2], np.int32)  # the 10 GeV track assigned to 1
    assert primary_vertex(t, np.array([2, 3, 4])).tolist() == [0, 2, 0]  # found by true vertex
    assert primary_vertex(t, np.array([2, 3, 4]), assigned=True).tolist() == [1, 2, 0]


def test_vertex_association_inefficiency() -> None:
    n = 40000
    nv = np.array([1, 5])
    t = _tracks(np.repeat([0, 1], n), np.ones(2 * n), np.r_[np.zeros(n), np.full(n, 2)])
    cfg = CFG.tracking
    t = assign_vertices(t, nv, cfg, np.random.default_rng(0))
    assert (t.vtx_assoc[:n] == 0).all()  # a single vertex keeps its tracks
    a = t.vtx_assoc[n:]
    assert np.mean(a == 2) == pytest.approx(cfg.vertex_assoc_eff, abs=0.005)
    moved = np.bincount(a[a != 2], minlength=5)
    assert moved[2] == 0 and set(np.nonzero(moved)[0]) == {0, 1, 3, 4}
    assert moved[[0, 1, 3, 4]] / moved.sum() == pytest.approx([0.25] * 4, abs=0.03)
    never = assign_vertices(t, nv, cfg.model_copy(update={"vertex_assoc_eff": 0.0}), np.random.default_rng(1))
    assert (never.vtx_assoc[n:] != 2).all()
    for bad in (-0.1, 1.1):
        with pytest.raises(ValidationError):
            SimConfig.model_validate({"tracking": {"vertex_assoc_eff": bad}})


@pytest.mark.parametrize("shift,reflect", [(0, False), (37, False), (100, True), (127, True)])
def test_overlaid_tracks_rotate_and_reflect_with_their_cells(shift: int, reflect: bool) -> None:
    # one pool event: one track off-centre in its cell, one deposit in the cell it points to
    eta0, phi0 = 0.83, 2.9
    ie, ip = int(GRID.eta_index(np.array([eta0]))[0]), int(GRID.phi_index(np.array([phi0]))[0])
    ideal = CFG.tracking.model_copy(update={"eff_low_pt": 1.0, "eff_high_pt": 1.0,
                                            "sigma_pt_quad": 0.0, "sigma_pt_const": 0.0})
    none = _tracks([], [], [])
    t = add_pileup_tracks(none, 1, np.array([0]), np.array([0]), np.array([shift]), np.array([reflect]),
                          np.array([0, 1]), np.array([5.0], np.float32), np.array([eta0], np.float32),
                          np.array([phi0], np.float32), GRID.dphi, ideal, np.random.default_rng(0))
    assert len(t.pt) == 1 and t.pt[0] == pytest.approx(5.0) and t.vtx.tolist() == [1]
    assert -np.pi <= t.phi[0] < np.pi
    assert t.eta[0] == pytest.approx(-eta0 if reflect else eta0, abs=1e-6)
    e = np.zeros(GRID.n_cells)
    overlay(e, np.zeros_like(e), np.zeros_like(e), np.array([0, 1]), np.array([1], np.int16),
            np.array([ie], np.int16), np.array([ip], np.int16), np.ones(1, np.float32),
            np.ones(1, np.float32), np.array([0]), np.array([shift]), np.array([reflect]),
            GRID.n_eta, GRID.n_phi)
    cell = GRID.cell_index(1, GRID.eta_index(t.eta)[0], GRID.phi_index(t.phi)[0])
    assert e[cell] == 1.0
    # the position inside the cell is kept (rotation by whole cells, η-symmetric grid)
    frac = lambda x, lo, w: ((x - lo) / w) % 1.0  # noqa: E731
    f_phi = frac(phi0, -np.pi, GRID.dphi)
    assert frac(t.phi[0], -np.pi, GRID.dphi) == pytest.approx(f_phi, abs=1e-4)


@pytest.mark.sim
def test_pileup_tracks_pv_and_mu_zero_unchanged(tiny_cfg, sim_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    from jetcalib.sim.generator import generate_batch, make_pythia, process_settings

    pool = load_or_make_pool(tiny_cfg)
    assert (np.diff(pool.trk_off) == pool.n_trackable).all() and len(pool.trk_pt) == pool.trk_off[-1]
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

    # (a) μ = 0: identical to hard-scatter tracks only
    r0, r0_old = rows(0.0), rows(0.0, pu_tracks=False)
    assert all(np.array_equal(r0[k], r0_old[k], equal_nan=True) for k in r0)
    # calorimeter side untouched by the pile-up tracks at μ = 60; charged fractions changed
    r60, r60_old = rows(60.0), rows(60.0, pu_tracks=False)
    track_cols = {"charged_pt_frac", "charged_m_frac", "neutral_e_frac"}
    assert all(np.array_equal(r60[k], r60_old[k], equal_nan=True) for k in r60 if k not in track_cols)
    assert not np.allclose(r60["charged_pt_frac"], r60_old["charged_pt_frac"])
    assert np.array_equal(r0["pt_true"], r60["pt_true"])  # same jets: fixed generated events
    assert np.median(r60["charged_pt_frac"]) < np.median(r0["charged_pt_frac"]) - 0.01

    # (b), (c) on the tracks themselves
    def pv_tracks(mu):
        rng = np.random.default_rng(2)
        hard = make_tracks(p, tiny_cfg.tracking, rng)
        ov: list = []
        _, n_pu, _ = pipeline.reconstruct(p, tiny_cfg, pool, np.full(n_ev, mu), rng, None, ov)
        n_vtx = 1 + n_pu
        chosen = np.concatenate([o[0] for o in ov])
        t = add_pileup_tracks(hard, n_ev, np.repeat(np.arange(n_ev), n_pu), chosen,
                              np.concatenate([o[1] for o in ov]), np.concatenate([o[2] for o in ov]),
                              pool.trk_off, pool.trk_pt, pool.trk_eta, pool.trk_phi, GRID.dphi,
                              tiny_cfg.tracking, rng)
        assert (np.diff(t.evt) >= 0).all()
        assert len(t.pt) == len(hard.pt) + (t.vtx > 0).sum() and t.vtx.max(initial=0) <= n_pu.max(initial=0)
        t = assign_vertices(t, n_vtx, tiny_cfg.tracking, rng)
        pv = primary_vertex(t, n_vtx)
        return t, pv, t.select(t.vtx_assoc == pv[t.evt])

    t0, pv0, sel0 = pv_tracks(0.0)
    t60, pv60, sel60 = pv_tracks(60.0)
    assert (pv0 == 0).all() and (sel0.vtx == 0).all()
    assert np.mean(pv60 == 0) > 0.95
    assert t60.vtx.max() >= 40 and (sel60.vtx > 0).sum() > (sel0.vtx > 0).sum() == 0
    assert len(t60.pt) > 10 * len(t0.pt)
