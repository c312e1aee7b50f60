"""Run every method on a test table and collect the binned closure/resolution tables and the
headline numbers of the report (docs/method.md#evaluation)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..io import Process
from .massfit import MASS_WINDOWS, fit_mass_peak
from .methods import Calibration
from .metrics import BINNED_FIELDS, binned_metrics

__all__ = [
    "EVAL_ETA_MAX",
    "EVAL_MIN_MASS",
    "EVAL_MIN_PT",
    "PT_REGIONS",
    "VARIABLES",
    "Variable",
    "binned_table",
    "headline",
    "run_methods",
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
