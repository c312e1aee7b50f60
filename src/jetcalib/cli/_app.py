"""The typer application object and shared CLI helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = [
    "CONTEXT_SETTINGS",
    "MapFileOption",
    "MapOption",
    "TreeOption",
    "UnitsOption",
    "app",
    "column_map",
    "console",
    "err_console",
    "old_spelling",
    "print_error",
    "skip_or_raise",
]

#: Every command, and every group, takes -h as --help (inherited by the subcommands' contexts).
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="jetcalib",
    help=(
        "Calibrate the energy and mass of large-R (R = 1.0) jets with one deep neural network, "
        "and compare with the standard numerical-inversion calibration.\n\n"
        "Typical chain: generate -> numerical fit / train -> calibrate -> evaluate -> export.\n\n"
        "Exit codes: 0 ok, 1 internal error, 2 bad input or usage, "
        "4 some inputs failed, 130 interrupted (SIGINT), 143 terminated (SIGTERM)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings=CONTEXT_SETTINGS,
)


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"jetcalib {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """The options every command shares come after the command's name."""

console = Console(highlight=False)
# Errors go to stderr, one line, never wrapped in the middle of a path.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Map a jetcalib column to your branch name, NAME=BRANCH (repeatable), "
        "e.g. --map log_e=jet_logE.",
        show_default=False,
    ),
]
MapFileOption = Annotated[
    Path | None,
    typer.Option("--map-file", help="TOML or YAML file of jetcalib_name = \"branch\" lines."),
]
UnitsOption = Annotated[
    str | None,
    typer.Option("--units", help="Unit of the file's energies, momenta and masses: GeV or MeV "
                 "(outputs in the same unit) [default: the --map-file's units key, else GeV]",
                 show_default=False),
]
TreeOption = Annotated[
    str | None,
    typer.Option("--tree", help="TTree name in ROOT files (default: 'jets' or the only TTree)."),
]


def old_spelling(name: str, of: str) -> typer.models.OptionInfo:
    """A hidden option ``name``: an old spelling of the option whose parameter is ``of``,
    still accepted for one release (every command writes with ``-o/--out``)::

        output: Annotated[Path | None, old_spelling("--output", of="out")] = None

    Its value becomes ``of``'s default (eager, so before ``of`` is read): ``of`` stays
    required in the help and in click's own check, and ``-o/--out`` wins when both are given.
    """

    def alias(ctx: typer.Context, value: object) -> object:
        if value is not None and not ctx.resilient_parsing:
            ctx.default_map = {**(ctx.default_map or {}), of: value}
        return value

    return typer.Option(name, hidden=True, is_eager=True, callback=alias, show_default=False,
                        help=f"Old spelling of the option {of!r}; kept for one release.")


def print_error(message: object) -> None:
    """The one ``error:`` line every command prints for a user's mistake."""
    from rich.markup import escape

    # escaped: messages carry paths and shapes such as "[N, 21]" that rich would eat as markup
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, markup=True)


def skip_or_raise(exc: Exception, n_inputs: int, note: str = "") -> None:
    """With one input, re-raise (the command fails with exit 2); with several, print the
    error line and let the caller skip that input and go on (exit 4 at the end)."""
    if n_inputs == 1:
        raise exc
    print_error(f"{exc}{note}")


def column_map(options: list[str] | None, file: Path | None):
    """Build the :class:`~jetcalib.io.ColumnMap` from ``--map``/``--map-file``."""
    from ..io import ColumnMap

    return ColumnMap.from_options(options or (), file)
