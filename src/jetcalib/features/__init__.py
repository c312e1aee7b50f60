"""Network inputs, their normalisation, sample weights, and the shared kinematics that turn
predicted responses into calibrated jets."""

from .kinematics import ETA_MAX, apply_responses, input_flags, pt_from_e_m_eta

__all__ = ["ETA_MAX", "apply_responses", "input_flags", "pt_from_e_m_eta"]
