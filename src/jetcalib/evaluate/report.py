"""The evaluation report: binned tables (Parquet + CSV), figures, ``summary.json`` and one
self-contained ``report.html`` (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import contextlib
import html
import io
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_path
from ..io.files import check_output_name
from .coverage import coverage_rows
from .massfit import MASS_WINDOWS
from .methods import UNCALIBRATED, Calibration, Uncalibrated
from .metrics import resolution
from .study import (
    ETA_SLICES,
    EVAL_ETA_MAX,
    EVAL_MIN_MASS,
    EVAL_MIN_PT,
    PT_BINS,
    VARIABLES,
    _finite_or_none,
    binned_table,
    generator_shift,
    headline,
    mass_peaks_by_pt,
    pileup_slopes,
    run_methods,
    sliced_table,
)

__all__ = ["MAP_M_EDGES", "MAP_PT_EDGES", "make_report", "resolution_map"]

MAP_PT_EDGES = np.array([200, 300, 500, 800, 1300, 3000.0])  #: GeV
MAP_M_EDGES = np.array([30, 50, 80, 130, 220, 400.0])  #: GeV
#: Files a report directory holds, in the order they are moved in (report.html last).
REPORT_FILES = ("binned_metrics.parquet", "binned_metrics.csv", "sliced_metrics.parquet", "sliced_metrics.csv",
                "summary.json", "report.html")


def resolution_map(
    table: Mapping[str, np.ndarray], m_cal: np.ndarray, e_cal: np.ndarray, quantity: str
) -> np.ndarray:
    """Resolution ``[n_pt, n_m]`` in (pT_true, m_true) cells (NaN under 30 jets)."""
    pt, m = np.asarray(table["pt_true"], dtype=np.float64), np.asarray(table["m_true"], dtype=np.float64)
    num, den = (e_cal, table["e_true"]) if quantity == "energy" else (m_cal, table["m_true"])
    den = np.asarray(den, dtype=np.float64)
    resp = np.divide(np.asarray(num, dtype=np.float64), den, out=np.full(den.shape, np.nan), where=den > 0)
    ok = (np.abs(np.asarray(table["eta_true"])) < EVAL_ETA_MAX) & (den > 0)
    out = np.full((len(MAP_PT_EDGES) - 1, len(MAP_M_EDGES) - 1), np.nan)
    ip = np.searchsorted(MAP_PT_EDGES, pt, side="right") - 1
    im = np.searchsorted(MAP_M_EDGES, m, side="right") - 1
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            s = ok & (ip == i) & (im == j)
            if s.sum() >= 30:
                out[i, j] = resolution(resp[s])
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")  # no label cut at the edge
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _write_tables(binned: Mapping[str, np.ndarray], out_dir: Path, stem: str = "binned_metrics") -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in binned.items()}
    table = pa.table(arrays)
    with atomic_path(out_dir / f"{stem}.parquet") as tmp:
        pq.write_table(table, tmp)
    with atomic_path(out_dir / f"{stem}.csv") as tmp:
        pcsv.write_csv(table, tmp)


def _fmt(x: float | None, pct: bool = False, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{100 * x:.2f} %" if pct else f"{x:.{digits}f}"


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return None
    return a / b


def _pt_bin(lo: float, hi: float) -> str:
    return f"{lo:g}–{hi:g}"


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def _summary_html(summary: dict) -> str:
    base = summary["baseline"]
    rows = []
    for m in summary["methods"]:
        for q in ("energy", "mass"):
            res = summary["resolution"][m][q]
            rat = summary["resolution_ratio"][m][q]
            cells = [f"{_fmt(res[r], True)} ({_fmt(rat[r])})" for r in res]
            rows.append([html.escape(m), q, *cells, _fmt(summary["closure_max_deviation"][m][q], True)])
    regions = [f"p<sub>T</sub><sup>true</sup> {html.escape(r)} GeV"
               for r in next(iter(summary["resolution"].values()))["energy"]]
    return (
        _table(["method", "quantity", *regions, "max |median − 1|"], rows)
        + f"<p class='note'>Resolution (q84 − q16)/(2·q50) of the response, mean over the "
        f"p<sub>T</sub><sup>true</sup> bins of each region; in brackets the ratio to <b>{html.escape(base)}</b> "
        f"(below 1: better). Max |median − 1|: the worst median closure over the p<sub>T</sub><sup>true</sup> "
        f"bins. Selection: p<sub>T</sub><sup>true</sup> > {EVAL_MIN_PT:g} GeV, |η<sup>true</sup>| &lt; "
        f"{EVAL_ETA_MAX:g}; mass adds m<sup>true</sup> > {EVAL_MIN_MASS:g} GeV.</p>"
    )


def _peak_rows(fits: Iterable[dict], base: str) -> list[list[str]]:
    """Rows of a mass-peak table: position, width, σ/peak and σ/peak over the baseline's."""
    fits = list(fits)
    ref = {(f["sample"], f.get("pt_lo"), f.get("pt_hi")): f for f in fits if f["method"] == base}
    rows = []
    for f in fits:
        b = ref.get((f["sample"], f.get("pt_lo"), f.get("pt_hi")), {})
        pt = [] if f.get("pt_lo") is None else [_pt_bin(f["pt_lo"], f["pt_hi"])]
        rows.append([html.escape(f["method"]), {"wz": "W/Z", "top": "top"}[f["sample"]], *pt,
                     _fmt(f["position"], digits=1), _fmt(f["width"], digits=1), _fmt(f["relative_width"]),
                     _fmt(_div(f["relative_width"], b.get("relative_width"))), str(f["n"])])
    return rows


