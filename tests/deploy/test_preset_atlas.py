"""``calibrate --preset atlas`` (#14): ATLAS ntuples, named as ATLAS names the network's inputs,
in MeV, with event-level pile-up."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from jetcalib import load
from jetcalib.cli import main
from jetcalib.deploy import calibrate_file
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import InputError
from jetcalib.io import CALIBRATED_COLUMNS, COLUMNS, ColumnMap, write_table
from jetcalib.io.presets import ATLAS_NAMES, atlas_names_markdown, preset_column_map

N_EVENTS = 20_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "inputs.md"


def _gev_table(counts: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A flat GeV toy table of ``counts.sum()`` jets, pile-up the same for the jets of an
    event; η, log E, log m as jetcalib derives them (ATLAS stores none of them)."""
    toy = toy_jets(int(counts.sum()), seed=11)
    flat = {k: np.asarray(v) for k, v in toy.items() if k in COLUMNS}
    flat["mu"] = np.repeat(rng.uniform(10, 60, len(counts)), counts).astype(np.float32)
    flat["npv"] = np.repeat(rng.integers(5, 40, len(counts)), counts).astype(np.float32)
    flat["eta"] = flat["eta_reco"]
    flat["log_e"] = np.log(flat["e_reco"].astype(np.float64)).astype(np.float32)
    flat["log_m"] = np.log(np.maximum(flat["m_reco"].astype(np.float64), 1.0)).astype(np.float32)
    return flat


