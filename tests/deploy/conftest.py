"""Fixtures shared by the deployment tests: one tiny trained DNN, one numerical calibration,
and a helper to compare calibrated tables."""

from __future__ import annotations

import numpy as np
import pytest
from tests.numerical.toys import make_toy

from jetcalib.dnn.toys import toy_jets
from jetcalib.io import read_table
from jetcalib.numerical import NumericalCalibration


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A DNN of the default architecture's kind, tiny (width 32, 2 blocks), 1 epoch."""
    from jetcalib.dnn import DNNConfig, train

    out = tmp_path_factory.mktemp("model") / "model"
    cfg = DNNConfig.from_dict({
        "network": {"width": 32, "n_blocks": 2, "mass_residual_width": 8},
        "training": {"epochs": 1, "batch_size": 1024},
    })
    train(toy_jets(4000, seed=5), out, cfg)
    return out


@pytest.fixture(scope="session")
def numcal_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "numcal.json"
    NumericalCalibration.fit(make_toy(60_000, seed=1)).save(path)
    return path


def with_bad_jets(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``table`` with jets every method must flag: non-finite input, m ≤ 0, |η| > 4.9, E < m."""
    t = {k: np.array(v, copy=True) for k, v in table.items()}
    t["e_reco"][0] = np.nan
    t["m_reco"][1] = 0.0
    t["m_reco"][2] = -3.0
    t["eta_reco"][3] = t["eta"][3] = 5.2
    t["m_reco"][4] = t["e_reco"][4] * 1.1
    for name in ("tau21", "c2"):  # a DNN input only: flag 1 for the DNN, calibrated by numerical
        if name in t:
            t[name][5] = np.inf
    return t


def assert_same_tables(a_path, b_path) -> None:
    """Same columns, dtypes, values (bit for bit) and metadata except its creation time and the
    command line in its environment record."""
    a, meta_a = read_table(a_path)
    b, meta_b = read_table(b_path)
    assert list(a) == list(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype, name
        assert x.tobytes() == y.tobytes(), name
    assert meta_a is not None
    assert meta_b is not None
    # the environment record names each run's own command line
    assert meta_a.model_dump(exclude={"created", "environment"}) == meta_b.model_dump(exclude={"created", "environment"})
    env_a, env_b = meta_a.environment, meta_b.environment
    assert env_a is not None
    assert env_b is not None
    assert {**env_a, "command_line": None} == {**env_b, "command_line": None}


def untrained_head_model(model_dir, head: str, seed: int):
    """The fixture model's normalisation, header and residual closure around a freshly
    initialised network with a probabilistic ``head`` (3 components), output bias set so
    that the responses are away from 1: a model to export without training one."""
    import torch

    import jetcalib
    from jetcalib.dnn import CalibrationNet, DNNCalibration

    base = jetcalib.load(model_dir, runtime="torch")
    cfg = base.config.model_copy(update={"head": head, "head_components": 3})
    torch.manual_seed(seed)
    net = CalibrationNet.from_config(cfg)
    net.set_output_bias(-0.05, 0.02)
    return DNNCalibration(net, cfg, base.normalisation, base.header, residual=base.residual,
                          training_domain=base.training_domain)
