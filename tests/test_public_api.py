"""Locks the public API: a change here is a deliberate, documented change (as pyhf does)."""

from __future__ import annotations

import jetcalib
import jetcalib.io


def test_top_level_api():
    assert sorted(jetcalib.__all__) == sorted([
        "ArtifactError", "InputError", "JetcalibError", "PartialFailure", "Terminated",
        "__version__", "io", "load",
    ])


def test_io_api():
    assert sorted(jetcalib.io.__all__) == sorted([
        "ArtifactHeader", "CALIBRATED_COLUMNS", "COLUMNS", "DEFAULT_CHUNK_ROWS", "DEFAULT_TREE",
        "INPUT_FEATURES", "METADATA_KEY", "RECO_COLUMNS", "REQUIRED_FOR", "SCHEMA_VERSION",
        "SIMULATION_VERSION", "TRUTH_COLUMNS", "CalibFlag", "Column", "ColumnMap", "DatasetMetadata", "JetFile",
        "Process", "TableWriter", "atomic_path", "atomic_paths", "canonical_json", "check_simulation_versions", "column",
        "columns_in_group",
        "concat_tables", "content_hash", "derivation_plan", "derive_columns", "detect_format",
        "open_jets", "read_table", "simulation_version", "write_table",
    ])
    for name in jetcalib.io.__all__:
        assert hasattr(jetcalib.io, name), name


def test_the_21_inputs_in_spec_order():
    assert jetcalib.io.INPUT_FEATURES == (
        "eta", "log_e", "log_m", "width", "em_frac", "em3_frac", "tile0_frac", "eff_n_clusters",
        "groom_m_ratio", "neutral_e_frac", "charged_pt_frac", "charged_m_frac", "split12",
        "split23", "c2", "d2", "tau21", "tau32", "qw", "mu", "npv",
    )


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, jetcalib, jetcalib.cli; print(sorted(m for m in ('torch','pythia8mc','fastjet','lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