def _peaks_html(summary: dict, by_pt: list[dict]) -> str:
    base = summary["baseline"]
    inclusive = [{"method": m, "sample": k, **f} for m, fits in summary.get("mass_peaks", {}).items()
                 for k, f in fits.items()]
    head = ["method", "sample", "peak [GeV]", "σ [GeV]", "σ/peak", f"σ/peak ÷ {html.escape(base)}", "jets"]
    out = ""
    if inclusive:
        out += "<h3 id='mass-peaks-inclusive'>Inclusive</h3>" + _table(head, _peak_rows(inclusive, base))
    if by_pt:
        out += ("<h3 id='mass-peaks-pt'>In p<sub>T</sub><sup>true</sup> bins</h3>"
                + _table([*head[:2], "p<sub>T</sub><sup>true</sup> [GeV]", *head[2:]], _peak_rows(by_pt, base)))
    if not out:
        return "<p class='note'>No W/Z or top jets in the test sample (column <code>process</code>).</p>"
    return out + ("<p class='note'>Gaussian core of the m<sub>cal</sub> peak fitted in the window "
                  + ", ".join(f"{k} {lo:g}–{hi:g} GeV" for k, (lo, hi) in MASS_WINDOWS.items())
                  + f"; σ/peak is the relative width, its ratio to <b>{html.escape(base)}</b> below 1 is a "
                  "narrower peak. Selection: p<sub>T</sub><sup>true</sup> > 200 GeV, |η<sup>true</sup>| &lt; 2.</p>")


def _coverage_html(rows: list[dict]) -> str:
    body = []
    for r in rows:
        lo, hi = r["lo"], r["hi"]
        rng = _pt_bin(lo, hi) if r["variable"] == "pt_true" else f"{_fmt(lo, True)}–{_fmt(hi, True)}"
        body.append([html.escape(str(r["method"])), r["quantity"], html.escape(str(r["variable"])), rng,
                     str(r["n"]),
                     f"{_fmt(r['coverage68'], True)} ± {_fmt(r['coverage68_err'], True)}",
                     f"{_fmt(r['coverage95'], True)} ± {_fmt(r['coverage95_err'], True)}",
                     _fmt(r["pit_max_dev"], digits=2), _fmt(r["resolution_predicted"], True),
                     _fmt(r["resolution_observed"], True)])
    head = ["method", "quantity", "binned in", "range", "jets", "in 68 % interval", "in 95 % interval",
            "max |PIT − flat|", "predicted resolution", "observed resolution"]
    return _table(head, body) + (
        "<p class='note'>For methods with per-jet uncertainties (a probabilistic DNN head, "
        "docs/method.md#heads): the fraction of jets whose true response reco/true lies inside the "
        "predicted central 68.27 % interval [q16, q84] and inside the 95 % interval (from PIT values of "
        "the split normal through the quantiles), the largest deviation of the 10-bin PIT histogram "
        "from flat (relative), and the median predicted relative resolution against the observed "
        "one (half the 16–84 % width of r/median), in p<sub>T</sub><sup>true</sup> bins and in "
        "deciles of the predicted resolution. Selection as the headline, calibrated jets.</p>")


