"""Physics check of the simulated detector against the simulation's acceptance figures:
uncalibrated energy/mass response and resolution vs pT_true, the barrel–endcap crack dip,
cluster multiplicity, W/Z and top mass, and response–feature correlations at fixed pT.

    .venv/bin/python benchmarks/sim_response.py [DIJET.parquet [WPRIME.parquet [TOP.parquet]]]

Tables not given are generated (2000 dijet events with seed 1, 1000 W′ and 1000 Z′ → tt̄
events with seeds 3 and 4, ⟨μ⟩ 10–60) into a temporary directory. Each line ends in the target
range and PASS/FAIL.
"""

from __future__ import annotations

import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import numpy as np

from jetcalib.evaluate.metrics import resolution as relative_width  # the one definition
from jetcalib.io import read_table
from jetcalib.sim import SimConfig, run_generation
from jetcalib.sim.response import crack_dip, spearman_at_fixed_pt

FEATURES = ["em_frac", "em3_frac", "tile0_frac", "charged_pt_frac", "eff_n_clusters", "width", "fem_true"]
#: process → (events, seed, truth-mass window of the resonance's jets in GeV)
SAMPLES = {"dijet": (2000, 1, None), "wprime": (1000, 3, (60.0, 110.0)), "zprime_tt": (1000, 4, (140.0, 210.0))}


def _verdict(value: float, lo: float, hi: float) -> str:
    return f"[{lo:g}, {hi:g}] {'PASS' if lo <= value <= hi else 'FAIL'}"


def _table(process: str, given: list[str], k: int, tmp: Path) -> dict[str, np.ndarray]:
    if len(given) > k:
        path = Path(given[k])
    else:
        n, seed, _ = SAMPLES[process]
        path = tmp / f"{process}.parquet"
        run_generation(process, n, seed, (10.0, 60.0), path, SimConfig(), workers=2)
    t, _ = read_table(path, None)
    print(f"{path}: {len(t['event'])} matched jets")
    return t


def dijet(t: dict[str, np.ndarray]) -> None:
    ok = (t["pt_true"] > 150) & (np.abs(t["eta_true"]) < 2.0)
    r_e = t["e_reco"] / t["e_true"]
    r_m = t["m_reco"] / np.maximum(t["m_true"], 1e-3)
    edges = np.array([150, 200, 300, 450, 700, 1000, 1500, 2200, 3200])
    print("pT_true bin   median r_E   res_E   median r_m (m_true > 50)   res_m    n")
    for lo, hi_edge in pairwise(edges):
        b = ok & (t["pt_true"] >= lo) & (t["pt_true"] < hi_edge)
        bm = b & (t["m_true"] > 50)
        if b.sum() < 20:
            continue
        mm = np.median(r_m[bm]) if bm.sum() > 10 else float("nan")
        rm = relative_width(r_m[bm]) if bm.sum() > 10 else float("nan")
        print(f"{lo:>8.0f}     {np.median(r_e[b]):8.3f}   {100 * relative_width(r_e[b]):5.1f} %   "
              f"{mm:8.3f}                  {100 * rm:5.1f} %  {b.sum():5d}")
    print("acceptance (dijet, |eta_true| < 2):")
    for lo, hi in [(200, 300), (300, 500), (500, 1000)]:
        b = ok & (t["pt_true"] >= lo) & (t["pt_true"] < hi)
        print(f"  mass response m_true > 50, pT {lo}-{hi}: {np.median(r_m[b & (t['m_true'] > 50)]):.3f} "
              f"{_verdict(np.median(r_m[b & (t['m_true'] > 50)]), 0.95, 1.25)}")
        light = b & (t["m_true"] > 30) & (t["m_true"] < 80)
        print(f"  mass response m_true 30-80, pT {lo}-{hi}: {np.median(r_m[light]):.3f} "
              f"{_verdict(np.median(r_m[light]), 1.0, 10.0)}")
    hi = ok & (t["pt_true"] >= 500) & (t["pt_true"] < 1000)
    n_med = float(np.median(t["n_constituents"][hi]))
    print(f"  median clusters in the groomed jet, pT 500-1000: {n_med:.0f} {_verdict(n_med, 15, 1e9)}")
    above = ok & (t["pt_true"] > 500)
    bad = 100 * np.mean((t["n_constituents"][above] <= 1) | (t["m_reco"][above] <= 0))
    print(f"  single-cluster or m_reco = 0 jets above 500 GeV: {bad:.2f} % {_verdict(bad, 0, 0.2)}")
    for lo, hi_e in [(200, 500), (500, 1000), (1000, 3000)]:
        b = ok & (t["pt_true"] >= lo) & (t["pt_true"] < hi_e)
        print(f"  energy response pT {lo}-{hi_e}: {np.median(r_e[b]):.3f} {_verdict(np.median(r_e[b]), 0.85, 0.98)}, "
              f"resolution {100 * relative_width(r_e[b]):.1f} % {_verdict(100 * relative_width(r_e[b]), 4, 12)}")
    sel = t["pt_true"] > 150
    inside, outside = crack_dip(np.abs(t["eta_true"][sel]), r_e[sel])
    dip = 100 * (1 - inside / outside)
    print(f"  crack 1.37<|eta|<1.52: median r_E {inside:.3f} vs {outside:.3f}: dip {dip:.1f} % {_verdict(dip, 5, 12)}")
    mid = ok & (t["pt_true"] >= 300) & (t["pt_true"] < 700)
    lo_mu, hi_mu = mid & (t["mu"] < 25), mid & (t["mu"] > 45)
    print(f"  charged_pt_frac pT 300-700: median {np.median(t['charged_pt_frac'][lo_mu]):.3f} at mu < 25, "
          f"{np.median(t['charged_pt_frac'][hi_mu]):.3f} at mu > 45")
    rho = spearman_at_fixed_pt({k: v[ok] for k, v in t.items()}, r_e[ok], FEATURES, edges)
    print("Spearman rho(r_E, x) at fixed pT: " + ", ".join(f"{k} {v:+.3f}" for k, v in rho.items()))


def resonance(t: dict[str, np.ndarray], name: str, window: tuple[float, float], res_range: tuple[float, float]) -> None:
    ok = (np.abs(t["eta_true"]) < 2.0) & (t["m_true"] > window[0]) & (t["m_true"] < window[1])
    r_m = t["m_reco"] / t["m_true"]
    for lo, hi in [(300, 500), (500, 700), (700, 1000)]:
        b = ok & (t["pt_true"] >= lo) & (t["pt_true"] < hi)
        if b.sum() < 20:
            continue
        print(f"  {name} mass response pT {lo}-{hi}: {np.median(r_m[b]):.3f} {_verdict(np.median(r_m[b]), 0.90, 1.05)}"
              f" (n = {b.sum()})")
    b = ok & (t["pt_true"] >= 500) & (t["pt_true"] < 1000)
    res = 100 * relative_width(r_m[b])
    print(f"  {name} mass resolution pT 500-1000: {res:.1f} % {_verdict(res, *res_range)}")


def main() -> None:
    given = sys.argv[1:]
    tmp = Path(tempfile.mkdtemp())
    dijet(_table("dijet", given, 0, tmp))
    resonance(_table("wprime", given, 1, tmp), "W/Z", SAMPLES["wprime"][2], (7, 13))
    resonance(_table("zprime_tt", given, 2, tmp), "top", SAMPLES["zprime_tt"][2], (6, 12))


if __name__ == "__main__":
    main()
