"""The DNN calibration (docs/method.md#network, #loss): configuration, network, mode-seeking loss, Lightning
training, and the trained-model artifact that calibrates jet tables.

``import jetcalib.dnn`` imports torch; the CLI imports it lazily.
"""

from .config import ConstituentConfig, DNNConfig, LossConfig, NetworkConfig, TrainingConfig
from .losses import annealed_width, lgk_loss
from .model import DNNCalibration
from .network import CalibrationNet, ConstituentNet
from .oracle import ORACLE_FEATURES
from .training import train

__all__ = [
    "ORACLE_FEATURES",
    "CalibrationNet",
    "ConstituentConfig",
    "ConstituentNet",
    "DNNCalibration",
    "DNNConfig",
    "LossConfig",
    "NetworkConfig",
    "TrainingConfig",
    "annealed_width",
    "lgk_loss",
    "train",
]
