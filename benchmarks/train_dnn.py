"""Train the DNN calibration with the default config and measure it against the acceptance
figures: training time and jets/s on this machine, energy/mass resolution vs the numerical
calibration (and uncalibrated), closure.

    .venv/bin/python benchmarks/train_dnn.py [--train T.parquet [T2.parquet ...] --test V.parquet] [--out DIR]
        [--model DIR]   # evaluate a model trained before (e.g. by `jetcalib train`)

Without --train/--test it runs on toy data (300k + 100k jets), which checks the machinery and
the timing but not the physics claims.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _dnn_common import config_with, figures, load, load_many

from jetcalib.dnn import DNNCalibration, DNNConfig, train
from jetcalib.numerical import NumericalCalibration


def print_training_bound(model: DNNCalibration, s: dict) -> None:
    """The fit's jets/s against its FLOP bound (forward + backward FLOPs per jet against the
    fastest float32 matmul here, on the threads the fit used) and the time per phase."""
    from _bounds import describe_rates, matmul_rates, network_flops_per_jet

    threads = int(s.get("threads") or 2)
    flops = network_flops_per_jet(model.net, len(model.features), backward=True)
    rates = matmul_rates(threads, width=model.config.network.width)
    bound = max(rates.values()) / flops
    print(f"training FLOP bound: {flops / 1e6:.2f} MFLOP/jet forward + backward; float32 matmul "
          f"[4096, {model.config.network.width}]^2 on {threads} threads: {describe_rates(rates)} "
          f"-> {bound:,.0f} jets/s; the fit: {s['jets_per_s']:,.0f} jets/s = {s['jets_per_s'] / bound:.0%} "
          f"of the bound ({'PASS' if s['jets_per_s'] >= 55_000 or s['jets_per_s'] >= 0.6 * bound else 'FAIL'}: "
          f"need >= 55k jets/s or >= 60 % of the bound); gemm {s.get('gemm', '?')}, "
          f"compiled {s.get('compiled', False)}")
    phases = s.get("phase_seconds")
    if phases:
        n = s["n_train"] * s["epochs_run"]
        print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
              + f"; epochs {n / max(phases.get('epochs', 0.0), 1e-9):,.0f} jets/s, validation "
              f"{s['n_val'] * s['epochs_run'] / max(phases.get('validation', 0.0), 1e-9):,.0f} jets/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", help="training table(s), concatenated (DNN and numerical)")
    ap.add_argument("--test")
    ap.add_argument("--out", help="model directory (default: a temporary one)")
    ap.add_argument("--model", help="evaluate this trained model directory instead of training one "
                    "(its training time and jets/s are read from its artifact)")
    ap.add_argument("--config")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--max-jets", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--min-mass-jets", type=int, default=500, help="jets per (pT, m) bin to count it")
    args = ap.parse_args()

    train_t, train_label = load_many(args.train, 300_000, seed=101)
    test_t, test_label = load(args.test, 100_000, seed=202)
    cfg = DNNConfig.from_file(args.config) if args.config else DNNConfig()
    upd = {k: v for k, v in {"epochs": args.epochs, "max_jets": args.max_jets, "batch_size": args.batch_size}.items() if v is not None}
    cfg = config_with(cfg, {"training": upd})  # validated: the config is frozen
    print(f"train: {train_label}\ntest:  {test_label}")
    out = args.out or (None if args.model else tempfile.mkdtemp(prefix="dnn-bench-"))

    if args.model:
        model = DNNCalibration.load(args.model)
        out, wall = args.model, float(model.summary["train_seconds"])
    else:
        t0 = time.perf_counter()
        model = train(train_t, out, cfg, progress=True)
        wall = time.perf_counter() - t0
    s = model.summary
    what = "the fit alone, from the artifact" if args.model else "incl. data preparation"
    print(f"\nDNN training: {wall:.0f} s wall ({wall / 60:.1f} min, {what}), "
          f"{s['epochs_run']} epochs, {s['jets_per_s']:,.0f} jets/s, {s['n_train']:,} train + "
          f"{s['n_val']:,} val jets; model in {out}")
    print_training_bound(model, s)

    t0 = time.perf_counter()
    numerical = NumericalCalibration.fit(train_t)
    print(f"numerical calibration fit: {time.perf_counter() - t0:.1f} s")
    uncal = {"e_cal": test_t["e_reco"], "m_cal": test_t["m_reco"]}
    t0 = time.perf_counter()
    # the training-domain flags (7-9) only warn; ignored here so the figures compare with earlier runs
    dnn_out = model.calibrate(test_t, domain="ignore")
    print(f"DNN inference: {len(test_t['e_reco']) / (time.perf_counter() - t0):,.0f} jets/s")
    mj = args.min_mass_jets
    res = {"uncal": figures(test_t, uncal, mj), "numerical": figures(test_t, numerical.calibrate(test_t), mj),
           "dnn": figures(test_t, dnn_out, mj)}

    print("\nEnergy: median response / resolution (q84-q16)/(2 q50) per pT_true bin")
    print(f"{'pT_true [GeV]':>14} {'jets':>7} | {'uncal':>13} | {'numerical':>13} | {'DNN':>13} | DNN/num")
    for b_u, b_n, b_d in zip(*(res[k]["e_bins"] for k in ("uncal", "numerical", "dnn")), strict=True):
        print(f"{b_u[0]:>6.0f}-{b_u[1]:<7.0f} {b_u[2]:>7} | {b_u[3]:.3f} {b_u[4]:.4f} | {b_n[3]:.3f} {b_n[4]:.4f} | "
              f"{b_d[3]:.3f} {b_d[4]:.4f} | {b_d[4] / b_n[4]:.3f}")
    ratio = res["dnn"]["e_res_500"] / res["numerical"]["e_res_500"]
    better_e = all(d[4] < n[4] for n, d in zip(res["numerical"]["e_bins"], res["dnn"]["e_bins"], strict=True))
    m_pairs = list(zip(res["numerical"]["m_bins"], res["dnn"]["m_bins"], strict=True))
    m_better = sum(d[6] < n[6] for n, d in m_pairs)
    print(f"\nE resolution pT_true > 500 GeV: numerical {res['numerical']['e_res_500']:.4f}, "
          f"DNN {res['dnn']['e_res_500']:.4f} -> DNN/numerical = {ratio:.3f} "
          f"({'PASS' if ratio <= 0.75 else 'FAIL'}: need <= 0.75)")
    print(f"DNN better in every pT_true bin above 200 GeV: {'PASS' if better_e else 'FAIL'}")
    frac = m_better / max(len(m_pairs), 1)
    print(f"mass resolution better in {m_better}/{len(m_pairs)} (pT, m_true) bins with >= {mj} jets = "
          f"{frac:.0%} ({'PASS' if frac >= 0.8 else 'FAIL'}: need >= 80 %)")
    for name in ("numerical", "dnn"):
        r = res[name]
        print(f"{name:>9} closure: max |median E resp - 1| (pT>300) = {r['e_closure_300']:.4f} "
              f"{'PASS' if r['e_closure_300'] < 0.01 else 'FAIL'}; max |median m resp - 1| "
              f"(m_true>50) = {r['m_closure_50']:.4f} {'PASS' if r['m_closure_50'] < 0.03 else 'FAIL'}")
        print(f"{'':>9}   with the mode: max |mode E resp - 1| (pT>300) = {r['e_mode_closure_300']:.4f}; "
              f"max |mode m resp - 1| (m_true>50) = {r['m_mode_closure_50']:.4f}")
    # Jets the DNN leaves uncalibrated (flags 1, 2, 4, 5: docs/flags.md) keep their reco
    # kinematics: the same figure on the jets it calibrates fully (flag 0).
    both = dnn_out["calib_flag"] == 0
    sub = {k: v[both] for k, v in test_t.items()}
    r_n = figures(sub, {k: v[both] for k, v in numerical.calibrate(test_t).items()}, mj)["e_res_500"]
    r_d = figures(sub, {k: v[both] for k, v in dnn_out.items()}, mj)["e_res_500"]
    print(f"E resolution pT_true > 500 GeV on the jets the DNN calibrates (calib_flag 0, "
          f"{int((~both).sum()):,} of {both.size:,} left out): numerical {r_n:.4f}, DNN {r_d:.4f} "
          f"-> {r_d / r_n:.3f}")
    flags = np.bincount(dnn_out["calib_flag"].astype(int), minlength=10)
    print(f"DNN calib_flag counts: {dict(enumerate(flags.tolist()))}")


if __name__ == "__main__":
    main()
