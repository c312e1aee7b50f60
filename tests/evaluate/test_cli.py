"""``jetcalib numerical fit`` and ``jetcalib evaluate`` end to end, and their bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.numerical.toys import make_toy

from jetcalib.cli import main
from jetcalib.io import write_table


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_table(d / "train.parquet", make_toy(80_000, seed=1))
    write_table(d / "test.parquet", make_toy(20_000, seed=2))
    return d


@pytest.fixture(scope="module")
def fitted(files):
    assert main(["numerical", "fit", str(files / "train.parquet"), "-o", str(files / "num.json"),
                 "--correctionlib", str(files / "cl.json")]) == 0
    return files / "num.json"


def test_fit_and_evaluate_report(files, fitted, tmp_path):
    assert json.loads((files / "cl.json").read_text())["schema_version"] == 2
    out = tmp_path / "report"
    assert main(["evaluate", str(files / "test.parquet"), "--method", f"numerical={fitted}",
                 "-o", str(out), "--bootstrap", "5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["uncalibrated", "numerical"]
    assert summary["baseline"] == "numerical"
    assert summary["closure_max_deviation"]["numerical"]["energy"] < 0.02
    assert summary["closure_max_deviation"]["uncalibrated"]["energy"] > 0.05
    assert set(summary["mass_peaks"]["numerical"]) == {"wz", "top"}
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 15
    assert (out / "binned_metrics.parquet").stat().st_size > 0
    assert (out / "binned_metrics.csv").is_file()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:"), err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["numerical", "fit", "{d}/nope.parquet", "-o", "{d}/x.json"], "not found"),
        (["numerical", "fit", "{d}/train.parquet", "-o", "{d}/x.json", "--central", "mean"], "--central"),
        (["numerical", "fit", "{d}/nocol.parquet", "-o", "{d}/x.json"], "missing required column"),
        (["numerical", "fit", "{d}/empty.parquet", "-o", "{d}/x.json"], "empty"),
        (["evaluate", "{d}/test.parquet", "--method", "numerical"], "NAME=PATH"),
        (["evaluate", "{d}/test.parquet", "--method", "uncalibrated={d}/num.json"], "always included"),
        (["evaluate", "{d}/test.parquet", "--method", "dnn={d}/test.parquet"], "not a jetcalib calibration artifact"),
        (["evaluate", "{d}/test.parquet", "--method", "n={d}/missing.json"], "not found"),
        (["evaluate", "{d}/nocol.parquet", "--method", "numerical={d}/num.json"], "missing required column"),
    ],
)
def test_bad_input_is_one_line_exit_2(files, fitted, capsys, argv, needle):
    t = make_toy(100, seed=3)
    write_table(files / "nocol.parquet", {k: v for k, v in t.items() if k not in ("m_true",)})
    write_table(files / "empty.parquet", {k: v[:0] for k, v in t.items()})
    capsys.readouterr()
    assert main([a.format(d=files) for a in argv]) == 2
    assert needle in _one_error_line(capsys)
    assert not (files / "x.json").exists()


def test_tampered_artifact_refused(files, fitted, capsys, tmp_path):
    raw = json.loads(fitted.read_text())
    raw["payload"]["jes"]["bins"][3]["coef"][0] = 2.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["evaluate", str(files / "test.parquet"), "--method", f"numerical={bad}", "-o",
                 str(tmp_path / "r")]) == 2
    assert "hash mismatch" in _one_error_line(capsys)
    assert np.isfinite(raw["payload"]["jes"]["bins"][0]["coef"][0])


def _alt_toy(seed: int):
    """An 'altered generator' toy: the same detector, 2 % more energy reconstructed."""
    t = make_toy(20_000, seed=seed)
    t["e_reco"] = t["e_reco"] * 1.02
    return t


def test_alt_sample_adds_generator_dependence_and_the_report_is_navigable(files, fitted, tmp_path):
    import re

    write_table(files / "alt.parquet", _alt_toy(4))
    out = tmp_path / "report"
    assert main(["evaluate", str(files / "test.parquet"), "--method", f"numerical={fitted}",
                 "--alt", str(files / "alt.parquet"), "-o", str(out), "--bootstrap", "5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    shifts = [r for r in summary["generator_shift"] if r["method"] == "numerical" and r["quantity"] == "energy"]
    assert len(shifts) == 4
    # the calibration does not know about the extra 2 %: the closure moves by about that much
    assert all(0.01 < r["median_shift"] < 0.03 for r in shifts if r["median_shift"] is not None)
    assert {r["variable"] for r in summary["pileup_slopes"]} == {"mu", "npv"}
    assert summary["mass_peaks_by_pt"]
    prov = summary["provenance"]
    assert prov["samples"]["test"]["sha256"].startswith("sha256:")
    assert prov["methods"][0]["content_hash"] == json.loads(fitted.read_text())["header"]["content_hash"]
    page = (out / "report.html").read_text()
    for anchor in re.findall(r"href='#([^']+)'", page):
        assert f"id='{anchor}'" in page, anchor  # every entry of the contents lands somewhere
    for section in ("provenance", "headline", "mass-peaks", "pileup", "generator", "fig-eta", "fig-pileup",
                    "fig-generator", "fig-peaks"):
        assert f"id='{section}'" in page, section
    assert "σ/peak ÷ numerical" in page
    assert page.count("Selection:") >= page.count("<figure ")
    assert not re.search(r"<[\s0-9]", page), "a bare '<' in the text (write &lt;)"
    assert (out / "sliced_metrics.csv").stat().st_size > 0


def test_alt_of_another_simulation_version_or_missing_is_one_line_exit_2(files, fitted, capsys, tmp_path):
    from jetcalib.io import DatasetMetadata

    old = tmp_path / "old_alt.parquet"
    write_table(old, make_toy(2_000, seed=6), DatasetMetadata(producer="jetcalib generate",
                                                              generator={"simulation_version": "1"}))
    base = ["evaluate", str(files / "test.parquet"), "--method", f"numerical={fitted}", "-o", str(tmp_path / "r")]
    capsys.readouterr()
    assert main([*base, "--alt", str(old)]) == 2
    assert "simulation version 1" in _one_error_line(capsys)
    assert main([*base, "--alt", str(tmp_path / "nope.parquet")]) == 2
    assert "--alt" in _one_error_line(capsys)
    assert not (tmp_path / "r").exists()
