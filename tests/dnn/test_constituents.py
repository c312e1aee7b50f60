"""The constituent network (inputs: constituents, issue #16): config and its stored form,
padded tensors from awkward arrays, permutation and padding invariance, training, the
artifact round trip, refusals and flags, and the ONNX export against PyTorch."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch

from jetcalib.dnn import ConstituentNet, DNNCalibration, DNNConfig, train
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import ArtifactError, InputError
from jetcalib.features.constituents import (
    MISSING_CONSTITUENTS,
    ConstituentLayout,
    constituent_blocks,
)
from jetcalib.io import CLUSTER_COLUMNS, TRACK_COLUMNS, CalibFlag

SMALL = {"max_clusters": 8, "max_tracks": 6, "width": 16}


def with_constituents(table: dict[str, np.ndarray], seed: int) -> dict[str, object]:
    """``table`` plus random jagged cl_*/trk_* columns (0-12 clusters, 0-9 tracks per jet,
    energies sorted hardest first, the first jet without any)."""
    rng = np.random.default_rng(seed)
    n = len(table["e_reco"])
    out: dict[str, object] = dict(table)
    for cols, hi in ((CLUSTER_COLUMNS, 13), (TRACK_COLUMNS, 10)):
        counts = rng.integers(0, hi, n)
        counts[0] = 0
        total = int(counts.sum())
        energy = np.sort(rng.exponential(10.0, total))[::-1].astype(np.float32) + 0.5
        for c in cols:
            values = energy if c in ("cl_e", "trk_pt") else rng.random(total).astype(np.float32)
            out[c] = ak.unflatten(values, counts)
    return out


def _config(**extra: object) -> DNNConfig:
    return DNNConfig.from_dict({"inputs": "constituents", "constituents": SMALL,
                                "network": {"width": 32, "n_blocks": 1, "mass_residual_width": 8},
                                "loss": {"pretrain_epochs": 1, "anneal_epochs": 2},
                                "training": {"epochs": 2, "batch_size": 512}, "closure": "none", **extra})


@pytest.fixture(scope="module")
def const_table() -> dict[str, object]:
    return with_constituents(toy_jets(3000, seed=21), seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, const_table) -> tuple[DNNCalibration, object]:
    out = tmp_path_factory.mktemp("const") / "model"
    return train(const_table, out, _config(), progress=False, threads=1), out


# --- config -------------------------------------------------------------------------------
def test_default_config_is_stored_and_hashed_as_before():
    doc = DNNConfig().to_document()
    assert "inputs" not in doc
    assert "constituents" not in doc
    assert set(doc) == {"features", "normalisation", "network", "loss", "training", "mass_min_reco", "closure"}
    assert DNNConfig.model_validate(doc) == DNNConfig()
    stored = _config().to_document()
    assert stored["inputs"] == "constituents"
    assert stored["constituents"]["max_clusters"] == 8
    assert DNNConfig.model_validate(stored) == _config()


@pytest.mark.parametrize(("raw", "match"), [
    ({"inputs": "constituents", "constituents": {"max_clusters": 0}}, "max_clusters"),
    ({"inputs": "constituents", "constituents": {"width": 100_000}}, "width"),
    ({"inputs": "constituents", "constituents": {"pooling": "max"}}, "pooling"),
    ({"inputs": "constituents", "constituents": {"k": 3}}, "k"),
    ({"constituents": {"max_clusters": 16}}, "inputs is jets"),
    ({"inputs": "cells"}, "inputs"),
])
def test_bad_constituent_configs_are_refused_in_one_line(raw, match):
    with pytest.raises(InputError, match=match) as info:
        DNNConfig.from_dict(raw)
    assert "\n" not in str(info.value)


# --- padded tensors and invariance ----------------------------------------------------------
def test_padded_tensors_from_awkward(const_table):
    layout = ConstituentLayout(21, 8, 6)
    b = constituent_blocks(const_table, layout)
    counts = ak.to_numpy(ak.num(const_table["cl_e"]))
    assert b["clusters"].shape == (3000, 8, len(CLUSTER_COLUMNS))
    assert b["tracks"].shape == (3000, 6, 4)
    assert np.array_equal(b["cluster_mask"].sum(axis=1), np.minimum(counts, 8))
    assert np.all(b["clusters"][b["cluster_mask"] == 0] == 0)
    j = int(np.argmax(counts))  # a jet with more clusters than K_c keeps the hardest K_c
    assert np.allclose(b["clusters"][j, :, 0], ak.to_numpy(const_table["cl_e"][j][:8]))
    with pytest.raises(InputError, match="cl_\\*/trk_\\*: generate with --constituents"):
        constituent_blocks({"e_reco": np.ones(3)}, layout)


def _random_net() -> ConstituentNet:
    torch.manual_seed(1)
    cfg = _config()
    net = ConstituentNet(21, cfg.network, cfg.constituents)
    with torch.no_grad():  # a non-trivial normalisation and non-zero heads
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        net.cluster_encoder.center.fill_(0.3)
        net.cluster_encoder.scale.fill_(2.0)
    return net.eval()


def test_output_invariant_under_permutation_and_padding(const_table):
    net = _random_net()
    layout = net.layout
    b = constituent_blocks(const_table, layout)
    x = torch.randn(3000, 21)
    args = [torch.from_numpy(b[k]) for k in ("clusters", "cluster_mask", "tracks", "track_mask")]
    with torch.no_grad():
        ref = net.forward_parts(x, *args)
        perm_c, perm_t = torch.randperm(8), torch.randperm(6)
        permuted = [args[0][:, perm_c], args[1][:, perm_c], args[2][:, perm_t], args[3][:, perm_t]]
        out = net.forward_parts(x, *permuted)
        garbage = [torch.where(a.unsqueeze(-1) > 0, v, torch.full_like(v, 1e3)) if v.ndim == 3 else a
                   for v, a in zip(args, [args[1], args[1], args[3], args[3]], strict=True)]
        padded = net.forward_parts(x, *garbage)
        flat = torch.cat([x, args[0].flatten(1), args[1], args[2].flatten(1), args[3]], dim=1)
        packed = net(flat)
    for a, b_ in ((ref, out), (ref, padded), (ref, packed)):
        assert torch.allclose(a[0], b_[0], atol=1e-5)
        assert torch.allclose(a[1], b_[1], atol=1e-5)
    # the first jet has no constituent at all: pooled zeros, a finite response
    assert args[1][0].sum() == 0
    assert torch.isfinite(ref[0][0])
    assert not torch.allclose(ref[0][:50], net.forward_parts(x, *[torch.zeros_like(a) for a in args])[0][:50])


# --- training, artifact, calibrate ------------------------------------------------------------
def test_training_gives_finite_outputs_and_round_trips(trained, const_table):
    model, out = trained
    assert isinstance(model.net, ConstituentNet)
    enc = model.net.cluster_encoder
    assert not torch.all(enc.center == 0)
    assert torch.all(enc.scale > 0)
    res = model.calibrate(const_table)
    assert np.all(np.isfinite(res["e_cal"]))
    assert np.mean(res["calib_flag"] == 0) > 0.8
    back = DNNCalibration.load(out)
    again = back.calibrate(const_table)
    assert np.array_equal(res["e_cal"], again["e_cal"])
    assert np.array_equal(res["calib_flag"], again["calib_flag"])
    doc = json.loads((out / "artifact.json").read_text())
    assert doc["config"]["inputs"] == "constituents"
    assert set(back.required_columns) >= set(CLUSTER_COLUMNS + TRACK_COLUMNS)


def test_tampered_constituent_model_is_refused(trained, tmp_path):
    model, _ = trained
    d = model.save(tmp_path / "m")
    doc = json.loads((d / "artifact.json").read_text())
    doc["config"]["constituents"]["max_clusters"] = 9
    (d / "artifact.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)
    # the constituents' normalisation lives in weights.pt, under the content hash
    d = model.save(tmp_path / "n")
    state = model.net.state_dict()
    assert "cluster_encoder.center" in state
    w = (d / "weights.pt").read_bytes()
    (d / "weights.pt").write_bytes(w[:-20] + bytes(20))
    with pytest.raises(ArtifactError, match="content hash mismatch"):
        DNNCalibration.load(d)


def test_calibrate_refuses_a_table_without_constituents(trained):
    model, _ = trained
    flat = toy_jets(50, seed=4)
    with pytest.raises(InputError, match=r"^this model reads constituent columns cl_\*/trk_\*: generate with "
                                         r"--constituents$"):
        model.calibrate(flat)
    assert MISSING_CONSTITUENTS.startswith("this model reads")


def test_non_finite_constituent_flags_the_jet(trained, const_table):
    model, _ = trained
    table = dict(const_table)
    e = ak.to_list(table["cl_e"][:10])
    j = next(i for i, v in enumerate(e) if v)
    e[j][0] = float("nan")
    table = {k: v[:10] for k, v in table.items()}
    table["cl_e"] = ak.Array(e)
    res = model.calibrate(table)
    assert res["calib_flag"][j] == CalibFlag.NON_FINITE_INPUT
    assert res["e_cal"][j] == np.float32(table["e_reco"][j])


def test_mev_table_gives_the_same_calibration(trained, const_table):
    model, _ = trained
    sub = {k: v[:200] for k, v in const_table.items()}
    gev = model.calibrate(sub)
    from jetcalib.io.units import _ENERGY_COLUMNS

    mev = {k: (v * 1000.0 if k in _ENERGY_COLUMNS or k in ("cl_e", "trk_pt") else v) for k, v in sub.items()}
    mev["log_e"] = np.log(mev["e_reco"])
    mev["log_m"] = np.log(np.maximum(mev["m_reco"], 1.0))
    out = model.calibrate(mev, units="MeV")
    assert np.allclose(out["e_cal"] / 1000.0, gev["e_cal"], rtol=1e-4)


# --- ONNX --------------------------------------------------------------------------------------
def test_onnx_equals_torch_and_flags_as_torch(trained, const_table, tmp_path):
    from jetcalib.deploy.onnx_export import export_onnx
    from jetcalib.deploy.runtimes import OnnxCalibration

    model, _ = trained
    paths = export_onnx(model, tmp_path / "c.onnx")
    onnx_cal = OnnxCalibration.from_file(paths["onnx"])
    rows = model.network_inputs(const_table)
    rows[5, 21] = np.nan  # a bad constituent value: NaN from both, not evaluated
    a, b = model.predict_responses(rows), onnx_cal.predict_responses(rows)
    for x, y in zip(a, b, strict=True):
        assert np.isnan(x[5])
        assert np.isnan(y[5])
        assert np.nanmax(np.abs(x - y) / x) < 1e-5
    ra, rb = model.calibrate(const_table), onnx_cal.calibrate(const_table)
    assert np.array_equal(ra["calib_flag"], rb["calib_flag"])
    assert np.allclose(ra["e_cal"], rb["e_cal"], rtol=1e-5)
    sess_inputs = [i.name for i in onnx_cal.session.get_inputs()]
    assert sess_inputs == ["features", "clusters", "cluster_mask", "tracks", "track_mask"]
    sidecar = json.loads(paths["sidecar"].read_text())
    assert sidecar["constituent_inputs"]["inputs"]["clusters"] == ["N", 8, len(CLUSTER_COLUMNS)]
    with pytest.raises(InputError, match="generate with --constituents"):
        onnx_cal.calibrate(toy_jets(20, seed=1))
    with pytest.raises(InputError, match="this model reads \\[N, "):
        onnx_cal.predict_responses(rows[:, :21])


def test_athena_export_refuses_a_constituent_model(trained, tmp_path):
    from jetcalib.deploy.athena_export import export_athena

    model, _ = trained
    with pytest.raises(InputError, match=r"constituent network.*21 jet inputs"):
        export_athena(model, tmp_path / "ath")
    assert not (tmp_path / "ath").exists()


def test_probabilistic_head_onnx_equals_torch(const_table, tmp_path):
    from jetcalib.deploy.runtimes import OnnxCalibration
    from jetcalib.dnn.network import build_network
    from jetcalib.features import Normalisation, feature_matrix

    torch.manual_seed(2)
    cfg = _config(head="quantile")
    norm = Normalisation.fit(feature_matrix(const_table, cfg.features), cfg.features)
    model = DNNCalibration(build_network(cfg), cfg, norm)
    model.save(tmp_path / "q")
    onnx_cal = OnnxCalibration.from_dnn(model)
    assert onnx_cal.probabilistic
    sub = {k: v[:500] for k, v in const_table.items()}
    a, b = model.calibrate(sub), onnx_cal.calibrate(sub)
    assert np.array_equal(a["calib_flag"], b["calib_flag"])
    for name in ("e_cal", "m_cal", "e_cal_rel_unc", "r_e_q16", "r_m_q84"):
        assert np.allclose(a[name], b[name], rtol=1e-5, equal_nan=True), name


# --- CLI ---------------------------------------------------------------------------------------
def test_cli_train_calibrate_export_and_refusals(const_table, tmp_path, capsys):
    from jetcalib.cli import main
    from jetcalib.io import DatasetMetadata, read_table, write_table

    data, flat = tmp_path / "c.parquet", tmp_path / "flat.parquet"
    table = {k: v[:2000] for k, v in const_table.items() if not k.startswith("toy_")}
    write_table(data, table, DatasetMetadata(producer="toy", seeds=[7]))
    write_table(flat, {k: v for k, v in table.items() if not k.startswith(("cl_", "trk_"))},
                DatasetMetadata(producer="toy", seeds=[8]))
    (tmp_path / "c.yaml").write_text(
        "inputs: constituents\nconstituents: {max_clusters: 8, max_tracks: 6, width: 16}\n"
        "network: {width: 16, n_blocks: 1, mass_residual_width: 8}\nclosure: none\n"
        "training: {epochs: 1, batch_size: 512}\n")
    assert main(["train", "--data", str(data), "-o", str(tmp_path / "m"), "--config", str(tmp_path / "c.yaml"),
                 "-q"]) == 0
    assert main(["calibrate", str(tmp_path / "m"), str(data), "-o", str(tmp_path / "out.parquet")]) == 0
    out, _ = read_table(tmp_path / "out.parquet")
    assert np.all(np.isfinite(out["e_cal"]))
    assert "cl_e" in out  # every input column kept, the jagged ones too
    capsys.readouterr()
    for args in (["calibrate", str(tmp_path / "m"), str(flat), "-o", str(tmp_path / "x.parquet")],
                 ["train", "--data", str(flat), "-o", str(tmp_path / "m2"), "--config", str(tmp_path / "c.yaml")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "this model reads constituent columns cl_*/trk_*: generate with --constituents" in err
        assert len(err.strip().splitlines()) == 1
    assert main(["export", str(tmp_path / "m"), "--athena", str(tmp_path / "ath")]) == 2
    assert main(["export", str(tmp_path / "m"), "-o", str(tmp_path / "m.onnx")]) == 0
    assert main(["calibrate", str(tmp_path / "m.onnx"), str(data), "-o", str(tmp_path / "o2.parquet")]) == 0
    out2, _ = read_table(tmp_path / "o2.parquet")
    assert np.allclose(out["e_cal"], out2["e_cal"], rtol=1e-5)