def _pileup_html(slopes: list[dict], base: str) -> str:
    if not slopes:
        return "<p class='note'>No μ or N<sub>PV</sub> column in the test sample.</p>"
    index = {(r["method"], r["quantity"], r["variable"], r["pt_lo"]): r for r in slopes}
    keys = list(dict.fromkeys((r["method"], r["quantity"], r["pt_lo"], r["pt_hi"]) for r in slopes))
    rows = []
    for m, q, lo, hi in keys:
        cells = []
        for var in ("mu", "npv"):
            r = index.get((m, q, var, lo))
            b = index.get((base, q, var, lo))
            if r is None:
                cells += ["–", "–"]
                continue
            cells += [f"{_fmt(_scaled(r['slope']), digits=2)} ± {_fmt(_scaled(r['slope_err']), digits=2)}",
                      _fmt(_div(r["slope"], None if b is None else b["slope"]), digits=2)]
        rows.append([html.escape(m), q, _pt_bin(lo, hi), *cells])
    head = ["method", "quantity", "p<sub>T</sub><sup>true</sup> [GeV]", "d(median)/dμ [10<sup>−3</sup>]",
            f"÷ {html.escape(base)}", "d(median)/dN<sub>PV</sub> [10<sup>−3</sup>]", f"÷ {html.escape(base)}"]
    return _table(head, rows) + (
        "<p class='note'>Slope of the median closure against ⟨μ⟩ and N<sub>PV</sub> in each "
        "p<sub>T</sub><sup>true</sup> bin: a straight line fitted to the medians of the μ (N<sub>PV</sub>) bins, "
        "weighted by their bootstrap errors; per unit of μ (N<sub>PV</sub>), ×10<sup>3</sup>. 0 is a "
        "calibration that does not depend on pile-up. Selection as the headline.</p>")


def _scaled(x: float | None) -> float | None:
    return None if x is None else 1e3 * x


def _generator_html(rows: list[dict], base: str, alt_source: str) -> str:
    if not rows:
        return ("<p class='note'>No altered sample: run <code>jetcalib evaluate TEST --alt ALT_TABLE</code> "
                "with a <code>dijet_alt</code> table.</p>")
    index = {(r["method"], r["quantity"], r["pt_lo"]): r for r in rows}
    out = []
    for r in rows:
        b = index.get((base, r["quantity"], r["pt_lo"]), {})
        cells = []
        for stat, pct in (("median", False), ("resolution", True)):
            cells += [_fmt(r[f"{stat}_nominal"], pct), _fmt(r[f"{stat}_alt"], pct),
                      f"{_fmt(r[f'{stat}_shift'], pct)} ± {_fmt(r[f'{stat}_shift_err'], pct)}",
                      _fmt(_div(abs(r[f"{stat}_shift"]) if r[f"{stat}_shift"] is not None else None,
                                abs(b[f"{stat}_shift"]) if b.get(f"{stat}_shift") is not None else None), digits=2)]
        out.append([html.escape(r["method"]), r["quantity"], _pt_bin(r["pt_lo"], r["pt_hi"]), *cells,
                    f"{r['n_nominal']} / {r['n_alt']}"])
    head = ["method", "quantity", "p<sub>T</sub><sup>true</sup> [GeV]", "median nominal", "median alt.",
            "Δ median", f"|Δ| ÷ {html.escape(base)}", "resolution nominal", "resolution alt.", "Δ resolution",
            f"|Δ| ÷ {html.escape(base)}", "jets nom. / alt."]
    return _table(head, out) + (
        f"<p class='note'>Generator dependence: the same calibrations on the altered sample "
        f"<code>{html.escape(alt_source)}</code> (other shower and hadronisation) minus the nominal sample (its dijet jets only when the "
        "altered sample is all <code>dijet_alt</code>), in p<sub>T</sub><sup>true</sup> bins; errors: the two bootstrap errors in quadrature (independent "
        f"samples). |Δ| ÷ {html.escape(base)} below 1: less dependent on the generator than the baseline. "
        "Selection as the headline.</p>")


