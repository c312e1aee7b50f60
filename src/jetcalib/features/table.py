"""Turning a user's jet table (numpy dict, pandas DataFrame, awkward Array) into the flat
numpy columns and the ``[N, F]`` float32 feature matrix a calibration reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.mapping import derivation_plan, derive_columns

__all__ = ["as_columns", "feature_matrix"]


def _column_names(table: Any) -> list[str]:
    fields = getattr(table, "fields", None)  # awkward Array of records
    if isinstance(fields, list) and not isinstance(table, Mapping):
        return list(fields)
    if hasattr(table, "columns") and not isinstance(table, Mapping):  # pandas DataFrame
        return [str(c) for c in table.columns]
    if isinstance(table, Mapping):
        return [str(k) for k in table.keys()]
    raise InputError(
        f"a jet table must be a dict of arrays, a pandas DataFrame or an awkward Array of "
        f"records, got {type(table).__name__}"
    )


def as_columns(table: Any, names: Iterable[str], *, what: str = "the jet table") -> dict[str, np.ndarray]:
    """The columns ``names`` of ``table`` as 1-D numpy arrays (missing derivable ones derived).

    ``table`` is a mapping of column name → 1-D array, a pandas DataFrame or an awkward Array
    of records. Raises :class:`InputError` naming every missing column.
    """
    names = list(dict.fromkeys(names))
    present = _column_names(table)
    steps, missing = derivation_plan(names, present)
    if missing:
        raise InputError(f"{what}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    needed = set(names) | {n for s in steps for n in _needs(s)}
    out: dict[str, np.ndarray] = {}
    for name in present:
        if name not in needed:
            continue
        arr = np.asarray(table[name])
        if arr.ndim != 1:
            raise InputError(f"{what}: column {name} is not one number per jet (shape {arr.shape})")
        out[name] = arr
    lengths = {len(a) for a in out.values()}
    if len(lengths) > 1:
        raise InputError(f"{what}: columns have different lengths {sorted(lengths)}")
    derive_columns(out, steps)
    return {n: out[n] for n in names}


def _needs(step: str) -> tuple[str, ...]:
    from ..io.mapping import DERIVABLE

    return DERIVABLE[step][0]


def feature_matrix(table: Any, features: Sequence[str], *, what: str = "the jet table") -> np.ndarray:
    """``float32[N, F]`` matrix of ``features`` in the given order (non-finite values kept)."""
    cols = as_columns(table, features, what=what)
    if not features:
        raise InputError(f"{what}: no input features requested")
    return np.stack([np.asarray(cols[f], dtype=np.float32) for f in features], axis=1)


# --- jagged tables (events × jets) ------------------------------------------------------------
def jagged_counts(table: Any) -> np.ndarray | None:
    """Jets per event of a jagged awkward Array of records (events × jets), else ``None``
    (a flat table: dict, DataFrame or flat awkward Array)."""
    if isinstance(table, Mapping) or type(table).__module__.split(".")[0] != "awkward":
        return None
    if getattr(table, "ndim", 1) != 2 or not getattr(table, "fields", None):
        return None
    import awkward as ak

    return np.asarray(ak.num(table, axis=1), dtype=np.int64)


def flatten_jagged(table: Any) -> dict[str, Any]:
    """The jets of a jagged awkward Array of records as a flat dict of 1-D arrays (one row per
    jet, events one after the other)."""
    import awkward as ak

    from ..io.files import numpy_if_regular

    # nulls, or not one number per jet, stay awkward: as_columns says what is wrong
    return {name: numpy_if_regular(ak.flatten(table[name], axis=1)) for name in table.fields}


def unflatten_outputs(outputs: Mapping[str, Any], counts: np.ndarray) -> Any:
    """Flat per-jet outputs (``e_cal``, ...) regrouped into a jagged awkward Array of records
    with ``counts`` jets per event."""
    import awkward as ak

    return ak.unflatten(ak.zip({k: np.asarray(v) for k, v in outputs.items()}, depth_limit=1), counts)
