"""jetcalib: simultaneous energy and mass calibration of large-radius jets with a deep neural
network, after ATLAS (arXiv:2311.08885).

Pipeline stages, one subpackage each, data flowing one way::

    sim -> io -> features -> numerical / dnn -> evaluate / deploy

Heavy stages (simulation, training) are imported lazily: ``import jetcalib`` stays fast.
"""

from . import io
from ._version import __version__
from .errors import (
    ArtifactError,
    InputError,
    JetcalibError,
    PartialFailure,
    Terminated,
)


def load(path, *, runtime=None, threads=None, method=None):
    """Load a calibration artifact (DNN model directory or its ``.onnx`` export, numerical
    ``.json`` or its correctionlib export); ``runtime="auto"`` runs a DNN on onnxruntime.

    ``jetcalib.load("model/").calibrate(table)`` returns ``e_cal``, ``pt_cal``, ``m_cal``
    (GeV) and ``calib_flag``; ``calibrate(table, units="MeV")`` reads and returns MeV. See
    :func:`jetcalib.deploy.load`.
    """
    from .deploy.loading import load as _load

    return _load(path, runtime=runtime, threads=threads, method=method)


__all__ = [
    "ArtifactError",
    "InputError",
    "JetcalibError",
    "PartialFailure",
    "Terminated",
    "__version__",
    "io",
    "load",
]
