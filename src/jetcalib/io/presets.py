"""Name presets: the branch names of an experiment's own ntuples for jetcalib's columns
(``calibrate --preset atlas``; docs/inputs.md#atlas-names).

ATLAS's runtime for this network is athena's large-R DNN calibration step (JetCalibTools,
``GlobalLargeRDNNCalibration``): it reads each input either as a jet attribute of the same name
(``EMFracCaloBased``, ``Tau21_wta``, ...) or, for ``eta``, ``log_e``, ``log_m``, ``mu`` and
``NPV``, computes it from the jet's four-vector and the event. An ATLAS ntuple stores the jet
attributes as branches ``<collection>_<attribute>`` in MeV, and the event's pile-up once per
event. :data:`ATLAS_NAMES` is the one table of those names; :func:`preset_column_map` turns it
into the :class:`~jetcalib.io.ColumnMap` for one file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ..errors import InputError
from .mapping import ColumnMap

__all__ = [
    "ATLAS_EVENT_INPUTS",
    "ATLAS_EVENT_NAMES",
    "ATLAS_NAMES",
    "PRESETS",
    "AtlasName",
    "athena_input_names",
    "atlas_names_markdown",
    "preset_column_map",
    "preset_units",
]


class AtlasName(NamedTuple):
    """How ATLAS names one jetcalib column."""

    #: the jet branch suffix (``P_<branch>`` with ``--collection P``, bare without); ``None``:
    #: not read, jetcalib derives the column (as athena computes it)
    branch: str | None
    #: the name of the input in athena's DNN step (``DNNC.Inputs``); "" for a non-input
    athena: str
    #: True: the name is in athena's source (JetCalibTools or the JetMomentTools decorators);
    #: False: ATLAS's usual ntuple name, not checked against athena's source
    verified: bool
    note: str = ""


#: jetcalib column -> its ATLAS name (jet-level; pile-up in :data:`ATLAS_EVENT_NAMES`).
ATLAS_NAMES: dict[str, AtlasName] = {
    "e_reco": AtlasName("E", "", False, "MeV"),
    "pt_reco": AtlasName("pt", "", False, "MeV; not needed (pT_cal is computed from E, m, η)"),
    "eta_reco": AtlasName("eta", "", False, "pseudorapidity, not rapidity"),
    "phi_reco": AtlasName("phi", "", False, "not needed"),
    "m_reco": AtlasName("m", "", False, "MeV"),
    "eta": AtlasName(None, "eta", True, "athena uses the jet's η: jetcalib derives it from `eta_reco`"),
    "log_e": AtlasName(None, "log_e", True, "athena: ln(E·EScale); jetcalib derives ln(E / GeV)"),
    "log_m": AtlasName(None, "log_m", True, "athena: ln(m·EScale), no floor; jetcalib derives "
                       "ln(max(m, 1 GeV) / GeV): the same above 1 GeV"),
    "width": AtlasName("Width", "Width", False),
    "em_frac": AtlasName("EMFracCaloBased", "EMFracCaloBased", True),
    "em3_frac": AtlasName("EM3FracCaloBased", "EM3FracCaloBased", True),
    "tile0_frac": AtlasName("Tile0FracCaloBased", "Tile0FracCaloBased", True),
    "eff_n_clusters": AtlasName("EffNClustsCaloBased", "EffNClustsCaloBased", True),
    "groom_m_ratio": AtlasName("groomMRatio", "groomMRatio", False),
    "neutral_e_frac": AtlasName("NeutralEFrac", "NeutralEFrac", True),
    "charged_pt_frac": AtlasName("ChargePTFrac", "ChargePTFrac", True),
    "charged_m_frac": AtlasName("ChargeMFrac", "ChargeMFrac", True),
    "split12": AtlasName("Split12", "Split12", False, "MeV"),
    "split23": AtlasName("Split23", "Split23", False, "MeV"),
    "c2": AtlasName("C2", "C2", False),
    "d2": AtlasName("D2", "D2", False),
    "tau21": AtlasName("Tau21_wta", "Tau21_wta", True),
    "tau32": AtlasName("Tau32_wta", "Tau32_wta", True),
    "qw": AtlasName("Qw", "Qw", False, "MeV"),
}

#: Event-level jetcalib column -> the event branches that give it, the first present wins
#: (never prefixed: one value per event, given to every jet of the event).
ATLAS_EVENT_NAMES: dict[str, tuple[str, ...]] = {
    "mu": ("averageInteractionsPerCrossing", "actualInteractionsPerCrossing"),
    "npv": ("NPV",),
}
#: athena's names of the event-level inputs (computed from the event, never stored), and
#: whether the name is in athena's source.
ATLAS_EVENT_INPUTS: dict[str, tuple[str, bool]] = {"mu": ("mu", True), "npv": ("NPV", True)}

#: Known presets and the unit of their files' energies.
PRESETS: dict[str, str] = {"atlas": "MeV"}

#: Branches that hold a rapidity: not η, which the network reads.
_RAPIDITY = ("rapidity", "rap", "y")


def _check(preset: str) -> str:
    name = preset.strip().lower() if isinstance(preset, str) else preset
    if name not in PRESETS:
        raise InputError(f"--preset {preset!r}: unknown preset; known: {', '.join(PRESETS)}")
    return name


def preset_units(preset: str) -> str:
    """The unit the preset's files are in (``"MeV"`` for ATLAS)."""
    return PRESETS[_check(preset)]