def _provenance_html(prov: Mapping | None) -> str:
    if not prov:
        return "<p class='note'>No provenance given (library call without inputs).</p>"
    rows = [["jetcalib (this report)", html.escape(str(prov.get("jetcalib_version")))],
            ["simulation version of this jetcalib", html.escape(str(prov.get("simulation_version_of_this_code")))],
            ["bootstrap", f"{prov.get('bootstrap_resamples')} resamples per bin, seed {prov.get('bootstrap_seed')}"]]
    for role, s in prov.get("samples", {}).items():
        seeds = s.get("seeds") or []
        shown = ", ".join(str(x) for x in seeds[:4]) + (f", … ({len(seeds)})" if len(seeds) > 4 else "")
        rows.append([f"{html.escape(role)} sample", "<br>".join(html.escape(str(x)) for x in (
            s.get("path"), s.get("sha256"),
            f"producer {s.get('producer')}, jetcalib {s.get('jetcalib_version', '–')}, simulation version "
            f"{s.get('simulation_version') or '–'}, process {s.get('process') or '–'}, events {s.get('n_events') or '–'}",
            f"seeds {shown or '–'}"))])
    for m in prov.get("methods", []):
        seeds = ", ".join(f"{k} {v}" for k, v in (m.get("seeds") or {}).items()) or "–"
        rows.append([f"method {html.escape(m['method'])}", "<br>".join(html.escape(str(x)) for x in (
            m.get("path") or "built in", f"{m.get('artifact', '–')}, content hash {m.get('content_hash') or '–'}",
            f"made by jetcalib {m.get('jetcalib_version', '–')} on {m.get('created', '–')}; seeds {seeds}"))])
    return "<table class='prov'>" + "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows) + "</table>"


def make_report(
    table: Mapping[str, np.ndarray],
    methods: Mapping[str, Calibration],
    out_dir: str | Path,
    *,
    baseline: str | None = None,
    weighted: bool = False,
    n_boot: int = 50,
    seed: int = 0,
    title: str = "jetcalib evaluation",
    progress: Callable[[str], None] | None = None,
    source: str = "test table",
    inputs: Iterable[str | Path] = (),
    alt_table: Mapping[str, np.ndarray] | None = None,
    alt_source: str = "altered sample",
    provenance: Mapping | None = None,
    jets: Mapping | None = None,
) -> dict:
    """Evaluate ``methods`` (plus ``uncalibrated``) on ``table`` and write the report into
    ``out_dir``: ``report.html``, ``summary.json``, ``binned_metrics.parquet/.csv``.

    ``baseline`` (default: ``numerical`` if given, else the first method, else
    ``uncalibrated``) is the denominator of every ratio. Returns the summary dict.
    ``alt_table`` (an altered-generator sample, e.g. ``dijet_alt``, named ``alt_source``) adds
    the generator dependence (table and figure); ``provenance`` (:func:`~jetcalib.evaluate.
    inputs.report_provenance`) the provenance block; ``jets`` (the ``jets`` block of the
    sample's detector config, :func:`~jetcalib.evaluate.inputs.jets_config`) the jet definition
    of the figures' label.
    Refuses (:class:`InputError`, naming ``source``) a table in which no jet can be evaluated,
    and an ``inputs`` path that is one of the report's files. The report is written into a
    private temporary directory inside ``out_dir`` and moved in when complete: a failure or an
    interruption leaves ``out_dir`` as it was.
    """
    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a directory")
    check_output_name(out_dir / REPORT_FILES[-1])
    _refuse_overwriting_inputs(out_dir, inputs)
    _check_evaluable(table, source)
    if alt_table is not None:
        _check_evaluable(alt_table, alt_source)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the report directory ({exc.strerror or exc})") from None
    stage: Path | None = None
    done = False
    try:
        # the report is made in a private directory of this run and moved in only when
        # complete: an interruption removes what this run wrote and nothing else
        try:
            stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".jc-report-"))
        except OSError as exc:
            raise InputError(f"{out_dir}: cannot write the report ({exc.strerror or exc})") from None
        summary = _make_report(table, methods, stage, baseline=baseline, weighted=weighted, n_boot=n_boot,
                               seed=seed, title=title, step=step, alt_table=alt_table,
                               alt_source=alt_source, provenance=provenance, jets=jets)
        _move_in(stage, out_dir)
        done = True
        return summary
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):
                out_dir.rmdir()


