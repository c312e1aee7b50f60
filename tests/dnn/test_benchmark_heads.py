"""benchmarks/heads.py (issue #15) runs end to end on tiny toy tables: four heads trained with
one epoch, the ablation table, the per-bin coverage and the PASS/FAIL criteria written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from jetcalib.dnn.toys import toy_jets
from jetcalib.io import write_table

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench(monkeypatch):
    """benchmarks/heads.py as a module (it imports its _dnn_common sibling)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_heads", BENCHMARKS / "heads.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_heads_benchmark_smoke(tmp_path, monkeypatch, capsys):
    bench = _bench(monkeypatch)
    for name, n, seed in (("train", 4000, 21), ("test", 3000, 22)):
        write_table(tmp_path / f"{name}.parquet", {k: v for k, v in toy_jets(n, seed=seed).items() if not k.startswith("toy_")})
    (tmp_path / "tiny.yaml").write_text("network:\n  width: 16\n  n_blocks: 1\n  mass_residual_width: 8\n"
                                        "training:\n  batch_size: 512\n")
    md = tmp_path / "out" / "heads.md"
    test = tmp_path / "test.parquet"  # the toy holds W- and top-like jets: it serves as both peak samples
    args = ["--train", str(tmp_path / "train.parquet"), "--test", str(test), "--wprime", str(test), "--top", str(test),
            "--max-jets", "2000", "--epochs", "1", "--models-dir", str(tmp_path / "models"), "--threads", "1",
            "--config", str(tmp_path / "tiny.yaml"), "--min-bin-jets", "200", "--md", str(md)]
    assert bench.main(args) == 0
    text = md.read_text()
    assert "| head | E resolution (pT > 500) |" in text
    for head in ("mode", "density", "quantile", "gaussian"):
        assert f"\n| {head} | " in text
    assert "## Coverage per (pT_true, m_true/pT_true) bin" in text
    assert "## Acceptance criteria (#15)" in text
    assert "| marginal coverage 68 ± 2 % and 95 ± 1 % (E and m, test sample) |" in text
    assert text.count("PASS") + text.count("FAIL") >= 3 * 6
    assert "W/Z jets" in text
    doc = json.loads(md.with_suffix(".json").read_text())
    assert set(doc["results"]) == {"mode", "density", "quantile", "gaussian"}
    assert doc["results"]["density"]["summary"]["width_recalibration"]["energy"]["jets"] > 0
    assert (md.parent / "heads_pit.png").stat().st_size > 1000
    # a second run reuses the four models (same config)
    assert bench.main(args) == 0
    assert json.loads(md.with_suffix(".json").read_text())["info"]["models"] == {h: "reused" for h in bench.HEADS}
    capsys.readouterr()


def test_probabilistic_heads_get_a_flat_energy_prior(monkeypatch):
    from jetcalib.dnn import DNNConfig

    bench = _bench(monkeypatch)
    base = DNNConfig()
    assert base.training.energy_weights is False
    for head in ("density", "quantile", "gaussian"):
        assert bench.head_config(base, head, 1000, 2).training.energy_weights is True
        assert bench.head_config(base, head, 1000, 2, "generated").training.energy_weights is False
    mode = bench.head_config(base, "mode", None, None)
    assert mode.training.energy_weights is False  # the paper's mode network keeps the generated spectrum
    assert mode.to_document() == base.to_document()  # so the standard mode model is reused as is
