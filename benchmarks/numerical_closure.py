"""Numerical calibration on simulated dijets: JES closure and energy resolution vs uncalibrated.

Usage (train and test from different seeds)::

    jetcalib generate --process dijet --events 16000 --seed 1001 --out /tmp/sim/train.parquet
    jetcalib generate --process dijet --events 8000  --seed 2002 --out /tmp/sim/test.parquet
    .venv/bin/python benchmarks/numerical_closure.py /tmp/sim/train.parquet /tmp/sim/test.parquet

Acceptance: |median(E_cal/E_true) − 1| < 2 % in every pT_true bin above 200 GeV (|η_true| < 2)
and energy resolution (q84 − q16)/(2·q50) not worse than uncalibrated beyond the bootstrap
uncertainty. Exit code 1 if a check fails.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from jetcalib.evaluate import binned_metrics
from jetcalib.io import read_table
from jetcalib.numerical import FIT_COLUMNS, NumericalCalibration

PT_EDGES = np.array([200, 250, 300, 400, 500, 700, 1000, 1500, 3000.0])


def main(train: str, test: str) -> int:
    t0 = time.perf_counter()
    table, _ = read_table(train, FIT_COLUMNS)
    cal = NumericalCalibration.fit(table)
    fit_s = time.perf_counter() - t0
    cols = ("e_true", "pt_true", "eta_true", "m_true", "e_reco", "m_reco", "eta_reco", "eta")
    tt, _ = read_table(test, cols)
    out = cal.calibrate(tt)
    sel = (tt["pt_true"] > 200) & (np.abs(tt["eta_true"]) < 2.0)
    pt = tt["pt_true"][sel].astype(np.float64)
    cal_r = out["e_cal"][sel] / tt["e_true"][sel]
    raw_r = tt["e_reco"][sel] / tt["e_true"][sel]
    c = binned_metrics(cal_r, pt, PT_EDGES, n_boot=100, seed=1)
    u = binned_metrics(raw_r, pt, PT_EDGES, n_boot=100, seed=1)
    print(f"train {len(table['e_true']):,} jets (fit {fit_s:.1f} s), test {int(sel.sum()):,} jets with "
          "pT_true > 200 GeV, |eta_true| < 2")
    print(f"{'pT_true [GeV]':>15} {'n':>6} {'raw median':>10} {'cal median':>10} {'cal mode':>9} "
          f"{'res raw':>8} {'res cal':>8} {'± err':>7}")
    ok = True
    for i in range(len(PT_EDGES) - 1):
        if not np.isfinite(c["median"][i]):
            continue
        closure_ok = abs(c["median"][i] - 1) < 0.02
        err = np.hypot(c["resolution_err"][i], u["resolution_err"][i])
        res_ok = c["resolution"][i] <= u["resolution"][i] + 2 * err
        ok &= closure_ok and res_ok
        print(f"{PT_EDGES[i]:>6.0f}-{PT_EDGES[i + 1]:<6.0f}  {int(c['n'][i]):>6} {u['median'][i]:>10.4f} "
              f"{c['median'][i]:>10.4f} {c['mode'][i]:>9.4f} {u['resolution'][i]:>8.4f} "
              f"{c['resolution'][i]:>8.4f} {err:>7.4f} {'' if closure_ok and res_ok else '  FAIL'}")
    print("max |closure - 1| =", f"{np.nanmax(np.abs(c['median'] - 1)):.4f}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:] or ["/tmp/sim/train.parquet", "/tmp/sim/test.parquet"]
    sys.exit(main(*args))
