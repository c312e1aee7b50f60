"""Network inputs, their normalisation, sample weights, and the shared kinematics that turn
predicted responses into calibrated jets."""

from .domain import DOMAIN_POLICIES, TrainingDomain, check_policy, domain_flags
from .kinematics import (
    ENERGY_MAX,
    ETA_MAX,
    KINEMATIC_INPUTS,
    MASS_ENERGY_RTOL,
    apply_responses,
    batched_responses,
    calibrate_in_units,
    calibrate_with_model,
    input_flags,
    merge_domain_flags,
    out_of_range,
    pt_from_e_m_eta,
)
from .normalisation import Normalisation, NormMethod
from .protocol import Calibration
from .table import as_columns, feature_matrix
from .weights import flatten_weights

__all__ = [
    "DOMAIN_POLICIES",
    "ENERGY_MAX",
    "ETA_MAX",
    "KINEMATIC_INPUTS",
    "MASS_ENERGY_RTOL",
    "Calibration",
    "NormMethod",
    "Normalisation",
    "TrainingDomain",
    "apply_responses",
    "as_columns",
    "batched_responses",
    "calibrate_in_units",
    "calibrate_with_model",
    "check_policy",
    "domain_flags",
    "feature_matrix",
    "flatten_weights",
    "input_flags",
    "merge_domain_flags",
    "out_of_range",
    "pt_from_e_m_eta",
]
