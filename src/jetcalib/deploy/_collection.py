"""Calibrating a per-event ntuple: one entry per event, the jets of a collection ``P`` in
jagged branches ``P_<column>`` (``--collection P``).

The rule for names: with collection ``P`` the jet column ``c`` (a jetcalib schema name) is read
from the jagged branch ``P_c``; ``--map c=BRANCH`` names another branch for ``c`` (taken
verbatim). ``mu`` and ``npv`` may be event-level: when ``P_mu`` (``P_npv``) is missing, an
event-level branch ``mu`` (``npv``, or the mapped branch) is given to every jet of its event.
The jets are flattened (one row per jet), calibrated chunk by chunk of events, and written back
with the same event structure: every input branch unchanged, plus jagged ``P_e_cal``,
``P_pt_cal``, ``P_m_cal``, ``P_calib_flag`` with the collection's counts. In ROOT files the
branches ``P_*`` that share the counter ``nP`` are written as one collection (so ``nP`` stays
one counter), and a jagged branch ``X`` with its own counter ``nX`` keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import COLUMNS, ColumnMap, JetFile, TableWriter
from ..io.mapping import DERIVABLE, derivation_plan, derive_columns
from ..io.units import check_file_plausible

#: Jet inputs that may be stored once per event and broadcast to the event's jets.
EVENT_LEVEL = ("mu", "npv")


def is_jagged(typename: str) -> bool:
    """Whether a stored type (as :attr:`JetFile.columns` names it) is a list per entry."""
    t = typename.lstrip("?")
    return t.startswith(("var *", "list<", "large_list<"))


@dataclass
class CollectionPlan:
    prefix: str
    jets: dict[str, str] = field(default_factory=dict)  #: jetcalib column -> jagged branch
    events: dict[str, str] = field(default_factory=dict)  #: jetcalib column -> event-level branch
    steps: list[str] = field(default_factory=list)  #: columns derived from the others
    needed: list[str] = field(default_factory=list)  #: columns read (jets or events)


def plan_collection(f: JetFile, collection: str, column_map: ColumnMap, required: list[str]) -> CollectionPlan:
    """Which branches give the jet columns ``required`` (directly or derived); refuses a
    collection with no jagged ``P_*`` branch, or a required column that cannot be found."""
    cols = f.columns  # the file's own names: f is opened without a column map
    prefix = f"{collection}_"
    if not collection or not any(n.startswith(prefix) and is_jagged(t) for n, t in cols.items()):
        found = sorted({n.split("_", 1)[0] for n, t in cols.items() if is_jagged(t) and "_" in n})
        raise InputError(f"{f.path}: --collection {collection}: no jagged branches named {prefix}* "
                         f"(collections found: {', '.join(found) or 'none'})")
    mapped = column_map.as_dict()
    plan = CollectionPlan(prefix)
    for c in COLUMNS:
        branch = mapped.get(c, prefix + c)
        if branch in cols and is_jagged(cols[branch]):
            plan.jets[c] = branch
        elif branch in cols and c in mapped and c not in EVENT_LEVEL:
            raise InputError(f"{f.path}: --map {c}={branch}: {branch} is not a jagged (per-jet) branch")
    for c in EVENT_LEVEL:
        if c in plan.jets:
            continue
        branch = mapped.get(c, c)
        if branch in cols and not is_jagged(cols[branch]):
            plan.events[c] = branch
    steps, missing = derivation_plan(required, list(plan.jets) + list(plan.events))
    if missing:
        shown = [f"{m} (looked for branch {mapped.get(m, prefix + m)!r})" for m in missing]
        raise InputError(f"{f.path}: --collection {collection}: missing jet column"
                         f"{'s' if len(shown) > 1 else ''} {', '.join(shown)}; map other names "
                         "with --map NAME=BRANCH")
    plan.steps = steps
    have = set(plan.jets) | set(plan.events)
    plan.needed = [c for c in dict.fromkeys(list(required) + [n for s in steps for n in DERIVABLE[s][0]])
                   if c in have]
    return plan


def _flat(arr: Any, dtype: np.dtype) -> np.ndarray:
    import awkward as ak

    flat = ak.flatten(arr, axis=1)
    if dtype.kind == "f":
        flat = ak.fill_none(flat, np.nan)
    return np.asarray(ak.to_numpy(flat)).astype(dtype, copy=False)


def flatten_chunk(raw: Mapping[str, Any], plan: CollectionPlan, source: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(one row per jet of the needed columns, derived ones added; jets per event)."""
    import awkward as ak

    ref = next(iter(plan.jets[c] for c in plan.needed if c in plan.jets), next(iter(plan.jets.values())))
    counts = np.asarray(ak.num(raw[ref], axis=1), dtype=np.int64)
    jets: dict[str, np.ndarray] = {}
    for c in plan.needed:
        dtype = COLUMNS[c].numpy_dtype
        if c in plan.jets:
            arr = raw[plan.jets[c]]
            if not np.array_equal(np.asarray(ak.num(arr, axis=1)), counts):
                raise InputError(f"{source}: branch {plan.jets[c]} has another number of jets per "
                                 f"event than {ref}")
            jets[c] = _flat(arr, dtype)
        else:
            values = arr = raw[plan.events[c]]
            if not isinstance(arr, np.ndarray):
                values = ak.to_numpy(ak.fill_none(arr, np.nan))
            jets[c] = np.repeat(np.asarray(values).astype(dtype, copy=False), counts)
    derive_columns(jets, plan.steps)
    return jets, counts


