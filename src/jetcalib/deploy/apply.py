"""Calibrating jet files chunk by chunk: every existing column kept, the calibrated ones
added, output written atomically."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import (
    CALIBRATED_COLUMNS,
    DEFAULT_CHUNK_ROWS,
    UNCERTAINTY_COLUMNS,
    ColumnMap,
    DatasetMetadata,
    TableWriter,
    open_jets,
)
from ..io.provenance import environment
from ..io.units import check_file_plausible, resolve_units

__all__ = ["FileSummary", "calibrate_file", "output_columns", "peak_rss_mb"]


def output_columns(calibration: Any) -> tuple[str, ...]:
    """The columns ``calibration`` adds: :data:`~jetcalib.io.CALIBRATED_COLUMNS`, and the
    :data:`~jetcalib.io.UNCERTAINTY_COLUMNS` for a probabilistic DNN head
    (docs/method.md#heads)."""
    return CALIBRATED_COLUMNS + (UNCERTAINTY_COLUMNS if getattr(calibration, "probabilistic", False) else ())


@dataclass
class FileSummary:
    """What one calibrated file amounted to."""

    input: str
    output: str
    jets: int
    flagged: int  #: jets whose calib_flag is not 0
    flag_counts: dict[int, int]
    seconds: float
    pid: int = 0  #: the process that calibrated it
    peak_rss_mb: float = float("nan")  #: that process's peak resident memory so far (MB)

    @property
    def jets_per_second(self) -> float:
        return self.jets / self.seconds if self.seconds > 0 else float("nan")


def calibrate_file(
    calibration: Any,
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    calibration_source: str = "",
    column_map: ColumnMap | None = None,
    tree: str | None = None,
    step_rows: int = DEFAULT_CHUNK_ROWS,
    units: str | None = None,
    domain: str = "flag",
    collection: str | None = None,
    preset: str | None = None,
) -> FileSummary:
    """Apply ``calibration`` (calibration protocol) to ``in_path``, writing ``out_path``.

    Memory is bounded by ``step_rows``. Every column of the input is written unchanged (under
    its own name) followed by ``e_cal``, ``pt_cal``, ``m_cal``, ``calib_flag`` (and, for a
    probabilistic DNN head, the per-jet uncertainties: :func:`output_columns`); a column of
    those names, or a stale uncertainty column of an earlier calibration, in the input is
    replaced or dropped. Nothing is written if anything fails.

    ``units``: the unit of the file's energies, ``"GeV"`` or ``"MeV"`` (``None``: the column
    map's ``units``, else GeV); the outputs are in the same unit. A file whose median
    ``e_reco`` looks like the other unit is refused (:func:`jetcalib.io.units.check_plausible`).
    ``domain``: what to do with jets outside the training domain (``"flag"``, ``"strict"``,
    ``"ignore"``; docs/flags.md#training-domain).

    ``collection``: the file has one entry per event and the jets of collection ``P`` in
    jagged branches ``P_<column>`` (:mod:`jetcalib.deploy._collection` says the rule); the
    output keeps the events, every input branch, and adds jagged ``P_e_cal``, ``P_pt_cal``,
    ``P_m_cal``, ``P_calib_flag``. ``step_rows`` then counts events.

    ``preset``: the file uses an experiment's names (``"atlas"``: ATLAS's branch names, in MeV
    unless ``units`` or the column map says otherwise; :mod:`jetcalib.io.presets`);
    ``column_map`` then renames on top of it.
    """
    from ..features import check_policy

    if preset is not None:
        from ..io.presets import preset_column_map

        with open_jets(in_path, tree=tree) as f:
            names = list(f.columns)
        column_map = preset_column_map(preset, names, collection=collection, column_map=column_map)
    units = resolve_units(units, column_map)
    check_policy(domain)
    # the protocol's plain call for the defaults, so that any calibration object works
    kwargs: dict[str, str] = {}
    if units != "GeV":
        kwargs["units"] = units
    if domain != "flag":
        kwargs["domain"] = domain
    start = time.perf_counter()
    counts: dict[int, int] = {}
    jets = 0

    def count(flags: np.ndarray) -> None:
        nonlocal jets
        values, n = np.unique(flags, return_counts=True)
        for v, k in zip(values.tolist(), n.tolist(), strict=True):
            counts[v] = counts.get(v, 0) + k
        jets += len(flags)

    # per-event ntuple: the file's own names, the column map applies to the collection's
    with open_jets(in_path, tree=tree, column_map=None if collection is not None else column_map) as f:
        layout = getattr(calibration, "layout", None)
        jagged = () if layout is None else layout.columns  # a constituent network's cl_*/trk_*
        if collection is not None and jagged:
            raise InputError("--collection: a constituent network (inputs: constituents) reads one table row "
                             "per jet with its cl_*/trk_* lists; per-event ntuples are not supported for it yet")
        if collection is None:
            if jagged:
                from ..features.constituents import require_constituents

                require_constituents(f.columns, jagged, str(f.path))
            f.require([c for c in calibration.required_columns if c not in jagged])
        elif f.num_rows == 0:
            raise InputError(f"{f.path}: the table is empty (0 rows)")
        meta_in = f.metadata
        meta = DatasetMetadata(
            producer="jetcalib calibrate",
            generator=meta_in.generator if meta_in else {},
            seeds=meta_in.seeds if meta_in else [],
            n_events=meta_in.n_events if meta_in else None,
            parents=[str(in_path)],
            extra={"calibration": calibration_source,
                   "calibration_hash": getattr(getattr(calibration, "header", None), "content_hash", "")},
            environment=environment(_runtime_packages(calibration)),
        )
        if collection is not None:
            from ._collection import calibrate_collection

            calibrate_collection(calibration, f, (out_path, meta, f.tree_name or "events"),
                                 collection=collection, column_map=column_map or ColumnMap(),
                                 step_rows=step_rows, units=units, kwargs=kwargs, count=count)
            return _summary(in_path, out_path, jets, counts, start)
        added = output_columns(calibration)
        stored = [c for c in f.columns if c not in CALIBRATED_COLUMNS + UNCERTAINTY_COLUMNS]
        needed = [c for c in calibration.required_columns if c not in stored]
        def process(chunk: Any) -> dict[str, Any]:
            if "e_reco" in chunk:
                check_file_plausible(chunk["e_reco"], units, in_path, f.column_map)
            result = calibration.calibrate(chunk, **kwargs)
            count(np.asarray(result["calib_flag"]))
            # original names, so that a user's own branches come back as they were
            out = {f.column_map.user_name(c): chunk[c] for c in stored}
            out.update({c: result[c] for c in added})
            return out

        with TableWriter(out_path, meta, tree=f.tree_name or "jets") as writer:
            pipelined(f.iter_chunks(stored + needed, step_rows=step_rows), process, writer.write)
    return _summary(in_path, out_path, jets, counts, start)


def pipelined(chunks: Iterator[Any], process: Callable[[Any], Any], write: Callable[[Any], None]) -> None:
    """``write(process(chunk))`` for every chunk in order, with the next chunk's read and the
    previous result's write on one background thread while ``process`` runs.

    Why: pyarrow and uproot release the GIL while they decode, compress and checksum, so file
    I/O then overlaps the network instead of adding to it (1M jets, 41 columns, onnxruntime on
    2 threads: read 1.0 s and write 0.7 s of a 9.9 s file). At most three chunks are alive at
    once. An error anywhere (a bad chunk, a failed write, Ctrl-C) stops the reading, waits for
    the background step under way and propagates; the caller's writer then discards its file.
    """
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    io = ThreadPoolExecutor(1, thread_name_prefix="jetcalib-io")
    try:
        ahead = io.submit(next, chunks, end)
        pending = None
        while (chunk := ahead.result()) is not end:
            ahead = io.submit(next, chunks, end)
            out = process(chunk)
            if pending is not None:
                pending.result()
            pending = io.submit(write, out)
        if pending is not None:
            pending.result()
    finally:
        io.shutdown(wait=True, cancel_futures=True)


def _summary(in_path: Any, out_path: Any, jets: int, counts: dict[int, int], start: float) -> FileSummary:
    return FileSummary(
        input=str(in_path), output=str(out_path), jets=jets,
        flagged=sum(k for v, k in counts.items() if v != 0), flag_counts=counts,
        seconds=time.perf_counter() - start, pid=os.getpid(), peak_rss_mb=peak_rss_mb(),
    )


def _runtime_packages(calibration: Any) -> tuple[str, ...]:
    """The packages a calibrated table's environment record names: the file writer's and the
    runtime's (judged by the calibration's module, nothing imported)."""
    module = type(calibration).__module__ + "." + type(calibration).__name__
    extra = {"dnn": ("torch",), "Onnx": ("onnxruntime",), "Correctionlib": ("correctionlib",),
             "Numerical": ("scipy",)}
    names = ["numpy", "pyarrow"]
    for key, pkgs in extra.items():
        if key.lower() in module.lower():
            names.extend(pkgs)
    return tuple(names)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``VmHWM``; NaN where /proc is missing).

    Not ``ru_maxrss``: that survives fork+exec, so a spawned worker would report its parent's
    peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
