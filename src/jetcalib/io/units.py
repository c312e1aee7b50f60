"""Energy units of a user's table: GeV (jetcalib's own, the schema's) or MeV (ATLAS ntuples).

A table in MeV is converted to GeV on the way in: every column the schema declares in GeV
(energies, momenta, masses, ``split12``, ``split23``, ``qw``) is divided by 1000 and the
logarithms ``log_e``, ``log_m`` (ln of an energy in the table's unit) are shifted by ln 1000.
A calibration's outputs (``e_cal``, ``pt_cal``, ``m_cal``) go back in the table's unit.

:func:`check_plausible` refuses a table whose median jet energy looks like the other unit:
without it, MeV jets given as GeV are all flagged out of range (or, worse, a GeV table read as
MeV is calibrated at 1/1000 of its energy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from .schema import COLUMNS

__all__ = [
    "GEV_MEDIAN_MAX",
    "MEV_MEDIAN_MIN",
    "MEV_PER_GEV",
    "UNITS",
    "check_file_plausible",
    "check_plausible",
    "check_units",
    "outputs_from_gev",
    "read_as_gev",
    "resolve_units",
    "table_to_gev",
]

#: Units a table may be in (the schema's own first).
UNITS = ("GeV", "MeV")
MEV_PER_GEV = 1000.0
#: A median jet energy above this, read as GeV (20 TeV), is impossible at the LHC (a jet
#: carries at most the 7 TeV beam energy): the table is in MeV. Typical large-R jets have
#: E ~ 0.2-5 TeV, i.e. 200,000-5,000,000 MeV, far above it.
GEV_MEDIAN_MAX = 20_000.0
#: A median jet energy below this, read as MeV (20,000 MeV = 20 GeV), is softer than any
#: large-R jet sample (they start at pT ~ 100-200 GeV): the table is in GeV, whose medians of
#: 200-5,000 all lie below it. The two limits are the same number, so no table passes both
#: readings.
MEV_MEDIAN_MIN = 20_000.0

#: The median is judged only over at least this many jets with a finite energy: a handful of
#: jets says little about a unit, and each jet's own range check still flags an energy above
#: 14 TeV (``CalibFlag.OUT_OF_RANGE``, "a unit mistake such as MeV").
UNIT_CHECK_MIN_JETS = 10

#: Columns the schema declares in GeV: divided by 1000 from MeV.
_ENERGY_COLUMNS = frozenset(n for n, c in COLUMNS.items() if c.unit == "GeV")
#: Columns holding ln(energy / unit): shifted by ln 1000 from MeV.
_LOG_COLUMNS = frozenset(n for n, c in COLUMNS.items() if c.unit == "ln GeV")
_LN_MEV_PER_GEV = math.log(MEV_PER_GEV)
#: Outputs of a calibration that carry an energy unit.
_OUTPUTS = ("e_cal", "pt_cal", "m_cal")


def check_units(units: object, where: str = "units") -> str:
    """``units`` as one of :data:`UNITS` (case-insensitive); :class:`InputError` otherwise."""
    if isinstance(units, str):
        for u in UNITS:
            if units.strip().lower() == u.lower():
                return u
    raise InputError(f"{where}: {units!r} is not a unit; use {' or '.join(UNITS)}")


def check_plausible(e_reco: object, units: str, *, column: str = "e_reco") -> None:
    """Refuse (:class:`InputError`, one line naming ``column`` and the median) energies whose
    median looks like the other unit; no check over fewer than :data:`UNIT_CHECK_MIN_JETS`
    finite values (e.g. an empty table)."""
    e = np.asarray(e_reco, dtype=np.float64)
    e = e[np.isfinite(e)]
    if e.size < UNIT_CHECK_MIN_JETS:
        return
    median = float(np.median(e))
    if units == "GeV" and median > GEV_MEDIAN_MAX:
        raise InputError(f"{column}: median {median:,.0f} looks like MeV; pass --units MeV "
                         "(units='MeV' in Python)")
    if units == "MeV" and median < MEV_MEDIAN_MIN:
        raise InputError(f"{column}: median {median:,.4g} looks like GeV; pass --units GeV "
                         "(units='GeV' in Python, or leave the units out)")


def table_to_gev(columns: Mapping[str, object], units: str) -> dict[str, np.ndarray]:
    """The columns of ``columns`` (jetcalib names → arrays) with energies in GeV; a converted
    column keeps its float dtype (computed in float64), the others are as they are."""
    units = check_units(units)
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        arr = np.asarray(values)
        if units != "GeV" and name in _ENERGY_COLUMNS | _LOG_COLUMNS:
            dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
            x = arr.astype(np.float64)
            if name in _ENERGY_COLUMNS:
                x = x / MEV_PER_GEV
            else:
                x = x - _LN_MEV_PER_GEV
                if name == "log_m":  # ln(max(m, 1 GeV)): the floor in GeV, whatever it was in MeV
                    x = np.maximum(x, 0.0)
            arr = x.astype(dtype, copy=False)
        out[name] = arr
    return out


def outputs_from_gev(result: dict[str, np.ndarray], units: str) -> dict[str, np.ndarray]:
    """A calibration's result with ``e_cal``, ``pt_cal``, ``m_cal`` back in ``units``
    (float32, as written), in place."""
    units = check_units(units)
    if units != "GeV":
        for name in _OUTPUTS:
            if name in result:
                result[name] = (np.asarray(result[name], dtype=np.float64) * MEV_PER_GEV).astype(np.float32)
    return result


def resolve_units(units: str | None, column_map: Any = None) -> str:
    """The unit a command reads a file in: ``units`` if given (``--units``), else the column
    map's (:class:`~jetcalib.io.ColumnMap` ``units``, from a map file), else GeV."""
    if units is not None:
        return check_units(units, "--units")
    if column_map is not None and getattr(column_map, "units", None) is not None:
        return column_map.units
    return "GeV"


def read_as_gev(table: Mapping[str, object], units: str, source: object, column_map: Any = None) -> dict[str, np.ndarray]:
    """A table read from ``source`` for a job that works in GeV (a fit, an evaluation): its
    ``e_reco`` checked with :func:`check_plausible` (the error names ``source`` and the user's
    branch) and every energy converted to GeV."""
    if "e_reco" in table:
        check_file_plausible(table["e_reco"], units, source, column_map)
    return table_to_gev(table, units)


def check_file_plausible(e_reco: object, units: str, source: object, column_map: Any = None) -> None:
    """:func:`check_plausible` for the ``e_reco`` read from the file ``source``: the error
    line starts with the file and names the user's branch where the column map renames it."""
    user = column_map.user_name("e_reco") if column_map is not None else "e_reco"
    try:
        check_plausible(e_reco, units, column="e_reco" if user == "e_reco" else f"e_reco (branch {user})")
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
