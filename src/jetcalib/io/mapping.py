"""Mapping a user's own branch/column names onto jetcalib's names, and deriving columns that are
missing but computable from others (e.g. ``log_e`` from ``e_reco``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from .schema import COLUMNS

__all__ = ["DERIVABLE", "ColumnMap", "derivation_plan", "derive_columns", "pt_from_e_m_eta"]


class ColumnMap:
    """jetcalib column name → the name in the user's file.

    Built from ``--map log_e=jet_logE`` options and/or a TOML or YAML file with a flat table
    ``{jetcalib_name = "user_name"}`` (an optional top-level ``[columns]`` table is accepted).
    Names not mentioned are expected under their jetcalib name.

    ``units`` (a top-level ``units = "MeV"`` key of the file): the unit of the file's energies,
    ``"GeV"`` or ``"MeV"``; ``None`` when not said (GeV unless the command is told otherwise).
    """

    def __init__(self, mapping: Mapping[str, str] | None = None, units: str | None = None) -> None:
        from .units import check_units

        self.units: str | None = None if units is None else check_units(units, "column map: units")
        self._to_user: dict[str, str] = {}
        for ours, theirs in (mapping or {}).items():
            if ours not in COLUMNS:
                raise InputError(
                    f"column map: {ours!r} is not a jetcalib column "
                    f"(left side of NAME=BRANCH must be one of the schema's names)"
                )
            self._to_user[ours] = theirs
        users = list(self._to_user.values())
        dupes = sorted({u for u in users if users.count(u) > 1})
        if dupes:
            raise InputError(f"column map: {', '.join(dupes)} mapped to more than one column")

    @classmethod
    def from_options(cls, options: Sequence[str] = (), file: str | Path | None = None) -> ColumnMap:
        """Combine a mapping file (if any) with ``NAME=BRANCH`` options (which win)."""
        mapping: dict[str, str] = {}
        units = None
        if file is not None:
            read, units = _read_map_file(Path(file))
            mapping.update(read)
        for opt in options:
            ours, sep, theirs = opt.partition("=")
            if not sep or not ours.strip() or not theirs.strip():
                raise InputError(f"--map {opt!r}: expected NAME=BRANCH, e.g. --map log_e=jet_logE")
            mapping[ours.strip()] = theirs.strip()
        return cls(mapping, units)

    def user_name(self, name: str) -> str:
        return self._to_user.get(name, name)

    def our_name(self, user_name: str) -> str:
        for ours, theirs in self._to_user.items():
            if theirs == user_name:
                return ours
        return user_name

    def as_dict(self) -> dict[str, str]:
        return dict(self._to_user)

    def __bool__(self) -> bool:
        return bool(self._to_user)


def _read_map_file(path: Path) -> tuple[dict[str, str], str | None]:
    """(jetcalib name → branch, the ``units`` key or None)."""
    if not path.is_file():
        raise InputError(f"{path}: column-map file not found")
    from .._textfiles import read_yaml_or_toml
    from .units import check_units

    raw = read_yaml_or_toml(path, "column map")
    units = None
    if isinstance(raw, dict) and "units" in raw:
        raw = dict(raw)
        units = check_units(raw.pop("units"), f"{path}: units")
    if isinstance(raw, dict) and isinstance(raw.get("columns"), dict):
        raw = raw["columns"]
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise InputError(f"{path}: a column map is a flat table of jetcalib_name = \"branch\"")
    return raw, units


# --- derived columns ------------------------------------------------------------------------
# Each entry: the columns it needs and how to compute it (float64 internally, written float32).


def pt_from_e_m_eta(e: np.ndarray, m: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """pT = sqrt(E² − m²) / cosh η, in GeV (float64); 0 where m ≥ E. The one definition, used
    for derived ``pt_reco`` columns and for every calibrated ``pt_cal``."""
    e = np.asarray(e, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    # inf − inf (a jet passed through with E = m = inf) is NaN: expected, so no RuntimeWarning
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sqrt(np.maximum(e * e - m * m, 0.0)) / np.cosh(np.asarray(eta, dtype=np.float64))


def _e(pt: np.ndarray, m: np.ndarray, eta: np.ndarray) -> np.ndarray:
    p = pt.astype(np.float64) * np.cosh(eta.astype(np.float64))
    return np.sqrt(p**2 + m.astype(np.float64) ** 2)


DERIVABLE: dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]] = {
    "log_e": (("e_reco",), lambda e: np.log(e.astype(np.float64))),
    "log_m": (("m_reco",), lambda m: np.log(np.maximum(m.astype(np.float64), 1.0))),
    "eta": (("eta_reco",), lambda eta: eta),
    "eta_reco": (("eta",), lambda eta: eta),
    "e_reco": (("pt_reco", "m_reco", "eta_reco"), _e),
    "pt_reco": (("e_reco", "m_reco", "eta_reco"), pt_from_e_m_eta),
    "e_true": (("pt_true", "m_true", "eta_true"), _e),
    "pt_true": (("e_true", "m_true", "eta_true"), pt_from_e_m_eta),
}


def derivation_plan(wanted: Iterable[str], present: Iterable[str]) -> tuple[list[str], list[str]]:
    """Order in which to derive the missing ``wanted`` columns from ``present`` ones.

    Returns ``(steps, missing)``: the columns to compute in that order, and those that can be
    neither read nor derived.
    """
    have = set(present)
    steps: list[str] = []
    missing: list[str] = []

    def resolve(name: str, visiting: frozenset[str]) -> bool:
        if name in have:
            return True
        if name not in DERIVABLE or name in visiting:
            return False
        needs, _ = DERIVABLE[name]
        if all(resolve(n, visiting | {name}) for n in needs):
            have.add(name)
            steps.append(name)
            return True
        return False

    for name in wanted:
        if not resolve(name, frozenset()):
            missing.append(name)
    return steps, missing


def derive_columns(chunk: dict[str, np.ndarray], steps: Iterable[str]) -> dict[str, np.ndarray]:
    """Add the derived columns ``steps`` (from :func:`derivation_plan`) to ``chunk`` in place."""
    for name in steps:
        needs, func = DERIVABLE[name]
        dtype = COLUMNS[name].numpy_dtype
        chunk[name] = np.asarray(func(*(chunk[n] for n in needs))).astype(dtype, copy=False)
    return chunk