def calibrate_collection(
    calibration: Any, f: JetFile, writer_args: tuple[Any, Any, str], *, collection: str,
    column_map: ColumnMap, step_rows: int, units: str, kwargs: dict[str, str],
    count: Callable[[np.ndarray], None],
) -> None:
    """Calibrate the collection of the per-event file ``f`` chunk by chunk of ``step_rows``
    events into ``TableWriter(*writer_args)``; ``count`` is given each chunk's flags."""
    import awkward as ak

    plan = plan_collection(f, collection, column_map, list(calibration.required_columns))
    from .apply import output_columns

    added = output_columns(calibration)
    outputs = {c: plan.prefix + c for c in added}
    stored = [n for n in f.columns if n not in outputs.values()]
    names = ColumnMap({c: b for c, b in plan.jets.items() if c == "e_reco"})  # for messages
    with TableWriter(*writer_args[:2], tree=writer_args[2]) as writer:
        layout = _root_layout(f, stored, collection) if f.format == writer.format == "root" else None
        for raw in _raw_chunks(f, stored, step_rows):
            jets, counts = flatten_chunk(raw, plan, f.path)
            if jets.get("e_reco") is not None and len(jets["e_reco"]):
                check_file_plausible(jets["e_reco"], units, f.path, names)
            if counts.sum():
                result = calibration.calibrate(jets, **kwargs)
            else:  # events without jets only: nothing to calibrate
                result = {c: np.empty(0, COLUMNS[c].numpy_dtype) for c in added}
            flags = np.asarray(result["calib_flag"])
            count(flags)
            new = {outputs[c]: ak.unflatten(np.asarray(result[c]).astype(COLUMNS[c].numpy_dtype, copy=False),
                                            counts) for c in added}
            writer.write(_arrange(raw, new, stored, layout))


def _raw_chunks(f: JetFile, names: list[str], step_rows: int) -> Any:
    """The branches ``names`` as stored, ``step_rows`` entries at a time: flat ones as numpy,
    jagged ones as awkward (never made regular, so a branch is written back as it was)."""
    try:
        if f.format == "parquet":
            yield from f._iter_raw(names, step_rows)
            return
        from ..io.files import numpy_if_regular

        for arrays in f._tree.iterate(names, step_size=step_rows, library="ak"):
            out = {}
            for n in names:
                arr = arrays[n]
                out[n] = arr if is_jagged(str(arr.type.content)) else numpy_if_regular(arr)
            yield out
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- uproot and pyarrow raise many types on a corrupt file
        from ..io.files import _describe_exc

        raise InputError(f"{f.path}: cannot read data, file corrupt or truncated "
                         f"({_describe_exc(exc)})") from None


def _root_layout(f: JetFile, stored: list[str], collection: str) -> dict[str, Any]:
    """How to write the branches back so that uproot recreates the same counters: a group
    ``X`` (written as one record, counter ``nX``) of the branches ``X_*`` that share ``nX``; a
    jagged branch whose counter is ``n<its name>`` written alone; counters that uproot
    recreates left out, any other counter kept as a plain branch."""
    tree = f._tree
    counter: dict[str, str] = {}
    for b in stored:  # an RNTuple's fields have no counters: every field written as it is
        cnt = getattr(tree[b], "count_branch", None)
        if cnt is not None:
            counter[b] = cnt.name
    groups: dict[str, list[str]] = {}
    for b, cnt in counter.items():
        name = cnt[1:] if cnt.startswith("n") else ""
        if name and b.startswith(name + "_"):
            groups.setdefault(name, []).append(b)
    remade = {"n" + g for g in groups} | {"n" + b for b, c in counter.items()
                                          if not any(b in m for m in groups.values())}
    drop = {c for c in set(counter.values()) if c in remade}
    return {"groups": groups, "drop": drop, "collection": collection,
            "outputs_grouped": collection in groups}


def _arrange(raw: Mapping[str, Any], new: dict[str, Any], stored: list[str],
             layout: dict[str, Any] | None) -> dict[str, Any]:
    """The chunk to write: every stored branch, then the new jagged outputs (Parquet), or the
    ROOT layout of :func:`_root_layout`."""
    if layout is None:
        flat = {n: raw[n] for n in stored}
        flat.update(new)
        return flat
    import awkward as ak

    member = {b: g for g, bs in layout["groups"].items() for b in bs}
    out: dict[str, Any] = {}
    placed: set[str] = set()
    collection = layout["collection"]
    for n in stored:
        if n in layout["drop"]:
            continue
        g = member.get(n)
        if g is None:
            out[n] = raw[n]
        elif g not in placed:
            placed.add(g)
            fields = {b[len(g) + 1:]: raw[b] for b in layout["groups"][g]}
            if layout["outputs_grouped"] and g == collection:
                fields.update({k[len(g) + 1:]: v for k, v in new.items()})
            out[g] = ak.zip(fields, depth_limit=2)
    if not layout["outputs_grouped"]:
        out.update(new)
    return out
