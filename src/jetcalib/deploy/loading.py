"""``jetcalib.load``: open any calibration artifact by what it says it is, on the runtime asked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, InputError
from ..features.protocol import Calibration
from ..io import ArtifactKind

__all__ = ["RUNTIMES", "load"]

#: ``None``: the artifact's own object; ``"auto"``: the fastest deployment runtime for it
#: (onnxruntime for a DNN, the native object otherwise). The others force one evaluator.
RUNTIMES = ("auto", "onnxruntime", "torch", "correctionlib", "numpy")
#: Which runtimes fit which kind of artifact (first: the ``"auto"`` choice).
_FITS = {
    ArtifactKind.DNN_MODEL: ("onnxruntime", "torch"),
    "onnx": ("onnxruntime",),
    ArtifactKind.NUMERICAL_CALIBRATION: ("numpy", "correctionlib"),
    "correctionlib": ("correctionlib",),
}
_METHOD = {ArtifactKind.DNN_MODEL: "dnn", "onnx": "dnn", ArtifactKind.NUMERICAL_CALIBRATION: "numerical",
           "correctionlib": "numerical"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # nested 1e5 deep
        return None


def _header_kind(raw: Any) -> str | None:
    header = raw.get("header") if isinstance(raw, dict) else None
    return header.get("artifact") if isinstance(header, dict) else None


def _kind(p: Path) -> tuple[str | None, str | None]:
    """(kind of artifact among ``_FITS`` or None, what its header says)."""
    from .runtimes import is_correction_set

    if p.is_dir():
        if not (p / "artifact.json").is_file():
            raise ArtifactError(f"{p}: not a jetcalib model directory (no artifact.json)")
        said = _header_kind(_read_json(p / "artifact.json"))
        return (ArtifactKind.DNN_MODEL if said == ArtifactKind.DNN_MODEL else None), said
    if p.suffix.lower() == ".onnx":
        return "onnx", None
    raw = _read_json(p)
    if is_correction_set(raw):
        return "correctionlib", None
    said = _header_kind(raw)
    return (ArtifactKind.NUMERICAL_CALIBRATION if said == ArtifactKind.NUMERICAL_CALIBRATION else None), said


def load(path: str | os.PathLike[str], *, runtime: str | None = None,
         threads: int | None = None, method: str | None = None) -> Calibration:
    """Load a calibration artifact: a DNN model directory (``artifact.json`` inside), an
    ``.onnx`` export, a numerical-calibration ``.json`` or its correctionlib export.

    ``runtime``: ``None`` gives the artifact's own object (``DNNCalibration``,
    ``NumericalCalibration``; an ``.onnx`` or correctionlib file its runtime object);
    ``"auto"`` the fastest for deployment (onnxruntime for a DNN); ``"onnxruntime"``,
    ``"torch"``, ``"correctionlib"`` or ``"numpy"`` force one (an InputError if it cannot run
    this artifact). ``threads``: onnxruntime intra-op threads (``None``: one per core).
    ``method`` (``"dnn"``/``"numerical"``): refuse an artifact of the other method.

    The returned object follows the calibration protocol
    (:class:`jetcalib.features.Calibration`): ``required_columns`` and ``calibrate(table,
    units, *, domain, column_map, preset) -> {e_cal, pt_cal, m_cal, calib_flag}`` (outputs in
    the table's ``units``, ``"GeV"`` or ``"MeV"``; a table whose median ``e_reco`` looks like
    the other unit is refused). Refuses anything else,
    and any artifact whose header, schema version or content hash does not check out.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: calibration artifact not found")
    if runtime is not None and runtime not in RUNTIMES:
        raise InputError(f"unknown runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    kind, said = _kind(p)
    if kind is None:
        found = f"its header says {said!r}; " if said else ""
        raise ArtifactError(
            f"{p}: not a jetcalib calibration artifact ({found}expected a numerical-calibration "
            ".json, its correctionlib export, a dnn-model directory or an .onnx export)"
        )
    if method is not None and _METHOD[kind] != method:
        raise InputError(f"{p}: a {_METHOD[kind]} calibration, not {method}")
    fits = _FITS[kind]
    if runtime == "auto":
        runtime = fits[0]
    if runtime is not None and runtime not in fits:
        raise InputError(f"{p}: runtime {runtime} cannot run a {kind} artifact "
                         f"(use {' or '.join(fits)})")
    if kind == ArtifactKind.DNN_MODEL:
        from ..dnn import DNNCalibration

        model = DNNCalibration.load(p)
        if runtime == "onnxruntime":
            from .runtimes import OnnxCalibration

            return OnnxCalibration.from_dnn(model, source=str(p), threads=threads)
        return model
    if kind == "onnx":
        from .runtimes import OnnxCalibration

        return OnnxCalibration.from_file(p, threads=threads)
    if kind == "correctionlib":
        from .runtimes import CorrectionlibCalibration

        return CorrectionlibCalibration.from_file(p)
    from ..numerical import NumericalCalibration

    cal = NumericalCalibration.load(p)
    if runtime == "correctionlib":
        from .runtimes import CorrectionlibCalibration

        return CorrectionlibCalibration.from_numerical(cal, source=str(p))
    return cal
