"""`jetcalib train`: config dump, a tiny run from a Parquet file, clear errors."""

from __future__ import annotations

import numpy as np
import yaml

from jetcalib.cli import main
from jetcalib.dnn import DNNCalibration, DNNConfig
from jetcalib.dnn.toys import toy_jets
from jetcalib.io import DatasetMetadata, write_table


def _run(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dump_config_round_trips(tmp_path, capsys):
    code, out, _ = _run(capsys, "train", "--dump-config", "--epochs", "7")
    assert code == 0
    assert "lgk" in out
    assert "epochs: 7" in out
    (tmp_path / "c.yaml").write_text(out)
    assert DNNConfig.from_file(tmp_path / "c.yaml").training.epochs == 7


def test_tiny_training_run_writes_a_loadable_model(tmp_path, capsys):
    data = tmp_path / "train.parquet"
    table = {k: v for k, v in toy_jets(3000, seed=5).items() if not k.startswith("toy_")}
    write_table(data, table, DatasetMetadata(producer="toy", seeds=[5]))
    (tmp_path / "c.toml").write_text(
        "[network]\nwidth = 16\nn_blocks = 1\n[training]\nbatch_size = 512\n"
    )
    code, out, err = _run(capsys, "train", "--data", data, "-o", tmp_path / "m", "--config",
                          tmp_path / "c.toml", "--epochs", "2", "--max-jets", "2000", "-q")
    assert code == 0, err
    assert "trained on 1,800 jets" in out  # 2000 minus the 10 % validation split
    model = DNNCalibration.load(tmp_path / "m")
    assert model.header.training_data[0]["metadata"]["seeds"] == [5]
    assert model.header.seeds == {"training": 42}
    # the environment record (issue #14): the command line, the versions, the input file's hash
    from jetcalib.io.provenance import file_sha256

    assert model.header.training_data[0]["sha256"] == file_sha256(data)
    env = model.header.environment
    assert env["command_line"][:3] == ["jetcalib", "train", "--data"]
    assert env["packages"]["torch"]
    cal = model.calibrate(table)
    assert np.isfinite(cal["e_cal"]).all()


def test_bad_config_and_missing_columns_give_one_error_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("loss:\n  kind: huber\n")
    code, _, err = _run(capsys, "train", "--config", tmp_path / "bad.yaml", "--dump-config")
    assert code == 2
    assert "loss.kind" in err
    assert "Traceback" not in err
    data = tmp_path / "t.parquet"
    table = {k: v for k, v in toy_jets(200).items() if k not in ("d2", "toy_mode_e", "toy_mode_m")}
    write_table(data, table)
    code, _, err = _run(capsys, "train", "--data", data, "-o", tmp_path / "m")
    assert code == 2
    assert "missing required column d2" in err


def test_several_data_tables_are_concatenated_and_overlapping_seeds_refused(tmp_path, capsys):
    paths = {}
    for name, seed in (("a", 5), ("b", 6), ("a_again", 5)):
        paths[name] = tmp_path / f"{name}.parquet"
        table = {k: v for k, v in toy_jets(1500, seed=seed).items() if not k.startswith("toy_")}
        write_table(paths[name], table, DatasetMetadata(producer="toy", seeds=[seed]))
    (tmp_path / "c.toml").write_text("[network]\nwidth = 16\nn_blocks = 1\n[training]\nbatch_size = 512\n")
    common = ("--config", tmp_path / "c.toml", "--epochs", "1", "-q")
    code, _, err = _run(capsys, "train", "--data", paths["a"], "--data", paths["b"], "-o", tmp_path / "m", *common)
    assert code == 0, err
    model = DNNCalibration.load(tmp_path / "m")
    assert [p["metadata"]["seeds"] for p in model.header.training_data] == [[5], [6]]
    assert [p["rows"] for p in model.header.training_data] == [1500, 1500]
    assert model.summary["n_table"] == 3000
    code, _, err = _run(capsys, "train", "--data", paths["a"], "--data", paths["a_again"], "-o", tmp_path / "m2", *common)
    assert code == 2
    assert "generated with a common seed (5)" in err
    assert not (tmp_path / "m2").exists()
    code, _, err = _run(capsys, "train", "--data", paths["a"], "--data", paths["a"], "-o", tmp_path / "m3", *common)
    assert code == 2
    assert "is given twice" in err


def test_threads_is_a_run_time_setting_not_part_of_the_config(tmp_path):
    """A thread count changes how a run uses the machine, not the model: not in the config,
    its dump or the content hash; a 0.1 config's training.threads is read as the run's."""
    old = {"training": {"epochs": 3, "threads": 7}}
    assert DNNConfig.from_dict(old) == DNNConfig.from_dict({"training": {"epochs": 3}})
    assert "threads" not in yaml.safe_load(DNNConfig().dump_yaml())["training"]
    (tmp_path / "old.yaml").write_text("training:\n  epochs: 3\n  threads: 7\n")
    cfg, runtime = DNNConfig.from_file_with_runtime(tmp_path / "old.yaml")
    assert cfg.training.epochs == 3
    assert runtime == {"threads": 7}
    assert DNNConfig.from_file_with_runtime(tmp_path / "old.yaml")[0] == DNNConfig.from_file(tmp_path / "old.yaml")


def test_train_passes_threads_as_a_run_time_argument(tmp_path, capsys, monkeypatch):
    import jetcalib.dnn.training as training
    from jetcalib.errors import InputError

    seen: list[object] = []

    def fake_fit(*_args: object, threads: object = None, **_kwargs: object) -> None:
        seen.append(threads)
        raise InputError("stopped before training")

    monkeypatch.setattr(training, "train", fake_fit)
    data = tmp_path / "t.parquet"
    write_table(data, {k: v for k, v in toy_jets(300, seed=3).items() if not k.startswith("toy_")})
    (tmp_path / "old.yaml").write_text("training:\n  threads: 3\n")
    (tmp_path / "bad.yaml").write_text("training:\n  threads: 0\n")
    common = ("train", "--data", data, "-o", tmp_path / "m", "-q")
    for extra, want in [((), 2), (("--config", tmp_path / "old.yaml"), 3),
                        (("--config", tmp_path / "old.yaml", "--threads", "1"), 1)]:
        code, _, err = _run(capsys, *common, *extra)
        assert code == 2
        assert "stopped before training" in err
        assert seen.pop() == want
    code, _, err = _run(capsys, *common, "--config", tmp_path / "bad.yaml")
    assert code == 2
    assert "training.threads" in err
    assert seen == []


def test_head_option_overrides_the_config_and_a_bad_head_is_one_line(tmp_path, capsys):
    from tests.conftest import one_error_line

    code, out, err = _run(capsys, "train", "--dump-config", "--head", "gaussian")
    assert code == 0, err
    assert yaml.safe_load(out)["head"] == "gaussian"
    data = tmp_path / "t.parquet"
    write_table(data, {k: v for k, v in toy_jets(2500, seed=4).items() if not k.startswith("toy_")})
    (tmp_path / "c.toml").write_text("head = \"density\"\nclosure = \"none\"\n[network]\nwidth = 16\nn_blocks = 1\n"
                                     "mass_residual_width = 8\n[training]\nbatch_size = 1024\n")
    code, _, err = _run(capsys, "train", "--data", data, "-o", tmp_path / "m", "--config", tmp_path / "c.toml",
                        "--head", "quantile", "--epochs", "1", "-q")
    assert code == 0, err
    model = DNNCalibration.load(tmp_path / "m")
    assert model.config.head == "quantile"  # the option wins over the config file
    assert model.config.to_document()["head"] == "quantile"
    # the width recalibration was fitted on the validation split, recorded and stored
    record = model.summary["width_recalibration"]
    assert record["energy"]["jets"] == model.summary["n_val"]
    assert 0 < record["energy"]["q16_level"] < 0.5 < record["energy"]["q84_level"] < 1
    assert 0 < record["mass"]["jets"] <= model.summary["n_val"]
    assert model.net.recalibrated
    code, _, err = _run(capsys, "train", "--data", data, "-o", tmp_path / "m2", "--head", "mixture")
    assert code == 2
    line = one_error_line(err)
    assert "--head" in line
    assert "'mixture'" in line
    assert "mode, density, quantile, gaussian" in line
    assert not (tmp_path / "m2").exists()
