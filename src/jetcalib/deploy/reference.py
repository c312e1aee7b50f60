"""The reference model shipped with jetcalib: a DNN trained on the standard sample
(``benchmarks/standard_sample.sh``), exported to ONNX and installed as package data
(``jetcalib/reference/reference.onnx``), so that ``jetcalib demo`` shows the full-sample result
next to its own small model and ``jetcalib calibrate reference ...`` calibrates with it.

The model is valid only for the simulation it was trained on: :func:`reference_model` refuses
it when the simulation version in its metadata is not this jetcalib's
(:data:`jetcalib.io.SIMULATION_VERSION`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..io import SIMULATION_VERSION

__all__ = ["REFERENCE_ENV", "REFERENCE_NAME", "installed_path", "reference_model"]

#: The literal that selects the reference model where a calibration path is asked
#: (``jetcalib calibrate reference ...``).
REFERENCE_NAME = "reference"
#: Environment variable naming another ``.onnx`` file to use as the reference model (tests, or
#: a reference model kept outside the install).
REFERENCE_ENV = "JETCALIB_REFERENCE_MODEL"


def installed_path() -> Path:
    """Where the install keeps the reference model (whether it is there or not)."""
    return Path(__file__).resolve().parent.parent / "reference" / "reference.onnx"


def reference_model(path: str | os.PathLike[str] | None = None) -> Path:
    """The path of the reference model's ``.onnx`` file, after checking that it is there, is a
    ``jetcalib export`` file and was trained on this jetcalib's simulation version.

    ``path``: the file to check (default: ``$JETCALIB_REFERENCE_MODEL`` if set, else the one
    installed with the package, :func:`installed_path`). Raises :class:`~jetcalib.errors.InputError`
    (one line, exit code 2 from the CLI) when the file is absent, when its metadata records no
    simulation version or another one than :data:`jetcalib.io.SIMULATION_VERSION`, and
    :class:`~jetcalib.errors.ArtifactError` when it is not a valid export.
    """
    from .runtimes import OnnxCalibration

    if path is not None:
        p, where = Path(path), ""
    elif os.environ.get(REFERENCE_ENV):
        p, where = Path(os.environ[REFERENCE_ENV]), f" (${REFERENCE_ENV})"
    else:
        p, where = installed_path(), ""
    if not p.is_file():
        if path is None and not where:
            raise InputError(f"no reference model in this install ({p} is absent); give a model "
                             "directory or .onnx instead")
        raise InputError(f"{p}{where}: no reference model there (file absent)")
    found = OnnxCalibration.from_file(p, threads=1).simulation_version
    if found is None:
        raise InputError(f"{p}{where}: the reference model records no simulation version (export a "
                         "model trained on jetcalib generate tables with this jetcalib's jetcalib export)")
    if found != SIMULATION_VERSION:
        raise InputError(f"the reference model was trained on simulation version {found}; this "
                         f"jetcalib simulates version {SIMULATION_VERSION}; its calibration does not "
                         f"apply here ({p}{where}): use a model trained on version "
                         f"{SIMULATION_VERSION} tables")
    return p
