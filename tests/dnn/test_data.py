"""Training tensors: per-target sample weights and the mass mask."""

from __future__ import annotations

import numpy as np

from jetcalib.dnn.data import prepare_training_data

from .conftest import tiny_config


def test_flattening_weights_go_to_the_mass_loss_and_to_the_energy_loss_only_on_request(toy_train):
    default = prepare_training_data(toy_train, tiny_config())
    both = prepare_training_data(toy_train, tiny_config(energy_weights=True))
    none = prepare_training_data(toy_train, tiny_config(weights=False))
    w_e, w_m = default.train[3].numpy(), default.train[4].numpy()
    assert np.all(w_e == 1.0)  # energy loss: the generated spectrum
    assert np.array_equal(both.train[4].numpy(), w_m)
    assert np.array_equal(both.train[3][w_m > 0].numpy(), w_m[w_m > 0])  # same flat weights
    assert w_m.std() > 0.1
    assert np.isclose(both.train[3].numpy().mean(), 1.0, atol=1e-4)
    # The mass loss is masked (weight 0) exactly where m_true <= mass_min_true, in every mode.
    assert np.array_equal(none.train[4].numpy() > 0, w_m > 0)
    assert set(np.unique(none.train[4].numpy())) <= {0.0, 1.0}
    assert 0 < (w_m == 0).sum() < w_m.size
    # Same selection and split in every mode.
    assert all(np.array_equal(a.train[1].numpy(), default.train[1].numpy()) for a in (both, none))
