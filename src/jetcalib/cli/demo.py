"""``jetcalib demo``: the whole chain on a small built-in sample, in a few minutes on 2 cores.

generate (dijet + W′ + top, train and test from different seeds) -> numerical fit -> train a
small DNN -> evaluate both, and the reference model shipped with jetcalib (trained on the full
standard sample) when this install has one of this simulation version, on the independent test
sample -> report.html and a short table.
Every step is the same command a user would run; the demo prints each one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console, err_console

#: The method name of the reference model (jetcalib.deploy.reference_model) in the report and
#: the printed table, beside the demo's own "dnn".
REFERENCE_METHOD = "reference-dnn"

#: (process, train events, test events): small enough for minutes on 2 cores.
_SAMPLES = (("dijet", 4000, 2000), ("wprime", 600, 400), ("zprime_tt", 600, 400))


def _step(argv: list[str]) -> None:
    from ..errors import JetcalibError
    from . import main

    console.print(f"\n[bold cyan]$ jetcalib {' '.join(argv)}[/]")
    code = main(argv)
    if code != 0:
        raise JetcalibError(f"demo step 'jetcalib {' '.join(argv)}' failed (exit {code})")


def _merge(paths: list[Path], out: Path) -> None:
    from ..io import DatasetMetadata, concat_tables, read_table, write_table

    tables, parents = [], []
    for p in paths:
        table, _ = read_table(p)
        tables.append(table)
        parents.append(str(p))
    write_table(out, concat_tables(tables), DatasetMetadata(producer="jetcalib demo", parents=parents))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory for samples, models and the report.")]
    = Path("demo-output"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes for generation.")] = 2,
    scale: Annotated[float, typer.Option("--scale", min=0.05, max=100.0,
                                         help="Multiply every sample size (1 = a few minutes).")] = 1.0,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="DNN training epochs.")] = 30,
) -> None:
    """Run the whole chain on a small built-in sample and print the comparison.

    Runs generate -> numerical fit -> train -> evaluate and prints a
    table of resolution and closure per method in three pT regions, with the reference model
    shipped with jetcalib (trained on the full standard sample) as the row reference-dnn when
    the install has one for this simulation version. Re-running reuses finished
    samples and models (delete OUT to start afresh)."""
    out.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[Path]] = {"train": [], "test": []}
    for process, n_train, n_test in _SAMPLES:
        for split, n, seed in (("train", n_train, 101), ("test", n_test, 202)):
            path = out / f"{process}_{split}.parquet"
            parts[split].append(path)
            if not path.exists():
                _step(["generate", "--process", process, "--events", str(max(int(n * scale), 50)),
                       "--seed", str(seed), "--mu", "10:60", "--workers", str(workers), "--out", str(path)])
    train, test = out / "train.parquet", out / "test.parquet"
    for split, path in (("train", train), ("test", test)):
        if not path.exists():
            _merge(parts[split], path)
    numcal, model = out / "numcal.json", out / "dnn-model"
    if not numcal.exists():
        _step(["numerical", "fit", str(train), "-o", str(numcal)])
    if not (model / "artifact.json").exists():
        _step(["train", "--data", str(train), "-o", str(model), "--epochs", str(epochs), "--quiet"]
              + (["--resume"] if (model / "checkpoints").exists() else []))
    report = out / "report"
    reference = _reference()
    _step(["evaluate", str(test), "--method", f"numerical={numcal}", "--method", f"dnn={model}",
           *(["--method", f"{REFERENCE_METHOD}={reference}"] if reference is not None else []),
           "-o", str(report), "--bootstrap", "20"])
    _print_table(json.loads((report / "summary.json").read_text()))
    console.print(f"\nreport: [bold]{(report / 'report.html').resolve()}[/]")


def _reference() -> Path | None:
    """The reference model shipped with jetcalib (trained on the full standard sample), or
    None after one stderr line saying why it is left out (absent from this install, or trained
    on another simulation version): the demo goes on without it."""
    from ..deploy import reference_model
    from ..errors import InputError

    try:
        return reference_model()
    except InputError as exc:  # ArtifactError included: a damaged file
        err_console.print(f"demo: no '{REFERENCE_METHOD}' row: {exc}")
        return None


def _print_table(summary: dict) -> None:
    from rich.table import Table

    table = Table(title="Energy and mass resolution (q84-q16)/(2 q50) by pT_true region, "
                  "and worst closure |median - 1| over pT bins", title_justify="left")
    table.add_column("method")
    regions = list(next(iter(summary["resolution"].values()))["energy"])
    for r in regions:
        table.add_column(f"E {r}", justify="right")
    for r in regions:
        table.add_column(f"m {r}", justify="right")
    table.add_column("E closure", justify="right")
    table.add_column("m closure", justify="right")

    def fmt(v: float | None, pct: bool = True) -> str:
        return "-" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.3f}")

    for m in summary["methods"]:
        res = summary["resolution"][m]
        clo = summary["closure_max_deviation"][m]
        table.add_row(m, *[fmt(res["energy"][r]) for r in regions], *[fmt(res["mass"][r]) for r in regions],
                      fmt(clo["energy"]), fmt(clo["mass"]))
    from rich.console import Console

    # a fixed width so that the table is readable in logs and pipes (no 80-column squeeze)
    Console(width=max(console.width, 120), highlight=False).print(table)
    for method, label in (("dnn", "DNN (demo)"), (REFERENCE_METHOD, "DNN (reference)")):
        ratio = summary["resolution_ratio"].get(method, {}).get("energy", {})
        if ratio:
            shown = ", ".join(f"{r}: {v:.2f}" for r, v in ratio.items() if v is not None)
            console.print(f"{label} / {summary['baseline']} energy resolution: {shown}")
