"""``jetcalib.load``: open any calibration artifact by what it says it is."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, InputError

__all__ = ["load"]


def _header_kind(path: Path) -> str | None:
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    header = raw.get("header") if isinstance(raw, dict) else None
    return header.get("artifact") if isinstance(header, dict) else None


def load(path: str | os.PathLike[str]) -> Any:
    """Load a calibration artifact: a DNN model directory (``artifact.json`` inside) or a
    numerical-calibration ``.json``.

    The returned object follows the calibration protocol: ``required_columns`` and
    ``calibrate(table) -> {e_cal, pt_cal, m_cal, calib_flag}`` (GeV). Refuses anything else,
    and any artifact whose header, schema version or content hash does not check out.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: calibration artifact not found")
    if p.is_dir():
        if not (p / "artifact.json").is_file():
            raise ArtifactError(f"{p}: not a jetcalib model directory (no artifact.json)")
        kind = _header_kind(p / "artifact.json")
        if kind == "dnn-model":
            from ..dnn import DNNCalibration

            return DNNCalibration.load(p)
    else:
        kind = _header_kind(p)
        if kind == "numerical-calibration":
            from ..numerical import NumericalCalibration

            return NumericalCalibration.load(p)
    found = f"its header says {kind!r}; " if kind else ""
    raise ArtifactError(
        f"{p}: not a jetcalib calibration artifact ({found}expected a numerical-calibration "
        ".json or a dnn-model directory)"
    )
