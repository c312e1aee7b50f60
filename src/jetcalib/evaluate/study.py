"""Run every method on a test table and collect the binned closure/resolution tables and the
headline numbers of the report (docs/method.md#evaluation)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..io import Process
from .massfit import MASS_WINDOWS, fit_mass_peak
from .methods import Calibration
from .metrics import BINNED_FIELDS, binned_metrics

__all__ = [
    "ETA_SLICES",
    "EVAL_ETA_MAX",
    "EVAL_MIN_MASS",
    "EVAL_MIN_PT",
    "PT_BINS",
    "PT_REGIONS",
    "SLICE_FIELDS",
    "VARIABLES",
    "Variable",
    "binned_table",
    "binned_table_pt",
    "generator_shift",
    "headline",
    "mass_peaks_by_pt",
    "pileup_slopes",
    "run_methods",
    "sliced_table",
    "variable_values",
]

EVAL_MIN_PT = 200.0  #: GeV, evaluation selection on pT_true (docs/method.md#selection)
EVAL_ETA_MAX = 2.0  #: |η_true| range of the evaluation
EVAL_MIN_MASS = 30.0  #: GeV, m_true threshold for mass figures
#: pT_true regions of the headline resolution ratios (GeV).
PT_REGIONS: dict[str, tuple[float, float]] = {"200-500": (200, 500), "500-1000": (500, 1000), ">1000": (1000, np.inf)}


def _quantile_edges(n: int) -> Callable[[np.ndarray], np.ndarray]:
    def edges(v: np.ndarray) -> np.ndarray:
        e = np.unique(np.round(np.quantile(v[np.isfinite(v)], np.linspace(0, 1, n + 1)), 1))
        e[-1] += 1e-3  # bins are [lo, hi): keep the maximum inside
        return e

    return edges


@dataclass(frozen=True)
class Variable:
    """A truth or event quantity the metrics are binned in."""

    name: str
    label: str  #: axis label, with unit
    columns: tuple[str, ...]  #: table columns it is computed from
    edges: Callable[[np.ndarray], np.ndarray]
    log: bool = False


VARIABLES: dict[str, Variable] = {v.name: v for v in (
    Variable("pt_true", r"$p_\mathrm{T}^\mathrm{true}$ [GeV]", ("pt_true",),
             lambda _: np.array([200, 250, 300, 400, 500, 600, 800, 1000, 1300, 1700, 2200, 3000.0]), True),
    Variable("e_true", r"$E^\mathrm{true}$ [GeV]", ("e_true",), lambda _: np.geomspace(200, 6000, 12), True),
    Variable("eta_true", r"$\eta^\mathrm{true}$", ("eta_true",), lambda _: np.linspace(-2, 2, 17)),
    Variable("m_true", r"$m^\mathrm{true}$ [GeV]", ("m_true",),
             lambda _: np.array([30, 40, 50, 65, 80, 100, 130, 170, 220, 300, 400.0]), True),
    Variable("m_over_pt", r"$m^\mathrm{true}/p_\mathrm{T}^\mathrm{true}$", ("m_true", "pt_true"),
             lambda _: np.geomspace(0.02, 0.6, 11), True),
    Variable("mu", r"$\langle\mu\rangle$", ("mu",), _quantile_edges(5)),
    Variable("npv", r"$N_\mathrm{PV}$", ("npv",), _quantile_edges(5)),
    Variable("process", "process (0 dijet, 1 W/Z, 2 top, 3 alt. dijet)", ("process",),
             lambda v: np.append(np.unique(v[np.isfinite(v)]), np.nanmax(v) + 1) - 0.5),
)}


def variable_values(table: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The values of :data:`VARIABLES` ``name`` per jet (float64, shape ``[N]``)."""
    if name == "m_over_pt":
        return np.asarray(table["m_true"], dtype=np.float64) / np.asarray(table["pt_true"], dtype=np.float64)
    return np.asarray(table[name], dtype=np.float64)


def run_methods(
    table: Mapping[str, np.ndarray], methods: Mapping[str, Calibration]
) -> dict[str, dict[str, np.ndarray]]:
    """``calibrate`` each method on ``table``: name → {e_cal, pt_cal, m_cal, calib_flag}."""
    return {name: dict(m.calibrate(table)) for name, m in methods.items()}


