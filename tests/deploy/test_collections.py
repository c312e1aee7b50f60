"""Per-event ntuples (#14): ``calibrate --collection P`` on jagged ``P_*`` branches, and
``calibrate`` on a jagged awkward Array of records."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from jetcalib import load
from jetcalib.cli import main
from jetcalib.dnn.toys import toy_jets
from jetcalib.io import CALIBRATED_COLUMNS, COLUMNS

N_EVENTS = 2000


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """ev.root (TTree ``events``) and ev.parquet: 0-4 ``fatjet_*`` jets per event (every
    declared column but ``mu``), event-level ``mu`` and ``run``, an unrelated jagged ``el_pt``;
    and the same jets as a flat table (``mu`` broadcast to the jets)."""
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 5, N_EVENTS)
    counts[:3] = 0  # the first chunk starts with empty events
    toy = toy_jets(int(counts.sum()), seed=11)
    flat = {k: v for k, v in toy.items() if k in COLUMNS}
    mu = rng.uniform(10, 60, N_EVENTS).astype(np.float32)
    flat["mu"] = np.repeat(mu, counts)
    n_el = rng.integers(0, 3, N_EVENTS)
    branches = {
        "fatjet": ak.zip({k: ak.unflatten(v, counts) for k, v in flat.items() if k != "mu"}),
        "el_pt": ak.unflatten(rng.uniform(5, 50, int(n_el.sum())).astype(np.float32), n_el),
        "mu": mu,
        "run": np.arange(N_EVENTS, dtype=np.int64),
    }
    d = tmp_path_factory.mktemp("events")
    with uproot.recreate(d / "ev.root") as f:
        f.mktree("events", {k: v.dtype if isinstance(v, np.ndarray) else v.type for k, v in branches.items()})
        f["events"].extend(branches)
    ak.to_parquet(uproot.open(d / "ev.root")["events"].arrays(library="ak"), d / "ev.parquet")
    return {"dir": d, "flat": flat, "counts": counts}


def _read(path):
    if str(path).endswith(".root"):
        return uproot.open(path)["events"].arrays(library="ak")
    return ak.from_parquet(path)


def _same_values(x, y) -> bool:
    """Same values and dtypes, jagged (same counts) or flat; nullability aside."""
    if x.ndim == 2:
        nx, ny = ak.to_numpy(ak.num(x, axis=1)), ak.to_numpy(ak.fill_none(ak.num(y, axis=1), -1))
        x, y = ak.flatten(x, axis=1), ak.flatten(y, axis=1)
        if not np.array_equal(nx, ny):
            return False
    a, b = ak.to_numpy(x), ak.to_numpy(y)
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("suffix", ["root", "parquet"])
@pytest.mark.parametrize("which", ["numcal", "dnn"])
def test_collection_matches_flat_calibration(events, numcal_path, model_dir, tmp_path, suffix, which, capsys):
    cal_path = numcal_path if which == "numcal" else model_dir
    src = events["dir"] / f"ev.{suffix}"
    out = tmp_path / f"out.{suffix}"
    code = main(["calibrate", str(cal_path), str(src), "-o", str(out), "--collection", "fatjet",
                 "--chunk-rows", "1000"])  # two chunks of events
    assert code == 0, capsys.readouterr().err
    before, after = _read(src), _read(out)
    assert len(after) == N_EVENTS
    assert set(after.fields) == set(before.fields) | {f"fatjet_{c}" for c in CALIBRATED_COLUMNS}
    for name in before.fields:  # every input branch, jagged or not, as it was
        assert _same_values(before[name], after[name]), name
    expected = load(cal_path).calibrate(events["flat"])
    for c in CALIBRATED_COLUMNS:
        got = after[f"fatjet_{c}"]
        assert np.array_equal(ak.to_numpy(ak.num(got, axis=1)), events["counts"])
        flat_got = ak.to_numpy(ak.flatten(got, axis=1))
        assert flat_got.dtype == COLUMNS[c].numpy_dtype
        np.testing.assert_allclose(flat_got, expected[c], rtol=1e-6, atol=1e-6, err_msg=c)
    if suffix == "root":  # the collection keeps one counter, el_pt its own
        tree = uproot.open(out)["events"]
        assert tree["fatjet_e_cal"].count_branch.name == "nfatjet"
        assert tree["el_pt"].count_branch.name == "nel_pt"


@pytest.mark.parametrize("which", ["numcal", "dnn"])
def test_api_on_jagged_awkward(events, numcal_path, model_dir, which):
    cal = load(numcal_path if which == "numcal" else model_dir)
    jets = ak.unflatten(ak.zip(events["flat"]), events["counts"])
    got = cal.calibrate(jets)
    assert isinstance(got, ak.Array)
    assert got.ndim == 2
    assert sorted(got.fields) == sorted(CALIBRATED_COLUMNS)
    assert np.array_equal(ak.to_numpy(ak.num(got, axis=1)), events["counts"])
    expected = cal.calibrate(events["flat"])
    for c in CALIBRATED_COLUMNS:
        assert np.array_equal(ak.to_numpy(ak.flatten(got[c], axis=1)), expected[c]), c
    flat = cal.calibrate(ak.zip(events["flat"]))  # a flat awkward Array: as before
    assert isinstance(flat, dict)
    assert np.array_equal(flat["e_cal"], expected["e_cal"])


def test_unknown_collection_is_one_line(events, numcal_path, tmp_path, capsys):
    out = tmp_path / "o.root"
    code = main(["calibrate", str(numcal_path), str(events["dir"] / "ev.root"), "-o", str(out),
                 "--collection", "nosuch"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "nosuch_*" in err
    assert "fatjet" in err
    assert not out.exists()


def test_missing_jet_column_names_the_branch(events, numcal_path, tmp_path, capsys):
    code = main(["calibrate", str(numcal_path), str(events["dir"] / "ev.parquet"), "-o",
                 str(tmp_path / "o.parquet"), "--collection", "fatjet", "--map", "m_reco=fatjet_nosuch"])
    err = capsys.readouterr().err
    assert code == 2
    assert "m_reco (looked for branch 'fatjet_nosuch')" in err


def test_mapped_event_level_mu(events, model_dir, tmp_path, capsys):
    """``--map mu=averageInteractionsPerCrossing``: an event-level branch of another name is
    broadcast to the jets as ``mu`` is."""
    import pyarrow.parquet as pq

    table = pq.read_table(events["dir"] / "ev.parquet")
    src = tmp_path / "renamed.parquet"
    pq.write_table(table.rename_columns(["averageInteractionsPerCrossing" if n == "mu" else n
                                         for n in table.column_names]), src)
    out = tmp_path / "out.parquet"
    code = main(["calibrate", str(model_dir), str(src), "-o", str(out), "--collection", "fatjet",
                 "--map", "mu=averageInteractionsPerCrossing"])
    assert code == 0, capsys.readouterr().err
    expected = load(model_dir).calibrate(events["flat"])
    got = ak.from_parquet(out)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(got["fatjet_e_cal"], axis=1)), expected["e_cal"],
                               rtol=1e-6, atol=1e-6)
    assert _same_values(ak.from_parquet(src)["averageInteractionsPerCrossing"],
                        got["averageInteractionsPerCrossing"])
