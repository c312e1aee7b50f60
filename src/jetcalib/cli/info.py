"""``jetcalib info``: what is in a jet table, without reading it all into memory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import MapFileOption, MapOption, TreeOption, app, column_map, console, skip_or_raise


@app.command()
def info(
    files: Annotated[list[Path], typer.Argument(help="Parquet or ROOT jet tables.", show_default=False)],
    stats: Annotated[
        bool, typer.Option("--stats", help="Stream every file once for min/median-free stats: "
                           "min, max, mean and non-finite counts per numeric column.")
    ] = False,
    check: Annotated[
        str | None,
        typer.Option("--check", help="Also check that the file has every column a job needs: "
                     "calibrate, train or evaluate (derivable columns such as log_e count).",
                     show_default=False),
    ] = None,
    tree: TreeOption = None,
    map_: MapOption = None,
    map_file: MapFileOption = None,
) -> None:
    """Describe jet tables: schema version, rows, columns, provenance.

    Reads only file metadata (plus one streaming pass with --stats): memory stays small for
    files of any size. A bad file is reported in one line; the others are still shown.
    """
    from rich.table import Table

    from ..errors import InputError, PartialFailure
    from ..io import COLUMNS, REQUIRED_FOR, open_jets

    if check is not None and check not in REQUIRED_FOR:
        raise InputError(f"--check {check!r}: choose one of {', '.join(REQUIRED_FOR)}")

    cmap = column_map(map_, map_file)
    failures = 0
    for path in files:
        try:
            f = open_jets(path, tree=tree, column_map=cmap)
            with f:
                meta = f.metadata
                f.require(REQUIRED_FOR[check] if check else ())
                summary = _stream_stats(f) if stats else None
        except InputError as exc:
            skip_or_raise(exc, len(files))
            failures += 1
            continue
        where = f" (TTree '{f.tree_name}')" if f.tree_name else ""
        console.print(f"[bold]{path}[/]: {f.format}{where}, {f.num_rows:,} rows, {len(f.columns)} columns")
        if meta is None:
            console.print("  provenance: none (not written by jetcalib)")
        else:
            console.print(
                f"  schema {meta.schema_version}, jetcalib {meta.jetcalib_version}, "
                f"created {meta.created} by {meta.producer}"
            )
            if meta.generator:
                gen = ", ".join(f"{k}={v}" for k, v in meta.generator.items() if not isinstance(v, dict | list))
                console.print(f"  generator: {gen}")
            if meta.seeds:
                shown = ", ".join(map(str, meta.seeds[:8])) + (" ..." if len(meta.seeds) > 8 else "")
                console.print(f"  seeds: {shown}")
            if meta.parents:
                console.print(f"  derived from: {', '.join(meta.parents)}")
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("column")
        table.add_column("type")
        table.add_column("unit")
        if summary is not None:
            for head in ("min", "max", "mean", "non-finite"):
                table.add_column(head, justify="right")
        for name, typename in f.columns.items():
            unit = COLUMNS[name].unit if name in COLUMNS else "(not in schema)"
            row = [name, typename, unit]
            if summary is not None:
                s = summary.get(name)
                row += ["", "", "", ""] if s is None else [f"{s[0]:.4g}", f"{s[1]:.4g}", f"{s[2]:.4g}", str(s[3])]
            table.add_row(*row)
        console.print(table)
        if check:
            console.print(f"  [green]ok[/]: has every column '{check}' needs")
    if failures:
        raise PartialFailure(f"{failures} of {len(files)} files could not be read")


def _stream_stats(f) -> dict[str, tuple[float, float, float, int]]:
    import numpy as np

    acc: dict[str, list[float]] = {}
    for chunk in f.iter_chunks(None):
        for name, arr in chunk.items():
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
                continue
            a = arr.astype(np.float64, copy=False)
            finite = np.isfinite(a)
            good = a[finite]
            s = acc.setdefault(name, [np.inf, -np.inf, 0.0, 0, 0])
            if good.size:
                s[0] = min(s[0], float(good.min()))
                s[1] = max(s[1], float(good.max()))
                s[2] += float(good.sum())
            s[3] += int(good.size)
            s[4] += int(a.size - good.size)
    return {k: (v[0], v[1], v[2] / max(v[3], 1), int(v[4])) for k, v in acc.items()}
