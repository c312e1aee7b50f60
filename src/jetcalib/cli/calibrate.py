"""``jetcalib calibrate``: apply a DNN or numerical calibration to jet tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import MapFileOption, MapOption, TreeOption, app, column_map, console, skip_or_raise


@app.command()
def calibrate(
    calibration: Annotated[Path, typer.Argument(
        help="A DNN model directory (jetcalib train) or a numerical calibration .json "
        "(jetcalib numerical fit).", show_default=False)],
    inputs: Annotated[list[Path], typer.Argument(help="Jet tables (.parquet or .root) to calibrate.",
                                                 show_default=False)],
    out: Annotated[Path, typer.Option(
        "-o", "--out", help="Output file (one input), or directory (one output per input, same "
        "file name).", show_default=False)],
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1000,
                                            help="Rows per chunk: bounds the memory.")] = 200_000,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
) -> None:
    """Apply a DNN or numerical calibration to jet tables.

    Adds e_cal, pt_cal, m_cal (GeV) and calib_flag to every jet, keeping every existing column.

    Streams each file chunk by chunk and writes each output atomically. A bad file among many is
    reported and skipped; the good ones are still written (exit code 4 at the end).
    Flags: 0 calibrated, 1 non-finite input, 2 m <= 0, 3 mass above energy (mass follows E),
    4 bad prediction, 5 out of range, 6 mass below the method's threshold (mass follows E).
    """
    from ..deploy import calibrate_file, load
    from ..errors import InputError, PartialFailure
    from ..io import detect_format

    cal = load(calibration)
    cmap = column_map(map_, map_file)
    if len(inputs) == 1 and out.suffix.lower() in (".parquet", ".pq", ".root"):
        targets = [(inputs[0], out)]
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory (several inputs need an output directory)")
        out.mkdir(parents=True, exist_ok=True)
        targets = [(p, out / p.name) for p in inputs]
        names = [t.name for _, t in targets]
        if len(set(names)) != len(names):
            raise InputError("several inputs share a file name; calibrate them into separate directories")
    for src, dst in targets:
        if src.resolve() == dst.resolve():
            raise InputError(f"{dst}: output would overwrite its input")
        detect_format(dst, sniff=False)
    failures = 0
    total_jets = total_flagged = 0
    total_s = 0.0
    for src, dst in targets:
        try:
            with console.status(f"calibrating {src}"):
                s = calibrate_file(cal, src, dst, calibration_source=str(calibration),
                                   column_map=cmap, tree=tree, step_rows=chunk_rows)
        except InputError as exc:
            skip_or_raise(exc, len(targets), " (skipped)")
            failures += 1
            continue
        total_jets += s.jets
        total_flagged += s.flagged
        total_s += s.seconds
        flags = ", ".join(f"flag {k}: {v}" for k, v in sorted(s.flag_counts.items()) if k != 0)
        console.print(f"{src} -> {dst}: {s.jets:,} jets, {s.flagged:,} flagged"
                      f"{' (' + flags + ')' if flags else ''}, {s.jets_per_second:,.0f} jets/s")
    if len(targets) > 1:
        console.print(f"total: {total_jets:,} jets in {len(targets) - failures} files, "
                      f"{total_flagged:,} flagged, {total_jets / max(total_s, 1e-9):,.0f} jets/s")
    if failures:
        raise PartialFailure(f"{failures} of {len(targets)} inputs failed and were skipped")
