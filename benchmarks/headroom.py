"""Headroom (issue #16): how far is the 21-input DNN from the best calibration these jets allow,
and how much of the gap does a constituent-level network recover?

    .venv/bin/python benchmarks/headroom.py --train dijet_train.parquet --test dijet_test.parquet \\
        --dnn MODELS/dnn --oracle MODELS/oracle --constituent MODELS/constituent \\
        [--oracle-features pileup_frac_true fem_true] [--models-dir MODELS] [--epochs N] \\
        [--md benchmarks/results/headroom.md]

Methods, all applied to the same test jets: uncalibrated, numerical inversion and LightGBM
(fitted here on --train, as in benchmarks/physics.py), the default DNN (``--dnn``), the **oracle**
(the same network and training with the simulator's hidden truth added to its inputs:
``DNNConfig.oracle_features``, docs/method.md#oracle) and the constituent network (``--constituent``,
``inputs: constituents``, docs/method.md#constituent-network). A model directory that is not given
is trained here into ``--models-dir`` (the oracle with ``--oracle-features``; the constituent
network only if --train has the cl_*/trk_* columns of ``generate --constituents``).

Writes OUT.md (tables), OUT.json (every number) and OUT_resolution.png beside it:
- energy and mass resolution ((q84 − q16)/2q50 of the calibrated response; energy: dijet jets
  with |η_true| < 2; mass: m_true > 50 GeV) per pT_true bin and above 500 GeV, and the median
  closure, for every method;
- the fraction of the numerical → oracle gap each method closes,
  (σ_numerical − σ_method) / (σ_numerical − σ_oracle);
- the constituent network against the DNN: energy resolution above 500 GeV (relative), and the
  mass resolution in every (pT_true, m_true) bin with at least 500 jets.

The oracle's figure is a bound for calibrations of the *measured* jet only in as far as its
hidden-truth inputs are things no measurement can know; with all six oracle features the energy
budget of the jet nearly closes (e_true ≈ e_reco − pile-up + invisible + out-of-cluster +
out-of-cone) and the bound is close to trivial, so run it also with
``--oracle-features pileup_frac_true fem_true`` (pile-up and shower-type knowledge only).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _dnn_common import M_EDGES, PT_EDGES, read_jets
from physics import LightGBMCalibration, pt_bins

from jetcalib.dnn import ORACLE_FEATURES, DNNCalibration, DNNConfig, train
from jetcalib.evaluate import Uncalibrated
from jetcalib.evaluate.metrics import resolution
from jetcalib.io import atomic_path
from jetcalib.numerical import NumericalCalibration

METHODS = ["uncalibrated", "numerical", "lightgbm", "dnn", "constituent", "oracle"]
LABELS = {"uncalibrated": "uncalibrated", "numerical": "numerical inversion", "lightgbm": "LightGBM",
          "dnn": "DNN (21 inputs)", "constituent": "constituent network", "oracle": "oracle (hidden truth)"}
#: Mass bins need at least this many jets (issue #16's criterion).
MIN_MASS_BIN = 500


def responses(t: dict[str, Any], cal: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(r_E, r_m, energy selection, mass selection) of a calibrated test table."""
    r_e = np.asarray(cal["e_cal"], dtype=np.float64) / t["e_true"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_m = np.asarray(cal["m_cal"], dtype=np.float64) / t["m_true"]
    base = (np.abs(t["eta_true"]) < 2.0) & (t["pt_true"] > PT_EDGES[0])
    ok_e = base & np.isfinite(r_e)
    ok_m = base & np.isfinite(r_m) & (t["m_true"] > 50.0)
    return r_e, r_m, ok_e, ok_m


def pt_rows(pt: np.ndarray, r: np.ndarray, ok: np.ndarray) -> list[dict[str, float]]:
    """physics.py's per-pT_true-bin closure and resolution, and the same above 500 GeV."""
    return pt_bins(pt, r, ok, [*itertools.pairwise(PT_EDGES), (500.0, np.inf)])


def mass_grid(t: dict[str, Any], r_m: np.ndarray, ok_m: np.ndarray) -> dict[tuple[float, float, float, float], float]:
    """Mass resolution per (pT_true, m_true) bin with at least MIN_MASS_BIN jets."""
    out = {}
    for lo, hi in itertools.pairwise(PT_EDGES):
        for mlo, mhi in itertools.pairwise(M_EDGES):
            s = ok_m & (t["pt_true"] >= lo) & (t["pt_true"] < hi) & (t["m_true"] >= mlo) & (t["m_true"] < mhi)
            if s.sum() >= MIN_MASS_BIN:
                out[(float(lo), float(hi), float(mlo), float(mhi))] = resolution(r_m[s])
    return out


def gap_closed(num: float, method: float, oracle: float) -> float:
    """Share of the numerical → oracle resolution gap a method closes (NaN without a gap)."""
    return (num - method) / (num - oracle) if num - oracle > 1e-9 else float("nan")


def model_or_train(name: str, given: str | None, models_dir: Path | None, cfg: DNNConfig, train_t: dict[str, Any],
                   timing: dict[str, float]) -> DNNCalibration | None:
    if given:
        model = DNNCalibration.load(given)
        timing[name] = float(model.summary.get("train_seconds", float("nan")))
        return model
    if models_dir is None:
        return None
    target = models_dir / name
    if (target / "artifact.json").is_file():
        model = DNNCalibration.load(target)
        if model.config != cfg:
            sys.exit(f"headroom: {target} holds a model of another config; remove it or pass it explicitly")
        timing[name] = float(model.summary.get("train_seconds", float("nan")))
        return model
    print(f"training {name} into {target} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    model = train(train_t, target, cfg, progress=False)
    timing[name] = time.perf_counter() - t0
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="training table (for numerical, LightGBM and models trained here)")
    ap.add_argument("--test", required=True, help="test table (with the cl_*/trk_* columns for the constituent network)")
    ap.add_argument("--dnn", help="trained default DNN model directory")
    ap.add_argument("--oracle", help="trained oracle model directory (oracle_features set)")
    ap.add_argument("--constituent", help="trained constituent-network model directory (inputs: constituents)")
    ap.add_argument("--oracle-features", nargs="+", default=list(ORACLE_FEATURES),
                    choices=list(ORACLE_FEATURES), help="oracle inputs of an oracle trained here (default: all)")
    ap.add_argument("--models-dir", type=Path, help="train models not given into DIR/<name> (reused if there)")
    ap.add_argument("--epochs", type=int, help="epochs of models trained here (default: the config's)")
    ap.add_argument("--no-lightgbm", action="store_true", help="skip LightGBM")
    ap.add_argument("--md", default="benchmarks/results/headroom.md", help="output markdown (json, png beside)")
    args = ap.parse_args()
    md = Path(args.md)
    md.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    need_constituents_train = args.constituent is None and args.models_dir is not None
    train_t = read_jets(args.train, constituents=need_constituents_train)
    test_t = read_jets(args.test, constituents=True)
    print(f"read {len(train_t['e_true']):,} training and {len(test_t['e_true']):,} test jets in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    timing: dict[str, float] = {}
    methods: dict[str, Any] = {"uncalibrated": Uncalibrated()}
    t0 = time.perf_counter()
    methods["numerical"] = NumericalCalibration.fit(train_t)
    timing["numerical"] = time.perf_counter() - t0
    if not args.no_lightgbm:
        try:
            t0 = time.perf_counter()
            methods["lightgbm"] = LightGBMCalibration().fit(train_t)
            timing["lightgbm"] = time.perf_counter() - t0
        except ImportError:
            print("LightGBM not installed (pip install lightgbm): skipped", file=sys.stderr)

    def budget(cfg: DNNConfig) -> DNNConfig:
        if args.epochs is None:
            return cfg
        raw = cfg.model_dump()
        raw["training"]["epochs"] = args.epochs
        return DNNConfig.model_validate(raw)

    configs = {"dnn": budget(DNNConfig()),
               "oracle": budget(DNNConfig(oracle_features=args.oracle_features)),
               "constituent": budget(DNNConfig(inputs="constituents"))}
    for name, given in (("dnn", args.dnn), ("oracle", args.oracle), ("constituent", args.constituent)):
        if name == "constituent" and given is None and "cl_e" not in train_t:
            continue
        model = model_or_train(name, given, args.models_dir, configs[name], train_t, timing)
        if model is not None:
            methods[name] = model
    del train_t

    results: dict[str, Any] = {"energy": {}, "mass": {}, "mass_grid": {}}
    for name, method in methods.items():
        t0 = time.perf_counter()
        r_e, r_m, ok_e, ok_m = responses(test_t, method.calibrate(test_t))
        results["energy"][name] = pt_rows(test_t["pt_true"], r_e, ok_e)
        results["mass"][name] = pt_rows(test_t["pt_true"], r_m, ok_m)
        results["mass_grid"][name] = mass_grid(test_t, r_m, ok_m)
        print(f"{name}: calibrated and evaluated in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    oracle_info = None
    if "oracle" in methods:
        oracle_info = methods["oracle"].config.oracle_features
    verdict = summarise(results)
    write_markdown(md, results, verdict, args, timing, oracle_info, len(test_t["e_true"]))
    figure(results, md.with_name(md.stem + "_resolution.png"))
    grid = {name: [[*k, v] for k, v in g.items()] for name, g in results["mass_grid"].items()}
    with atomic_path(md.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"energy": results["energy"], "mass": results["mass"], "mass_grid": grid,
                                   "verdict": verdict, "timing_s": timing, "oracle_features": oracle_info},
                                  indent=1, default=float))
    print(f"wrote {md}, {md.with_suffix('.json')}, {md.with_name(md.stem + '_resolution.png')}")


def _at(rows: list[dict[str, float]], lo: float, hi: float) -> dict[str, float] | None:
    return next((r for r in rows if r["lo"] == lo and r["hi"] == hi), None)


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures: gap closed above 500 GeV, constituent vs DNN."""
    v: dict[str, Any] = {}
    e, m = results["energy"], results["mass"]
    if "oracle" in e and "numerical" in e:
        for var, table in (("energy", e), ("mass", m)):
            num, ora = _at(table["numerical"], 500, np.inf), _at(table["oracle"], 500, np.inf)
            if num and ora:
                v[f"{var}_gap_closed_500"] = {
                    name: gap_closed(num["resolution"], _at(rows, 500, np.inf)["resolution"], ora["resolution"])
                    for name, rows in table.items() if _at(rows, 500, np.inf)}
    if "constituent" in e and "dnn" in e:
        c, d = _at(e["constituent"], 500, np.inf), _at(e["dnn"], 500, np.inf)
        if c and d:
            v["constituent_vs_dnn_energy_500"] = c["resolution"] / d["resolution"] - 1
        gc, gd = results["mass_grid"]["constituent"], results["mass_grid"]["dnn"]
        common = [k for k in gd if k in gc]
        better = sum(gc[k] < gd[k] for k in common)
        v["constituent_mass_bins_better"] = [better, len(common)]
        v["criterion_energy_10pct"] = bool(v.get("constituent_vs_dnn_energy_500", 0) <= -0.10)
        v["criterion_mass_80pct"] = bool(common) and better >= 0.8 * len(common)
    return v


def _fmt(x: float) -> str:
    return f"{100 * x:.2f}" if np.isfinite(x) else "-"


def write_markdown(md: Path, results: dict[str, Any], verdict: dict[str, Any], args: argparse.Namespace,
                   timing: dict[str, float], oracle_features: list[str] | None, n_test: int) -> None:
    present = [m for m in METHODS if m in results["energy"]]
    lines = ["# Headroom: the oracle bound and the constituent network", "",
             f"Produced by `benchmarks/headroom.py` on {time.strftime('%Y-%m-%d')}. Train: `{args.train}`; "
             f"test: `{args.test}` ({n_test:,} jets). Oracle inputs: "
             f"{', '.join(oracle_features) if oracle_features else 'none (no oracle)'}.", "",
             "Resolution = (q84 − q16) / (2 q50) of the calibrated response, in %; closure = median "
             "response. Energy: |η_true| < 2; mass: m_true > 50 GeV.", ""]
    for var in ("energy", "mass"):
        table = results[var]
        lines += [f"## {var.capitalize()} resolution (%) per pT_true bin", "",
                  "| pT_true [GeV] | jets | " + " | ".join(LABELS[m] for m in present) + " |",
                  "|---|---|" + "---|" * len(present)]
        for row in table["numerical"]:
            lo, hi = row["lo"], row["hi"]
            label = f"> {lo:.0f}" if not np.isfinite(hi) else f"{lo:.0f}–{hi:.0f}"
            cells = [_fmt(r["resolution"]) if (r := _at(table[m], lo, hi)) else "-" for m in present]
            lines.append(f"| {label} | {row['n']:,} | " + " | ".join(cells) + " |")
        lines += ["", f"{var.capitalize()} closure (median response) above 500 GeV: " + ", ".join(
            f"{LABELS[m]} {r['closure']:.3f}" for m in present if (r := _at(table[m], 500, np.inf))), ""]
        if "oracle" in present:
            lines += [f"Share of the numerical → oracle {var} gap closed, per pT_true bin:", "",
                      "| pT_true [GeV] | " + " | ".join(LABELS[m] for m in present if m not in ("numerical", "oracle"))
                      + " |", "|---|" + "---|" * (len(present) - 2)]
            for row in table["numerical"]:
                lo, hi = row["lo"], row["hi"]
                ora = _at(table["oracle"], lo, hi)
                if ora is None:
                    continue
                label = f"> {lo:.0f}" if not np.isfinite(hi) else f"{lo:.0f}–{hi:.0f}"
                cells = [f"{gap_closed(row['resolution'], r['resolution'], ora['resolution']):+.0%}"
                         if (r := _at(table[m], lo, hi)) else "-" for m in present if m not in ("numerical", "oracle")]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    if "constituent_mass_bins_better" in verdict:
        better, n = verdict["constituent_mass_bins_better"]
        gd, gc = results["mass_grid"]["dnn"], results["mass_grid"]["constituent"]
        lines += ["## Constituent network against the DNN", "",
                  f"- Energy resolution above 500 GeV: {verdict.get('constituent_vs_dnn_energy_500', float('nan')):+.1%} "
                  f"(criterion ≤ −10 %: {'PASS' if verdict['criterion_energy_10pct'] else 'FAIL'}).",
                  f"- Mass resolution better in {better} of {n} (pT_true, m_true) bins with ≥ {MIN_MASS_BIN} jets "
                  f"(criterion ≥ 80 %: {'PASS' if verdict['criterion_mass_80pct'] else 'FAIL'}).", "",
                  "| pT_true [GeV] | m_true [GeV] | DNN | constituent | oracle |", "|---|---|---|---|---|"]
        go = results["mass_grid"].get("oracle", {})
        for k in gd:
            if k in gc:
                lines.append(f"| {k[0]:.0f}–{k[1]:.0f} | {k[2]:.0f}–{k[3]:.0f} | {_fmt(gd[k])} | {_fmt(gc[k])} | "
                             f"{_fmt(go[k]) if k in go else '-'} |")
        lines.append("")
    lines += ["## Training time (s)", "", ", ".join(f"{k} {v:.0f}" for k, v in timing.items()), ""]
    with atomic_path(md) as tmp:
        tmp.write_text("\n".join(lines))


def figure(results: dict[str, Any], path: Path) -> None:
    from jetcalib.evaluate.plots import setup_style

    setup_style()
    import matplotlib.pyplot as plt

    styles = {"uncalibrated": ("0.55", ":"), "numerical": ("black", "--"), "lightgbm": ("tab:green", "-."),
              "dnn": ("tab:red", "-"), "constituent": ("tab:blue", "-"), "oracle": ("tab:purple", ":")}
    fig, axes = plt.subplots(1, 2, figsize=(12.4, 4.8))
    for ax, var in zip(axes, ("energy", "mass"), strict=True):
        for name, rows in results[var].items():
            rows = [r for r in rows if np.isfinite(r["hi"])]
            x = [np.sqrt(r["lo"] * r["hi"]) for r in rows]
            color, ls = styles.get(name, ("gray", "-"))
            ax.plot(x, [r["resolution"] for r in rows], color=color, ls=ls, marker="o", ms=3, label=LABELS[name])
        ax.set_xscale("log")
        ax.set_xlabel(r"$p_T^{true}$ [GeV]")
        ax.set_ylabel(f"{'E' if var == 'energy' else 'm'} resolution " + r"$(q_{84}-q_{16})/2q_{50}$")
        ax.legend(fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
