"""SoftDrop grooming and SoftKiller pile-up suppression (sim/jets.py), on constructed jets and
on small generated samples with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.sim.config import SimConfig
from jetcalib.sim.jets import find_jets, kinematics, quiet_fastjet, softkiller_mask


def _p4(pt, eta, phi):
    pt, eta, phi = (np.asarray(x, float) for x in (pt, eta, phi))
    return pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)


def test_softdrop_drops_soft_wide_particle_and_keeps_both_prongs() -> None:
    # two prongs (z = 200/500 = 0.4 > z_cut) 0.4 apart, and a soft particle 0.8 away (z ≈ 0.01)
    pt, eta, phi = [300.0, 200.0, 5.0], [0.0, 0.0, 0.8], [0.0, 0.4, -0.3]
    px, py, pz, e = _p4(pt, eta, phi)
    with quiet_fastjet():
        sd = find_jets(px, py, pz, e, np.array([3]), 1.0, 50.0, 0.2, 0.05, grooming="softdrop",
                       beta=1.0, zcut=0.1)
    assert len(sd.evt) == 1
    assert sd.n_const_ungroomed[0] == 3
    assert sorted(sd.const[sd.const_off[0]:sd.const_off[1]].tolist()) == [0, 1]
    np.testing.assert_allclose(sd.p4_groomed[0], np.array([px, py, pz, e])[:, :2].sum(axis=1))
    assert kinematics(sd.p4_groomed)["m"][0] < kinematics(sd.p4)["m"][0]
    # with z_cut below the soft particle's z, nothing is dropped
    with quiet_fastjet():
        keep = find_jets(px, py, pz, e, np.array([3]), 1.0, 50.0, 0.2, 0.05, grooming="softdrop",
                         beta=1.0, zcut=0.001)
    assert np.diff(keep.const_off)[0] == 3


def test_softdrop_many_events_matches_per_event() -> None:
    rng = np.random.default_rng(11)
    counts = rng.integers(1, 40, 30)
    n = counts.sum()
    px, py, pz, e = _p4(rng.exponential(20.0, n) + 0.1, rng.uniform(-2, 2, n), rng.uniform(-np.pi, np.pi, n))
    with quiet_fastjet():
        allj = find_jets(px, py, pz, e, counts, 1.0, 20.0, 0.2, 0.05, grooming="softdrop")
        starts = np.concatenate([[0], np.cumsum(counts)])
        for ev in range(0, 30, 7):
            sl = slice(starts[ev], starts[ev + 1])
            one = find_jets(px[sl], py[sl], pz[sl], e[sl], counts[ev:ev + 1], 1.0, 20.0, 0.2, 0.05,
                            grooming="softdrop")
            mine = allj.evt == ev
            key = lambda js, sel: sorted(map(tuple, np.round(js.p4_groomed[sel], 9)))  # noqa: E731
            assert key(allj, mine) == key(one, slice(None))
    m_g, m_u = kinematics(allj.p4_groomed)["m"], kinematics(allj.p4)["m"]
    assert np.all(np.isfinite(m_g))
    assert np.all(m_g <= m_u + 1e-6)


def test_softkiller_cuts_more_at_high_pileup_and_keeps_the_hardest() -> None:
    rng = np.random.default_rng(5)
    n_removed = []
    for mu in (0, 60):
        n_ev = 20
        # hard scatter: a few hard particles; pile-up: ~ 40 soft particles per interaction
        counts = 30 + rng.poisson(40 * mu, n_ev)
        n = counts.sum()
        pt = rng.exponential(0.7, n)
        hard = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pt[hard] = 200.0 + rng.uniform(0, 100, n_ev)
        eta, phi = rng.uniform(-4.9, 4.9, n), rng.uniform(-np.pi, np.pi, n)
        keep = softkiller_mask(pt, eta, phi, counts, 0.4, 4.9)
        assert keep[hard].all()
        evt = np.repeat(np.arange(n_ev), counts)
        best = np.array([np.argmax(np.where(evt == k, pt, -1)) for k in range(n_ev)])
        assert keep[best].all()
        n_removed.append(float((~keep).sum()) / n_ev)
    assert n_removed[1] > n_removed[0]


def test_softkiller_cut_is_median_of_patch_maxima() -> None:
    # grid 1.0 on |η| < 1: 2 × 7 = 14 patches; 8 of them hold one particle of pT 1 … 8, and a
    # softer one (0.5) shares the pT-8 patch. Sorted maxima: six 0, then 1 … 8; the upper
    # middle (index 7) is 2, so pT 1 and 0.5 are removed.
    pt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.5])
    eta = np.array([-0.5] * 4 + [0.5] * 4 + [0.5])
    phi = np.array([0.5, 1.5, 2.5, 3.5] * 2 + [3.6])
    keep = softkiller_mask(pt, eta, phi, np.array([9]), 1.0, 1.0)
    assert keep.tolist() == [False] + [True] * 7 + [False]
    # two events are independent: an event of only soft particles keeps its own hardest ones
    keep2 = softkiller_mask(np.concatenate([pt, pt * 0.01]), np.tile(eta, 2), np.tile(phi, 2),
                            np.array([9, 9]), 1.0, 1.0)
    assert keep2.tolist() == keep.tolist() * 2


@pytest.mark.parametrize("softkiller", [False, True])
def test_generated_softdrop_sample(tmp_path, sim_cache, softkiller) -> None:
    from jetcalib.io import read_table
    from jetcalib.sim import run_generation

    cfg = SimConfig.model_validate({"pileup": {"pool_size": 100}, "generation": {"chunk_size": 20},
                                    "jets": {"grooming": "softdrop", "softkiller": softkiller}})
    out = tmp_path / "sd.parquet"
    run_generation("dijet", 20, 7, (40.0, 60.0), out, cfg, workers=1)
    table, _ = read_table(out, None)
    assert len(table["m_reco"]) > 0
    for lvl in ("reco", "true"):
        m, mu = np.asarray(table[f"m_{lvl}"]), np.asarray(table[f"m_{lvl}_ungroomed"])
        assert np.all(np.isfinite(m))
        assert np.all(m <= mu * (1 + 1e-5) + 1e-3)
    assert np.all(np.asarray(table["e_reco"]) <= np.asarray(table["e_reco_ungroomed"]) * (1 + 1e-5) + 1e-3)


def test_dump_config_shows_the_new_fields(capsys) -> None:
    from jetcalib.cli import main

    assert main(["generate", "--dump-config"]) == 0
    out = capsys.readouterr().out
    for word in ("grooming: trimming", "softdrop_beta: 1.0", "softdrop_zcut: 0.1", "softkiller: false",
                 "softkiller_grid: 0.4", "softkiller_eta_max: 4.9"):
        assert word in out


def test_softkiller_on_detector_clusters(tiny_cfg, sim_cache) -> None:
    """Real topo-clusters of the same 10 dijet events at μ = 0 and μ = 60."""
    from jetcalib.sim.generator import generate_batch, make_pythia, process_settings
    from jetcalib.sim.pileup import load_or_make_pool
    from jetcalib.sim.pipeline import reconstruct

    pool = load_or_make_pool(tiny_cfg)
    py = make_pythia(process_settings("dijet", tiny_cfg.generation, 1), 21)
    p = generate_batch(py, 10)
    removed = {}
    for mu in (0.0, 60.0):
        cl, _, _ = reconstruct(p, tiny_cfg, pool, np.full(10, mu), np.random.default_rng(9))
        pt = cl.e_lc / np.cosh(cl.eta)
        keep = softkiller_mask(pt, cl.eta, cl.phi, cl.counts, 0.4, 4.9)
        starts = np.concatenate([[0], np.cumsum(cl.counts)[:-1]])
        hardest = starts + np.array([np.argmax(pt[s:s + n]) for s, n in zip(starts, cl.counts, strict=True)])
        assert keep[hardest].all()
        removed[mu] = int((~keep).sum())
    assert removed[60.0] > removed[0.0]


def _reference_softdrop(p4: np.ndarray, beta: float, zcut: float, r0: float) -> set[int]:
    """Plain-Python C/A clustering (E-scheme, rapidity–φ) and SoftDrop declustering of one jet:
    the indices of the constituents kept."""

    def rap_phi(v):
        px, py, pz, e = v
        return 0.5 * np.log((e + pz) / (e - pz)), np.arctan2(py, px)

    def dr2(a, b):
        (ya, pa), (yb, pb) = rap_phi(a), rap_phi(b)
        dphi = (pa - pb + np.pi) % (2 * np.pi) - np.pi
        return (ya - yb) ** 2 + dphi ** 2

    nodes = [(p4[i].copy(), None, None, {i}) for i in range(len(p4))]  # (p4, child1, child2, members)
    active = list(range(len(nodes)))
    while len(active) > 1:
        _, a, b = min((dr2(nodes[i][0], nodes[j][0]), i, j) for k, i in enumerate(active) for j in active[k + 1:])
        nodes.append((nodes[a][0] + nodes[b][0], a, b, nodes[a][3] | nodes[b][3]))
        active = [i for i in active if i not in (a, b)] + [len(nodes) - 1]
    cur = active[0]
    while nodes[cur][1] is not None:
        a, b = nodes[cur][1], nodes[cur][2]
        pta, ptb = (np.hypot(*nodes[i][0][:2]) for i in (a, b))
        if min(pta, ptb) / (pta + ptb) > zcut * (np.sqrt(dr2(nodes[a][0], nodes[b][0])) / r0) ** beta:
            break
        cur = a if pta >= ptb else b
    return nodes[cur][3]


@pytest.mark.parametrize(("beta", "zcut"), [(1.0, 0.1), (0.0, 0.1), (2.0, 0.2)])
def test_softdrop_agrees_with_a_reference_implementation(beta, zcut) -> None:
    rng = np.random.default_rng(int(beta * 10 + zcut * 100))
    counts = np.full(12, 25)
    n = counts.sum()
    # a hard core plus a soft wide spray per jet, all inside R = 1 of (0, 0)
    pt = np.where(rng.random(n) < 0.2, rng.uniform(30, 150, n), rng.exponential(2.0, n) + 0.1)
    px, py, pz, e = _p4(pt, rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n))
    with quiet_fastjet():
        js = find_jets(px, py, pz, e, counts, 1.0, 10.0, 0.2, 0.05, grooming="softdrop", beta=beta, zcut=zcut)
    P = np.stack([px, py, pz, e], axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    assert len(js.evt) == 12
    assert np.all(js.n_const_ungroomed == 25)
    n_groomed = 0
    for j, ev in enumerate(js.evt):
        mine = set(js.const[js.const_off[j]:js.const_off[j + 1]].tolist())
        ref = {starts[ev] + i for i in _reference_softdrop(P[starts[ev]:starts[ev + 1]], beta, zcut, 1.0)}
        assert mine == ref
        n_groomed += len(mine) < 25
    assert n_groomed > 0
