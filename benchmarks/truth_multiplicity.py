"""How many clusters a groomed jet *could* have: the particles of groomed truth jets that a
calorimeter of a given two-shower resolution can tell apart (issue #13's cluster count).

    .venv/bin/python benchmarks/truth_multiplicity.py [--events 150] [--slice 2] [--seed 77]

Generates dijet events of one pT-hat slice (default: the third, 550-1000 GeV), clusters the
hard-scatter particles (no ν, no μ) into the configured truth jets (anti-kt R = 1.0 and the
configured grooming), and for those with 500 < pT_true < 1000 GeV, |η| < 2 prints the median
number of constituents above several energies, the leading particle's share of the groomed
jet's energy, and the number of particles above 1 GeV left when, hardest first, each one closer
than ΔR = d to a harder kept one is merged into it, for several d. Topo-cluster splitting needs
a cell lower than both maxima between them, so two showers in one layer of cell size Δ are
resolved only from about 2Δ apart (d = 0.05 for the EM middle layer's 0.025 cells): the count at
that d is about what a detector without fragmenting showers can give.
"""

from __future__ import annotations

import argparse

import numpy as np

from jetcalib.sim import SimConfig
from jetcalib.sim.generator import NEUTRINOS, PDG, generate_batch, make_pythia, process_settings
from jetcalib.sim.jets import find_jets, groom_kwargs

ENERGIES = (0.5, 1.0, 2.0, 5.0, 10.0)  #: GeV
SEPARATIONS = (0.01, 0.025, 0.035, 0.05, 0.1)  #: ΔR


def resolvable(e: np.ndarray, eta: np.ndarray, phi: np.ndarray, d: float, e_min: float = 1.0) -> int:
    """Particles above ``e_min`` GeV left after merging, hardest first, every particle closer
    than ``d`` (ΔR) to a harder kept one into it."""
    kept: list[int] = []
    for i in np.argsort(-e):
        if e[i] < e_min:
            break
        dphi = (phi[i] - phi[kept] + np.pi) % (2 * np.pi) - np.pi
        if not kept or np.all(np.hypot(eta[i] - eta[kept], dphi) > d):
            kept.append(int(i))
    return len(kept)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=150, help="events to generate (default 150)")
    ap.add_argument("--slice", type=int, default=2, help="pT-hat slice index of generation.dijet_slices (default 2)")
    ap.add_argument("--seed", type=int, default=77, help="Pythia seed")
    args = ap.parse_args(argv)
    cfg = SimConfig()
    jc = cfg.jets
    if not 0 <= args.slice < len(cfg.generation.dijet_slices) or args.events < 1:
        ap.error(f"--slice must be 0..{len(cfg.generation.dijet_slices) - 1} and --events >= 1")
    p = generate_batch(make_pythia(process_settings("dijet", cfg.generation, args.slice), args.seed), args.events)
    apid = np.abs(p.pid)
    t = p.select(~np.isin(apid, NEUTRINOS) & (apid != PDG.MUON))
    tj = find_jets(t.px, t.py, t.pz, t.e, np.bincount(t.evt, minlength=p.n_events), jc.radius, jc.min_pt_true,
                   jc.trim_rsub, jc.trim_fcut, **groom_kwargs(jc))
    k = tj.kin()
    jets = np.nonzero((k["pt"] > 500) & (k["pt"] < 1000) & (np.abs(k["eta"]) < 2))[0]
    above: dict[float, list[int]] = {x: [] for x in ENERGIES}
    apart: dict[float, list[int]] = {d: [] for d in SEPARATIONS}
    lead = []
    for j in jets:
        c = tj.const[tj.const_off[j]:tj.const_off[j + 1]]  # the groomed jet's particles, indices into t
        e = t.e[c]
        pt = np.hypot(t.px[c], t.py[c])
        eta, phi = np.arcsinh(t.pz[c] / pt), np.arctan2(t.py[c], t.px[c])
        for x in ENERGIES:
            above[x].append(int((e > x).sum()))
        for d in SEPARATIONS:
            apart[d].append(resolvable(e, eta, phi, d))
        lead.append(float(e.max() / e.sum()))
    print(f"groomed truth jets ({jc.grooming}), 500 < pT < 1000 GeV, |eta| < 2: {len(jets)} "
          f"(dijet slice {args.slice}, {args.events} events, seed {args.seed})")
    if not len(jets):
        return 0
    for x in ENERGIES:
        print(f"  particles with E > {x:g} GeV: median {np.median(above[x]):.0f}")
    print(f"  leading particle's share of the jet energy: median {np.median(lead):.3f}")
    for d in SEPARATIONS:
        print(f"  particles > 1 GeV resolvable at dR = {d:g}: median {np.median(apart[d]):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