def preset_column_map(preset: str, columns: Iterable[str], *, collection: str | None = None,
                      column_map: ColumnMap | None = None) -> ColumnMap:
    """The column map that reads a file with the branches ``columns`` under ``preset``'s names.

    Jet columns are read from ``<collection>_<branch>`` (bare ``<branch>`` without a
    collection, one row per jet); ``mu``/``npv`` from the first present of their event branches.
    ``column_map`` (the user's ``--map``/``--map-file``) wins name by name, and its ``units``
    over the preset's. A file that holds the jet's rapidity but not its η is refused.
    """
    _check(preset)
    present = set(columns)
    prefix = f"{collection}_" if collection else ""
    user = column_map.as_dict() if column_map is not None else {}
    mapping: dict[str, str] = {}
    for ours, name in ATLAS_NAMES.items():
        if name.branch is not None:
            mapping[ours] = prefix + name.branch
    for ours, branches in ATLAS_EVENT_NAMES.items():
        found = [b for b in branches if b in present or prefix + b in present]
        first = found[0] if found else branches[0]
        mapping[ours] = prefix + first if prefix + first in present else first
    if "eta_reco" not in user and mapping["eta_reco"] not in present:
        rap = [prefix + r for r in _RAPIDITY if prefix + r in present]
        if rap:
            raise InputError(f"--preset {preset}: no branch {mapping['eta_reco']!r} (the jets' η); "
                             f"{rap[0]} is a rapidity, which is not η: store the jets' "
                             "pseudorapidity, or --map eta_reco=BRANCH")
    # the user's names win; a preset name that the user gave to another column is dropped
    taken = set(user.values())
    mapping = {k: v for k, v in mapping.items() if k not in user and v not in taken}
    mapping.update(user)
    units = column_map.units if column_map is not None and column_map.units else PRESETS[_check(preset)]
    return ColumnMap(mapping, units)


def athena_input_names() -> dict[str, str]:
    """jetcalib input → the name of that input in athena's DNN step (``InputVars`` of its
    ``DNN.yaml``), jet-level and event-level: what ``export --athena`` writes."""
    names = {ours: n.athena for ours, n in ATLAS_NAMES.items() if n.athena}
    names.update({ours: athena for ours, (athena, _) in ATLAS_EVENT_INPUTS.items()})
    return names


def atlas_names_markdown() -> str:
    """The table of :data:`ATLAS_NAMES` as docs/inputs.md shows it (a test keeps them equal)."""
    rows = ["| jetcalib column | ATLAS branch (`P_` + with `--collection P`) | athena DNN input | "
            "input name found in athena's source | note |",
            "|---|---|---|---|---|"]
    for ours, n in ATLAS_NAMES.items():
        branch = f"`{n.branch}`" if n.branch else "– (derived)"
        athena = f"`{n.athena}`" if n.athena else "–"
        checked = "–" if not n.athena else "yes" if n.verified else "no"
        rows.append(f"| `{ours}` | {branch} | {athena} | {checked} | {n.note} |")
    for ours, branches in ATLAS_EVENT_NAMES.items():
        athena, verified = ATLAS_EVENT_INPUTS[ours]
        names = " (else ".join(f"`{b}`" for b in branches) + ")" * (len(branches) - 1)
        rows.append(f"| `{ours}` | {names}, event-level | `{athena}` | {'yes' if verified else 'no'} | "
                    "one value per event, given to each of its jets |")
    return "\n".join(rows) + "\n"
