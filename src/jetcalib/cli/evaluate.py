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
        "--method", help="NAME=PATH of a calibration artifact (repeatable), e.g. numerical=numcal.json; "
        "NAME=reference: the reference model shipped with jetcalib. "
        "'uncalibrated' (reco/true) is always included.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Report directory (created).")] = Path("report"),
    baseline: Annotated[str | None, typer.Option(
        "--baseline", help="Method all ratios divide by (default: numerical, else the first method).")] = None,
    weighted: Annotated[bool, typer.Option(
        "--weighted", help="Weight every statistic by the 'weight' column (default: per-bin unweighted, "
        "as in the paper).")] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples per bin.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    alt: Annotated[Path | None, typer.Option(
        "--alt", help="Altered-generator test sample (e.g. generate --process dijet_alt), same simulation "
        "version: adds the generator dependence (shift of closure and resolution per method in pT bins).",
        show_default=False)] = None,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
    units: UnitsOption = None,
) -> None:
    """Compare calibrations on a test sample: HTML report and summary.json.

    Closure (median, mode) and resolution vs pT, E, η, m, m/pT, μ, NPV and process for every
    method, in |eta| slices and (mu, NPV) in pT bins, ratios to the baseline, 2-D
    resolution-ratio maps in (pT, m), W/Z and top mass peaks (inclusive and in pT bins),
    pile-up slopes, and with --alt the generator dependence. Writes report.html
    (self-contained, with a provenance block), summary.json, binned_metrics and
    sliced_metrics (.parquet/.csv).
    A test sample in MeV (--units MeV) is converted to GeV: the report is in GeV.
    """
    from ..deploy import reference_model
    from ..deploy.reference import REFERENCE_NAME
    from ..errors import InputError
    from ..evaluate import UNCALIBRATED, load_calibration, make_report, parse_method_specs
    from ..evaluate.inputs import (
        check_alt_sample,
        jets_config,
        method_provenance,
        read_sample,
        report_provenance,
        sample_provenance,
    )
    from ..io.units import resolve_units

    cmap = column_map(map_, map_file)
    units = resolve_units(units, cmap)
    specs = parse_method_specs(method or [])
    for spec in method or []:  # NAME=reference: the reference model shipped with jetcalib
        name, _, path = spec.partition("=")
        if path.strip() == REFERENCE_NAME:
            specs[name.strip()] = reference_model()
    if bootstrap < 2:
        raise InputError(f"--bootstrap {bootstrap}: need at least 2 resamples")
    names = [UNCALIBRATED, *specs]
    if baseline is not None and baseline not in names:
        raise InputError(f"--baseline {baseline!r}: not one of the methods ({', '.join(names)})")
    if alt is not None and not alt.exists():
        raise InputError(f"--alt {alt}: not found")
    methods = {name: load_calibration(path) for name, path in specs.items()}
    needed = list(dict.fromkeys(_TRUTH + tuple(c for m in methods.values() for c in m.required_columns)
                                + (("weight",) if weighted else ())))
    table, meta = read_sample(test, needed, _OPTIONAL, tree=tree, column_map=cmap, units=units)
    alt_table = alt_meta = None
    samples = {"test": sample_provenance(test, meta)}
    if alt is not None:
        alt_table, alt_meta = read_sample(alt, needed, _OPTIONAL, tree=tree, column_map=cmap, units=units)
        check_alt_sample(str(test), meta, str(alt), alt_meta)
        samples["altered (--alt)"] = sample_provenance(alt, alt_meta)
    provenance = report_provenance(samples, [method_provenance(n, specs[n], m) for n, m in methods.items()],
                                   bootstrap_seed=seed, n_boot=bootstrap)
    with err_console.status("evaluating") as status:
        summary = make_report(table, methods, out, baseline=baseline, weighted=weighted, n_boot=bootstrap,
                              seed=seed, title=f"jetcalib evaluation of {test.name}", source=str(test),
                              inputs=[test, *specs.values(), *([alt] if alt is not None else [])],
                              alt_table=alt_table, alt_source=str(alt), provenance=provenance,
                              jets=jets_config(meta),
                              progress=lambda msg: status.update(f"evaluating: {msg}"))
    console.print(f"wrote {out}/report.html, summary.json, binned_metrics and sliced_metrics .parquet/.csv")
    for m in summary["methods"]:
        r = summary["resolution"][m]["energy"]
        shown = ", ".join(f"{k}: {v:.3f}" if v is not None else f"{k}: -" for k, v in r.items())
        console.print(f"  {m}: energy resolution by pT region {shown}")
