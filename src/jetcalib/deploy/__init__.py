"""Deployment: loading any calibration artifact on the runtime asked (onnxruntime, torch,
correctionlib, numpy), applying it to many files at scale (local processes or dask), and
exporting the DNN to ONNX (``export_onnx`` imports torch and onnx when called), and the
reference model shipped with the package (``reference_model``)."""

from .apply import FileSummary, calibrate_file
from .loading import RUNTIMES, load
from .parallel import calibrate_many
from .reference import reference_model
from .runtimes import CorrectionlibCalibration, OnnxCalibration


def export_onnx(model, out):
    """Export a DNN model to ONNX; see :func:`jetcalib.deploy.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx as _export

    return _export(model, out)


__all__ = [
    "RUNTIMES",
    "CorrectionlibCalibration",
    "FileSummary",
    "OnnxCalibration",
    "calibrate_file",
    "calibrate_many",
    "export_onnx",
    "load",
    "reference_model",
]
