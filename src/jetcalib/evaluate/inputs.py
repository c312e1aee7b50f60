"""Reading the test samples of an evaluation, checking an altered (generator-dependence)
sample against the nominal one, and the provenance block of the report (jetcalib version,
content hashes of the samples and of each method's artifact, seeds, simulation version)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import InputError
from ..io import DatasetMetadata
from ..io.metadata import SIMULATION_VERSION, simulation_version

__all__ = ["check_alt_sample", "jets_config", "method_provenance", "read_sample", "report_provenance",
           "sample_provenance"]


def read_sample(
    path: str | os.PathLike[str],
    needed: Iterable[str],
    optional: Iterable[str] = (),
    *,
    tree: str | None = None,
    column_map: Any = None,
    units: str = "GeV",
) -> tuple[dict[str, np.ndarray], DatasetMetadata | None]:
    """The ``needed`` columns (refused, one line, when absent) and those of ``optional`` that
    the file has, converted to GeV; and the table's jetcalib metadata (None for a user's own
    file)."""
    from ..features.constituents import constituents_to_gev, require_constituents
    from ..io import open_jets
    from ..io.schema import CONSTITUENT_COLUMNS
    from ..io.units import read_as_gev

    needed = list(dict.fromkeys(needed))
    # a constituent network's jagged cl_*/trk_* columns: read apart (awkward, not numpy)
    jagged = [c for c in needed if c in CONSTITUENT_COLUMNS]
    needed = [c for c in needed if c not in CONSTITUENT_COLUMNS]
    with open_jets(path, tree=tree, column_map=column_map) as f:
        if jagged:
            require_constituents(f.columns, jagged, str(path))
        f.require(needed)
        extra = [c for c in dict.fromkeys(optional) if c in f.columns and c not in needed]
        table = read_as_gev(f.read(needed + extra), units, path, column_map)
        if jagged:
            table.update(constituents_to_gev(f.read(jagged), units))
        meta = f.metadata
    return table, meta


def check_alt_sample(nominal: str, nominal_meta: DatasetMetadata | None, alt: str,
                     alt_meta: DatasetMetadata | None) -> None:
    """Refuse (one :class:`InputError` line) an altered sample that another simulation version
    made than the nominal one (or than this jetcalib simulates): the shift between the two
    would then measure the detector change, not the generator's."""
    v_nom, v_alt = simulation_version(nominal_meta), simulation_version(alt_meta)
    if v_alt is not None and v_alt != (v_nom or SIMULATION_VERSION):
        raise InputError(f"--alt {alt}: generated with simulation version {v_alt}, the test sample {nominal} "
                         f"with {v_nom or 'none recorded'}; generate both with the same jetcalib")
    if v_nom is not None and v_alt is None:
        raise InputError(f"--alt {alt}: records no jetcalib simulation version, the test sample {nominal} "
                         f"has version {v_nom}; generate it with jetcalib generate --process dijet_alt")


def jets_config(meta: DatasetMetadata | None) -> dict[str, Any]:
    """The ``jets`` block (radius, grooming, ...) of a generated table's detector config; empty
    for a user's own table."""
    if meta is None:
        return {}
    cfg = meta.generator.get("detector_config") or {}
    jets = cfg.get("jets") if isinstance(cfg, Mapping) else None
    return dict(jets) if isinstance(jets, Mapping) else {}


def sample_provenance(path: str | os.PathLike[str], meta: DatasetMetadata | None) -> dict[str, Any]:
    """What the report says about a test sample: path, sha256 of the file, producer and
    jetcalib version that wrote it, simulation version, process(es), seeds, events."""
    from ..io.provenance import file_sha256

    out: dict[str, Any] = {"path": str(path), "sha256": file_sha256(path)}
    if meta is None:
        out["producer"] = "not jetcalib (no metadata)"
        return out
    gen = meta.generator
    out.update({"producer": meta.producer, "jetcalib_version": meta.jetcalib_version,
                "simulation_version": simulation_version(meta), "process": gen.get("process"),
                "seeds": list(meta.seeds), "n_events": meta.n_events, "parents": list(meta.parents)})
    return out


def method_provenance(name: str, path: str | os.PathLike[str] | None, calibration: Any) -> dict[str, Any]:
    """What the report says about a method's artifact: path, kind, content hash, the jetcalib
    version that made it, its seeds and the simulation versions of its training data."""
    header = getattr(calibration, "header", None)
    out: dict[str, Any] = {"method": name, "path": None if path is None else str(path)}
    if header is None:
        return out
    sims = sorted({str(t.get("simulation_version")) for t in header.training_data
                   if isinstance(t, Mapping) and t.get("simulation_version") is not None})
    out.update({"artifact": header.artifact, "content_hash": header.content_hash,
                "jetcalib_version": header.jetcalib_version, "created": header.created,
                "seeds": dict(header.seeds), "training_simulation_versions": sims})
    return out


def report_provenance(samples: Mapping[str, dict[str, Any]], methods: Iterable[dict[str, Any]], *,
                      bootstrap_seed: int, n_boot: int) -> dict[str, Any]:
    """The provenance block of ``report.html`` and ``summary.json``."""
    return {"jetcalib_version": __version__, "simulation_version_of_this_code": SIMULATION_VERSION,
            "bootstrap_seed": bootstrap_seed, "bootstrap_resamples": n_boot, "samples": dict(samples),
            "methods": list(methods)}
