"""Calibration methods to compare: parsing ``NAME=PATH`` options and loading artifacts."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InputError

__all__ = ["UNCALIBRATED", "Calibration", "Uncalibrated", "load_calibration", "parse_method_specs"]

#: Name of the always-present reference "method": reco kinematics as they are.
UNCALIBRATED = "uncalibrated"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class Calibration(Protocol):
    """What :mod:`jetcalib.evaluate` needs of a method (the calibration protocol)."""

    required_columns: tuple[str, ...]

    def calibrate(self, table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Uncalibrated:
    """Reco (constituent-scale) kinematics as the "calibrated" output: the reference line."""

    required_columns: tuple[str, ...] = ("e_reco", "pt_reco", "m_reco")

    def calibrate(self, table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(table["e_reco"])
        return {
            "e_cal": np.asarray(table["e_reco"], dtype=np.float32),
            "pt_cal": np.asarray(table["pt_reco"], dtype=np.float32),
            "m_cal": np.asarray(table["m_reco"], dtype=np.float32),
            "calib_flag": np.zeros(n, dtype=np.int8),
        }


def parse_method_specs(specs: list[str]) -> dict[str, Path]:
    """``["numerical=numcal.json", ...]`` → ``{"numerical": Path("numcal.json"), ...}``.

    Refuses a missing ``=``, an empty or odd name, a duplicate name, and the reserved name
    ``uncalibrated`` (always included), each with one line naming the option.
    """
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise InputError(f"--method {spec!r}: expected NAME=PATH, e.g. --method numerical=numcal.json")
        if not _NAME.match(name):
            raise InputError(f"--method {spec!r}: method name must start with a letter (letters, digits, _ . -)")
        if name == UNCALIBRATED:
            raise InputError(f"--method {spec!r}: '{UNCALIBRATED}' is always included; choose another name")
        if name in out:
            raise InputError(f"--method {spec!r}: method name {name!r} given twice")
        out[name] = Path(path)
    return out


def _artifact_kind(path: Path) -> str | None:
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        raw: Any = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    header = raw.get("header") if isinstance(raw, dict) else None
    return header.get("artifact") if isinstance(header, dict) else None


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Load any calibration artifact.

    Uses ``jetcalib.load`` when the package provides it (the general loader); otherwise
    dispatches itself: a ``.json`` whose header says ``numerical-calibration`` is a
    :class:`~jetcalib.numerical.NumericalCalibration`. Anything else: :class:`InputError`.
    """
    import jetcalib

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: calibration artifact not found")
    general = getattr(jetcalib, "load", None)
    if callable(general):
        return general(p)
    if _artifact_kind(p) == "numerical-calibration":
        from ..numerical import NumericalCalibration

        return NumericalCalibration.load(p)
    raise InputError(f"{p}: unknown calibration artifact (expected a numerical-calibration .json)")
