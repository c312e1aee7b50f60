"""Chunked, parallel, resumable generation of a jet table.

The run is split into chunks (one process slice, ≤ chunk_size events, seed derived from the
base seed and the chunk index), so the rows do not depend on how many workers ran them.
Finished chunks are saved in a work directory beside the output
(``.<out name>.chunks-<hash>/``, private to the user); a re-run of the same command **resumes automatically**
from them. The output is merged in chunk order and written atomically; the work directory
is then removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import SIMULATION_VERSION, DatasetMetadata, TableWriter, atomic_path
from ..io.files import check_output_name
from ..io.provenance import environment
from .config import SimConfig
from .generator import PROCESSES, n_slices, process_settings
from .pipeline import Chunk

__all__ = ["check_request", "chunk_seed", "parse_mu_range", "plan_chunks", "run_chunk", "run_generation"]


def parse_mu_range(text: str) -> tuple[float, float]:
    """``"10:60"`` → (10.0, 60.0); a single number means a fixed ⟨μ⟩."""
    parts = text.split(":")
    try:
        lo, hi = (float(parts[0]), float(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None or not (0 <= lo <= hi < 1000) or not np.isfinite([lo, hi]).all():
        raise InputError(f"--mu: invalid pile-up range {text!r}; expected LO:HI with 0 <= LO <= HI, e.g. 10:60")
    return lo, hi


def check_request(process: str, n_events: int, out: Path, workers: int) -> None:
    """Refuse a bad request before any work is done (one clear line each)."""
    if process not in PROCESSES:
        raise InputError(f"--process: unknown process {process!r}; choose one of {', '.join(PROCESSES)}")
    if n_events <= 0:
        raise InputError(f"--events: must be a positive number of events, got {n_events}")
    if workers <= 0:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    if out.suffix.lower() not in (".parquet", ".root"):
        raise InputError(f"{out}: output must end in .parquet or .root")
    check_output_name(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: cannot write, directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: cannot write, directory {parent} is not writable")
    if out.is_dir():
        raise InputError(f"{out}: is a directory")


def chunk_seed(seed: int, process: str, index: int) -> int:
    """Pythia-compatible seed (1 … 899 999 999) of chunk ``index``."""
    state = np.random.SeedSequence([seed, PROCESSES.index(process), index]).generate_state(1)[0]
    return 1 + int(state) % 899_999_999


def plan_chunks(process: str, n_events: int, seed: int, cfg: SimConfig) -> list[Chunk]:
    """Equal events per slice (pT-hat range or resonance mass), cut into chunks."""
    ns = n_slices(process, cfg.generation)
    size = cfg.generation.chunk_size
    chunks: list[Chunk] = []
    first = 0
    for s in range(ns):
        n_s = n_events // ns + (1 if s < n_events % ns else 0)
        done = 0
        while done < n_s:
            n = min(size, n_s - done)
            idx = len(chunks)
            chunks.append(Chunk(idx, process, s, first, n, chunk_seed(seed, process, idx), 1.0 / n_s))
            first += n
            done += n
    return chunks


@lru_cache(maxsize=2)
def _pool_for(cfg_json: str):
    from .pileup import load_or_make_pool

    return load_or_make_pool(SimConfig.model_validate_json(cfg_json))


def run_chunk(chunk: Chunk, mu_range: tuple[float, float], cfg_json: str, workdir: str) -> tuple[int, dict[str, float]]:
    """Simulate one chunk and save it as ``chunk-<index>.npz`` in ``workdir`` (atomically)."""
    from .pipeline import simulate_chunk

    cfg = SimConfig.model_validate_json(cfg_json)
    table, timings = simulate_chunk(chunk, mu_range, cfg, _pool_for(cfg_json))
    path = Path(workdir) / f"chunk-{chunk.index:05d}.npz"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **_flatten_jagged(table))  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle
    return chunk.n_events, timings


#: npz holds flat arrays only (no pickles): a jagged column is saved as its content and counts
_CONTENT, _COUNTS = "@content", "@counts"


def _flatten_jagged(table: dict) -> dict[str, np.ndarray]:
    out = {}
    for name, arr in table.items():
        if isinstance(arr, np.ndarray):
            out[name] = arr
        else:
            import awkward as ak

            out[name + _CONTENT] = ak.to_numpy(ak.flatten(arr))
            out[name + _COUNTS] = ak.to_numpy(ak.num(arr)).astype(np.int64)
    return out


def _load_chunk(path: Path) -> dict:
    """A chunk file back as its table (jagged columns as awkward arrays), in the saved order."""
    with np.load(path, allow_pickle=False) as z:
        flat = {k: z[k] for k in z.files}
    table: dict = {}
    for key, arr in flat.items():
        if key.endswith(_CONTENT):
            import awkward as ak

            name = key[: -len(_CONTENT)]
            table[name] = ak.unflatten(arr, flat[name + _COUNTS])
        elif not key.endswith(_COUNTS):
            table[key] = arr
    return table


def _run_key(process: str, n_events: int, seed: int, mu: tuple[float, float], cfg: SimConfig) -> str:
    text = json.dumps([SIMULATION_VERSION, process, n_events, seed, list(mu), cfg.model_dump(mode="json")],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _workdir(out: Path, key: str) -> Path:
    """The resume directory of this run beside ``out``: made private (0700) or, on a re-run,
    reused only if it is a real directory of this user (never a planted symlink). Its name is
    bounded (the output's name shortened, then a hash of the full name and the run), so any
    valid output name works."""
    tag = hashlib.sha256(f"{out.name}\0{key}".encode()).hexdigest()[:16]
    workdir = out.parent / f".{out.name[:40]}.chunks-{tag}"
    try:
        os.mkdir(workdir, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(f"{workdir}: cannot create the work directory ({exc.strerror or exc})") from None
    st = os.lstat(workdir)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise InputError(f"{workdir}: exists and is not a directory of yours (a symlink or another "
                         "user's file); remove it and run again")
    return workdir


def _execute(todo: list[Chunk], mu: tuple[float, float], cfg_json: str, workdir: Path,
             workers: int, scheduler: str | None, done_cb: Callable[[int], None]) -> None:
    if scheduler:
        try:
            from dask.distributed import Client, as_completed
        except ImportError as exc:
            from .._extras import install_hint

            raise InputError(f"--scheduler: {install_hint(exc) or exc}") from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler: cannot connect to {scheduler} ({exc})") from None
        with client:
            futs = [client.submit(run_chunk, c, mu, cfg_json, str(workdir), pure=False) for c in todo]
            for f in as_completed(futs):
                done_cb(f.result()[0])
        return
    if workers == 1 or len(todo) <= 1:
        for c in todo:
            done_cb(run_chunk(c, mu, cfg_json, str(workdir))[0])
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import as_completed as cf_completed

    from .._signals import install_worker_handlers, terminate_workers

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver"),
                             initializer=install_worker_handlers) as ex:
        pool_futs = [ex.submit(_run_chunk_in_worker, c, mu, cfg_json, str(workdir)) for c in todo]
        try:
            for f in cf_completed(pool_futs):
                done_cb(f.result()[0])
        except BaseException:  # Ctrl-C, SIGTERM: stop the running chunks (finished ones stay)
            for f in pool_futs:
                f.cancel()
            terminate_workers(ex)
            raise


def _run_chunk_in_worker(chunk: Chunk, mu_range: tuple[float, float], cfg_json: str,
                         workdir: str) -> tuple[int, dict[str, float]]:
    from .._signals import task

    with task():
        return run_chunk(chunk, mu_range, cfg_json, workdir)


def run_generation(process: str, n_events: int, seed: int, mu: tuple[float, float], out: Path,
                   cfg: SimConfig, workers: int = 1, scheduler: str | None = None,
                   on_done: Callable[[int], None] | None = None) -> dict[str, int]:
    """Generate ``n_events`` of ``process`` into ``out``. Returns counts (events, rows, resumed
    chunks). ``on_done(n)`` is called with the events of each finished chunk."""
    check_request(process, n_events, out, workers)
    chunks = plan_chunks(process, n_events, seed, cfg)
    key = _run_key(process, n_events, seed, mu, cfg)
    workdir = _workdir(out, key)
    done = {c.index for c in chunks if (workdir / f"chunk-{c.index:05d}.npz").exists()}
    todo = [c for c in chunks if c.index not in done]
    cb = on_done or (lambda _n: None)
    for c in chunks:
        if c.index in done:
            cb(c.n_events)
    cfg_json = cfg.model_dump_json()
    if todo:
        _pool_for(cfg_json)  # make and cache the pile-up pool once, before workers start
    _execute(todo, mu, cfg_json, workdir, workers, scheduler, cb)

    meta = DatasetMetadata(
        producer="jetcalib generate",
        generator={
            "process": process, "mu_range": list(mu), "n_chunks": len(chunks),
            "chunk_size": cfg.generation.chunk_size,
            "slices": [{"slice": s, "settings": process_settings(process, cfg.generation, s),
                        "events": sum(c.n_events for c in chunks if c.slice_index == s)}
                       for s in range(n_slices(process, cfg.generation))],
            "detector_config": cfg.model_dump(mode="json"), "simulation_version": SIMULATION_VERSION,
            "base_seed": seed, "resume": "automatic (chunk files beside the output)",
        },
        seeds=[c.seed for c in chunks], n_events=n_events,
        environment=environment(("numba", "pyarrow")),
    )
    rows = 0
    with TableWriter(out, meta) as w:
        for c in chunks:
            table = _load_chunk(workdir / f"chunk-{c.index:05d}.npz")
            if len(table["event"]):
                w.write(table)
                rows += len(table["event"])
    shutil.rmtree(workdir, ignore_errors=True)
    return {"events": n_events, "rows": rows, "resumed_chunks": len(done)}
