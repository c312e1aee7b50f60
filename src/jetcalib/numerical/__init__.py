"""The standard numerical-inversion calibration (ATLAS EPJC 79 (2019) 135; docs/method.md#numerical-inversion): the
baseline every other method is compared with. JES in bins of E_true × η_det, then JMS in bins
of E_true × ln(m_true/E_true) × |η_det|, both inverted to reco coordinates."""

from .calibration import ARTIFACT_KIND, FIT_COLUMNS, FORMAT_VERSION, NumericalCalibration
from .config import NumericalConfig
from .export import to_correctionlib, write_correctionlib
from .jes import JESFit, fit_jes
from .jms import JMSFit, fit_jms
from .stats import (
    CENTRAL_METHODS,
    central_value,
    gauss_core,
    half_sample_mode,
    kde_mode,
    local_fit_mode,
    mode_estimate,
    robust_sigma,
)

__all__ = [
    "ARTIFACT_KIND",
    "CENTRAL_METHODS",
    "FIT_COLUMNS",
    "FORMAT_VERSION",
    "JESFit",
    "JMSFit",
    "NumericalCalibration",
    "NumericalConfig",
    "central_value",
    "fit_jes",
    "fit_jms",
    "gauss_core",
    "half_sample_mode",
    "kde_mode",
    "local_fit_mode",
    "mode_estimate",
    "robust_sigma",
    "to_correctionlib",
    "write_correctionlib",
]
