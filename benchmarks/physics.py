"""The full physics comparison on the standard sample (issue #7): uncalibrated, numerical
inversion, gradient-boosted trees (LightGBM), a plain MLP with MSE loss, and the DNN of docs/method.md.

    .venv/bin/python benchmarks/physics.py --train dijet_train.parquet --test dijet_test.parquet \\
        [--wprime wprime_test.parquet] [--top top_test.parquet] \\
        [--dnn MODEL_DIR] [--mlp MODEL_DIR] [--alt dijet_alt_test.parquet] [--out benchmarks/results]

Writes ``OUT/physics.md`` (tables), ``OUT/physics.json`` (every number) and ``OUT/figures/*.png``.
``--alt`` (a ``dijet_alt`` test table: altered shower and hadronisation) adds the generator
dependence (``jetcalib.evaluate.generator_shift``, docs/evaluation.md#generator-dependence).
Models not given are trained here on --train with the default budget (the DNN with the default
config, the MSE MLP with the same trunk and budget but none of the [ours] choices). LightGBM needs
``pip install lightgbm`` (not a jetcalib dependency: it is only the peer we compare against).

Definitions (docs/method.md#terms, #evaluation): response r = X_cal / X_true; closure = median r; resolution =
(q84 − q16) / (2 q50). Energy figures use dijet jets with |η_true| < 2; mass figures use jets
with m_true > 50 GeV (dijet), W/Z jets (W′ sample, 60 < m_true < 110 GeV) and top jets
(Z′ → tt̄ sample, 140 < m_true < 200 GeV), all with pT_true > 200 GeV.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _dnn_common import config_with, load_many, read_flat

from jetcalib.dnn import DNNCalibration, DNNConfig, train
from jetcalib.evaluate import (
    PT_BINS,
    Uncalibrated,
    fit_mass_peak,
    generator_shift,
    pileup_slopes,
    sliced_table,
)
from jetcalib.evaluate.metrics import resolution  # the one definition (docs/method.md#terms)
from jetcalib.features import apply_responses, feature_matrix, input_flags
from jetcalib.io import INPUT_FEATURES, atomic_path
from jetcalib.numerical import NumericalCalibration

PT_EDGES = np.array([200, 300, 400, 500, 700, 1000, 1500, 2000, 3000], dtype=float)
#: Truth selections of the mass samples (GeV): the resonance's jets, not its recoil/ISR jets.
MASS_SAMPLES = {"dijet": (50.0, 1e9), "wz": (60.0, 110.0), "top": (140.0, 200.0)}
PEAK_WINDOWS = {"wz": (50.0, 130.0), "top": (120.0, 230.0)}
METHOD_ORDER = ["uncalibrated", "numerical", "lightgbm", "mlp_mse", "dnn"]
LABELS = {"uncalibrated": "uncalibrated", "numerical": "numerical inversion", "lightgbm": "LightGBM (L2)",
          "mlp_mse": "MLP, MSE loss", "dnn": "DNN (default, LGK)"}
#: The MSE MLP: the DNN's trunk and budget without jetcalib's own choices (committed config).
MLP_MSE_CONFIG = Path(__file__).parent / "configs" / "mlp_mse.yaml"


def train_selection(t: dict[str, np.ndarray]) -> np.ndarray:
    return (t["pt_true"] > 150) & (np.abs(t["eta_true"]) < 2.0) & (t["e_reco"] > 0) & (t["m_reco"] > 0)


class LightGBMCalibration:
    """Two LightGBM regressors of ln r_E and ln r_m (L2 loss: the mean of the log response)
    on the same 21 inputs as the DNN, applied with the same flag logic."""

    def __init__(self, n_threads: int = 2) -> None:
        self.n_threads = n_threads
        self.models: dict[str, Any] = {}
        self.required_columns = ("e_reco", "m_reco", "eta_reco", *INPUT_FEATURES)

    def fit(self, t: dict[str, np.ndarray], seed: int = 7) -> LightGBMCalibration:
        import lightgbm as lgb

        sel = train_selection(t)
        x = feature_matrix(t, INPUT_FEATURES)[sel]
        targets = {"e": np.log(t["e_reco"][sel] / t["e_true"][sel]),
                   "m": np.log(t["m_reco"][sel] / np.maximum(t["m_true"][sel], 1e-3))}
        mass_ok = t["m_true"][sel] > 10.0
        rng = np.random.default_rng(seed)
        is_val = rng.random(len(x)) < 0.15
        for key, y in targets.items():
            use = np.all(np.isfinite(x), axis=1) & np.isfinite(y) & (mass_ok if key == "m" else True)
            tr, va = use & ~is_val, use & is_val
            params = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 127,
                      "min_data_in_leaf": 100, "bagging_fraction": 0.8, "bagging_freq": 1,
                      "feature_fraction": 0.9, "num_threads": self.n_threads, "seed": seed, "verbose": -1}
            model = lgb.train(params, lgb.Dataset(x[tr], y[tr]), num_boost_round=2000,
                              valid_sets=[lgb.Dataset(x[va], y[va])],
                              callbacks=[lgb.early_stopping(50, verbose=False)])
            self.models[key] = model
        return self

    def calibrate(self, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = feature_matrix(t, INPUT_FEATURES)
        flag = input_flags(t["e_reco"], t["m_reco"], t["eta_reco"], x)
        good = flag == 0
        r_e = np.full(len(x), np.nan)
        r_m = np.full(len(x), np.nan)
        r_e[good] = np.exp(self.models["e"].predict(x[good], num_threads=self.n_threads))
        r_m[good] = np.exp(self.models["m"].predict(x[good], num_threads=self.n_threads))
        return apply_responses(t["e_reco"], t["m_reco"], t["eta_reco"], r_e, r_m, flag)


def pt_bins(pt: np.ndarray, r: np.ndarray, ok: np.ndarray,
            ranges: list[tuple[float, float]] | None = None) -> list[dict[str, float]]:
    """Closure (median) and resolution of the response ``r`` per pT_true bin (≥ 100 jets);
    ``ranges``: these (lo, hi) instead of the PT_EDGES bins."""
    rows = []
    for lo, hi in ranges if ranges is not None else itertools.pairwise(PT_EDGES):
        s = ok & (pt >= lo) & (pt < hi)
        if s.sum() >= 100:
            rows.append({"lo": lo, "hi": hi, "n": int(s.sum()), "closure": float(np.median(r[s])),
                         "resolution": resolution(r[s])})
    return rows


def energy_bins(t: dict[str, np.ndarray], cal: dict[str, np.ndarray]) -> list[dict[str, float]]:
    pt = t["pt_true"]
    ok = (np.abs(t["eta_true"]) < 2.0) & np.isfinite(cal["e_cal"])
    r = cal["e_cal"] / t["e_true"]
    hi_pt = ok & (pt > 500)
    return [*pt_bins(pt, r, ok), {"lo": 500, "hi": float("inf"), "n": int(hi_pt.sum()),
                                  "closure": float(np.median(r[hi_pt])), "resolution": resolution(r[hi_pt])}]


def mass_bins(t: dict[str, np.ndarray], cal: dict[str, np.ndarray], mrange: tuple[float, float]) -> list[dict[str, float]]:
    m_true = t["m_true"]
    ok = (np.abs(t["eta_true"]) < 2.0) & np.isfinite(cal["m_cal"]) & (m_true > mrange[0]) & (m_true < mrange[1])
    return pt_bins(t["pt_true"], cal["m_cal"] / np.where(m_true > 0, m_true, np.nan), ok)


def figure(results: dict, key: str, samples: list[str], ylabel: str, path: Path) -> None:
    from jetcalib.evaluate.plots import setup_style

    setup_style()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(samples), figsize=(6.2 * len(samples), 6.8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.3]}, squeeze=False)
    styles = {"uncalibrated": ("0.55", ":"), "numerical": ("black", "--"), "lightgbm": ("tab:green", "-."),
              "mlp_mse": ("tab:orange", "-"), "dnn": ("tab:red", "-")}
    for j, sample in enumerate(samples):
        ax, rax = axes[0, j], axes[1, j]
        base = {(b["lo"], b["hi"]): b["resolution"] for b in results[sample]["numerical"][key]}
        for method in METHOD_ORDER:
            if method not in results[sample]:
                continue
            bins = [b for b in results[sample][method][key] if np.isfinite(b["hi"])]
            x = [np.sqrt(b["lo"] * b["hi"]) for b in bins]
            y = [b["resolution"] for b in bins]
            c, ls = styles[method]
            ax.plot(x, y, color=c, linestyle=ls, marker="o", markersize=4, label=LABELS[method])
            rax.plot(x, [v / base.get((b["lo"], b["hi"]), np.nan) for v, b in zip(y, bins, strict=True)],
                     color=c, linestyle=ls, marker="o", markersize=4)
        ax.set_xscale("log")
        ax.set_xlim(150, 4000)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, None)
        ax.set_title(SAMPLE_TITLES[sample], fontsize=13)
        if j == 0:  # one legend: the curves are the same in every panel
            ax.legend(fontsize=10, loc="upper right" if key == "energy" else "upper left")
        rax.axhline(1.0, color="black", linewidth=0.8)
        rax.set_ylabel("/ numerical", fontsize=12)
        rax.set_xlabel(r"$p_\mathrm{T}^\mathrm{true}$ [GeV]")
        rax.set_ylim(0.4, 1.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


SAMPLE_TITLES = {"dijet": "dijet jets", "dijet_mass": r"dijet jets, $m^\mathrm{true} > 50$ GeV",
                 "wz": r"W/Z jets ($W'$ sample)", "top": r"top jets ($Z'\to t\bar{t}$)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, nargs="+", help="training table(s), concatenated")
    ap.add_argument("--test", required=True)
    ap.add_argument("--wprime")
    ap.add_argument("--top")
    ap.add_argument("--dnn", help="trained DNN model directory (jetcalib train; else trained here)")
    ap.add_argument("--mlp", help="trained MSE MLP model directory (else trained here)")
    ap.add_argument("--epochs", type=int, help="epochs for models trained here (default: config)")
    ap.add_argument("--alt", help="dijet_alt test table: adds the generator dependence")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)

    train_t, _ = load_many(args.train, 0, 0)
    tests = {"dijet": read_flat(args.test)}
    if args.wprime:
        tests["wz"] = read_flat(args.wprime)
    if args.top:
        tests["top"] = read_flat(args.top)
    n_train = int(train_selection(train_t).sum())
    print(f"train: {' + '.join(args.train)}: {len(train_t['e_true']):,} jets, {n_train:,} pass pT_true > 150, |eta_true| < 2")
    timing: dict[str, float] = {}

    methods: dict[str, Any] = {"uncalibrated": Uncalibrated()}
    t0 = time.perf_counter()
    methods["numerical"] = NumericalCalibration.fit(train_t)
    timing["numerical"] = time.perf_counter() - t0
    print(f"numerical fitted in {timing['numerical']:.0f} s", flush=True)
    try:
        t0 = time.perf_counter()
        methods["lightgbm"] = LightGBMCalibration().fit(train_t)
        timing["lightgbm"] = time.perf_counter() - t0
        print(f"LightGBM fitted in {timing['lightgbm']:.0f} s "
              f"({methods['lightgbm'].models['e'].best_iteration} / "
              f"{methods['lightgbm'].models['m'].best_iteration} trees)", flush=True)
    except ImportError:
        print("LightGBM not installed (pip install lightgbm): skipped")
    for name, given, config_file in (("mlp_mse", args.mlp, MLP_MSE_CONFIG), ("dnn", args.dnn, None)):
        if given:
            methods[name] = DNNCalibration.load(given)
            timing[name] = float(methods[name].summary.get("train_seconds", float("nan")))
            continue
        t0 = time.perf_counter()
        cfg = DNNConfig.from_file(config_file) if config_file else DNNConfig()
        if args.epochs is not None:
            cfg = config_with(cfg, {"training": {"epochs": args.epochs}})
        methods[name] = train(train_t, out / "models" / name, cfg, progress=False)
        timing[name] = time.perf_counter() - t0
        print(f"{name} trained in {timing[name]:.0f} s", flush=True)

    results: dict[str, dict[str, Any]] = {}
    for sample, t in tests.items():
        for method, cal in methods.items():
            c = cal.calibrate(t)
            c = {"e_cal": np.asarray(c["e_cal"], dtype=np.float64), "m_cal": np.asarray(c["m_cal"], dtype=np.float64)}
            entry: dict[str, Any] = {}
            if sample == "dijet":
                entry["energy"] = energy_bins(t, c)
                results.setdefault("dijet_mass", {})[method] = {"mass": mass_bins(t, c, MASS_SAMPLES["dijet"])}
            else:
                entry["mass"] = mass_bins(t, c, MASS_SAMPLES[sample])
                lo, hi = MASS_SAMPLES[sample]
                sel = (t["pt_true"] > 200) & (np.abs(t["eta_true"]) < 2.0) & (t["m_true"] > lo) & (t["m_true"] < hi)
                entry["peak"] = fit_mass_peak(c["m_cal"][sel], PEAK_WINDOWS[sample])
                entry["peak_true"] = fit_mass_peak(t["m_true"][sel], PEAK_WINDOWS[sample])
            results.setdefault(sample, {})[method] = entry
    # pile-up stability: closure slopes d(median)/dμ and d(median)/dNPV per pT_true bin (dijet)
    dijet_out = {m: dict(cal.calibrate(tests["dijet"])) for m, cal in methods.items()}
    results["pileup_slopes"] = [r for v in ("mu", "npv") for r in pileup_slopes(
        sliced_table(tests["dijet"], dijet_out, v, "pt_true", PT_BINS))]
    if args.alt:
        alt = read_flat(args.alt)
        results["generator_shift"] = generator_shift(
            tests["dijet"], dijet_out,
            alt, {m: dict(cal.calibrate(alt)) for m, cal in methods.items()})
    write_markdown(out, results, args, n_train, timing, {k: len(v["e_true"]) for k, v in tests.items()})
    figure(results, "energy", ["dijet"], r"$E$ resolution $(q_{84}-q_{16})/2q_{50}$", out / "figures" / "energy_resolution.png")
    mass_samples = [s for s in ("dijet_mass", "wz", "top") if s in results]
    figure(results, "mass", mass_samples, r"$m$ resolution $(q_{84}-q_{16})/2q_{50}$", out / "figures" / "mass_resolution.png")
    with atomic_path(out / "physics.json") as tmp:
        tmp.write_text(json.dumps({"results": results, "timing_s": timing, "n_train": n_train}, indent=1))
    print(f"wrote {out / 'physics.md'}, {out / 'physics.json'}, {out / 'figures'}/")


def _fmt_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_markdown(out: Path, results: dict, args: argparse.Namespace, n_train: int,
                   timing: dict[str, float], n_test: dict[str, int]) -> None:
    present = [m for m in METHOD_ORDER if m in results["dijet"]]
    lines_alt = _generator_lines(results.get("generator_shift", []), present, args.alt)
    lines_pu = _pileup_lines(results.get("pileup_slopes", []), present)
    lines = ["# Physics comparison on the standard sample", "",
             "Produced by:", "", "```",
             "python benchmarks/physics.py --train " + " ".join(args.train) + " --test " + args.test
             + (f" --wprime {args.wprime}" if args.wprime else "") + (f" --top {args.top}" if args.top else "")
             + (f" --dnn {args.dnn}" if args.dnn else "") + (f" --mlp {args.mlp}" if args.mlp else "")
             + (f" --alt {args.alt}" if args.alt else ""),
             "```", "",
             f"Training: {n_train:,} dijet jets (pT_true > 150 GeV, |η_true| < 2). Test jets: "
             + ", ".join(f"{k} {v:,}" for k, v in n_test.items()) + " (independent seeds).",
             "Resolution = (q84 − q16)/(2·q50) of X_cal/X_true; closure = median of X_cal/X_true.",
             "Training time [s]: " + ", ".join(f"{LABELS[k]} {v:.0f}" for k, v in timing.items()) + ".", ""]
    # headline
    hi = {m: next(b for b in results["dijet"][m]["energy"] if not np.isfinite(b["hi"])) for m in present}
    lines += ["## Headline (dijet jets, pT_true > 500 GeV, |η_true| < 2)", "",
              _fmt_row(["method", "E resolution", "vs numerical", "E closure"]), "|---|---|---|---|"]
    for m in present:
        lines.append(_fmt_row([LABELS[m], f"{hi[m]['resolution']:.4f}",
                               f"{hi[m]['resolution'] / hi['numerical']['resolution'] - 1:+.1%}",
                               f"{hi[m]['closure']:.4f}"]))
    for sample in ("wz", "top"):
        if sample not in results:
            continue
        lines += ["", f"## Mass peak, {SAMPLE_TITLES[sample]}, pT_true > 200 GeV", "",
                  _fmt_row(["method", "peak [GeV]", "σ core [GeV]", "σ/peak"]), "|---|---|---|---|"]
        t = next(iter(results[sample].values()))["peak_true"]
        lines.append(_fmt_row(["truth", f"{t['position']:.1f}", f"{t['width']:.1f}", f"{t['relative_width']:.3f}"]))
        for m in present:
            p = results[sample][m]["peak"]
            lines.append(_fmt_row([LABELS[m], f"{p['position']:.1f}", f"{p['width']:.1f}", f"{p['relative_width']:.3f}"]))
    for title, sample, key in (("Energy resolution and closure vs pT_true (dijet)", "dijet", "energy"),
                               ("Mass resolution and closure vs pT_true, dijet m_true > 50 GeV", "dijet_mass", "mass"),
                               ("Mass resolution and closure vs pT_true, W/Z jets", "wz", "mass"),
                               ("Mass resolution and closure vs pT_true, top jets", "top", "mass")):
        if sample not in results:
            continue
        lines += ["", f"## {title}", "", "Each cell: resolution (closure).", "",
                  _fmt_row(["pT_true [GeV]", "jets", *[LABELS[m] for m in present]]),
                  "|---|---|" + "---|" * len(present)]
        for i, b in enumerate(results[sample]["numerical"][key]):
            rng = f"{b['lo']:.0f}–{b['hi']:.0f}" if np.isfinite(b["hi"]) else f"> {b['lo']:.0f}"
            cells = [f"{results[sample][m][key][i]['resolution']:.4f} ({results[sample][m][key][i]['closure']:.3f})"
                     for m in present]
            lines.append(_fmt_row([rng, f"{b['n']:,}", *cells]))
    lines += lines_pu
    lines += lines_alt
    lines += ["", "## Figures", "", "![energy resolution](figures/energy_resolution.png)", "",
              "![mass resolution](figures/mass_resolution.png)", ""]
    with atomic_path(out / "physics.md") as tmp:
        tmp.write_text("\n".join(lines))


def _pileup_lines(rows: list[dict], present: list[str]) -> list[str]:
    """physics.md's pile-up stability table: closure slope per unit of μ and of NPV, per pT bin."""
    if not rows:
        return []
    lines = ["", "## Pile-up stability (dijet)", "",
             "Each cell: d(median response)/dμ, d(median response)/dNPV in units of 10⁻⁴ per interaction "
             "(weighted straight-line fit of the binned medians), ± fit error.", "",
             _fmt_row(["quantity", "pT_true [GeV]", *[LABELS[m] for m in present]]), "|---|---|" + "---|" * len(present)]
    index = {(r["method"], r["quantity"], r["variable"], r["pt_lo"]): r for r in rows}
    for q, lo, hi in dict.fromkeys((r["quantity"], r["pt_lo"], r["pt_hi"]) for r in rows):
        cells = []
        for m in present:
            part = []
            for v in ("mu", "npv"):
                r = index.get((m, q, v, lo))
                part.append("–" if r is None or not np.isfinite(r["slope"])
                            else f"{1e4 * r['slope']:+.1f} ± {1e4 * r['slope_err']:.1f}")
            cells.append(", ".join(part))
        hi_s = f"{hi:.0f}" if np.isfinite(hi) else "∞"
        lines.append(_fmt_row([q, f"{lo:.0f}–{hi_s}", *cells]))
    return lines


def _generator_lines(rows: list[dict], present: list[str], alt: str | None) -> list[str]:
    """physics.md's generator-dependence table: altered − nominal per method and pT_true bin."""
    if not rows:
        return []
    lines = ["", f"## Generator dependence (dijet vs dijet_alt, {alt})", "",
             "Each cell: Δ median closure / Δ resolution (altered − nominal), ± bootstrap errors in quadrature.", "",
             _fmt_row(["quantity", "pT_true [GeV]", *[LABELS[m] for m in present]]), "|---|---|" + "---|" * len(present)]
    index = {(r["method"], r["quantity"], r["pt_lo"]): r for r in rows}
    for q, lo, hi in dict.fromkeys((r["quantity"], r["pt_lo"], r["pt_hi"]) for r in rows):
        cells = []
        for m in present:
            r = index.get((m, q, lo))
            cells.append("–" if r is None else f"{r['median_shift']:+.4f} ± {r['median_shift_err']:.4f} / "
                         f"{r['resolution_shift']:+.4f} ± {r['resolution_shift_err']:.4f}")
        lines.append(_fmt_row([q, f"{lo:.0f}–{hi:.0f}", *cells]))
    return lines


if __name__ == "__main__":
    main()
