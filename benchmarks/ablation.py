"""Ablation of the DNN's [ours] choices (docs/method.md#network, #loss) on the same data with the same budget:
loss (LGK vs L1 vs MSE), feature annotation, the mass residual path, sample weights.
Writes a Markdown table.

    .venv/bin/python benchmarks/ablation.py [--train T.parquet --test V.parquet]
        [--epochs 12] [--max-jets 100000] [--md ablation.md]

Without --train/--test it runs on toy data (a check of the machinery, not of the physics).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from _dnn_common import config_with, figures, load

from jetcalib.dnn import DNNConfig, train
from jetcalib.io import atomic_path

#: Variant label → config changes relative to the default (committed in configs/ablation.yaml).
VARIANTS: dict[str, dict[str, object]] = {
    v["label"]: v["change"]
    for v in yaml.safe_load((Path(__file__).parent / "configs" / "ablation.yaml").read_text())
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train")
    ap.add_argument("--test")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--max-jets", type=int, default=100_000)
    ap.add_argument("--min-mass-jets", type=int, default=500, help="jets per (pT, m) bin to count it")
    ap.add_argument("--md", default="ablation.md", help="Markdown output (default ablation.md)")
    args = ap.parse_args()

    train_t, train_label = load(args.train, 150_000, seed=101)
    test_t, test_label = load(args.test, 100_000, seed=202)
    base = DNNConfig()
    base.training = base.training.model_copy(update={"epochs": args.epochs, "max_jets": args.max_jets})
    base.loss = base.loss.model_copy(update={"anneal_epochs": max(2, args.epochs * 2 // 3)})
    rows = []
    for name, change in VARIANTS.items():
        cfg = config_with(base, change)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            model = train(train_t, Path(d) / "m", cfg, progress=False)
        wall = time.perf_counter() - t0
        f = figures(test_t, model.calibrate(test_t), args.min_mass_jets)
        e_res = np.mean([b[4] for b in f["e_bins"]])
        m_res = np.median([b[6] for b in f["m_bins"]]) if f["m_bins"] else float("nan")
        rows.append((name, f["e_res_500"], e_res, m_res, f["e_closure_300"], f["m_closure_50"], wall))
        print(f"{name}: E res (pT>500) {f['e_res_500']:.4f}, mean E res {e_res:.4f}, median m res "
              f"{m_res:.4f}, E closure {f['e_closure_300']:.4f}, m closure {f['m_closure_50']:.4f}, {wall:.0f} s",
              flush=True)
    lines = [
        "# DNN ablation",
        "",
        "Produced by `python benchmarks/" + " ".join(["ablation.py", *sys.argv[1:]]) + "`.",
        "",
        f"Train: {train_label}, at most {args.max_jets:,} jets, {args.epochs} epochs each. Test: {test_label}.",
        "Resolution = (q84 − q16)/(2·q50) of the calibrated response (docs/method.md#terms); closure = the largest",
        "|median response − 1| over pT_true bins above 300 GeV (energy) or m_true bins above 50 GeV (mass).",
        "",
        f"| variant | E res. pT>500 | mean E res. (pT bins) | median m res. ((pT,m) bins ≥ {args.min_mass_jets} jets) | E closure | m closure | time [s] |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r[0]} | {r[1]:.4f} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.0f} |" for r in rows]
    with atomic_path(args.md) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.md}")


if __name__ == "__main__":
    main()
