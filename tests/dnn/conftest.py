"""Tiny configs and toy tables so that every DNN test trains for a few seconds at most."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.dnn import DNNConfig
from jetcalib.dnn.toys import toy_jets


def tiny_config(*, network: dict | None = None, loss: dict | None = None, closure: str | None = None,
                **training: object) -> DNNConfig:
    """Width 48 × 2 blocks, batch 1024: seconds per run on 2 cores. ``network``/``loss``
    update those sections, ``closure`` sets it (DNNConfig is frozen: changed by validation)."""
    return DNNConfig.from_dict({
        "network": {"width": 48, "n_blocks": 2, "mass_residual_width": 16, **(network or {})},
        "loss": {"pretrain_epochs": 1, "anneal_epochs": 3, **(loss or {})},
        "training": {"epochs": 4, "batch_size": 1024, **training},
        **({"closure": closure} if closure else {}),
    })


@pytest.fixture(scope="session")
def toy_train() -> dict[str, np.ndarray]:
    return toy_jets(24_000, seed=11)


@pytest.fixture(scope="session")
def toy_test() -> dict[str, np.ndarray]:
    return toy_jets(12_000, seed=12)
