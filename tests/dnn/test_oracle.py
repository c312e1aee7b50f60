"""The oracle (docs/method.md#oracle): hidden simulator truth as extra inputs, the bound on what
a calibration of these jets can reach; config rules, training, calibration, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.cli import main
from jetcalib.dnn import ORACLE_FEATURES, DNNCalibration, DNNConfig
from jetcalib.dnn import train as fit
from jetcalib.dnn.oracle import oracle_source_columns, with_oracle_columns
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import InputError
from jetcalib.evaluate import resolution
from jetcalib.io import DatasetMetadata, write_table

from .conftest import tiny_config


def _with_hidden_truth(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A toy table with the hidden-truth columns the oracle reads. ``e_invisible_true`` is made
    the whole difference e_true − e_reco, so an oracle that reads it knows each jet's energy
    response exactly: its energy resolution must fall far below the plain network's."""
    t = {k: v for k, v in table.items() if not k.startswith("toy_")}
    rng = np.random.default_rng(3)
    n = len(t["e_reco"])
    t["e_invisible_true"] = (t["e_true"] - t["e_reco"]).astype(np.float32)
    t["pileup_e_true"] = rng.uniform(0, 20, n).astype(np.float32)
    t["fem_true"] = rng.uniform(0.2, 0.8, n).astype(np.float32)
    return t


def _oracle_config(names: list[str], **training: object) -> DNNConfig:
    return DNNConfig.from_dict({**tiny_config(**training).model_dump(), "oracle_features": names})


def test_oracle_features_are_listed_with_their_sources():
    assert list(ORACLE_FEATURES)[:2] == ["pileup_frac_true", "fem_true"]
    assert oracle_source_columns(["pileup_frac_true", "fem_true"]) == ("e_reco", "pileup_e_true", "fem_true")
    t = {"e_reco": np.array([100.0, 0.0]), "pileup_e_true": np.array([5.0, 1.0]), "x": np.array([1, 2])}
    out = with_oracle_columns(t, ["pileup_frac_true"])
    assert out["pileup_frac_true"][0] == pytest.approx(0.05)
    assert not np.isfinite(out["pileup_frac_true"][1])  # e_reco = 0: flagged as a non-finite input
    assert "x" in out  # a dict table keeps its columns
    assert with_oracle_columns(t, []) is t


def test_config_rules_and_unchanged_hash_of_a_plain_config():
    cfg = DNNConfig.from_dict({"oracle_features": ["fem_true", "pileup_frac_true"]})
    assert cfg.network_features == [*cfg.features, "fem_true", "pileup_frac_true"]
    assert "oracle_features" in cfg.to_document()
    # a plain config stores and hashes without the key, as before the oracle existed
    assert "oracle_features" not in DNNConfig().to_document()
    with pytest.raises(InputError, match="unknown oracle features: e_true"):
        DNNConfig.from_dict({"oracle_features": ["e_true"]})
    with pytest.raises(InputError, match="repeat"):
        DNNConfig.from_dict({"oracle_features": ["fem_true", "fem_true"]})
    with pytest.raises(InputError, match="jet-input network"):
        DNNConfig.from_dict({"oracle_features": ["fem_true"], "inputs": "constituents"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(oracle, plain) tiny models trained on the same toy jets with the same budget."""
    train = _with_hidden_truth(toy_jets(16_000, seed=21))
    d = tmp_path_factory.mktemp("oracle")
    oracle = fit(train, d / "oracle", _oracle_config(["invisible_frac_true", "fem_true"], epochs=5),
                 progress=False)
    plain = fit(train, d / "plain", tiny_config(epochs=5), progress=False)
    return oracle, plain, d


def test_an_oracle_that_knows_the_response_calibrates_far_better(trained):
    oracle, plain, d = trained
    test = _with_hidden_truth(toy_jets(8_000, seed=22))
    sel = test["pt_true"] > 300
    res = {}
    for name, model in (("oracle", oracle), ("plain", plain)):
        cal = model.calibrate(test)
        res[name] = resolution((cal["e_cal"] / test["e_true"])[sel])
    assert res["oracle"] < 0.5 * res["plain"], res
    # the model round-trips and reads the hidden-truth columns, not derived names
    again = DNNCalibration.load(d / "oracle")
    assert again.oracle
    assert not plain.oracle
    assert "e_invisible_true" in again.required_columns
    assert "invisible_frac_true" not in again.required_columns
    assert again.features[-2:] == ("invisible_frac_true", "fem_true")
    np.testing.assert_allclose(again.calibrate(test)["e_cal"], oracle.calibrate(test)["e_cal"], rtol=1e-6)


def test_an_oracle_model_refuses_a_table_without_hidden_truth_and_is_never_exported(trained, tmp_path, capsys):
    oracle, _, d = trained
    table = {k: v for k, v in toy_jets(500, seed=23).items() if not k.startswith("toy_")}
    with pytest.raises(InputError, match=r"hidden truth.*e_invisible_true"):
        oracle.calibrate(table)
    from jetcalib.deploy.athena_export import athena_config
    from jetcalib.deploy.onnx_export import export_onnx

    with pytest.raises(InputError, match="oracle model"):
        export_onnx(oracle, tmp_path / "o.onnx")
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(InputError, match="export --athena: this is an oracle model"):
        athena_config(oracle)
    code = main(["export", str(d / "oracle"), "-o", str(tmp_path / "cli.onnx")])
    err = capsys.readouterr().err
    assert code == 2
    assert "oracle model" in err
    assert "Traceback" not in err
    assert not (tmp_path / "cli.onnx").exists()


def test_train_cli_reads_the_hidden_truth_columns(tmp_path, capsys):
    data = tmp_path / "train.parquet"
    write_table(data, _with_hidden_truth(toy_jets(2500, seed=24)), DatasetMetadata(producer="toy", seeds=[24]))
    (tmp_path / "c.yaml").write_text("oracle_features: [pileup_frac_true, fem_true]\n"
                                     "network: {width: 16, n_blocks: 1}\ntraining: {batch_size: 512}\n")
    code = main(["train", "--data", str(data), "-o", str(tmp_path / "m"), "--config", str(tmp_path / "c.yaml"),
                 "--epochs", "1", "-q"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert DNNCalibration.load(tmp_path / "m").config.oracle_features == ["pileup_frac_true", "fem_true"]
