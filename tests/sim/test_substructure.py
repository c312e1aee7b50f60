"""Substructure variables against independent calculations: brute force on small jets,
and analytic 1-, 2- and 3-prong configurations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jetcalib.sim.jets import find_jets, match_jets
from jetcalib.sim.substructure import (
    SENTINEL,
    eff_n,
    fastjet_substructure,
    qw_from_subjets,
    safe_ratio,
    width,
)

pytestmark = pytest.mark.sim


def _p4(pt, eta, phi, m=0.0):
    pt, eta, phi = map(np.asarray, (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return px, py, pz, e


def _dr(y1, p1, y2, p2):
    return np.hypot(y1 - y2, (p1 - p2 + np.pi) % (2 * np.pi) - np.pi)


def _brute_ecf(pt, y, phi):
    n = len(pt)
    e1 = pt.sum()
    e2 = sum(pt[i] * pt[j] * _dr(y[i], phi[i], y[j], phi[j]) for i, j in itertools.combinations(range(n), 2))
    e3 = sum(pt[i] * pt[j] * pt[k] * _dr(y[i], phi[i], y[j], phi[j]) * _dr(y[i], phi[i], y[k], phi[k])
             * _dr(y[j], phi[j], y[k], phi[k]) for i, j, k in itertools.combinations(range(n), 3))
    return e1, e2, e3


def _random_jets(n_jets=12, seed=0):
    rng = np.random.default_rng(seed)
    n = rng.integers(3, 9, n_jets)
    tot = n.sum()
    pt = rng.exponential(30, tot) + 1
    eta = rng.normal(0.3, 0.3, tot)
    phi = rng.normal(1.0, 0.3, tot)
    off = np.concatenate([[0], np.cumsum(n)])
    return pt, eta, phi, off


def test_c2_d2_match_brute_force_ecfs() -> None:
    pt, eta, phi, off = _random_jets()
    out = fastjet_substructure(*_p4(pt, eta, phi), off)
    for j in range(len(off) - 1):
        s = slice(off[j], off[j + 1])
        e1, e2, e3 = _brute_ecf(pt[s], eta[s], phi[s])  # massless: rapidity = η
        assert out["c2"][j] == pytest.approx(e3 * e1 / e2**2, rel=1e-6)
        assert out["d2"][j] == pytest.approx(e3 * e1**3 / e2**3, rel=1e-6)


def test_two_and_three_prong_analytic() -> None:
    # 2 particles: τ2 = 0, √d12 = min(pT)·ΔR/R (kt), only 2 constituents → sentinels for τ32/C2
    pt = np.array([300.0, 100.0, 200.0, 100.0, 50.0])
    eta = np.array([0.0, 0.4, 0.0, 0.3, -0.3])
    phi = np.array([0.0, 0.0, 0.0, 0.2, 0.25])
    off = np.array([0, 2, 5])
    out = fastjet_substructure(*_p4(pt, eta, phi), off)
    assert out["split12"][0] == pytest.approx(100.0 * 0.4)
    assert out["tau21"][0] == SENTINEL
    assert out["qw"][0] == 0.0
    # 3 particles: exclusive 3 subjets are the particles themselves; τ3 = 0
    px, py, pz, e = _p4(pt[2:], eta[2:], phi[2:])
    p4 = np.stack([px, py, pz, e], axis=1)
    masses = [np.sqrt(max((p4[a, 3] + p4[b, 3]) ** 2 - np.sum((p4[a, :3] + p4[b, :3]) ** 2), 0))
              for a, b in ((0, 1), (0, 2), (1, 2))]
    assert out["qw"][1] == pytest.approx(min(masses), rel=1e-6)
    assert out["tau32"][1] == pytest.approx(0.0, abs=1e-9)
    assert 0 < out["tau21"][1] < 1
    assert out["split23"][1] > 0


def test_one_prong_vs_two_prong_tau21() -> None:
    rng = np.random.default_rng(5)
    n = 30
    one = (rng.exponential(10, n) + 1, rng.normal(0, 0.03, n), rng.normal(0, 0.03, n))
    two_eta = np.concatenate([rng.normal(-0.3, 0.03, n // 2), rng.normal(0.3, 0.03, n // 2)])
    two = (rng.exponential(10, n) + 1, two_eta, rng.normal(0, 0.03, n))
    pt, eta, phi = (np.concatenate([a, b]) for a, b in zip(one, two, strict=True))
    out = fastjet_substructure(*_p4(pt, eta, phi), np.array([0, n, 2 * n]))
    assert out["tau21"][1] < 0.5 < out["tau21"][0]
    assert out["split12"][1] > 5 * out["split12"][0]


def test_width_eff_n_qw_ratio_brute_force() -> None:
    pt, eta, phi, off = _random_jets(6, seed=2)
    je, jp = np.zeros(6) + 0.3, np.ones(6)
    w = width(pt, eta, phi, je, jp, off)
    e = pt * np.cosh(eta)
    n_eff = eff_n(e, off)
    for j in range(6):
        s = slice(off[j], off[j + 1])
        dr = [_dr(eta[i], phi[i], je[j], jp[j]) for i in range(off[j], off[j + 1])]
        assert w[j] == pytest.approx(np.dot(pt[s], dr) / pt[s].sum())
        assert n_eff[j] == pytest.approx(e[s].sum() ** 2 / (e[s] ** 2).sum())
    assert eff_n(np.array([5.0, 5.0, 5.0, 5.0]), np.array([0, 4]))[0] == pytest.approx(4.0)
    assert safe_ratio(np.array([1.0, 1.0]), np.array([2.0, 0.0])).tolist() == [0.5, SENTINEL]
    sub = np.zeros((1, 3, 4))
    sub[0, :, 3] = 10.0
    sub[0, 0, 0], sub[0, 1, 0], sub[0, 2, 1] = 6.0, -6.0, 8.0
    # pair (0, 1): E = 20, p = 0 → m = 20; pairs (0, 2) and (1, 2): E = 20, |p| = 10 → m = √300
    assert qw_from_subjets(sub)[0] == pytest.approx(np.sqrt(300.0), rel=1e-12)


def test_trimming_drops_soft_subjets_and_matching_is_unique() -> None:
    # one hard core + a soft subjet far away (inside R = 1) below f_cut = 5 %
    pt = np.array([400.0, 300.0, 10.0])
    eta = np.array([0.0, 0.05, 0.7])
    phi = np.array([0.0, 0.05, 0.0])
    jets = find_jets(*_p4(pt, eta, phi), np.array([3]), 1.0, 50.0, 0.2, 0.05)
    assert len(jets.evt) == 1
    assert jets.n_const_ungroomed[0] == 3
    assert sorted(jets.const.tolist()) == [0, 1]
    g = jets.kin()
    assert g["pt"][0] == pytest.approx(700.0, rel=1e-3)
    assert jets.kin(groomed=False)["pt"][0] > g["pt"][0]
    # two truth jets closest to the same reco jet: neither is kept
    m, dr = match_jets(np.array([0, 0]), np.array([0.0, 0.1]), np.array([0.0, 0.0]),
                       np.array([0, 0]), np.array([0.05, 3.0]), np.array([0.0, 0.0]), 0.75)
    assert m.tolist() == [-1, -1]
    m, dr = match_jets(np.array([0]), np.array([0.0]), np.array([0.0]), np.array([0, 1]),
                       np.array([0.5, 0.0]), np.array([0.0, 0.0]), 0.75)
    assert m.tolist() == [0]
    assert dr[0] == pytest.approx(0.5)


def _match_loop(t_evt, t_eta, t_phi, r_evt, r_eta, r_phi, max_dr):
    """Reference: closest reco jet per truth jet, event by event, dropping shared picks."""
    match, best = np.full(len(t_evt), -1), np.full(len(t_evt), np.inf)
    for ev in np.unique(t_evt):
        ti, ri = np.nonzero(t_evt == ev)[0], np.nonzero(r_evt == ev)[0]
        if len(ri) == 0:
            continue
        dphi = (t_phi[ti, None] - r_phi[None, ri] + np.pi) % (2 * np.pi) - np.pi
        dr = np.hypot(t_eta[ti, None] - r_eta[None, ri], dphi)
        pick, dmin = ri[np.argmin(dr, axis=1)], dr.min(axis=1)
        for k, t in enumerate(ti):
            if dmin[k] < max_dr and np.sum(pick[dmin < max_dr] == pick[k]) == 1:
                match[t], best[t] = pick[k], dmin[k]
    return match, best


def test_match_jets_equals_event_by_event_loop_with_ties_and_shared_picks() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n_ev, nt, nr = int(rng.integers(1, 8)), int(rng.integers(0, 20)), int(rng.integers(0, 40))
        t_evt, r_evt = np.sort(rng.integers(0, n_ev, nt)), rng.integers(0, n_ev, nr)  # reco unsorted
        # coarse η, φ grids: exact ΔR ties and several truth jets picking one reco jet
        t_eta, t_phi = np.round(rng.uniform(-2, 2, nt), 1), np.round(rng.uniform(-3, 3, nt), 1)
        r_eta, r_phi = np.round(rng.uniform(-2, 2, nr), 1), np.round(rng.uniform(-3, 3, nr), 1)
        args = (t_evt, t_eta, t_phi, r_evt, r_eta, r_phi, 0.75)
        m, dr = match_jets(*args)
        m_ref, dr_ref = _match_loop(*args)
        assert m.tolist() == m_ref.tolist()
        assert np.array_equal(dr, dr_ref)
