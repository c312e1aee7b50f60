"""Calibrating many files at once: in this process, in local worker processes, or on a
``dask.distributed`` cluster. One output per input; each file is independent, so the outputs do
not depend on how many workers there are.

Local workers are a ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start method, not
a dask ``LocalCluster``: files are independent (no task graph, no data exchanged between them), a
pool needs no scheduler and no nanny processes (each ~100 MB), starts in about a second and emits
no warnings of its own; *spawn* because forking a process that has started onnxruntime's or
torch's thread pools can deadlock. The calibration is pickled once per worker (initializer), not
once per file. dask is used only where a cluster already exists (``scheduler``): there the
calibration is scattered to every worker once and the files are submitted as tasks; paths must
then be visible to the workers (shared file system).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .._signals import install_worker_handlers, task, terminate_workers
from ..errors import InputError
from ..io import DEFAULT_CHUNK_ROWS, ColumnMap
from ..io.provenance import current_command_line
from .apply import FileSummary, calibrate_file

__all__ = ["calibrate_many"]

Target = tuple[Path, Path]
Outcome = tuple[Path, Path, FileSummary | InputError]

# --- what a worker process keeps between files -------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(calibration: Any, threads: int | None, options: dict[str, Any],
                 argv: list[str] | None = None) -> None:
    install_worker_handlers()
    if threads and "torch" in sys.modules:  # the torch runtime: one worker must not take every core
        import torch

        torch.set_num_threads(threads)
    _WORKER.update(calibration=calibration, options=options, argv=argv)


def _run_in_worker(src: Path, dst: Path) -> FileSummary | InputError:
    with task():
        return _one(_WORKER["calibration"], src, dst, _WORKER["options"], _WORKER.get("argv"))


def _one(calibration: Any, src: Path, dst: Path, options: dict[str, Any],
         argv: list[str] | None = None) -> FileSummary | InputError:
    """One file; a user's error comes back as a value (a bad file must not stop the others).
    ``argv``: the command line of the parent (the CLI command), which the table's environment
    record names also when a worker process writes it."""
    from ..io.provenance import command_line

    try:
        with command_line(argv) if argv is not None else contextlib.nullcontext():
            return calibrate_file(calibration, src, dst, **options)
    except InputError as exc:
        return exc


def calibrate_many(
    calibration: Any,
    targets: Sequence[Target],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int | None = None,
    calibration_source: str = "",
    column_map: ColumnMap | None = None,
    tree: str | None = None,
    step_rows: int = DEFAULT_CHUNK_ROWS,
    connect_timeout_s: float = 20.0,
    units: str | None = None,
    domain: str = "flag",
    collection: str | None = None,
    preset: str | None = None,
) -> Generator[Outcome, None, None]:
    """Calibrate every ``(input, output)`` of ``targets``; yields ``(input, output, result)``
    as files finish, ``result`` being the :class:`FileSummary` or the :class:`InputError` that
    made this file fail (nothing written for it; the others go on).

    ``workers`` > 1: that many local processes; ``scheduler``: the address of a running
    ``dask.distributed`` scheduler (``workers`` is then ignored). ``threads``: torch threads per
    local worker (onnxruntime's are set on the calibration object itself).
    ``connect_timeout_s``: how long to try reaching the scheduler. ``units``: the files'
    energy unit (:func:`~jetcalib.deploy.calibrate_file`); ``domain``: its training-domain
    policy; ``collection``: per-event files with that jagged jet collection; ``preset``: the
    files' naming preset (``"atlas"``).
    """
    options = {"calibration_source": calibration_source, "column_map": column_map,
               "tree": tree, "step_rows": step_rows, "units": units, "domain": domain,
               "collection": collection, "preset": preset}
    if scheduler:
        yield from _on_dask(calibration, targets, scheduler, options, connect_timeout_s)
    elif workers <= 1 or len(targets) <= 1:
        for src, dst in targets:
            yield src, dst, _one(calibration, src, dst, options)  # argv: this process's own
    else:
        yield from _on_pool(calibration, targets, workers, threads, options)


def _on_pool(calibration: Any, targets: Sequence[Target], workers: int, threads: int | None,
             options: dict[str, Any]) -> Iterator[Outcome]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(targets)), mp_context=ctx,
                             initializer=_init_worker,
                             initargs=(calibration, threads, options, current_command_line())) as pool:
        pending = {pool.submit(_run_in_worker, src, dst): (src, dst) for src, dst in targets}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    src, dst = pending.pop(fut)
                    yield src, dst, fut.result()
        except BaseException:  # Ctrl-C, SIGTERM or a crash: stop the running files too
            for fut in pending:
                fut.cancel()
            terminate_workers(pool)
            raise


def _on_dask(calibration: Any, targets: Sequence[Target], scheduler: str,
             options: dict[str, Any], timeout_s: float) -> Iterator[Outcome]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        from .._extras import install_hint

        raise InputError(f"--scheduler: {install_hint(exc) or exc}") from None
    try:
        client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the dask scheduler at {scheduler} ({exc})") from None
    with client:
        # one copy per worker instead of one per task
        cal = client.scatter(calibration, broadcast=True, hash=False)
        where: dict[str, Target] = {}
        futures = []
        for src, dst in targets:
            # absolute paths: the workers' working directory is not ours
            fut = client.submit(_one, cal, Path(os.path.abspath(src)), Path(os.path.abspath(dst)),
                                options, current_command_line(), pure=False)  # pure=False: a fresh unique key
            where[str(fut.key)] = (src, dst)
            futures.append(fut)
        try:
            for fut in as_completed(futures, loop=client.loop):  # not the default client
                src, dst = where[str(fut.key)]
                yield src, dst, fut.result()
        finally:  # Ctrl-C: do not leave the queued files running on a shared cluster
            client.cancel(futures)
