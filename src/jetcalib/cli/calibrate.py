"""``jetcalib calibrate``: apply a DNN or numerical calibration to jet tables."""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from ._app import (
    MapFileOption,
    MapOption,
    TreeOption,
    UnitsOption,
    app,
    column_map,
    console,
    err_console,
    skip_or_raise,
)

#: Output suffixes of a single calibrated file (anything else with a suffix is refused).
_TABLE_SUFFIXES = (".parquet", ".pq", ".root")


@app.command()
def calibrate(
    # a str, not a Path: Path("./reference") would read as the literal "reference"
    calibration: Annotated[str, typer.Argument(
        help="A DNN model directory (jetcalib train) or its .onnx export (jetcalib export), a "
        "numerical calibration .json (jetcalib numerical fit) or its correctionlib .json "
        "(--correctionlib); the literal 'reference': the reference model shipped with jetcalib "
        "(./reference for a file of that name).", show_default=False)],
    inputs: Annotated[list[Path], typer.Argument(help="Jet tables (.parquet or .root) to calibrate.",
                                                 show_default=False)],
    out: Annotated[Path, typer.Option(
        "-o", "--out", help="Output file (one input), or directory (one output per input, same "
        "file name).", show_default=False)],
    runtime: Annotated[Literal["auto", "onnxruntime", "torch", "correctionlib", "numpy"], typer.Option(
        "--runtime",
        help="Evaluator: auto = onnxruntime for a DNN (exported in memory), numpy for a numerical "
        "calibration, correctionlib for its correctionlib file; torch = PyTorch eager; "
        "correctionlib also runs a numerical calibration .json.")] = "auto",
    method: Annotated[Literal["dnn", "numerical"] | None, typer.Option(
        "--method",
        help="Refuse a calibration of the other method (a guard for scripts).",
        show_default=False)] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=4096, help="Local processes calibrating files in parallel.")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running dask.distributed scheduler (e.g. "
        "tcp://host:8786): files become tasks on its workers, which must see the same paths.",
        show_default=False)] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, max=4096, help="Threads per worker for onnxruntime/torch "
        "[default: cores / workers; 1 with --scheduler]", show_default=False)] = None,
    # max: a chunk is held in memory whole (≈ 200 B a row); beyond int64 pyarrow fails as if
    # the file were corrupt
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1000, max=100_000_000,
                                            help="Rows per chunk: bounds the memory.")] = 200_000,
    domain: Annotated[Literal["flag", "strict", "ignore"], typer.Option(
        "--domain",
        help="Jets outside the calibration's training domain: flag = calibrated and flagged 7-9 "
        "(a warning); strict = not calibrated (reco kinematics), flagged 7-9; ignore = no such "
        "flags (docs/flags.md#training-domain).")] = "flag",
    collection: Annotated[str | None, typer.Option(
        "--collection", help="Per-event ntuples: calibrate the jets of collection P, whose jet "
        "column c is the jagged branch P_c (--map c=BRANCH names another; mu and npv may be "
        "event-level branches). Writes every branch back plus jagged P_e_cal, P_pt_cal, "
        "P_m_cal, P_calib_flag; --chunk-rows then counts events.", show_default=False)] = None,
    preset: Annotated[Literal["atlas"] | None, typer.Option(
        "--preset", help="The files use an experiment's names: atlas = ATLAS ntuple branches "
        "(E, m, eta, EMFracCaloBased, Tau21_wta, ...; with --collection P: P_E, ...; event-level "
        "averageInteractionsPerCrossing, NPV) in MeV unless --units says otherwise; --map renames "
        "on top (docs/inputs.md#atlas-names).", show_default=False)] = None,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
    units: UnitsOption = None,
) -> None:
    """Apply a DNN or numerical calibration to jet tables.

    Adds e_cal, pt_cal, m_cal (in the input's --units, GeV by default) and calib_flag to every
    jet, keeping every existing column. A file whose median e_reco looks like the other unit is refused.

    Streams each file chunk by chunk and writes each output atomically.
    With --workers or --scheduler several files are calibrated at once (same outputs as one process).
    A bad file among many is reported and skipped; the good ones are still written (exit code 4 at the end).
    Flags: 0 calibrated, 1 non-finite input, 2 m <= 0, 3 mass above energy (mass follows E),
    4 bad prediction, 5 out of range, 6 mass below the method's threshold (mass follows E),
    7 |eta| / 8 pT (E) / 9 an input outside the training domain (calibrated unless --domain strict).
    """
    from ..deploy import calibrate_many, load, reference_model
    from ..deploy.reference import REFERENCE_NAME
    from ..errors import InputError, PartialFailure
    from ..io import detect_format
    from ..io.files import check_output_name
    from ..io.units import resolve_units

    if threads is None:
        threads = 1 if scheduler else max(1, (os.cpu_count() or 1) // workers)
    cmap = column_map(map_, map_file)
    if preset is not None and units is None and cmap.units is None:
        from ..io.presets import preset_units

        units = preset_units(preset)
    units = resolve_units(units, cmap)
    cal_path = reference_model() if calibration == REFERENCE_NAME else Path(calibration)
    cal = load(cal_path, runtime=runtime, threads=threads, method=method)
    made_out = False
    if len(inputs) == 1 and out.suffix.lower() in _TABLE_SUFFIXES:
        targets = [(inputs[0], out)]
    else:
        if len(inputs) > 1 and out.suffix.lower() in _TABLE_SUFFIXES and not out.is_dir():
            raise InputError(f"{out}: {len(inputs)} inputs need an output directory, not a "
                             f"{out.suffix} file")
        if len(inputs) == 1 and out.suffix and not out.is_dir():
            # "-o out.csv" is a typo or a wish for another format, not a directory to make
            raise InputError(f"{out}: unknown output suffix {out.suffix!r}; write "
                             f"{', '.join(_TABLE_SUFFIXES)} (or give a directory)")
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory (several inputs need an output directory)")
        targets = [(p, out / p.name) for p in inputs]
        names = [t.name for _, t in targets]
        if len(set(names)) != len(names):
            raise InputError("several inputs share a file name; calibrate them into separate directories")
        made_out = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
    try:
        for src, dst in targets:
            check_output_name(dst)
            if src.resolve() == dst.resolve():
                raise InputError(f"{dst}: output would overwrite its input")  # noqa: TRY301 -- the except only removes a made directory
            detect_format(dst, sniff=False)
        failures = 0
        total_jets = total_flagged = 0
        peak: dict[int, float] = {}  # worker pid -> its peak memory (MB)
        start = time.perf_counter()
        where = f"on {scheduler}" if scheduler else f"with {workers} workers" if workers > 1 else ""
        results = calibrate_many(cal, targets, workers=workers, scheduler=scheduler, threads=threads,
                                 calibration_source=str(cal_path), column_map=cmap, tree=tree,
                                 step_rows=chunk_rows, units=units, domain=domain,
                                 collection=collection, preset=preset)
        # closing: an interruption stops the workers now, not when the generator is collected
        with err_console.status(f"calibrating {len(targets)} file{'s' if len(targets) > 1 else ''} {where}"), \
                contextlib.closing(results):
            for src, dst, s in results:
                if isinstance(s, InputError):
                    skip_or_raise(s, len(targets), " (skipped)")
                    failures += 1
                    continue
                total_jets += s.jets
                total_flagged += s.flagged
                if math.isfinite(s.peak_rss_mb):
                    peak[s.pid] = max(peak.get(s.pid, 0.0), s.peak_rss_mb)
                flags = ", ".join(f"flag {k}: {v} {_flag_name(k)}"
                                  for k, v in sorted(s.flag_counts.items()) if k != 0)
                console.print(f"{src} -> {dst}: {s.jets:,} jets, {s.flagged:,} flagged"
                              f"{' (' + flags + ')' if flags else ''}, {s.jets_per_second:,.0f} jets/s",
                              soft_wrap=True)  # one line per file, whatever the terminal width
        wall = time.perf_counter() - start
        if len(targets) > 1:
            mem = f", peak memory per worker {max(peak.values()):,.0f} MB" if peak else ""
            console.print(f"total: {total_jets:,} jets in {len(targets) - failures} files, "
                          f"{total_flagged:,} flagged, {total_jets / max(wall, 1e-9):,.0f} jets/s "
                          f"({wall:.1f} s wall){mem}", soft_wrap=True)
        if failures:
            raise PartialFailure(f"{failures} of {len(targets)} inputs failed and were skipped")  # noqa: TRY301
    except BaseException:
        if made_out:  # an output directory this run made and wrote nothing into
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _flag_name(code: int) -> str:
    """The :class:`~jetcalib.io.CalibFlag` name of a ``calib_flag`` value (for the summary)."""
    from ..io import CalibFlag

    try:
        return CalibFlag(code).name
    except ValueError:
        return "UNKNOWN"
