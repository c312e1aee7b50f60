"""Network inputs, their normalisation, sample weights, and the shared kinematics that turn
predicted responses into calibrated jets."""

from .kinematics import (
    ETA_MAX,
    KINEMATIC_INPUTS,
    apply_responses,
    batched_responses,
    calibrate_with_model,
    input_flags,
    pt_from_e_m_eta,
)
from .normalisation import Normalisation, NormMethod
from .table import as_columns, feature_matrix
from .weights import flatten_weights

__all__ = [
    "ETA_MAX",
    "KINEMATIC_INPUTS",
    "NormMethod",
    "Normalisation",
    "apply_responses",
    "as_columns",
    "batched_responses",
    "calibrate_with_model",
    "feature_matrix",
    "flatten_weights",
    "input_flags",
    "pt_from_e_m_eta",
]
