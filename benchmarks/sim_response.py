"""Physics check of the simulated detector: uncalibrated energy/mass response and resolution
vs pT_true, the barrel–endcap crack dip, and response–feature correlations at fixed pT.

    .venv/bin/python benchmarks/sim_response.py [TABLE.parquet]   (default: generates 2000
    dijet events with seed 1 into a temporary file)
"""

from __future__ import annotations

import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import numpy as np

from jetcalib.io import read_table
from jetcalib.sim import SimConfig, run_generation
from jetcalib.sim.response import crack_dip, relative_width, spearman_at_fixed_pt

FEATURES = ["em_frac", "em3_frac", "tile0_frac", "charged_pt_frac", "eff_n_clusters", "width", "fem_true"]


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        path = Path(tempfile.mkdtemp()) / "dijet.parquet"
        run_generation("dijet", 2000, 1, (10.0, 60.0), path, SimConfig())
    t, _ = read_table(path, None)
    ok = (t["pt_true"] > 150) & (np.abs(t["eta_true"]) < 2.0)
    n_fin = np.mean(np.all([np.isfinite(t[k]) for k in t if t[k].dtype.kind == "f"], axis=0))
    print(f"{path}: {len(t['event'])} matched jets, {ok.sum()} with pT_true > 150 GeV and |eta| < 2; "
          f"all-finite rows: {100 * n_fin:.2f} %")
    r_e = t["e_reco"] / t["e_true"]
    r_m = t["m_reco"] / np.maximum(t["m_true"], 1e-3)
    edges = np.array([150, 200, 300, 450, 700, 1000, 1500, 2200, 3200])
    print("pT_true bin   median r_E   res_E   median r_m   res_m    n")
    mass_ok = ok & (t["m_true"] > 30)
    for lo, hi_edge in pairwise(edges):
        b = ok & (t["pt_true"] >= lo) & (t["pt_true"] < hi_edge)
        bm = b & mass_ok
        if b.sum() < 20:
            continue
        mm = np.median(r_m[bm]) if bm.sum() > 10 else float("nan")
        rm = relative_width(r_m[bm]) if bm.sum() > 10 else float("nan")
        print(f"{lo:>8.0f}     {np.median(r_e[b]):8.3f}   {100 * relative_width(r_e[b]):5.1f} %   "
              f"{mm:8.3f}   {100 * rm:5.1f} %  {b.sum():5d}")
    hi = ok & (t["pt_true"] > 200)
    print(f"pT_true > 200: energy resolution {100 * relative_width(r_e[hi]):.1f} %, "
          f"mass resolution (m_true > 30) {100 * relative_width(r_m[hi & (t['m_true'] > 30)]):.1f} %")
    sel = (t["pt_true"] > 150)
    inside, outside = crack_dip(np.abs(t["eta_true"][sel]), r_e[sel])
    print(f"crack 1.37<|eta|<1.52: median r_E {inside:.3f} vs {outside:.3f} outside")
    rho = spearman_at_fixed_pt({k: v[ok] for k, v in t.items()}, r_e[ok], FEATURES, edges)
    print("Spearman rho(r_E, x) at fixed pT: " + ", ".join(f"{k} {v:+.3f}" for k, v in rho.items()))


if __name__ == "__main__":
    main()