def _refuse_overwriting_inputs(out_dir: Path, inputs: Iterable[str | Path]) -> None:
    outputs = {(out_dir / name).resolve(): name for name in REPORT_FILES}
    for given in inputs:
        if Path(given).resolve() in outputs:
            raise InputError(f"{given}: is an input, and the report would overwrite it "
                             f"({outputs[Path(given).resolve()]}); choose another --out")


def _move_in(stage: Path, out_dir: Path) -> None:
    """Rename the finished files into ``out_dir``, report.html last, with SIGINT and SIGTERM
    held back meanwhile (delivered after): a report is replaced whole or not at all."""
    from .._signals import signals_held

    with signals_held():
        for name in REPORT_FILES:
            try:
                os.replace(stage / name, out_dir / name)
            except OSError as exc:
                raise InputError(f"{out_dir / name}: cannot write the report ({exc.strerror or exc})") from None


def _check_evaluable(table: Mapping[str, np.ndarray], source: str) -> None:
    """Refuse a table in which no jet can be evaluated (instead of empty plots, or a crash)."""
    with np.errstate(invalid="ignore"):
        pt = np.asarray(table["pt_true"], dtype=np.float64)
        ok = ((pt > EVAL_MIN_PT) & (np.abs(np.asarray(table["eta_true"], dtype=np.float64)) < EVAL_ETA_MAX)
              & np.isfinite(np.asarray(table["e_true"], dtype=np.float64))
              & np.isfinite(np.asarray(table["e_reco"], dtype=np.float64)))
    if not ok.any():
        raise InputError(
            f"{source}: no jet can be evaluated: none of the {pt.size:,} jets has finite e_reco and "
            f"e_true with pt_true > {EVAL_MIN_PT:g} GeV and |eta_true| < {EVAL_ETA_MAX:g}"
        )


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if p]
    if not parts:
        from .metrics import BINNED_FIELDS
        from .study import SLICE_FIELDS

        return {k: np.array([], dtype=object if k in SLICE_FIELDS[:4] else np.float64)
                for k in (*SLICE_FIELDS, *BINNED_FIELDS)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


_SEL_E = "p<sub>T</sub><sup>true</sup> > 200 GeV, |η<sup>true</sup>| &lt; 2"
_SEL_M = _SEL_E + ", m<sup>true</sup> > 30 GeV"
_SEL_TEX = {"energy": r"$p_\mathrm{T}^\mathrm{true}$ > 200 GeV, $|\eta^\mathrm{true}|$ < 2",
            "mass": r"$p_\mathrm{T}^\mathrm{true}$ > 200 GeV, $|\eta^\mathrm{true}|$ < 2, $m^\mathrm{true}$ > 30 GeV"}
_PT_SLICE = r"{lo:g} < $p_\mathrm{{T}}^\mathrm{{true}}$ < {hi:g} GeV"
_ETA_SLICE = r"{lo:g} < $|\eta^\mathrm{{true}}|$ < {hi:g}"


def _make_report(
    table: Mapping[str, np.ndarray],
    methods: Mapping[str, Calibration],
    out_dir: Path,
    *,
    baseline: str | None,
    weighted: bool,
    n_boot: int,
    seed: int,
    title: str,
    step: Callable[[str], None],
    alt_table: Mapping[str, np.ndarray] | None = None,
    alt_source: str = "altered sample",
    provenance: Mapping | None = None,
    jets: Mapping | None = None,
) -> dict:
    from .plots import (
        closure_resolution_figure,
        generator_shift_figure,
        jet_definition,
        mass_peak_figure,
        resolution_map_figure,
        response_figure,
        setup_style,
        sliced_figure,
    )

    all_methods: dict[str, Calibration] = {UNCALIBRATED: Uncalibrated(), **methods}
    if baseline is None:
        baseline = "numerical" if "numerical" in methods else next(iter(methods), UNCALIBRATED)
    jet_label = jet_definition(jets)
    step("calibrating")
    outputs = run_methods(table, all_methods)
    step("binned metrics")
    binned = binned_table(table, outputs, weighted=weighted, n_boot=n_boot, seed=seed,
                          progress=lambda: step("binned metrics"))
    _write_tables(binned, out_dir)
    step("sliced metrics")
    eta_sliced = sliced_table(table, outputs, "pt_true", "abs_eta", ETA_SLICES, weighted=weighted, n_boot=n_boot,
                              seed=seed)
    pu_sliced = {v: sliced_table(table, outputs, v, "pt_true", PT_BINS, weighted=weighted, n_boot=n_boot, seed=seed)
                 for v in ("mu", "npv")}
    _write_tables(_concat([eta_sliced, *pu_sliced.values()]), out_dir, "sliced_metrics")
    summary = headline(table, outputs, binned, baseline)
    summary["weighted"] = weighted
    peaks_pt = mass_peaks_by_pt(table, outputs)
    slopes = [r for v in ("mu", "npv") for r in pileup_slopes(pu_sliced[v])]
    shifts: list[dict] = []
    if alt_table is not None:
        step("altered sample")
        alt_outputs = run_methods(alt_table, all_methods)
        shifts = generator_shift(table, outputs, alt_table, alt_outputs, n_boot=n_boot, seed=seed)
    summary["mass_peaks_by_pt"] = _finite_or_none(peaks_pt)
    summary["pileup_slopes"] = _finite_or_none(slopes)
    summary["generator_shift"] = _finite_or_none(shifts) if alt_table is not None else None
    summary["provenance"] = dict(provenance) if provenance else None
    cov = coverage_rows(table, outputs, PT_BINS, min_pt=EVAL_MIN_PT, abs_eta_max=EVAL_ETA_MAX,
                        min_mass=EVAL_MIN_MASS)
    summary["coverage"] = cov or None
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False))

    step("figures")
    setup_style()
    # (section id, section title, [(caption, png)])
    sections: list[tuple[str, str, list[tuple[str, str]]]] = []
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    eta = np.asarray(table["eta_true"], dtype=np.float64)
    sel_e = (pt > EVAL_MIN_PT) & (np.abs(eta) < EVAL_ETA_MAX)
    sel_m = sel_e & (np.asarray(table["m_true"]) > EVAL_MIN_MASS)
    resp_cols, resp_labels = [], []
    pt_bins = [(float(lo), float(hi)) for lo, hi in itertools.pairwise(PT_BINS)]
    for lo, hi in [(EVAL_MIN_PT, float("inf")), *pt_bins]:
        b = (pt >= lo) & (pt < hi)
        if not (sel_e & b).any():
            continue
        resp_cols.append({m: {"energy": o["e_cal"][sel_e & b] / table["e_true"][sel_e & b],
                              "mass": o["m_cal"][sel_m & b] / table["m_true"][sel_m & b]} for m, o in outputs.items()})
        resp_labels.append(r"$p_\mathrm{T}^\mathrm{true}$ > 200 GeV" if not np.isfinite(hi) else
                           _PT_SLICE.format(lo=lo, hi=hi))
    sections.append(("fig-response", "Response distributions", [(
        f"Response distributions E<sup>cal</sup>/E<sup>true</sup> (top) and m<sup>cal</sup>/m<sup>true</sup> "
        f"(bottom) per method: inclusive and in p<sub>T</sub><sup>true</sup> bins. Selection: {_SEL_E}; mass "
        "adds m<sup>true</sup> > 30 GeV. Normalised to the jets of each panel; outside 0.4–1.6 not drawn.",
        _png(response_figure(resp_cols, baseline, resp_labels, jet_label)))]))
    present = set(binned["variable"])
    for q in ("energy", "mass"):
        figs = []
        for var in VARIABLES.values():
            if var.name in present:
                fig = closure_resolution_figure(binned, q, var.name, var.label, var.log, baseline,
                                                jet_label, _SEL_TEX[q])
                what = "process (categorical)" if var.name == "process" else html.escape(var.name)
                figs.append((f"{q.capitalize()}: median (points, lines) and mode (triangles) closure, resolution "
                             f"(q84 − q16)/(2·q50) and its ratio to {html.escape(baseline)} vs {what}. "
                             f"Selection: {_SEL_E if q == 'energy' else _SEL_M}. Error bars: bootstrap "
                             f"({n_boot} resamples); ratio errors: both in quadrature.", _png(fig)))
                step("figures")
        sections.append((f"fig-{q}", f"{q.capitalize()} closure and resolution", figs))
    figs = []
    if eta_sliced:
        for q in ("energy", "mass"):
            fig = sliced_figure(eta_sliced, q, VARIABLES["pt_true"].label, True, baseline, _ETA_SLICE,
                                jet_label, _SEL_TEX[q])
            figs.append((f"{q.capitalize()} closure (median, ▲ mode) and resolution vs p<sub>T</sub><sup>true</sup> "
                         f"in |η<sup>true</sup>| slices {', '.join(f'{a:g}–{b:g}' for a, b in itertools.pairwise(ETA_SLICES))}. "
                         f"Selection: {_SEL_E if q == 'energy' else _SEL_M}.", _png(fig)))
    sections.append(("fig-eta", "In η slices", figs))
    figs = []
    for v, sl in pu_sliced.items():
        if not sl:
            continue
        for q in ("energy", "mass"):
            fig = sliced_figure(sl, q, VARIABLES[v].label, False, baseline, _PT_SLICE, jet_label, _SEL_TEX[q])
            figs.append((f"{q.capitalize()} closure and resolution vs {'⟨μ⟩' if v == 'mu' else 'N<sub>PV</sub>'} in "
                         f"p<sub>T</sub><sup>true</sup> bins (bins of {'⟨μ⟩' if v == 'mu' else 'N<sub>PV</sub>'}: "
                         f"quintiles of the selected jets of each p<sub>T</sub> bin). Selection: "
                         f"{_SEL_E if q == 'energy' else _SEL_M}.", _png(fig)))
    sections.append(("fig-pileup", "Pile-up dependence in p<sub>T</sub> bins", figs))
    figs = []
    for m in outputs:
        if m == baseline:
            continue
        for q in ("energy", "mass"):
            ratio = (resolution_map(table, outputs[m]["m_cal"], outputs[m]["e_cal"], q)
                     / resolution_map(table, outputs[baseline]["m_cal"], outputs[baseline]["e_cal"], q))
            fig = resolution_map_figure(ratio, MAP_PT_EDGES, MAP_M_EDGES, q, f"{m} / {baseline}", jet_label)
            figs.append((f"{q.capitalize()} resolution ratio {html.escape(m)} / {html.escape(baseline)} "
                         "in (p<sub>T</sub><sup>true</sup>, m<sup>true</sup>) cells; |η<sup>true</sup>| &lt; 2, cells "
                         "with at least 30 jets (blue: better than the baseline).", _png(fig)))
    sections.append(("fig-maps", "Resolution-ratio maps", figs))
    figs = []
    if "process" in table:
        proc = np.asarray(table["process"])
        for key, code, label in (("wz", 1, "W/Z jets"), ("top", 2, "top jets")):
            for lo, hi in [(EVAL_MIN_PT, float("inf")), *pt_bins]:
                s = sel_e & (proc == code) & (pt >= lo) & (pt < hi)
                if s.sum() < 30:
                    continue
                if np.isfinite(hi):
                    fits = {f["method"]: f for f in peaks_pt if f["sample"] == key and f["pt_lo"] == lo}
                    where = _PT_SLICE.format(lo=lo, hi=hi)
                    cap_where = f"{lo:g} &lt; p<sub>T</sub><sup>true</sup> &lt; {hi:g} GeV, |η<sup>true</sup>| &lt; 2"
                else:
                    fits = {m: summary["mass_peaks"].get(m, {}).get(key, {}) for m in outputs}
                    where, cap_where = _SEL_TEX["energy"], _SEL_E
                fits = {m: {k: (np.nan if v is None else v) for k, v in f.items()} for m, f in fits.items()}
                fig = mass_peak_figure({m: o["m_cal"][s] for m, o in outputs.items()}, fits, MASS_WINDOWS[key],
                                       np.asarray(table["m_true"])[s], f"{label}, {where}", baseline, jet_label)
                figs.append((f"Mass peak of {label}: m<sup>cal</sup> per method, m<sup>true</sup> filled; the thick "
                             "translucent curves are the fitted Gaussian cores (window shaded: "
                             f"{MASS_WINDOWS[key][0]:g}–{MASS_WINDOWS[key][1]:g} GeV). Selection: {cap_where}.",
                             _png(fig)))
    sections.append(("fig-peaks", "Mass peaks", figs))
    if shifts:
        sections.append(("fig-generator", "Generator dependence", [(
            f"Shift of the median closure (left) and of the resolution (right) between the altered sample "
            f"<code>{html.escape(alt_source)}</code> and the nominal one (its dijet jets, against a dijet_alt sample), energy (top) and mass (bottom), vs "
            f"p<sub>T</sub><sup>true</sup>. Selection: {_SEL_E}; mass adds m<sup>true</sup> > 30 GeV. Errors: "
            "bootstrap, both samples in quadrature.", _png(generator_shift_figure(shifts, baseline, jet_label)))]))

    step("html")
    sections = [s for s in sections if s[2]]
    n_fig = 0
    body = []
    for sid, stitle, figs in sections:
        parts = []
        for cap, png in figs:
            n_fig += 1
            parts.append(f"<figure id='{sid}-{n_fig}'><img alt='Figure {n_fig}' src='data:image/png;base64,{png}'/>"
                         f"<figcaption><a href='#{sid}-{n_fig}'>Figure {n_fig}</a>. {cap}</figcaption></figure>")
        body.append(f"<h3 id='{sid}'>{stitle}</h3>" + "".join(parts))
    tables = [("provenance", "Provenance", _provenance_html(provenance)),
              ("headline", "Headline", _summary_html(summary)),
              ("mass-peaks", "Mass peaks", _peaks_html(summary, summary["mass_peaks_by_pt"])),
              ("pileup", "Pile-up stability", _pileup_html(summary["pileup_slopes"], baseline)),
              ("generator", "Generator dependence", _generator_html(summary["generator_shift"] or [], baseline,
                                                                    alt_source))]
    if summary.get("coverage"):
        tables.append(("coverage", "Coverage of the predicted uncertainties", _coverage_html(summary["coverage"])))
    toc = ("<nav><b>Contents</b><ol>" + "".join(f"<li><a href='#{i}'>{t}</a></li>" for i, t, _ in tables)
           + "<li><a href='#figures'>Figures</a><ol>"
           + "".join(f"<li><a href='#{sid}'>{t}</a> ({len(f)})</li>" for sid, t, f in sections) + "</ol></li></ol></nav>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 8px; text-align: right; }}
th {{ background: #eee; }}
table.prov td, table.prov th {{ text-align: left; font-family: monospace; font-size: 0.95em; }}
nav {{ float: right; max-width: 22em; background: #f6f6f6; border: 1px solid #ddd; padding: 0.5em 1em;
       margin: 0 0 1em 1em; font-size: 0.9em; }}
nav ol {{ padding-left: 1.3em; margin: 0.2em 0; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figure img {{ max-width: 560px; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85em; max-width: 560px; }}
.note {{ font-size: 0.85em; color: #555; max-width: 60em; }}
</style></head><body>
{toc}
<h1>{html.escape(title)}</h1>
<p>{summary['n_jets']:,} jets; methods: {', '.join(html.escape(m) for m in outputs)}; baseline:
<b>{html.escape(baseline)}</b>; statistics per bin {'weighted by the event weight' if weighted else 'unweighted'};
uncertainties from {n_boot} bootstrap resamples. Jets: {html.escape(_plain(jet_label))}.</p>
{"".join(f"<h2 id='{i}'>{t}</h2>{h}" for i, t, h in tables)}
<h2 id='figures'>Figures</h2>{"".join(body)}
</body></html>
"""
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return summary


def _plain(tex: str) -> str:
    """A figure label's mathtext as plain text for the page."""
    for a, b in ((r"anti-$k_t$", "anti-kt"), (r"$R$", "R"), (r"$R_\mathrm{sub}$", "R_sub"),
                 (r"$f_\mathrm{cut}$", "f_cut"), (r"$\beta$", "β"), (r"$z_\mathrm{cut}$", "z_cut")):
        tex = tex.replace(a, b)
    return tex
