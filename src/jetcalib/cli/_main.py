"""``main``: runs the typer app and turns every :class:`~jetcalib.errors.JetcalibError` into
one ``error:`` line and its exit code (re-exported as :func:`jetcalib.cli.main`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ._app import app, err_console, print_error

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see :mod:`jetcalib.errors`)."""
    from ..errors import JetcalibError
    from ..io.provenance import command_line

    # the command line every artifact written by this command records (environment record)
    argv_record = sys.argv if argv is None else ["jetcalib", *argv]
    try:
        with _sigterm_raises(), _one_line_warnings(), command_line(argv_record):
            app(args=argv, prog_name="jetcalib")
    except SystemExit as exc:  # click's standalone mode always exits
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # typer turns Ctrl-C (and so our SIGTERM) into exit 130
            return _interrupted(interrupt)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except JetcalibError as exc:
        print_error(exc)
        return exc.exit_code
    except OSError as exc:
        from ..io.files import WRITE_ERRNOS

        if exc.errno not in WRITE_ERRNOS:
            return _internal_error()
        # a full disk, a read-only directory, a forbidden file met outside jetcalib's own
        # readers and writers (e.g. a training checkpoint): the user's to fix, so one line
        # naming the file, exit 2
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt as exc:  # Terminated (SIGTERM) too
        return _interrupted(exc)
    except ImportError as exc:
        from .._extras import install_hint

        hint = install_hint(exc)
        if hint is None:
            return _internal_error()
        print_error(hint)
        return 2
    except Exception:  # noqa: BLE001 (anything else is a bug: reported as one)
        return _internal_error()
    return 0


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or Terminated) an exit was raised from, if any."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def _interrupted(exc: KeyboardInterrupt) -> int:
    from ..errors import Terminated

    if isinstance(exc, Terminated):
        err_console.print("terminated (SIGTERM): nothing half-written was kept")
        return Terminated.exit_code
    err_console.print("interrupted: nothing half-written was kept")
    return 130


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """A warning a command shows is one ``warning:`` line on stderr (its category and the
    first line of its message), not Python's two lines with a file name and a source line
    that mean nothing to the user."""
    import warnings

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,  # noqa: ARG001
             file: Any = None, line: str | None = None) -> None:  # noqa: ARG001 -- warnings.showwarning's
        from rich.markup import escape

        first = (str(message).strip().splitlines() or [""])[0]
        err_console.print(f"[yellow]warning:[/] {escape(f'{category.__name__}: {first}')}",
                          highlight=False, soft_wrap=True)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _raise_terminated(_signum: int, _frame: object) -> None:
    from ..errors import Terminated

    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM unwinds the stack like Ctrl-C (as
    :class:`~jetcalib.errors.Terminated`) instead of killing the process where it stands, so
    temporary outputs are removed and the exit code is 143. Only the main thread may install
    a handler; elsewhere (a thread calling ``main``) the default stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _internal_error() -> int:
    """Print the traceback of the exception being handled as a bug report; exit code 1."""
    if os.environ.get("JETCALIB_DEBUG"):
        raise  # re-raises the exception main is handling (only called from its except blocks)
    import traceback

    traceback.print_exc()
    err_console.print(
        "[bold red]internal error[/]: this is a bug in jetcalib; please report it with the "
        "traceback above"
    )
    return 1

