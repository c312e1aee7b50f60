"""Deployment: loading any calibration artifact and applying it to many files at scale."""

from .apply import FileSummary, calibrate_file
from .loading import load

__all__ = ["FileSummary", "calibrate_file", "load"]
