"""``jetcalib generate``: bad input gives one clear error line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jetcalib.cli import main


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--process", "higgs"], "unknown process"),
        (["--events", "-5"], "--events"),
        (["--mu", "60:10"], "--mu"),
        (["--mu", "ten"], "--mu"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_bad_input_exit_2(args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--out", str(tmp_path / "x.parquet"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_output_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--events", "5", "--out", str(tmp_path / "missing" / "x.parquet")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    code = main(["generate", "--events", "5", "--out", str(tmp_path / "x.csv")])
    assert code == 2
    assert ".parquet or .root" in capsys.readouterr().err


def test_dump_config_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--dump-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["calorimeter"]["h_over_e"] == 0.6
    assert data["jets"]["trim_fcut"] == 0.05
    data["calorimeter"]["h_over_e"] = 0.5
    cfg = tmp_path / "det.yaml"
    cfg.write_text(yaml.safe_dump(data))
    assert main(["generate", "--dump-config", "--config", str(cfg)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["calorimeter"]["h_over_e"] == 0.5
    cfg.write_text("calorimeter: {h_over_e: lots}\n")
    assert main(["generate", "--dump-config", "--config", str(cfg)]) == 2
    assert "h_over_e" in capsys.readouterr().err
