"""Calibration methods to compare: parsing ``NAME=PATH`` options and loading artifacts."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..features.protocol import Calibration  # the one calibration protocol (re-exported)

__all__ = ["UNCALIBRATED", "Calibration", "Uncalibrated", "load_calibration", "parse_method_specs"]

#: Name of the always-present reference "method": reco kinematics as they are.
UNCALIBRATED = "uncalibrated"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class Uncalibrated:
    """Reco (constituent-scale) kinematics as the "calibrated" output: the reference line."""

    required_columns: tuple[str, ...] = ("e_reco", "pt_reco", "m_reco")

    def calibrate(self, table: Any, units: str | None = None, *, domain: str = "flag",  # noqa: ARG002
                  column_map: Any = None, preset: str | None = None) -> dict[str, np.ndarray]:  # noqa: ARG002
        """Reco kinematics, whatever the unit (they stay in it) or domain."""
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


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Load any calibration artifact through :func:`jetcalib.load` (DNN model directory or
    numerical ``.json``); refuses anything else with one clear line."""
    import jetcalib

    return jetcalib.load(Path(path))
