"""Deployment: loading any calibration artifact, applying it to many files at scale, and
exporting the DNN to ONNX (``export_onnx`` imports torch and onnx when called)."""

from .apply import FileSummary, calibrate_file
from .loading import load


def export_onnx(model, out):
    """Export a DNN model to ONNX; see :func:`jetcalib.deploy.onnx_export.export_onnx`."""
    from .onnx_export import export_onnx as _export

    return _export(model, out)


__all__ = ["FileSummary", "calibrate_file", "export_onnx", "load"]
