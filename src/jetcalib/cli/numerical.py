"""``jetcalib numerical fit``: derive the standard numerical-inversion calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    CONTEXT_SETTINGS,
    MapFileOption,
    MapOption,
    TreeOption,
    UnitsOption,
    app,
    column_map,
    console,
    err_console,
    old_spelling,
)

numerical_app = typer.Typer(
    name="numerical",
    help="The standard numerical-inversion calibration (JES then JMS), the baseline.",
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
)
app.add_typer(numerical_app, name="numerical")


@numerical_app.command("fit")
def fit(
    train: Annotated[Path, typer.Argument(help="Matched jets (.parquet or .root) with truth and reco columns.",
                                          show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Calibration artifact to write (.json).",
                                      show_default=False)],
    central: Annotated[str, typer.Option("--central", help="Central value of each response bin: median, "
                                         "gauss (Gaussian-core fit) or mode.")] = "median",
    correctionlib: Annotated[Path | None, typer.Option("--correctionlib", help="Also export a correctionlib "
                                                       "(schema v2) JSON to this path.")] = None,
    no_jms: Annotated[bool, typer.Option("--no-jms", help="Fit the energy scale only; the mass follows it.")] = False,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
    units: UnitsOption = None,
    output: Annotated[Path | None, old_spelling("--output", of="out")] = None,  # noqa: ARG001 -- until the next release (#17)
) -> None:
    """Fit JES (bins of E_true × η_det, Δη = 0.1 to |η| = 2, smooth in ln E_reco) then JMS
    (bins of E_true × ln(m_true/E_true) × |η_det|, applied above E = 180 GeV) on TRAIN.

    Writes a versioned JSON artifact with a content hash; apply it with ``jetcalib calibrate``.
    A table in MeV (--units MeV) is converted to GeV: the calibration itself works in GeV and
    applies to any table through calibrate --units.
    """
    from ..errors import InputError
    from ..io import check_simulation_versions, read_table
    from ..io.units import read_as_gev, resolve_units
    from ..numerical import (
        CENTRAL_METHODS,
        FIT_COLUMNS,
        NumericalCalibration,
        NumericalConfig,
        write_correctionlib,
    )

    if central not in CENTRAL_METHODS:
        raise InputError(f"--central {central!r}: choose one of {', '.join(CENTRAL_METHODS)}")
    if out.suffix.lower() != ".json":
        raise InputError(f"-o {out}: the calibration artifact must be a .json file")
    cmap = column_map(map_, map_file)
    units = resolve_units(units, cmap)
    table, meta = read_table(train, FIT_COLUMNS, tree=tree, column_map=cmap)
    table = read_as_gev(table, units, train, cmap)
    check_simulation_versions([(str(train), meta)])
    table = _usable_jets(table, train)
    provenance = {"path": str(train), "rows": len(table["e_true"])}
    if meta is not None:
        provenance.update(created=meta.created, producer=meta.producer, seeds=meta.seeds[:16])
    with err_console.status(f"fitting JES{'' if no_jms else ' + JMS'} on {len(table['e_true']):,} jets"):
        cal = NumericalCalibration.fit(table, NumericalConfig.model_validate({"central": central, "jms": not no_jms}),
                                       training_data=[provenance])
    cal.save(out)
    console.print(f"wrote {out}: {cal}")
    if correctionlib is not None:
        write_correctionlib(cal, correctionlib)
        console.print(f"wrote {correctionlib} (correctionlib schema v2: jes_response, jms_response)")


#: Above this fraction of jets with absurd truth the table is refused rather than trimmed: it
#: is in other units (MeV) or corrupt, and a fit on the rest would not be what the user meant.
MAX_BAD_TRUTH_FRACTION = 0.1


def _usable_jets(table: dict, source: Path) -> dict:
    """Leave out jets no calibration can use, saying how many: at reco level the jets
    ``calibrate`` flags (non-finite or null values, m <= 0, m > E, E > 14 TeV, |eta| > 4.9);
    at truth level a non-finite or null value, E_true <= 0 or above 14 TeV, m_true < 0 or
    above E_true. Refuse a table with none left, or with more than 10 % absurd truth."""
    import numpy as np

    from ..errors import InputError
    from ..features import ENERGY_MAX, input_flags, out_of_range

    flags = input_flags(table["e_reco"], table["m_reco"], table["eta_reco"],
                        np.column_stack([table["eta"], table["e_true"], table["m_true"]]))
    with np.errstate(invalid="ignore"):
        e_t, m_t = (np.asarray(table[c], dtype=np.float64) for c in ("e_true", "m_true"))
        bad_truth = np.isfinite(e_t) & np.isfinite(m_t) & (out_of_range(e_t, m_t) | (m_t < 0))
    good = (flags == 0) & ~bad_truth
    n_bad = int(good.size - good.sum())
    n_truth = int(bad_truth.sum())
    if n_truth > MAX_BAD_TRUTH_FRACTION * good.size:
        raise InputError(
            f"{source}: {n_truth:,} of {good.size:,} jets have an unphysical truth (e_true <= 0 or "
            f"above {ENERGY_MAX:g} GeV, m_true < 0 or above e_true): energies must be in GeV")
    if n_bad == 0:
        return table
    if not good.any():
        raise InputError(f"{source}: none of the {good.size:,} jets is usable (non-finite values, "
                         "m <= 0, m > E, E > 14 TeV or |eta| > 4.9 in every row)")
    truth = f" ({n_truth:,} of them for an unphysical truth)" if n_truth else ""
    console.print(f"left out {n_bad:,} of {good.size:,} jets with non-finite values, m <= 0, m > E, "
                  f"E > 14 TeV or |eta| > 4.9{truth}")
    return {k: v[good] for k, v in table.items()}
