"""``jetcalib generate``: Pythia 8 + pile-up + calorimeter + tracks + FastJet → matched large-R
jet tables (see ``jetcalib.sim``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console, err_console


@app.command()
def generate(
    process: Annotated[str, typer.Option("--process", help="dijet, wprime, zprime_tt or dijet_alt "
                                         "(dijets with altered shower/hadronisation).")] = "dijet",
    events: Annotated[int, typer.Option("--events", help="Number of events to generate.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Base seed; each chunk derives its own.")] = 1,
    mu: Annotated[str, typer.Option("--mu", help="⟨μ⟩ range LO:HI, drawn uniformly per event; "
                                    "the overlay is Poisson(⟨μ⟩) minimum-bias events.")] = "10:60",
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output table, .parquet or .root.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Local worker processes.")] = 1,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="dask.distributed scheduler "
                                                   "address (tcp://host:port); replaces --workers.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Detector/generation YAML "
                                                "(see --dump-config); missing keys take defaults.")] = None,
    dump_config: Annotated[bool, typer.Option("--dump-config", help="Print the default (or "
                                              "--config) YAML, each key with its description as "
                                              "a comment, and exit.")] = False,
    constituents: Annotated[bool, typer.Option("--constituents", help="Also write each jet's clusters "
                                               "and tracks as jagged cl_*/trk_* columns (config "
                                               "constituents.*; several times the table size).")] = False,
) -> None:
    """Simulate events into matched (truth, reco) large-R jet rows with the 21 DNN inputs.

    Work is cut into chunks (generation.chunk_size events, per-chunk seeds), so --workers 1
    and --workers 2 give identical rows. Finished chunks are kept beside the output and an
    interrupted run [bold]resumes automatically[/] when the same command is run again. The
    minimum-bias pool is cached in $JETCALIB_CACHE (default ~/.cache/jetcalib).
    """
    from ..errors import InputError
    from ..sim.config import load_config

    cfg = load_config(config)
    if constituents:
        cfg = cfg.model_copy(update={"constituents": cfg.constituents.model_copy(update={"store": True})})
    if dump_config:
        from .._textfiles import commented_yaml

        # descriptions from the fields' #: comments in sim/config.py (commented_yaml's fallback)
        text = commented_yaml(cfg, header="jetcalib generate detector config (SimConfig): give it back "
                              "with --config; a missing key takes its default.")
        console.print(text, end="", markup=False, soft_wrap=True)
        return
    if out is None:
        raise InputError("--out: an output file (.parquet or .root) is required")
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from ..sim.runner import check_request, parse_mu_range, run_generation

    mu_range = parse_mu_range(mu)
    check_request(process, events, out, workers)
    with Progress(TextColumn("[bold]generate[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"),
                  TimeRemainingColumn(), console=err_console, transient=False) as prog:  # progress on stderr
        task = prog.add_task(process, total=events, rate="")

        def done(n: int) -> None:
            prog.advance(task, n)
            speed = prog.tasks[task].speed
            prog.update(task, rate=f"{speed:7.1f} events/s" if speed else "")

        res = run_generation(process, events, seed, mu_range, out, cfg, workers=workers,
                             scheduler=scheduler, on_done=done)
    resumed = f", {res['resumed_chunks']} chunks resumed" if res["resumed_chunks"] else ""
    console.print(f"wrote {out}: {res['rows']:,} matched jets from {res['events']:,} events{resumed}")
