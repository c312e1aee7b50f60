"""Feature matrices from numpy dicts, pandas-like frames and awkward Arrays; clear errors."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from tests.conftest import make_jet_table

from jetcalib.errors import InputError
from jetcalib.features import as_columns, feature_matrix
from jetcalib.io import INPUT_FEATURES


def test_matrix_in_feature_order_from_dict_and_awkward():
    t = make_jet_table(50)
    x = feature_matrix(t, INPUT_FEATURES)
    assert x.shape == (50, 21)
    assert x.dtype == np.float32
    assert np.array_equal(x[:, 1], t["log_e"])
    x_ak = feature_matrix(ak.Array({k: t[k] for k in INPUT_FEATURES}), INPUT_FEATURES)
    assert np.array_equal(x, x_ak)


def test_derivable_columns_are_derived():
    t = make_jet_table(20)
    del t["log_e"]
    cols = as_columns(t, ["log_e"])
    assert np.allclose(cols["log_e"], np.log(t["e_reco"]), rtol=1e-6)


def test_missing_columns_are_named():
    t = make_jet_table(20)
    del t["tau21"], t["qw"]
    with pytest.raises(InputError, match="missing columns tau21, qw"):
        feature_matrix(t, INPUT_FEATURES)


def test_not_a_table_is_refused():
    with pytest.raises(InputError, match="dict of arrays"):
        feature_matrix([1, 2, 3], INPUT_FEATURES)
