"""Errors that jetcalib reports to a user as one clear line, with a documented exit code.

Exit codes of every ``jetcalib`` command:

====  ==============================================================================
0     success
1     an internal error (a bug: please report it with the traceback it prints)
2     bad input or usage: missing/corrupt file, unknown format, missing column, ...
4     partial failure: some inputs were bad and skipped, the good ones were written
130   interrupted (Ctrl-C, SIGINT); nothing half-written is left behind
143   terminated (SIGTERM: a batch system's time limit or preemption); as for 130
====  ==============================================================================
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "InputError",
    "JetcalibError",
    "PartialFailure",
    "Terminated",
    "describe_validation_error",
]


class JetcalibError(Exception):
    """Base of the errors a user can fix; the CLI prints ``error: <message>`` and exits."""

    exit_code = 2


class InputError(JetcalibError, ValueError):
    """A file, column, option or value given by the user is unusable."""

    exit_code = 2


class ArtifactError(InputError):
    """A stored artifact (dataset, model, calibration) is tampered, mismatched or too old."""


class PartialFailure(JetcalibError):
    """Some of many inputs failed (and were reported); the others were processed."""

    exit_code = 4


class Terminated(KeyboardInterrupt):
    """SIGTERM was received (what SLURM and other batch systems send at a time limit or on
    preemption). A subclass of :class:`KeyboardInterrupt`, so that every clean-up path that
    handles Ctrl-C (temporary outputs removed, checkpoints kept for ``--resume``) handles it
    too; the CLI exits 143 (128 + SIGTERM)."""

    exit_code = 143


def describe_validation_error(exc: Exception) -> str:
    """``"field.sub: message"`` for the first problem of a pydantic ``ValidationError``: the
    one-line form every config and artifact loader reports."""
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not errors():
        return str(exc)
    first = errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"
