"""``jetcalib evaluate``: compare calibrations on a test sample; HTML report + summary.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    MapFileOption,
    MapOption,
    TreeOption,
    UnitsOption,
    app,
    column_map,
    console,
    err_console,
)

#: Columns every evaluation reads, and the optional ones used when present.
_TRUTH = ("e_true", "pt_true", "eta_true", "m_true", "e_reco", "pt_reco", "m_reco")
_OPTIONAL = ("mu", "npv", "process", "weight")


@app.command()
def evaluate(
    test: Annotated[Path, typer.Argument(help="Matched test jets (.parquet or .root), independent of training.",
                                         show_default=False)],
    method: Annotated[list[str] | None, typer.Option(
        "--method", help="NAME=PATH of a calibration artifact (repeatable), e.g. numerical=numcal.json. "
        "'uncalibrated' (reco/true) is always included.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Report directory (created).")] = Path("report"),
    baseline: Annotated[str | None, typer.Option(
        "--baseline", help="Method all ratios divide by (default: numerical, else the first method).")] = None,
    weighted: Annotated[bool, typer.Option(
        "--weighted", help="Weight every statistic by the 'weight' column (default: per-bin unweighted, "
        "as in the paper).")] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples per bin.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
    units: UnitsOption = None,
) -> None:
    """Compare calibrations on a test sample: HTML report and summary.json.

    Closure (median, mode) and resolution vs pT, E, η, m, m/pT, μ, NPV and process for every
    method, ratios to the baseline, 2-D resolution-ratio maps in (pT, m), W/Z and top mass
    peaks. Writes report.html (self-contained), summary.json and binned_metrics.parquet/.csv.
    A test sample in MeV (--units MeV) is converted to GeV: the report is in GeV.
    """
    from ..errors import InputError
    from ..evaluate import UNCALIBRATED, load_calibration, make_report, parse_method_specs
    from ..io import open_jets
    from ..io.units import read_as_gev, resolve_units

    cmap = column_map(map_, map_file)
    units = resolve_units(units, cmap)
    specs = parse_method_specs(method or [])
    if bootstrap < 2:
        raise InputError(f"--bootstrap {bootstrap}: need at least 2 resamples")
    names = [UNCALIBRATED, *specs]
    if baseline is not None and baseline not in names:
        raise InputError(f"--baseline {baseline!r}: not one of the methods ({', '.join(names)})")
    methods = {name: load_calibration(path) for name, path in specs.items()}
    needed = list(dict.fromkeys(_TRUTH + tuple(c for m in methods.values() for c in m.required_columns)
                                + (("weight",) if weighted else ())))
    with open_jets(test, tree=tree, column_map=cmap) as f:
        f.require(needed)
        optional = [c for c in _OPTIONAL if c in f.columns and c not in needed]
        table = read_as_gev(f.read(needed + optional), units, test, cmap)
    with err_console.status("evaluating") as status:
        summary = make_report(table, methods, out, baseline=baseline, weighted=weighted, n_boot=bootstrap,
                              seed=seed, title=f"jetcalib evaluation of {test.name}", source=str(test),
                              inputs=[test, *specs.values()],
                              progress=lambda msg: status.update(f"evaluating: {msg}"))
    console.print(f"wrote {out}/report.html, summary.json, binned_metrics.parquet/.csv")
    for m in summary["methods"]:
        r = summary["resolution"][m]["energy"]
        shown = ", ".join(f"{k}: {v:.3f}" if v is not None else f"{k}: -" for k, v in r.items())
        console.print(f"  {m}: energy resolution by pT region {shown}")
