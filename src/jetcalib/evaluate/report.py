"""The evaluation report: binned tables (Parquet + CSV), figures, ``summary.json`` and one
self-contained ``report.html`` (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import contextlib
import html
import io
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
from .massfit import MASS_WINDOWS
from .methods import UNCALIBRATED, Calibration, Uncalibrated
from .metrics import resolution
from .study import (
    EVAL_ETA_MAX,
    EVAL_MIN_MASS,
    EVAL_MIN_PT,
    VARIABLES,
    binned_table,
    headline,
    run_methods,
)

__all__ = ["MAP_M_EDGES", "MAP_PT_EDGES", "make_report", "resolution_map"]

MAP_PT_EDGES = np.array([200, 300, 500, 800, 1300, 3000.0])  #: GeV
MAP_M_EDGES = np.array([30, 50, 80, 130, 220, 400.0])  #: GeV
#: Files a report directory holds, in the order they are moved in (report.html last).
REPORT_FILES = ("binned_metrics.parquet", "binned_metrics.csv", "summary.json", "report.html")


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
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _write_tables(binned: Mapping[str, np.ndarray], out_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in binned.items()}
    table = pa.table(arrays)
    with atomic_path(out_dir / "binned_metrics.parquet") as tmp:
        pq.write_table(table, tmp)
    with atomic_path(out_dir / "binned_metrics.csv") as tmp:
        pcsv.write_csv(table, tmp)


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.2f} %" if pct else f"{x:.3f}"


def _summary_html(summary: dict) -> str:
    base = summary["baseline"]
    rows = []
    for m in summary["methods"]:
        for q in ("energy", "mass"):
            res = summary["resolution"][m][q]
            rat = summary["resolution_ratio"][m][q]
            cells = "".join(f"<td>{_fmt(res[r], True)} ({_fmt(rat[r])})</td>" for r in res)
            dev = summary["closure_max_deviation"][m][q]
            rows.append(f"<tr><td>{html.escape(m)}</td><td>{q}</td>{cells}<td>{_fmt(dev, True)}</td></tr>")
    regions = "".join(f"<th>p<sub>T</sub><sup>true</sup> {html.escape(r)} GeV</th>"
                      for r in next(iter(summary["resolution"].values()))["energy"])
    peaks = []
    for m, fits in summary.get("mass_peaks", {}).items():
        for key, f in fits.items():
            peaks.append(f"<tr><td>{html.escape(m)}</td><td>{key}</td><td>{_fmt(f['position'])}</td>"
                         f"<td>{_fmt(f['width'])}</td><td>{f['n']}</td></tr>")
    peak_table = ("<h3>Mass peaks (Gaussian core, GeV)</h3><table><tr><th>method</th><th>sample</th>"
                  "<th>position</th><th>width σ</th><th>jets</th></tr>" + "".join(peaks) + "</table>") if peaks else ""
    return (
        f"<table><tr><th>method</th><th>quantity</th>{regions}<th>max |closure − 1|</th></tr>"
        + "".join(rows) + "</table>"
        f"<p class='note'>Resolution (q84 − q16)/(2·q50), mean over the p<sub>T</sub><sup>true</sup> bins of "
        f"each region; in brackets the ratio to <b>{html.escape(base)}</b>. Max |closure − 1|: the median "
        f"response over p<sub>T</sub><sup>true</sup> bins.</p>" + peak_table
    )


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
) -> dict:
    """Evaluate ``methods`` (plus ``uncalibrated``) on ``table`` and write the report into
    ``out_dir``: ``report.html``, ``summary.json``, ``binned_metrics.parquet/.csv``.

    ``baseline`` (default: ``numerical`` if given, else the first method, else
    ``uncalibrated``) is the denominator of every ratio. Returns the summary dict.
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
                               seed=seed, title=title, step=step)
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
) -> dict:
    from .plots import (
        closure_resolution_figure,
        mass_peak_figure,
        resolution_map_figure,
        response_figure,
        setup_style,
    )

    all_methods: dict[str, Calibration] = {UNCALIBRATED: Uncalibrated(), **methods}
    if baseline is None:
        baseline = "numerical" if "numerical" in methods else next(iter(methods), UNCALIBRATED)
    step("calibrating")
    outputs = run_methods(table, all_methods)
    step("binned metrics")
    binned = binned_table(table, outputs, weighted=weighted, n_boot=n_boot, seed=seed,
                          progress=lambda: step("binned metrics"))
    _write_tables(binned, out_dir)
    summary = headline(table, outputs, binned, baseline)
    summary["weighted"] = weighted
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False))

    step("figures")
    setup_style()
    figures: list[tuple[str, str]] = []
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    eta = np.asarray(table["eta_true"], dtype=np.float64)
    sel_e = (pt > EVAL_MIN_PT) & (np.abs(eta) < EVAL_ETA_MAX)
    sel_m = sel_e & (np.asarray(table["m_true"]) > EVAL_MIN_MASS)
    responses = {m: {"energy": (o["e_cal"][sel_e] / table["e_true"][sel_e]),
                     "mass": (o["m_cal"][sel_m] / table["m_true"][sel_m])} for m, o in outputs.items()}
    figures.append(("Response distributions (p<sub>T</sub><sup>true</sup> > 200 GeV, |η| < 2; mass: "
                     "m<sup>true</sup> > 30 GeV)", _png(response_figure(responses, baseline))))
    present = set(binned["variable"])
    for q in ("energy", "mass"):
        for var in VARIABLES.values():
            if var.name in present:
                fig = closure_resolution_figure(binned, q, var.name, var.label, var.log, baseline)
                figures.append((f"{q.capitalize()}: closure and resolution vs {html.escape(var.name)}", _png(fig)))
                step("figures")
    for m in outputs:
        if m == baseline:
            continue
        for q in ("energy", "mass"):
            ratio = (resolution_map(table, outputs[m]["m_cal"], outputs[m]["e_cal"], q)
                     / resolution_map(table, outputs[baseline]["m_cal"], outputs[baseline]["e_cal"], q))
            fig = resolution_map_figure(ratio, MAP_PT_EDGES, MAP_M_EDGES, q, f"{m} / {baseline}")
            figures.append((f"{q.capitalize()} resolution ratio {html.escape(m)} / {html.escape(baseline)} "
                            "in (p<sub>T</sub>, m)", _png(fig)))
    if "process" in table:
        proc = np.asarray(table["process"])
        for key, code, label in (("wz", 1, "W/Z jets"), ("top", 2, "top jets")):
            s = sel_e & (proc == code)
            if s.sum() < 30:
                continue
            fits = {m: summary["mass_peaks"].get(m, {}).get(key, {}) for m in outputs}
            fits = {m: {k: (np.nan if v is None else v) for k, v in f.items()} for m, f in fits.items()}
            fig = mass_peak_figure({m: o["m_cal"][s] for m, o in outputs.items()}, fits, MASS_WINDOWS[key],
                                   np.asarray(table["m_true"])[s], label, baseline)
            figures.append((f"Mass peak: {label}", _png(fig)))

    step("html")
    body = "".join(
        f"<figure><img alt='{html.escape(cap, quote=True)}' src='data:image/png;base64,{png}'/>"
        f"<figcaption>{cap}</figcaption></figure>" for cap, png in figures
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 8px; text-align: right; }}
th {{ background: #eee; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figure img {{ max-width: 560px; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85em; max-width: 560px; }}
.note {{ font-size: 0.85em; color: #555; max-width: 60em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{summary['n_jets']:,} jets; methods: {', '.join(html.escape(m) for m in outputs)}; baseline:
<b>{html.escape(baseline)}</b>; statistics per bin {'weighted by the event weight' if weighted else 'unweighted'};
uncertainties from {n_boot} bootstrap resamples.</p>
<h2>Headline</h2>{_summary_html(summary)}
<h2>Figures</h2>{body}
</body></html>
"""
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return summary