def _selections(table: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    eta = np.asarray(table["eta_true"], dtype=np.float64)
    energy = (pt > EVAL_MIN_PT) & (np.abs(eta) < EVAL_ETA_MAX)
    mass = energy & (np.asarray(table["m_true"], dtype=np.float64) > EVAL_MIN_MASS)
    return energy, mass


def binned_table(
    table: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    weighted: bool = False,
    n_boot: int = 50,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
) -> dict[str, np.ndarray]:
    """Long table of binned metrics: one row per (method, quantity, variable, bin).

    Columns: ``method``, ``quantity`` (``energy`` or ``mass``), ``variable``, then
    :data:`~jetcalib.evaluate.metrics.BINNED_FIELDS`. Energy uses pT_true > 200 GeV and
    |η_true| < 2; mass adds m_true > 30 GeV. Variables whose columns are absent are skipped.
    """
    sel = dict(zip(("energy", "mass"), _selections(table), strict=True))
    w_all = np.asarray(table["weight"], dtype=np.float64) if weighted else None
    rows: dict[str, list] = {"method": [], "quantity": [], "variable": [], **{k: [] for k in BINNED_FIELDS}}
    for var in VARIABLES.values():
        if not all(c in table for c in var.columns):
            continue
        values = variable_values(table, var.name)
        edges = var.edges(values[sel["energy"]])
        for method, out in outputs.items():
            for quantity, (cal, true) in {"energy": ("e_cal", "e_true"), "mass": ("m_cal", "m_true")}.items():
                s = sel[quantity]
                resp = np.asarray(out[cal], dtype=np.float64)[s] / np.asarray(table[true], dtype=np.float64)[s]
                res = binned_metrics(resp, values[s], edges, weights=None if w_all is None else w_all[s],
                                     n_boot=n_boot, seed=seed)
                nb = len(edges) - 1
                rows["method"] += [method] * nb
                rows["quantity"] += [quantity] * nb
                rows["variable"] += [var.name] * nb
                for k in BINNED_FIELDS:
                    rows[k].append(res[k])
                if progress is not None:
                    progress()
    return {k: (np.array(v, dtype=object) if k in ("method", "quantity", "variable") else np.concatenate(v))
            for k, v in rows.items()}


def _region_mean(binned: Mapping[str, np.ndarray], method: str, quantity: str, lo: float, hi: float) -> float:
    s = ((binned["method"] == method) & (binned["quantity"] == quantity) & (binned["variable"] == "pt_true")
         & (binned["lo"] >= lo) & (binned["hi"] <= hi) & np.isfinite(binned["resolution"]))
    return float(np.mean(binned["resolution"][s])) if s.any() else float("nan")


def headline(
    table: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    binned: Mapping[str, np.ndarray],
    baseline: str,
) -> dict:
    """The numbers of ``summary.json``.

    ``resolution``: per method, quantity and pT_true region, the mean of the binned
    resolutions of the pT_true bins inside the region; ``resolution_ratio``: that over the
    baseline's. ``closure_max_deviation``: max |median − 1| over the pT_true bins.
    ``mass_peaks``: fitted m_cal peak (GeV) of W/Z and top jets. ``flagged_fraction``: share of
    jets with calib_flag ≠ 0 (they keep their fallback kinematics and are evaluated as such;
    codes 7-9, outside the method's training domain, are calibrated jets counted here as a warning).
    """
    methods = list(outputs)
    summary: dict = {"baseline": baseline, "methods": methods, "n_jets": len(table["e_true"]),
                     "selection": {"pt_true_min_GeV": EVAL_MIN_PT, "abs_eta_true_max": EVAL_ETA_MAX,
                                   "m_true_min_GeV_for_mass": EVAL_MIN_MASS},
                     "resolution": {}, "resolution_ratio": {}, "closure_max_deviation": {},
                     "mass_peaks": {}, "flagged_fraction": {}}
    for m in methods:
        summary["resolution"][m] = {q: {r: _region_mean(binned, m, q, lo, hi) for r, (lo, hi) in PT_REGIONS.items()}
                                    for q in ("energy", "mass")}
        s = (binned["method"] == m) & (binned["variable"] == "pt_true")
        summary["closure_max_deviation"][m] = {
            q: float(np.nanmax(np.abs(binned["median"][s & (binned["quantity"] == q)] - 1), initial=np.nan))
            if np.isfinite(binned["median"][s & (binned["quantity"] == q)]).any() else float("nan")
            for q in ("energy", "mass")}
        summary["flagged_fraction"][m] = float(np.mean(outputs[m]["calib_flag"] != 0))
    for m in methods:
        summary["resolution_ratio"][m] = {
            q: {r: summary["resolution"][m][q][r] / summary["resolution"][baseline][q][r] for r in PT_REGIONS}
            for q in ("energy", "mass")}
    if "process" in table:
        proc = np.asarray(table["process"])
        energy_sel, _ = _selections(table)
        for m in methods:
            peaks = {}
            for key, code in (("wz", Process.WPRIME), ("top", Process.ZPRIME_TT)):
                s = energy_sel & (proc == code)
                if s.sum() >= 30:
                    peaks[key] = fit_mass_peak(np.asarray(outputs[m]["m_cal"])[s], MASS_WINDOWS[key])
            summary["mass_peaks"][m] = peaks
    return _finite_or_none(summary)


def _finite_or_none(obj):
    """NaN/inf → None so that summary.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


#: |η_true| slices of the closure and resolution vs pT_true figures.
ETA_SLICES = np.array([0.0, 0.8, 1.2, 2.0])
#: pT_true bins (GeV) of the μ/NPV figures, the response and mass-peak figures, the pile-up
#: slopes and the generator dependence.
PT_BINS = np.array([200.0, 300.0, 500.0, 1000.0, 3000.0])
#: Columns of :func:`sliced_table` beyond :data:`BINNED_FIELDS`.
SLICE_FIELDS: tuple[str, ...] = ("method", "quantity", "variable", "slice_variable", "slice_lo", "slice_hi")


def _response(table: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray], quantity: str) -> np.ndarray:
    cal, true = ("e_cal", "e_true") if quantity == "energy" else ("m_cal", "m_true")
    den = np.asarray(table[true], dtype=np.float64)
    return np.divide(np.asarray(out[cal], dtype=np.float64), den, out=np.full(den.shape, np.nan), where=den > 0)


def sliced_table(
    table: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    variable: str,
    slice_variable: str,
    slice_edges: np.ndarray,
    *,
    quantities: tuple[str, ...] = ("energy", "mass"),
    weighted: bool = False,
    n_boot: int = 50,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Binned metrics vs ``variable`` in slices ``[lo, hi)`` of ``slice_variable`` (``abs_eta``
    for |η_true|, or any :data:`VARIABLES` name): :func:`binned_table`'s columns plus
    ``slice_variable``, ``slice_lo``, ``slice_hi``. The evaluation selection applies (energy:
    pT_true > 200 GeV, |η_true| < 2; mass adds m_true > 30 GeV). Empty dict when a column is
    absent."""
    var = VARIABLES[variable]
    cols = (*var.columns, *(("eta_true",) if slice_variable == "abs_eta" else VARIABLES[slice_variable].columns))
    if not all(c in table for c in cols):
        return {}
    sel = dict(zip(("energy", "mass"), _selections(table), strict=True))
    values = variable_values(table, variable)
    slicer = (np.abs(np.asarray(table["eta_true"], dtype=np.float64)) if slice_variable == "abs_eta"
              else variable_values(table, slice_variable))
    w_all = np.asarray(table["weight"], dtype=np.float64) if weighted else None
    rows: dict[str, list] = {**{k: [] for k in SLICE_FIELDS}, **{k: [] for k in BINNED_FIELDS}}
    for lo, hi in itertools.pairwise(slice_edges):
        in_slice = (slicer >= lo) & (slicer < hi)
        edges = var.edges(values[sel["energy"] & in_slice]) if (sel["energy"] & in_slice).sum() > 1 else None
        if edges is None or len(edges) < 2:
            continue
        for method, out in outputs.items():
            for quantity in quantities:
                s = sel[quantity] & in_slice
                res = binned_metrics(_response(table, out, quantity)[s], values[s], edges,
                                     weights=None if w_all is None else w_all[s], n_boot=n_boot, seed=seed)
                nb = len(edges) - 1
                for k, v in zip(SLICE_FIELDS, (method, quantity, variable, slice_variable, lo, hi), strict=True):
                    rows[k] += [v] * nb
                for k in BINNED_FIELDS:
                    rows[k].append(res[k])
    if not rows["method"]:
        return {}
    strings = ("method", "quantity", "variable", "slice_variable")
    return {k: (np.array(v, dtype=object) if k in strings else
                np.asarray(v, dtype=np.float64) if k in ("slice_lo", "slice_hi") else np.concatenate(v))
            for k, v in rows.items()}


def _slope(x: np.ndarray, y: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope dy/dx and its error (NaN with fewer than 2 usable points)."""
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(err) & (err > 0)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    w = 1.0 / err[ok] ** 2
    xm = np.sum(w * x[ok]) / w.sum()
    sxx = np.sum(w * (x[ok] - xm) ** 2)
    if sxx <= 0:
        return float("nan"), float("nan")
    slope = np.sum(w * (x[ok] - xm) * y[ok]) / sxx
    return float(slope), float(np.sqrt(1.0 / sxx))


def pileup_slopes(sliced: Mapping[str, np.ndarray]) -> list[dict]:
    """Closure slopes d(median)/dμ or d(median)/dNPV per method, quantity and pT_true bin, from a
    :func:`sliced_table` vs ``mu`` or ``npv`` in slices of ``pt_true``: a weighted straight-line
    fit of the binned medians (bootstrap errors) against the bins' mean μ (NPV). One dict per
    (method, quantity, variable, pT bin): ``slope``, ``slope_err`` (per unit of μ or NPV)."""
    if not sliced:
        return []
    out = []
    keys = zip(sliced["method"], sliced["quantity"], sliced["variable"], sliced["slice_lo"], sliced["slice_hi"],
               strict=True)
    for method, quantity, variable, lo, hi in dict.fromkeys(keys):
        s = ((sliced["method"] == method) & (sliced["quantity"] == quantity) & (sliced["variable"] == variable)
             & (sliced["slice_lo"] == lo) & (sliced["slice_hi"] == hi))
        slope, err = _slope(sliced["centre"][s], sliced["median"][s], sliced["median_err"][s])
        out.append({"method": method, "quantity": quantity, "variable": variable, "pt_lo": float(lo),
                    "pt_hi": float(hi), "slope": slope, "slope_err": err})
    return out


def generator_shift(
    table: Mapping[str, np.ndarray],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    alt_table: Mapping[str, np.ndarray],
    alt_outputs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    pt_edges: np.ndarray = PT_BINS,
    n_boot: int = 50,
    seed: int = 0,
) -> list[dict]:
    """Generator dependence: per method, quantity and pT_true bin, the median closure and the
    resolution on the nominal and on the altered sample (``dijet_alt``) and the shifts
    alt − nominal, each with its bootstrap error (the two samples are independent: errors add in
    quadrature). Same evaluation selection on both samples. When the altered sample is all
    ``dijet_alt`` jets and the nominal one has a ``process`` column, only the nominal's dijet
    jets enter (the same topology on both sides, not dijet_alt against a W/Z and top mix)."""
    if "process" in table and "process" in alt_table:
        alt_proc = set(np.unique(np.asarray(alt_table["process"])).tolist())
        keep = np.asarray(table["process"]) == Process.DIJET
        if alt_proc == {int(Process.DIJET_ALT)} and keep.any() and not keep.all():
            table = {k: np.asarray(v)[keep] for k, v in table.items()}
            outputs = {m: {k: np.asarray(v)[keep] for k, v in o.items()} for m, o in outputs.items()}
    rows = []
    nom = binned_table_pt(table, outputs, pt_edges, n_boot=n_boot, seed=seed)
    alt = binned_table_pt(alt_table, alt_outputs, pt_edges, n_boot=n_boot, seed=seed)
    for (method, quantity), a in nom.items():
        b = alt.get((method, quantity))
        if b is None:
            continue
        for i in range(len(pt_edges) - 1):
            row = {"method": method, "quantity": quantity, "pt_lo": float(pt_edges[i]), "pt_hi": float(pt_edges[i + 1]),
                   "n_nominal": int(a["n"][i]), "n_alt": int(b["n"][i])}
            for stat in ("median", "resolution"):
                row[f"{stat}_nominal"], row[f"{stat}_alt"] = float(a[stat][i]), float(b[stat][i])
                row[f"{stat}_shift"] = float(b[stat][i] - a[stat][i])
                row[f"{stat}_shift_err"] = float(np.hypot(a[f"{stat}_err"][i], b[f"{stat}_err"][i]))
            rows.append(row)
    return rows


def binned_table_pt(
    table: Mapping[str, np.ndarray], outputs: Mapping[str, Mapping[str, np.ndarray]], pt_edges: np.ndarray,
    *, n_boot: int = 50, seed: int = 0,
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """:func:`~jetcalib.evaluate.metrics.binned_metrics` vs pT_true in ``pt_edges`` per (method,
    quantity), with the evaluation selection."""
    sel = dict(zip(("energy", "mass"), _selections(table), strict=True))
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    return {(m, q): binned_metrics(_response(table, out, q)[sel[q]], pt[sel[q]], pt_edges, n_boot=n_boot, seed=seed)
            for m, out in outputs.items() for q in ("energy", "mass")}


def mass_peaks_by_pt(
    table: Mapping[str, np.ndarray], outputs: Mapping[str, Mapping[str, np.ndarray]], pt_edges: np.ndarray = PT_BINS,
) -> list[dict]:
    """Fitted m_cal peaks of W/Z and top jets per method and pT_true bin (evaluation selection):
    one dict per (method, sample, bin) with :func:`~jetcalib.evaluate.massfit.fit_mass_peak`'s
    ``position``, ``width``, ``relative_width`` (σ/peak) and ``n``; bins under 30 jets left out."""
    if "process" not in table:
        return []
    proc = np.asarray(table["process"])
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    energy_sel, _ = _selections(table)
    rows = []
    for key, code in (("wz", Process.WPRIME), ("top", Process.ZPRIME_TT)):
        for lo, hi in itertools.pairwise(pt_edges):
            s = energy_sel & (proc == code) & (pt >= lo) & (pt < hi)
            if s.sum() < 30:
                continue
            for m, out in outputs.items():
                rows.append({"method": m, "sample": key, "pt_lo": float(lo), "pt_hi": float(hi),
                             **fit_mass_peak(np.asarray(out["m_cal"])[s], MASS_WINDOWS[key])})
    return rows
