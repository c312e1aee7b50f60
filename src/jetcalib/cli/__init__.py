"""The ``jetcalib`` command line (typer). One module per command; ``main`` turns every
:class:`~jetcalib.errors.JetcalibError` into one ``error:`` line and its exit code."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from ._app import app, err_console

#: One module per command, each registering itself on ``app`` when imported. A stage whose
#: module is not there yet is registered by :mod:`.stubs` as "not yet available".
COMMAND_MODULES = ("info", "generate", "numerical", "train", "calibrate", "evaluate", "export", "demo")

for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}")
from . import stubs as _stubs  # noqa: E402, F401  (must come last)

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see :mod:`jetcalib.errors`)."""
    from ..errors import JetcalibError

    try:
        app(args=argv, prog_name="jetcalib")
    except SystemExit as exc:  # click's standalone mode always exits
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except JetcalibError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing half-written was kept")
        return 130
    except Exception:
        if os.environ.get("JETCALIB_DEBUG"):
            raise
        import traceback

        traceback.print_exc()
        err_console.print(
            "[bold red]internal error[/]: this is a bug in jetcalib; please report it with the "
            "traceback above"
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