def _atlas_jets(flat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The jet columns under their ATLAS names, energies in MeV (float32)."""
    out = {}
    for ours, name in ATLAS_NAMES.items():
        if name.branch is not None:
            scale = 1000.0 if COLUMNS[ours].unit == "GeV" else 1.0
            out[name.branch] = (flat[ours].astype(np.float64) * scale).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def ntuple(tmp_path_factory):
    """atlas.root (TTree ``events``): 0-3 jagged ``fatjet_*`` jets per event in MeV with ATLAS
    names, event-level ``averageInteractionsPerCrossing`` and ``NPV``, unrelated ``runNumber``
    and jagged ``el_pt``; and the same jets as a flat GeV table."""
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 4, N_EVENTS)
    flat = _gev_table(counts, rng)
    first = np.cumsum(counts) - counts  # index of each event's first jet
    has = counts > 0
    mu = np.zeros(N_EVENTS, np.float32)
    npv = np.zeros(N_EVENTS, np.float32)
    mu[has], npv[has] = flat["mu"][first[has]], flat["npv"][first[has]]
    n_el = rng.integers(0, 3, N_EVENTS)
    branches = {
        "fatjet": ak.zip({k: ak.unflatten(v, counts) for k, v in _atlas_jets(flat).items()}),
        "el_pt": ak.unflatten(rng.uniform(5e3, 5e4, int(n_el.sum())).astype(np.float32), n_el),
        "averageInteractionsPerCrossing": mu,
        "NPV": npv.astype(np.int32),
        "runNumber": np.full(N_EVENTS, 456_789, np.int64),
    }
    d = tmp_path_factory.mktemp("atlas")
    with uproot.recreate(d / "atlas.root") as f:
        f.mktree("events", {k: v.dtype if isinstance(v, np.ndarray) else v.type for k, v in branches.items()})
        f["events"].extend(branches)
    return {"path": d / "atlas.root", "flat": flat, "counts": counts}


def _flat(x) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=1))


@pytest.mark.parametrize("which", ["numcal", "dnn"])
def test_preset_atlas_matches_the_gev_calibration(ntuple, numcal_path, model_dir, tmp_path, which, capsys):
    cal_path = numcal_path if which == "numcal" else model_dir
    out = tmp_path / "out.root"
    code = main(["calibrate", str(cal_path), str(ntuple["path"]), "-o", str(out),
                 "--preset", "atlas", "--collection", "fatjet", "--chunk-rows", "8000"])
    assert code == 0, capsys.readouterr().err
    before = uproot.open(ntuple["path"])["events"].arrays(library="ak")
    after = uproot.open(out)["events"].arrays(library="ak")
    assert len(after) == N_EVENTS
    assert set(after.fields) == set(before.fields) | {f"fatjet_{c}" for c in CALIBRATED_COLUMNS}
    for name in before.fields:  # every input branch as it was
        x, y = before[name], after[name]
        if x.ndim == 2:
            assert np.array_equal(ak.to_numpy(ak.num(x, axis=1)), ak.to_numpy(ak.num(y, axis=1))), name
            x, y = ak.flatten(x, axis=1), ak.flatten(y, axis=1)
        assert ak.to_numpy(x).tobytes() == ak.to_numpy(y).tobytes(), name
    expected = load(cal_path).calibrate(ntuple["flat"])
    for c in CALIBRATED_COLUMNS:
        assert np.array_equal(ak.to_numpy(ak.num(after[f"fatjet_{c}"], axis=1)), ntuple["counts"])
    flags = _flat(after["fatjet_calib_flag"])
    assert np.array_equal(flags, expected["calib_flag"])
    assert (flags == 0).mean() > 0.5
    for c in ("e_cal", "m_cal", "pt_cal"):  # MeV: x1000 of the GeV table's
        np.testing.assert_allclose(_flat(after[f"fatjet_{c}"]), expected[c].astype(np.float64) * 1000.0,
                                   rtol=1e-5, err_msg=c)


def test_without_preset_is_refused(ntuple, numcal_path, tmp_path, capsys):
    out = tmp_path / "o.root"
    code = main(["calibrate", str(numcal_path), str(ntuple["path"]), "-o", str(out),
                 "--collection", "fatjet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "fatjet_e_reco" in err
    assert not out.exists()


def test_preset_with_units_gev_is_refused_as_mev(ntuple, numcal_path, tmp_path, capsys):
    code = main(["calibrate", str(numcal_path), str(ntuple["path"]), "-o", str(tmp_path / "o.root"),
                 "--preset", "atlas", "--collection", "fatjet", "--units", "GeV"])
    assert code == 2
    assert "looks like MeV" in capsys.readouterr().err


def test_flat_file_with_bare_atlas_names(ntuple, numcal_path, tmp_path):
    """Without --collection: the bare ATLAS names, one row per jet (mu/npv per row)."""
    flat = ntuple["flat"]
    n = 3000
    table = {k: v[:n] for k, v in _atlas_jets(flat).items()}
    table["actualInteractionsPerCrossing"] = flat["mu"][:n]  # the fallback of the average
    table["NPV"] = flat["npv"][:n]
    src = tmp_path / "flat.parquet"
    write_table(src, table)
    out = tmp_path / "out.parquet"
    calibrate_file(load(numcal_path), src, out, preset="atlas")
    got = ak.from_parquet(out)
    assert set(got.fields) == set(table) | set(CALIBRATED_COLUMNS)
    expected = load(numcal_path).calibrate({k: v[:n] for k, v in flat.items()})
    assert np.array_equal(ak.to_numpy(got["calib_flag"]), expected["calib_flag"])
    np.testing.assert_allclose(ak.to_numpy(got["e_cal"]), expected["e_cal"] * 1000.0, rtol=1e-5)


def test_preset_map_names():
    cmap = preset_column_map("atlas", ["fatjet_E", "actualInteractionsPerCrossing", "NPV"],
                             collection="fatjet")
    assert cmap.units == "MeV"
    d = cmap.as_dict()
    assert d["e_reco"] == "fatjet_E"
    assert d["em_frac"] == "fatjet_EMFracCaloBased"
    assert d["tau21"] == "fatjet_Tau21_wta"
    assert d["mu"] == "actualInteractionsPerCrossing"
    assert d["npv"] == "NPV"
    assert "log_e" not in d  # derived, as athena computes it
    assert "eta" not in d
    # the user's --map and units win
    user = ColumnMap({"mu": "myMu", "e_reco": "fatjet_Ecalo"}, units="GeV")
    d2 = preset_column_map("atlas", [], collection="fatjet", column_map=user)
    assert d2.units == "GeV"
    assert d2.as_dict()["mu"] == "myMu"
    assert d2.as_dict()["e_reco"] == "fatjet_Ecalo"


def test_rapidity_is_not_eta():
    with pytest.raises(InputError, match="rapidity"):
        preset_column_map("atlas", ["fatjet_E", "fatjet_rapidity"], collection="fatjet")


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown preset"):
        preset_column_map("cms", [])


def test_docs_show_the_code_table():
    assert atlas_names_markdown() in DOCS.read_text(encoding="utf-8")
