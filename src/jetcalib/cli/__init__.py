"""The ``jetcalib`` command line (typer). One module per command; ``main`` turns every
:class:`~jetcalib.errors.JetcalibError` into one ``error:`` line and its exit code."""

import importlib as _importlib

from ._app import app
from ._main import main

#: One module per command, each registering itself on ``app`` when imported.
_COMMAND_MODULES = ("info", "generate", "numerical", "train", "calibrate", "evaluate", "export", "demo")

for _name in _COMMAND_MODULES:
    _importlib.import_module(f"{__name__}.{_name}")
del _name

__all__ = ["app", "main"]
