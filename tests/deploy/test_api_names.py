"""The Python API reads your own names and units, as ``calibrate --map/--preset/--units`` do:
a jagged awkward array of ATLAS-named jets in MeV (what a coffea processor holds), with μ and
NPV per event, calibrated with ``preset="atlas"``, gives the flat GeV table's results × 1000."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from jetcalib.dnn.toys import toy_jets
from jetcalib.io import COLUMNS
from jetcalib.io.presets import ATLAS_NAMES


@pytest.fixture(scope="module")
def jets() -> tuple[dict[str, np.ndarray], ak.Array]:
    flat = {k: v for k, v in toy_jets(6000, seed=51).items() if not k.startswith("toy_")}
    rng = np.random.default_rng(52)
    counts = rng.integers(0, 4, 3000)
    counts[-1] += len(flat["e_reco"]) - counts.sum()  # every jet in some event
    assert counts[-1] >= 0
    event = np.repeat(np.arange(counts.size), counts)
    # one μ and NPV per event: the flat table gets the event's value for each of its jets
    mu_event = rng.uniform(10, 60, counts.size).astype(np.float32)
    npv_event = rng.integers(5, 40, counts.size).astype(np.float32)
    flat["mu"], flat["npv"] = mu_event[event], npv_event[event]
    fields = {}
    for ours, name in ATLAS_NAMES.items():
        if name.branch is None or ours not in flat:
            continue
        scale = 1e3 if COLUMNS[ours].unit == "GeV" else 1.0
        fields[name.branch] = ak.unflatten(flat[ours] * scale, counts)
    events = ak.zip(fields)  # events × jets, ATLAS names, MeV
    return flat, ak.with_field(ak.with_field(events, mu_event, "averageInteractionsPerCrossing"),
                               npv_event, "NPV")


@pytest.mark.parametrize("kind", ["numerical", "dnn"])
def test_jagged_atlas_mev_through_the_api_equals_flat_gev(kind, jets, numcal_path, model_dir):
    from jetcalib import load

    flat, events = jets
    cal = load(numcal_path) if kind == "numerical" else load(model_dir, runtime="torch")
    ref = cal.calibrate(flat)
    out = cal.calibrate(events, preset="atlas")
    assert isinstance(out, ak.Array)
    assert ak.num(out, axis=1).tolist() == ak.num(events, axis=1).tolist()
    np.testing.assert_array_equal(ak.flatten(out["calib_flag"]).to_numpy(), ref["calib_flag"])
    for name in ("e_cal", "m_cal", "pt_cal"):
        got = ak.flatten(out[name]).to_numpy().astype(np.float64) / 1e3
        np.testing.assert_allclose(got, np.asarray(ref[name], dtype=np.float64), rtol=1e-5, err_msg=name)


def test_a_column_map_in_the_api(numcal_path):
    from jetcalib import load

    flat = {k: v for k, v in toy_jets(500, seed=53).items() if not k.startswith("toy_")}
    cal = load(numcal_path)
    ref = cal.calibrate(flat)
    renamed = {("jetE" if k == "e_reco" else k): v for k, v in flat.items()}
    out = cal.calibrate(renamed, column_map={"e_reco": "jetE"})
    np.testing.assert_array_equal(out["e_cal"], ref["e_cal"])


def test_pandas_in_pandas_out(numcal_path):
    pd = pytest.importorskip("pandas")
    from jetcalib import load

    flat = {k: v for k, v in toy_jets(300, seed=54).items() if not k.startswith("toy_")}
    frame = pd.DataFrame(flat, index=pd.RangeIndex(1000, 1300, name="jet"))
    cal = load(numcal_path)
    out = cal.calibrate(frame)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(frame.index)
    np.testing.assert_array_equal(out["e_cal"].to_numpy(), cal.calibrate(flat)["e_cal"])


def test_every_loaded_calibration_follows_the_protocol(numcal_path, model_dir, tmp_path):
    from jetcalib import load
    from jetcalib.features import Calibration
    from jetcalib.numerical import NumericalCalibration, write_correctionlib

    write_correctionlib(NumericalCalibration.load(numcal_path), tmp_path / "n.corr.json")
    for cal in (load(numcal_path), load(tmp_path / "n.corr.json"), load(model_dir, runtime="torch"),
                load(model_dir, runtime="onnxruntime")):
        assert isinstance(cal, Calibration), type(cal).__name__
