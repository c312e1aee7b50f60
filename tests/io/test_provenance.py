"""The environment record of every artifact (issue #14): versions, command line, git commit,
input-file hashes; outside the content hash; old artifacts without it still load."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.numerical.toys import make_toy

from jetcalib.cli import main
from jetcalib.io import provenance, read_table, write_table
from jetcalib.numerical import NumericalCalibration

KEYS = {"record_version", "python", "platform", "jetcalib", "packages", "command_line", "git_commit"}


def test_environment_names_versions_without_importing_torch():
    code = ("import json, sys; from jetcalib.io.provenance import environment; "
            "env = environment(['torch', 'lightning', 'onnxruntime', 'no-such-package-xyz']); "
            "print(json.dumps([env, 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(Path(provenance.__file__).parents[2])})
    env, torch_imported = json.loads(done.stdout)
    assert not torch_imported
    assert set(env) == KEYS
    assert env["command_line"] is None
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["numpy"]
    assert env["packages"]["no-such-package-xyz"] is None


def test_git_commit_read_from_the_checkout_or_none(monkeypatch):
    root = provenance._source_root()
    provenance.git_commit.cache_clear()
    if root is not None:
        expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        assert provenance.git_commit() == expected
        assert provenance._head_from_files(root) == expected  # without running git
    monkeypatch.setattr(provenance, "_source_root", lambda: None)
    provenance.git_commit.cache_clear()
    assert provenance.git_commit() is None  # an installed copy: no commit, no failure
    provenance.git_commit.cache_clear()


def test_head_of_a_worktree_and_packed_refs(tmp_path):
    sha = "ab" * 20
    common = tmp_path / "main.git"
    (common / "worktrees" / "wt").mkdir(parents=True)
    (common / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/topic\n")
    wt_git = common / "worktrees" / "wt"
    (wt_git / "HEAD").write_text("ref: refs/heads/topic\n")
    (wt_git / "commondir").write_text("../..\n")
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".git").write_text(f"gitdir: {wt_git}\n")
    assert provenance._head_from_files(root) == sha
    (wt_git / "HEAD").write_text("cd" * 20 + "\n")  # detached
    assert provenance._head_from_files(root) == "cd" * 20


def test_file_sha256_streams_the_bytes(tmp_path):
    p = tmp_path / "f.bin"
    data = bytes(range(256)) * 9000
    p.write_bytes(data)
    assert provenance.file_sha256(p, chunk_bytes=1000) == "sha256:" + hashlib.sha256(data).hexdigest()
    entries = provenance.hash_input_files([{"path": str(p)}, {"path": str(tmp_path / "gone")}, {"rows": 3}])
    assert entries[0]["sha256"].startswith("sha256:")
    assert "sha256" not in entries[1]
    assert entries[2] == {"rows": 3}


def test_numerical_fit_from_the_cli_records_environment_and_input_hash(tmp_path, capsys):
    train = write_table(tmp_path / "train.parquet", make_toy(40_000, seed=3))
    out = tmp_path / "num.json"
    assert main(["numerical", "fit", str(train), "-o", str(out)]) == 0, capsys.readouterr().err
    header = json.loads(out.read_text())["header"]
    env = header["environment"]
    assert set(env) == KEYS
    assert env["command_line"] == ["jetcalib", "numerical", "fit", str(train), "-o", str(out)]
    assert env["packages"]["numpy"]
    assert header["training_data"][0]["sha256"] == provenance.file_sha256(train)
    cal = NumericalCalibration.load(out)
    # calibrating a table records the environment too, with that command's own command line
    calibrated = tmp_path / "cal.parquet"
    assert main(["calibrate", str(out), str(train), "-o", str(calibrated)]) == 0, capsys.readouterr().err
    _, meta = read_table(calibrated, ["e_cal"])
    assert meta.environment["command_line"][:2] == ["jetcalib", "calibrate"]
    assert meta.environment["git_commit"] == env["git_commit"]
    # from the API: the same record, no command line
    again = NumericalCalibration.fit(make_toy(40_000, seed=3))
    assert again.header.environment["command_line"] is None
    assert again.to_payload() == cal.to_payload()


def test_environment_is_outside_the_content_hash_and_old_artifacts_load(tmp_path):
    path = NumericalCalibration.fit(make_toy(30_000, seed=4)).save(tmp_path / "num.json")
    raw = json.loads(path.read_text())
    stored_hash = raw["header"]["content_hash"]
    raw["header"]["environment"] = {"python": "2.7", "packages": {"numpy": "1.0"}}  # another machine
    path.write_text(json.dumps(raw))
    assert NumericalCalibration.load(path).header.content_hash == stored_hash
    del raw["header"]["environment"]  # an artifact from before the record
    path.write_text(json.dumps(raw))
    assert NumericalCalibration.load(path).header.environment is None


def test_dnn_model_records_environment_outside_its_hash(tmp_path):
    torch = pytest.importorskip("torch")
    from jetcalib.dnn import CalibrationNet, DNNCalibration, DNNConfig
    from jetcalib.dnn.toys import toy_jets
    from jetcalib.features import Normalisation, feature_matrix

    torch.manual_seed(0)
    cfg = DNNConfig.from_dict({"network": {"width": 16, "n_blocks": 1}})
    norm = Normalisation.fit(feature_matrix(toy_jets(2000, seed=1), cfg.features), cfg.features)
    d = DNNCalibration(CalibrationNet(len(cfg.features), cfg.network), cfg, norm).save(tmp_path / "m")
    doc = json.loads((d / "artifact.json").read_text())
    env = doc["header"]["environment"]
    assert set(env) == KEYS
    assert env["packages"]["torch"]
    assert "lightning" in env["packages"]
    stored = doc["header"]["content_hash"]
    for value in ({"python": "3.99"}, None):  # edited, then absent (a model from before)
        doc["header"]["environment"] = value
        (d / "artifact.json").write_text(json.dumps(doc))
        back = DNNCalibration.load(d)
        assert back.header.content_hash == stored
        assert back.header.environment == value
