"""The hidden-truth energy columns and the optional jagged constituent columns (``--constituents``)."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.io import (
    CLUSTER_COLUMNS,
    COLUMNS,
    CONSTITUENT_COLUMNS,
    TRACK_COLUMNS,
    open_jets,
    read_table,
)
from jetcalib.sim import run_generation
from jetcalib.sim.config import SimConfig

pytestmark = [pytest.mark.sim, pytest.mark.slow]


@pytest.fixture(scope="module")
def with_constituents(tiny_cfg: SimConfig, sim_cache, tmp_path_factory):
    """The session's 60 dijet events again, with constituents (same seed and config otherwise)."""
    cfg = tiny_cfg.model_copy(update={"constituents": tiny_cfg.constituents.model_copy(
        update={"store": True, "max_clusters": 8, "max_tracks": 5})})
    out = tmp_path_factory.mktemp("gen_const") / "c.parquet"
    run_generation("dijet", 60, 3, (10.0, 30.0), out, cfg, workers=1)
    return read_table(out, None)[0], out


def test_hidden_truth_energy_bookkeeping(dijet_table) -> None:
    t, _ = dijet_table
    e = t["e_true"]
    inv = t["e_invisible_true"] / e
    # at LC scale most of what the calorimeter misses is non-compensation: 10-40 % of the energy
    assert 0.05 < np.median(inv) < 0.45
    assert (inv < 1.0).all()
    # visible hard-scatter energy that misses the reco jet's clusters is small on average
    assert abs(np.median(t["e_out_of_cluster_true"] / e)) < 0.1
    assert (t["e_out_of_cone_true"] >= 0).all()
    assert (t["e_out_of_cone_true"] <= e * (1 + 1e-5)).all()
    assert (t["e_numu_true"] >= 0).all()
    # the columns are declared hidden truth, never inputs
    for name in ("e_invisible_true", "e_out_of_cluster_true", "e_out_of_cone_true", "e_numu_true"):
        assert COLUMNS[name].group == "sim"


def test_constituents_are_optional_and_change_nothing_else(dijet_table, with_constituents) -> None:
    plain, _ = dijet_table
    t, path = with_constituents
    assert not set(CONSTITUENT_COLUMNS) & set(plain)
    assert set(CONSTITUENT_COLUMNS) <= set(t)
    # no random numbers are drawn for them: every flat column is identical
    for name in plain:
        np.testing.assert_array_equal(np.asarray(t[name]), np.asarray(plain[name]), err_msg=name)
    meta = open_jets(path).metadata
    assert meta.generator["detector_config"]["constituents"]["store"] is True


def test_constituent_columns_describe_the_jet(with_constituents) -> None:
    import awkward as ak

    t, _ = with_constituents
    n_cl = ak.num(t["cl_e"]).to_numpy()
    assert (n_cl == np.minimum(t["n_constituents"], 8)).all()  # at most max_clusters, hardest first
    for name in CLUSTER_COLUMNS:
        assert (ak.num(t[name]).to_numpy() == n_cl).all(), name
    n_trk = ak.num(t["trk_pt"]).to_numpy()
    assert n_trk.max() <= 5
    assert n_trk.max() > 0
    for name in TRACK_COLUMNS:
        assert (ak.num(t[name]).to_numpy() == n_trk).all(), name
    assert ak.all(t["cl_e"][:, :-1] >= t["cl_e"][:, 1:])
    assert ak.all(t["trk_pt"][:, :-1] >= t["trk_pt"][:, 1:])
    # all clusters kept: their LC energies add up to the groomed reco-jet energy
    full = n_cl < 8
    np.testing.assert_allclose(ak.sum(t["cl_e"], axis=1).to_numpy()[full], t["e_reco"][full], rtol=1e-4)
    frac = sum(t[f"cl_frac_{lay}"] for lay in ("em1", "em2", "em3", "had0", "had1", "had2"))
    assert np.allclose(ak.flatten(frac).to_numpy(), 1.0, atol=1e-4)
    # relative positions within the jet; primary-vertex tracks are compatible with it (mm)
    assert ak.max(np.abs(t["cl_dphi"])) <= np.pi
    assert ak.max(np.hypot(t["cl_deta"], t["cl_dphi"])) < 1.3
    assert np.median(np.abs(ak.flatten(t["trk_dz0_sintheta"]).to_numpy())) < 1.0
    assert ak.all(t["cl_lc_weight"] > 0)
