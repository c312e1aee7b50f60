"""The four output heads on the same data and budget (issue #15): ablation, coverage of the
predicted uncertainties per bin before and after the width recalibration, the ranking of jets
by predicted resolution, resolution-weighted mass peaks, and the acceptance criteria.

    .venv/bin/python benchmarks/heads.py --train dijet_train.parquet --test dijet_test.parquet \\
        [--wprime wprime_test.parquet] [--top top_test.parquet] [--max-jets 100000] [--epochs N] \\
        [--models-dir DIR] [--threads 2] [--config BASE.yaml] [--energy-prior flat|generated] \\
        --md benchmarks/results/heads.md

Trains ``mode``, ``density``, ``quantile`` and ``gaussian`` (the default config, or ``--config``,
with ``head`` set; ``--max-jets``/``--epochs`` override training.max_jets/epochs; the
probabilistic heads' energy loss takes the flattening weights unless ``--energy-prior generated``) into
``DIR/<head>``; a model already there is reused when its stored config is the one asked for
(and, for a probabilistic head, it holds a width recalibration), else it is replaced. Writes
``OUT.md`` (tables, PASS/FAIL), ``OUT.json`` (every number) and ``OUT_pit.png`` (PIT histograms
before and after the recalibration) beside it.

Definitions (docs/method.md#terms, #heads, #width-recalibration; docs/evaluation.md#probabilistic-heads):
resolution = (q84 − q16)/(2 q50) of X_cal/X_true (``jetcalib.evaluate.metrics.resolution``);
closure = median of X_cal/X_true. Energy figures: dijet jets with |η_true| < 2, pT_true > 500
GeV (resolution) or > 200 GeV (coverage); mass figures: m_true > 50 GeV, pT_true > 200 GeV.
Coverage compares the predicted distribution of r = reco/true (the network's, before the residual
closure) with the true r of each calibrated jet (calib_flag 0): 68 % = fraction inside
[q16, q84], 95 % = fraction with PIT in [0.025, 0.975].
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _dnn_common import PT_EDGES, load_many, read_jets

from jetcalib.dnn import DNNCalibration, DNNConfig, train
from jetcalib.errors import ArtifactError
from jetcalib.evaluate.coverage import CENTRAL_68, coverage_table, interval_coverage, pit_histogram
from jetcalib.evaluate.massfit import MASS_WINDOWS, fit_mass_peak
from jetcalib.evaluate.metrics import (
    resolution,  # the one definition (docs/method.md#terms)
)
from jetcalib.io import CONSTITUENT_COLUMNS, atomic_path

HEADS = ("mode", "density", "quantile", "gaussian")
PROBABILISTIC = ("density", "quantile", "gaussian")
#: m_true / pT_true bins of the per-bin coverage.
MPT_EDGES = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 1.0])
#: Truth selections (GeV) of the mass figures and of the resonance samples (as benchmarks/physics.py).
MASS_MIN = 50.0
MASS_SAMPLES = {"wz": (60.0, 110.0), "top": (140.0, 200.0)}
SAMPLE_TITLES = {"wz": "W/Z jets (W′ sample)", "top": "top jets (Z′ → tt̄)"}
#: Tolerances of the coverage criteria (or 3 binomial standard errors where a bin is small).
TOL_68, TOL_95, TOL_PIT, TOL_RES = 0.02, 0.01, 0.10, 0.10
PIT_BINS = 10
TARGETS = (("e", "energy"), ("m", "mass"))


# --- models -------------------------------------------------------------------------------------
def head_config(base: DNNConfig, head: str, max_jets: int | None, epochs: int | None,
                energy_prior: str = "flat") -> DNNConfig:
    """``base`` with ``head`` (and the budget overrides). ``energy_prior`` "flat": a
    probabilistic head's energy loss takes the flattening weights too (training.energy_weights),
    so that its p(r | x) is that of a flat prior in (ln E_true, ln m_true/E_true) on both
    targets, as its mass already is (docs/method.md#heads, "Prior"); "generated": the base's
    setting (the energy loss sees the generated pT-hat spectrum). The mode head keeps the base's."""
    raw = base.model_dump()
    raw["head"] = head
    if head in PROBABILISTIC and energy_prior == "flat":
        raw["training"]["energy_weights"] = True
    if max_jets is not None:
        raw["training"]["max_jets"] = max_jets
    if epochs is not None:
        raw["training"]["epochs"] = epochs
    return DNNConfig.model_validate(raw)


def trained_model(head: str, cfg: DNNConfig, table: dict[str, np.ndarray], models_dir: Path,
                  threads: int) -> tuple[DNNCalibration, str]:
    """The model ``models_dir/head``: reused if its config is ``cfg`` (and a probabilistic one
    has its width recalibration), else trained there; and how it was obtained."""
    d = models_dir / head
    if (d / "artifact.json").is_file():
        try:
            model = DNNCalibration.load(d)
        except ArtifactError as exc:
            print(f"{d}: not reusable ({exc}); training it again", flush=True)
        else:
            fitted = head == "mode" or "width_recalibration" in model.summary
            if model.config.to_document() == cfg.to_document() and fitted:
                return model, "reused"
            print(f"{d}: another config (or no width recalibration); training it again", flush=True)
    if d.exists():
        if not ((d / "artifact.json").exists() or (d / "checkpoints").exists()):
            sys.exit(f"{d}: exists and is not a jetcalib model directory; not replacing it")
        shutil.rmtree(d)
    t0 = time.perf_counter()
    model = train(table, d, cfg, progress=False, threads=threads)
    print(f"{head}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return model, "trained"


# --- per-head figures ---------------------------------------------------------------------------
def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num, dtype=np.float64) / np.asarray(den, dtype=np.float64)


def _nll(model: DNNCalibration, x: np.ndarray, y_e: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-jet (−log p(y_E), −log p(y_m | y_E)) of a density or gaussian head (NaN elsewhere)."""
    import torch

    from jetcalib.dnn.heads import head_loss

    l_e, l_m = np.full(len(x), np.nan), np.full(len(x), np.nan)
    good = np.flatnonzero(np.all(np.isfinite(x), axis=1) & np.isfinite(y_e))
    for start in range(0, good.size, 65536):
        rows = good[start:start + 65536]
        with torch.inference_mode():
            params = model.net.head_params(model._network_rows(x[rows])).double()
            ym = torch.from_numpy(np.nan_to_num(y_m[rows]))
            a, b = head_loss(model.config.head, model.config.head_components, params, torch.from_numpy(y_e[rows]), ym)
        l_e[rows], l_m[rows] = a.numpy(), b.numpy()
    return l_e, l_m


def _log_slope(u: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """log G'(u) of the recalibrated PIT map (piecewise linear through the knots)."""
    grid = np.linspace(0.0, 1.0, knots.size)
    k = np.asarray(knots, dtype=np.float64)
    j = np.clip(np.searchsorted(k, u, side="right") - 1, 0, k.size - 2)
    return np.log((grid[j + 1] - grid[j]) / (k[j + 1] - k[j]))


def _bin_pass(c68: float, e68: float, c95: float, e95: float, pit_dev: float, n: float) -> dict[str, bool]:
    return {"68": bool(abs(c68 - CENTRAL_68) <= max(TOL_68, 3 * e68)),
            "95": bool(abs(c95 - 0.95) <= max(TOL_95, 3 * e95)),
            "pit": bool(pit_dev <= max(TOL_PIT, 3 * np.sqrt(PIT_BINS / n)))}


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def coverage_in_bins(r: np.ndarray, d: dict[str, np.ndarray], u: np.ndarray, t: str, pt: np.ndarray,
                     mpt: np.ndarray, sel: np.ndarray, min_jets: int) -> list[dict[str, Any]]:
    """Per (pT_true, m_true/pT_true) bin with ≥ ``min_jets`` jets: coverage, PIT deviation, PASS."""
    rows = []
    for lo, hi in itertools.pairwise(PT_EDGES):
        s = sel & (pt >= lo) & (pt < hi)
        if s.sum() < min_jets:
            continue
        tab = coverage_table(r[s], d[f"r_{t}_q16"][s], d[f"r_{t}_q50"][s], d[f"r_{t}_q84"][s], mpt[s], MPT_EDGES,
                             pit=u[s], pit_bins=PIT_BINS)
        for i in range(MPT_EDGES.size - 1):
            n = tab["n"][i]
            if n < min_jets:
                continue
            row = {"pt_lo": float(lo), "pt_hi": float(hi), "mpt_lo": float(MPT_EDGES[i]), "mpt_hi": float(MPT_EDGES[i + 1]),
                   "n": int(n), "coverage68": float(tab["coverage68"][i]), "coverage68_err": float(tab["coverage68_err"][i]),
                   "coverage95": float(tab["coverage95"][i]), "coverage95_err": float(tab["coverage95_err"][i]),
                   "pit_max_dev": float(tab["pit_max_dev"][i])}
            row["pass"] = _bin_pass(row["coverage68"], row["coverage68_err"], row["coverage95"], row["coverage95_err"],
                                    row["pit_max_dev"], n)
            rows.append(row)
    return rows


def resolution_ranking(r_cal: np.ndarray, r_true: np.ndarray, d: dict[str, np.ndarray], t: str,
                       sel: np.ndarray) -> dict[str, Any]:
    """Best vs worst quartile of predicted resolution (observed resolution of the calibrated
    response in each) and predicted vs observed resolution per decile."""
    pred = _ratio(d[f"r_{t}_q84"] - d[f"r_{t}_q16"], 2 * d[f"r_{t}_q50"])
    s = sel & np.isfinite(pred) & np.isfinite(r_cal)
    if s.sum() < 40:
        return {"quartile_ratio": None, "deciles": []}
    q25, q75 = np.quantile(pred[s], [0.25, 0.75])
    best, worst = resolution(r_cal[s & (pred <= q25)]), resolution(r_cal[s & (pred >= q75)])
    edges = np.unique(np.quantile(pred[s], np.linspace(0, 1, 11)))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    tab = coverage_table(r_true[s], d[f"r_{t}_q16"][s], d[f"r_{t}_q50"][s], d[f"r_{t}_q84"][s], pred[s], edges)
    deciles = []
    for i in range(edges.size - 1):
        p, o = float(tab["resolution_predicted"][i]), float(tab["resolution_observed"][i])
        deciles.append({"lo": float(edges[i]), "hi": float(edges[i + 1]), "n": int(tab["n"][i]), "predicted": p,
                        "observed": o, "pass": bool(abs(p / o - 1) <= TOL_RES) if o > 0 else False})
    return {"best_quartile": best, "worst_quartile": worst, "quartile_ratio": worst / best if best > 0 else None,
            "deciles": deciles}


def evaluate_head(model: DNNCalibration, test: dict[str, np.ndarray], min_jets: int) -> dict[str, Any]:
    cal = model.calibrate(test)
    pt, eta, m_true = (np.asarray(test[k], dtype=np.float64) for k in ("pt_true", "eta_true", "m_true"))
    e_true = np.asarray(test["e_true"], dtype=np.float64)
    r_e_cal = _ratio(cal["e_cal"], e_true)
    r_m_cal = _ratio(cal["m_cal"], np.where(m_true > 0, m_true, np.nan))
    central = np.abs(eta) < 2.0
    ok_e = central & np.isfinite(r_e_cal)
    ok_m = central & np.isfinite(r_m_cal) & (m_true > MASS_MIN) & (pt > 200)
    hi = ok_e & (pt > 500)
    out: dict[str, Any] = {
        "e_resolution_500": resolution(r_e_cal[hi]), "e_closure_500": float(np.median(r_e_cal[hi])),
        "m_resolution": resolution(r_m_cal[ok_m]), "m_closure": float(np.median(r_m_cal[ok_m])),
        "n_e": int(hi.sum()), "n_m": int(ok_m.sum()), "summary": {k: model.summary.get(k) for k in
                                                                  ("epochs_run", "train_seconds", "n_train", "width_recalibration")},
    }
    if not model.probabilistic:
        return out
    x = model.network_inputs(test)
    r_true = {"e": _ratio(test["e_reco"], e_true), "m": _ratio(test["m_reco"], np.where(m_true > 0, m_true, np.nan))}
    base = central & (pt > 200) & (np.asarray(cal["calib_flag"]) == 0)
    sel = {"e": base, "m": base & (m_true > MASS_MIN)}
    mpt = _ratio(m_true, pt)
    knots = model.net.recal_pit.detach().cpu().numpy().astype(np.float64)
    for stage, rec in (("before", False), ("after", True)):
        d = model.predict_distribution(x, recalibrated=rec)
        u = dict(zip(("e", "m"), model.predict_pit(x, r_true["e"], r_true["m"], recalibrated=rec), strict=True))
        entry: dict[str, Any] = {}
        for t, _ in TARGETS:
            s = sel[t] & np.isfinite(u[t])
            c68, e68 = interval_coverage(r_true[t][s], d[f"r_{t}_q16"][s], d[f"r_{t}_q84"][s])
            c95, e95 = interval_coverage(u[t][s], np.full(int(s.sum()), 0.025), np.full(int(s.sum()), 0.975))
            entry[t] = {"coverage68": c68, "coverage68_err": e68, "coverage95": c95, "coverage95_err": e95,
                        "pit_hist": pit_histogram(u[t][s], PIT_BINS).tolist(),
                        "bins": coverage_in_bins(r_true[t], d, u[t], t, pt, mpt, s, min_jets)}
        entry["ranking_e"] = resolution_ranking(r_e_cal, r_true["e"], d, "e", sel["e"])
        entry["ranking_m"] = resolution_ranking(r_m_cal, r_true["m"], d, "m", sel["m"] & np.isfinite(r_m_cal))
        out[stage] = entry
    if model.config.head in ("density", "gaussian"):
        with np.errstate(divide="ignore", invalid="ignore"):
            y_e, y_m = np.log(r_true["e"]), np.log(r_true["m"])
        l_e, l_m = _nll(model, x, y_e, y_m)
        u_raw, _ = model.predict_pit(x, r_true["e"], r_true["m"], recalibrated=False)
        s_e = sel["e"] & np.isfinite(l_e) & np.isfinite(u_raw)
        s_m = sel["m"] & np.isfinite(l_e + l_m)
        nll_e_after = l_e[s_e] - _log_slope(u_raw[s_e], knots[0])
        out["nll"] = {"e": float(np.mean(l_e[s_e])), "e_recalibrated": float(np.mean(nll_e_after)),
                      "em_joint": float(np.mean(l_e[s_m] + l_m[s_m]))}
    return out


# --- mass peaks ---------------------------------------------------------------------------------
def mass_peaks(model: DNNCalibration, sample: str, table: dict[str, np.ndarray]) -> dict[str, Any]:
    cal = model.calibrate(table)
    lo, hi = MASS_SAMPLES[sample]
    pt, eta, m_true = (np.asarray(table[k], dtype=np.float64) for k in ("pt_true", "eta_true", "m_true"))
    sel = (pt > 200) & (np.abs(eta) < 2.0) & (m_true > lo) & (m_true < hi) & np.isfinite(cal["m_cal"])
    m = np.asarray(cal["m_cal"], dtype=np.float64)[sel]
    window = MASS_WINDOWS[sample]
    # unit weights for the unweighted fits: the same estimator as the 1/σ̂²-weighted fit (started
    # from weighted quantiles), so that the three σ/peak compare like for like
    out = {"unweighted": fit_mass_peak(m, window, weights=np.ones(m.size))}
    if model.probabilistic:
        unc = np.asarray(cal["m_cal_rel_unc"], dtype=np.float64)[sel]
        good = np.isfinite(unc) & (unc > 0)
        out["weighted"] = fit_mass_peak(m[good], window, weights=1.0 / unc[good] ** 2)
        best = good & (unc <= np.median(unc[good])) if good.any() else good
        out["best_half"] = fit_mass_peak(m[best], window, weights=np.ones(int(best.sum())))
    return out


# --- criteria -----------------------------------------------------------------------------------
def criteria(res: dict[str, Any], head: str, peaks: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(criterion, before, after) PASS/FAIL lines of one probabilistic head ("–": not measured)."""
    def word(ok: bool | None) -> str:
        return "–" if ok is None else ("PASS" if ok else "FAIL")

    def bins_ok(stage: str, key: str) -> bool | None:
        rows = [b for t, _ in TARGETS for b in res[stage][t]["bins"]]
        return None if not rows else all(b["pass"][key] for b in rows)

    def marginal(stage: str) -> bool:
        return all(abs(res[stage][t]["coverage68"] - CENTRAL_68) <= TOL_68 and abs(res[stage][t]["coverage95"] - 0.95) <= TOL_95
                   for t, _ in TARGETS)

    def ranking(stage: str) -> bool | None:
        q = res[stage]["ranking_e"]["quartile_ratio"]
        return None if q is None else q >= 2.0

    def deciles(stage: str) -> bool | None:
        rows = res[stage]["ranking_e"]["deciles"]
        return None if not rows else all(r["pass"] for r in rows)

    lines = [
        ("marginal coverage 68 ± 2 % and 95 ± 1 % (E and m, test sample)", word(marginal("before")), word(marginal("after"))),
        ("68 % coverage 68 ± 2 % (or 3σ) in every (pT, m/pT) bin, E and m", word(bins_ok("before", "68")), word(bins_ok("after", "68"))),
        ("95 % coverage 95 ± 1 % (or 3σ) in every (pT, m/pT) bin, E and m", word(bins_ok("before", "95")), word(bins_ok("after", "95"))),
        ("PIT flat within ±10 % (or 3σ) in every (pT, m/pT) bin, E and m", word(bins_ok("before", "pit")), word(bins_ok("after", "pit"))),
        ("worst/best quartile of predicted E resolution: observed ratio ≥ 2", word(ranking("before")), word(ranking("after"))),
        ("predicted E resolution within 10 % of the observed in every decile", word(deciles("before")), word(deciles("after"))),
    ]
    for sample, p in peaks.items():
        if head in p and "weighted" in p[head]:
            u, w = p[head]["unweighted"]["relative_width"], p[head]["weighted"]["relative_width"]
            ok = bool(np.isfinite(u) and np.isfinite(w) and w < u)
            lines.append((f"{SAMPLE_TITLES[sample]}: 1/σ̂²-weighted peak narrower (σ/peak) than unweighted", "–", word(ok)))
    return lines


# --- output -------------------------------------------------------------------------------------
def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pct(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f} %"


def _f(v: float | None, fmt: str = ".4f") -> str:
    return "–" if v is None or not np.isfinite(v) else format(v, fmt)


def write_markdown(path: Path, results: dict[str, Any], peaks: dict[str, dict[str, Any]], args: argparse.Namespace,
                   info: dict[str, Any]) -> None:
    heads = [h for h in HEADS if h in results]
    prob = [h for h in heads if h in PROBABILISTIC]
    cmd = ("python benchmarks/heads.py --train " + " ".join(args.train) + f" --test {args.test}"
           + (f" --wprime {args.wprime}" if args.wprime else "") + (f" --top {args.top}" if args.top else "")
           + (f" --max-jets {args.max_jets}" if args.max_jets else "") + (f" --epochs {args.epochs}" if args.epochs else "")
           + f" --models-dir {args.models_dir} --threads {args.threads}" + (f" --config {args.config}" if args.config else "")
           + (f" --energy-prior {args.energy_prior}" if args.energy_prior != "flat" else "")
           + f" --md {args.md}")
    lines = ["# Output heads (issue #15)", "", "Produced by:", "", "```", cmd, "```", "",
             (f"Base config: `{args.config}`. " if args.config else "") + f"Training table: {info['train']}. Test jets: " + ", ".join(f"{k} {v:,}" for k, v in info["n_test"].items())
             + ". Every head has the same config but `head` (training.max_jets "
             f"{info['max_jets']}, training.epochs {info['epochs']}"
             + ("; the probabilistic heads' energy loss with the flattening weights, training.energy_weights: a flat "
                "prior on both targets" if args.energy_prior == "flat" else "; energy loss on the generated spectrum")
             + "); models: "
             + ", ".join(f"{h} {info['models'][h]}" for h in heads) + ".",
             "Resolution = (q84 − q16)/(2·q50) of X_cal/X_true; closure = median of X_cal/X_true (after the residual "
             "closure). Coverage: of the predicted distribution of reco/true (before the residual), calibrated jets, "
             f"|η_true| < 2, pT_true > 200 GeV (mass: m_true > {MASS_MIN:.0f} GeV). \"before\"/\"after\": without / with "
             "the width recalibration (docs/method.md#width-recalibration).", ""]
    lines += ["## Ablation", "",
              _row(["head", "E resolution (pT > 500)", "m resolution", "E closure", "m closure", "68 % E", "68 % m",
                    "95 % E", "95 % m", "NLL E (after)", "NLL E,m", "train [s]"]),
              "|---|" + "---|" * 11]
    for h in heads:
        r = results[h]
        cells = [h, _f(r["e_resolution_500"]), _f(r["m_resolution"]), _f(r["e_closure_500"]), _f(r["m_closure"])]
        if h in prob:
            for key in ("coverage68", "coverage95"):
                for t in ("e", "m"):
                    cells.append(f"{_pct(r['after'][t][key])} ({_pct(r['before'][t][key])})")
        else:
            cells += ["–"] * 4
        nll = r.get("nll")
        cells += [f"{_f(nll['e_recalibrated'], '.3f')} ({_f(nll['e'], '.3f')})" if nll else "–",
                  _f(nll["em_joint"], ".3f") if nll else "–", _f(r["summary"].get("train_seconds"), ".0f")]
        lines.append(_row(cells))
    lines += ["", "Coverage cells: after (before) the width recalibration; nominal 68.3 % and 95 %. NLL: mean −log p of "
              "y = log(reco/true), energy marginal after (before) the recalibration, and the joint (E, m) one of "
              "m_true > 50 GeV jets before it (density: full covariance; gaussian: independent)."]
    rec_rows = [h for h in prob if results[h]["summary"].get("width_recalibration")]
    if rec_rows:
        lines += ["", "Width recalibration (fitted on the validation split): the levels at which each predicted CDF "
                  "is read for the 15.87/84.13 % quantiles (nominal 0.159/0.841).", "",
                  _row(["head", "E levels", "m levels", "validation jets E / m"]), "|---|---|---|---|"]
        for h in rec_rows:
            w = results[h]["summary"]["width_recalibration"]
            lines.append(_row([h, f"{w['energy']['q16_level']:.3f} / {w['energy']['q84_level']:.3f}",
                               f"{w['mass']['q16_level']:.3f} / {w['mass']['q84_level']:.3f}",
                               f"{w['energy']['jets']:,} / {w['mass']['jets']:,}"]))
    lines += ["", f"## Coverage per (pT_true, m_true/pT_true) bin (≥ {args.min_bin_jets:,} jets)", "",
              f"PASS: 68 % within ±{100 * TOL_68:.0f} %, 95 % within ±{100 * TOL_95:.0f} % and the PIT histogram "
              f"({PIT_BINS} bins) within ±{100 * TOL_PIT:.0f} % of flat, or within 3 standard errors where the bin is "
              "small. Cells: after (before) the recalibration."]
    for h in prob:
        for t, name in TARGETS:
            after, before = results[h]["after"][t]["bins"], results[h]["before"][t]["bins"]
            lines += ["", f"### {h}, {name}", ""]
            if not after:
                lines.append("No bin with enough jets.")
                continue
            lines += [_row(["pT_true [GeV]", "m/pT", "jets", "68 %", "95 %", "PIT max dev", "after", "before"]),
                      "|---|---|---|---|---|---|---|---|"]
            for a, b in zip(after, before, strict=True):
                def verdict(x: dict[str, Any]) -> str:
                    return "PASS" if all(x["pass"].values()) else "FAIL (" + ", ".join(k for k, v in x["pass"].items() if not v) + ")"
                lines.append(_row([f"{a['pt_lo']:.0f}–{a['pt_hi']:.0f}", f"{a['mpt_lo']:.2f}–{a['mpt_hi']:.2f}", f"{a['n']:,}",
                                   f"{_pct(a['coverage68'])} ({_pct(b['coverage68'])})",
                                   f"{_pct(a['coverage95'])} ({_pct(b['coverage95'])})",
                                   f"{_pct(a['pit_max_dev'])} ({_pct(b['pit_max_dev'])})", verdict(a), verdict(b)]))
    lines += ["", "## Predicted resolution as a ranking", "",
              "Jets ordered by their predicted E resolution (q84 − q16)/(2 q50) after the recalibration: observed "
              "resolution of E_cal/E_true in the best and the worst quartile, and predicted vs observed (half the "
              "16–84 % width of r/q50) per decile.", "",
              _row(["head", "best quartile", "worst quartile", "ratio", "deciles within 10 %", "worst decile |pred/obs − 1|"]),
              "|---|---|---|---|---|---|"]
    for h in prob:
        rk = results[h]["after"]["ranking_e"]
        dec = rk["deciles"]
        worst = max((abs(r["predicted"] / r["observed"] - 1) for r in dec if r["observed"] > 0), default=float("nan"))
        lines.append(_row([h, _f(rk.get("best_quartile")), _f(rk.get("worst_quartile")), _f(rk.get("quartile_ratio"), ".2f"),
                           f"{sum(r['pass'] for r in dec)}/{len(dec)}", _pct(worst)]))
    for h in prob:
        dec = results[h]["after"]["ranking_e"]["deciles"]
        if dec:
            lines += ["", f"{h}, E: predicted / observed per decile: "
                      + ", ".join(f"{r['predicted']:.4f}/{r['observed']:.4f}" for r in dec)]
    for sample, p in peaks.items():
        lines += ["", f"## Mass peak, {SAMPLE_TITLES[sample]}, pT_true > 200 GeV", "",
                  "σ/peak of the Gaussian core of m_cal: all jets unweighted, weighted by 1/σ̂_m² (σ̂_m = "
                  "m_cal_rel_unc, after the recalibration), and the best half of the jets by σ̂_m.", "",
                  _row(["head", "peak [GeV]", "σ/peak", "weighted σ/peak", "best half σ/peak"]), "|---|---|---|---|---|"]
        for h in heads:
            if h not in p:
                continue
            q = p[h]
            lines.append(_row([h, _f(q["unweighted"]["position"], ".1f"), _f(q["unweighted"]["relative_width"], ".3f"),
                               _f(q.get("weighted", {}).get("relative_width"), ".3f"),
                               _f(q.get("best_half", {}).get("relative_width"), ".3f")]))
    lines += ["", "## Acceptance criteria (#15)", ""]
    for h in prob:
        lines += [f"### {h}", "", _row(["criterion", "before", "after"]), "|---|---|---|"]
        lines += [_row(list(c)) for c in criteria(results[h], h, peaks)]
        lines.append("")
    lines += [f"![PIT histograms]({path.stem}_pit.png)", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def pit_figure(results: dict[str, Any], path: Path) -> None:
    from jetcalib.evaluate.plots import experiment_label, setup_style

    setup_style()
    import matplotlib.pyplot as plt

    prob = [h for h in PROBABILISTIC if h in results]
    fig, axes = plt.subplots(2, max(len(prob), 1), figsize=(4.6 * max(len(prob), 1), 7.2), squeeze=False)
    edges = np.linspace(0, 1, PIT_BINS + 1)
    for j, h in enumerate(prob):
        for i, (t, name) in enumerate(TARGETS):
            ax = axes[i, j]
            ax.axhspan(1 - TOL_PIT, 1 + TOL_PIT, color="0.9")
            for stage, style in (("before", "--"), ("after", "-")):
                hist = results[h][stage][t]["pit_hist"]
                ax.stairs(hist, edges, linestyle=style, linewidth=1.6, label=f"{stage} recalibration")
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 2.2)
            ax.set_xlabel(f"PIT of {name}")
            ax.set_ylabel("jets / flat")
            experiment_label(ax, extra=f"{h} head, {name}")
            if i == 0 and j == 0:
                ax.legend(fontsize=9, loc="upper right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float | np.floating):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, nargs="+", help="dijet training table(s), concatenated")
    ap.add_argument("--test", required=True, help="dijet test table")
    ap.add_argument("--wprime", help="W' test table: W/Z mass peaks")
    ap.add_argument("--top", help="Z' -> tt test table: top mass peaks")
    ap.add_argument("--max-jets", type=int, help="training.max_jets of every head")
    ap.add_argument("--epochs", type=int, help="training.epochs of every head (default: the config's)")
    ap.add_argument("--models-dir", default="benchmarks/results/models/heads", help="DIR/<head>: reused or trained")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--config", help="base DNN config (YAML/TOML; default: DNNConfig()); head is set per model")
    ap.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS), help="heads to compare (default: all four)")
    ap.add_argument("--min-bin-jets", type=int, default=1000, help="fewest jets of a (pT, m/pT) coverage bin")
    ap.add_argument("--energy-prior", choices=("flat", "generated"), default="flat",
                    help="prior of the probabilistic heads' energy term: flat (flattening weights on the energy loss "
                         "too, default) or generated (the base config's energy_weights, the pT-hat spectrum)")
    ap.add_argument("--md", default="benchmarks/results/heads.md", help="markdown output; OUT.json, OUT_pit.png beside")
    args = ap.parse_args(argv)
    md = Path(args.md)
    md.parent.mkdir(parents=True, exist_ok=True)
    models_dir = Path(args.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)

    base = DNNConfig.from_file(args.config) if args.config else DNNConfig()
    constituents = base.inputs == "constituents"
    if constituents:
        # the constituent network reads the jagged cl_*/trk_* columns (generate --constituents)
        if len(args.train) != 1:
            sys.exit("heads.py: a constituent network takes one --train table")
        train_t = read_jets(args.train[0], constituents=True)
        train_label = f"{args.train[0]} ({len(train_t['e_true']):,} jets, with constituents)"
    else:
        train_t, train_label = load_many(args.train, 0, 0)
    test = read_jets(args.test, constituents)
    samples = {}
    for k, p in (("wz", args.wprime), ("top", args.top)):
        if p:
            table = read_jets(p, constituents)
            if constituents and not set(CONSTITUENT_COLUMNS) <= set(table):
                print(f"{p}: no constituent columns (generate --constituents); its mass peaks are left out", flush=True)
                continue
            samples[k] = table
    results: dict[str, Any] = {}
    peaks: dict[str, dict[str, Any]] = {s: {} for s in samples}
    how: dict[str, str] = {}
    cfg = base
    for head in args.heads:
        cfg = head_config(base, head, args.max_jets, args.epochs, args.energy_prior)
        model, how[head] = trained_model(head, cfg, train_t, models_dir, args.threads)
        t0 = time.perf_counter()
        results[head] = evaluate_head(model, test, args.min_bin_jets)
        for sample, table in samples.items():
            peaks[sample][head] = mass_peaks(model, sample, table)
        print(f"{head}: evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
    info = {"train": train_label, "n_test": {"dijet": len(test["e_true"]), **{k: len(v["e_true"]) for k, v in samples.items()}},
            "max_jets": cfg.training.max_jets, "epochs": cfg.training.epochs, "models": how}
    write_markdown(md, results, peaks, args, info)
    crit = {h: criteria(results[h], h, peaks) for h in results if h in PROBABILISTIC}
    with atomic_path(md.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(_jsonable({"results": results, "mass_peaks": peaks, "criteria": crit, "info": info}),
                                  indent=1, allow_nan=False))
    if any(h in PROBABILISTIC for h in results):
        pit_figure(results, md.with_name(md.stem + "_pit.png"))
    print(f"wrote {md}, {md.with_suffix('.json')}, {md.with_name(md.stem + '_pit.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
