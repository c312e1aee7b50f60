"""benchmarks/headroom.py end to end on tiny toy tables (hidden truth and constituents made up):
the tables, the gap shares and the constituent verdict are written (issue #16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from jetcalib.dnn import DNNConfig, train
from jetcalib.dnn.toys import toy_jets
from jetcalib.io import DatasetMetadata, write_table

from .conftest import tiny_config
from .test_constituents import _config as constituent_config
from .test_constituents import with_constituents
from .test_oracle import _oracle_config, _with_hidden_truth

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "headroom.py"


def test_headroom_writes_the_tables_and_the_verdict(tmp_path):
    paths = {}
    for name, seed in (("train", 31), ("test", 32)):
        table = with_constituents(_with_hidden_truth(toy_jets(6000, seed=seed)), seed=seed)
        paths[name] = tmp_path / f"{name}.parquet"
        write_table(paths[name], table, DatasetMetadata(producer="toy", seeds=[seed]))
        if name == "train":
            train_t = table
    models = {"dnn": tiny_config(epochs=2), "oracle": _oracle_config(["invisible_frac_true"], epochs=2),
              "constituent": constituent_config()}
    for name, cfg in models.items():
        assert isinstance(cfg, DNNConfig)
        train(train_t, tmp_path / name, cfg, progress=False, threads=1)
    md = tmp_path / "out" / "headroom.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--train", str(paths["train"]), "--test", str(paths["test"]),
                           "--dnn", str(tmp_path / "dnn"), "--oracle", str(tmp_path / "oracle"),
                           "--constituent", str(tmp_path / "constituent"), "--no-lightgbm", "--md", str(md)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = md.read_text()
    assert "## Energy resolution (%) per pT_true bin" in text
    assert "Share of the numerical → oracle energy gap closed" in text
    assert "oracle (hidden truth)" in text
    assert "constituent network" in text
    assert "(criterion ≥ 80 %: " in text
    doc = json.loads(md.with_suffix(".json").read_text())
    # the oracle knows each jet's energy response: it is the best method above 500 GeV
    res = {m: next(r["resolution"] for r in rows if r["lo"] == 500) for m, rows in doc["energy"].items()}
    assert res["oracle"] == min(res.values()), res
    assert doc["verdict"]["energy_gap_closed_500"]["oracle"] == 1.0
    assert md.with_name("headroom_resolution.png").stat().st_size > 10_000


def test_benchmarks_read_tables_with_constituents_as_flat_columns(tmp_path):
    # regression: heads.py and physics.py turned every column into a numpy array and failed
    # ("cannot convert to RegularArray") on tables generated with --constituents
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from _dnn_common import read_flat
    finally:
        sys.path.remove(str(SCRIPT.parent))
    path = tmp_path / "c.parquet"
    write_table(path, with_constituents(toy_jets(300, seed=5), seed=5), DatasetMetadata(producer="toy", seeds=[5]))
    table = read_flat(path)
    assert "e_reco" in table
    assert not any(k.startswith(("cl_", "trk_")) for k in table)
    assert all(isinstance(v, np.ndarray) and v.ndim == 1 for v in table.values())
