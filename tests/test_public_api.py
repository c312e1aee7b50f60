"""Locks the public API: a change here is a deliberate, documented change (as pyhf does).

Every public namespace is locked twice: by ``__all__`` (what ``from ... import *`` and the
docs promise) and by its public ``dir()`` (every name not starting with ``_`` that a user can
reach, the subpackage's own submodules included). Adding, removing or renaming a name anywhere
fails here until the lock below is updated. ``dir()`` is taken in a fresh interpreter right
after ``import <namespace>``, so a submodule another test happened to import (which Python
then sets as an attribute of its package) does not count.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import jetcalib
import jetcalib.io

#: namespace -> (its __all__, its public dir() after a fresh import), both sorted
PUBLIC_API: dict[str, tuple[list[str], list[str]]] = {
    "jetcalib": (
        ["ArtifactError", "InputError", "JetcalibError", "PartialFailure", "Terminated",
         "__version__", "io", "load"],
        ["ArtifactError", "InputError", "JetcalibError", "PartialFailure", "Terminated",
         "errors", "io", "load"],
    ),
    "jetcalib.io": (
        ["ArtifactHeader", "ArtifactKind", "CALIBRATED_COLUMNS", "CLUSTER_COLUMNS", "COLUMNS", "CONSTITUENT_COLUMNS",
         "CalibFlag", "Column", "ColumnMap",
         "DEFAULT_CHUNK_ROWS", "DEFAULT_TREE", "DatasetMetadata", "INPUT_FEATURES", "JetFile",
         "METADATA_KEY", "Process", "RECO_COLUMNS", "REQUIRED_FOR", "SCHEMA_VERSION",
         "SIMULATION_VERSION", "TRACK_COLUMNS", "TRUTH_COLUMNS", "TableWriter", "UNCERTAINTY_COLUMNS", "atomic_path", "atomic_paths",
         "canonical_json", "check_simulation_versions", "column", "columns_in_group",
         "concat_tables", "content_hash", "derivation_plan", "derive_columns", "detect_format",
         "open_jets", "read_table", "simulation_version", "write_table"],
        ["ArtifactHeader", "ArtifactKind", "CALIBRATED_COLUMNS", "CLUSTER_COLUMNS", "COLUMNS", "CONSTITUENT_COLUMNS",
         "CalibFlag", "Column", "ColumnMap",
         "DEFAULT_CHUNK_ROWS", "DEFAULT_TREE", "DatasetMetadata", "INPUT_FEATURES", "JetFile",
         "METADATA_KEY", "Process", "RECO_COLUMNS", "REQUIRED_FOR", "SCHEMA_VERSION",
         "SIMULATION_VERSION", "TRACK_COLUMNS", "TRUTH_COLUMNS", "TableWriter", "UNCERTAINTY_COLUMNS", "artifacts", "atomic_path",
         "atomic_paths", "canonical_json", "check_simulation_versions", "column",
         "columns_in_group", "concat_tables", "content_hash", "derivation_plan",
         "derive_columns", "detect_format", "files", "mapping", "metadata", "open_jets",
         "read_table", "schema", "simulation_version", "write_table"],
    ),
    "jetcalib.features": (
        ["Calibration", "DOMAIN_POLICIES", "ENERGY_MAX", "ETA_MAX", "KINEMATIC_INPUTS", "MASS_ENERGY_RTOL",
         "NormMethod", "Normalisation", "TrainingDomain", "apply_responses", "as_columns",
         "batched_responses", "calibrate_in_units", "calibrate_with_model", "check_policy",
         "domain_flags", "feature_matrix", "flatten_weights", "input_flags",
         "merge_domain_flags", "out_of_range", "pt_from_e_m_eta"],
        ["Calibration", "DOMAIN_POLICIES", "ENERGY_MAX", "ETA_MAX", "KINEMATIC_INPUTS", "MASS_ENERGY_RTOL",
         "NormMethod", "Normalisation", "TrainingDomain", "apply_responses", "as_columns",
         "batched_responses", "calibrate_in_units", "calibrate_with_model", "check_policy",
         "domain", "domain_flags", "feature_matrix", "flatten_weights", "input_flags",
         "kinematics", "merge_domain_flags", "normalisation", "out_of_range", "protocol",
         "pt_from_e_m_eta", "table", "weights"],
    ),
    "jetcalib.numerical": (
        ["ARTIFACT_KIND", "CENTRAL_METHODS", "FIT_COLUMNS", "FORMAT_VERSION", "JESFit",
         "JMSFit", "NumericalCalibration", "NumericalConfig", "central_value", "fit_jes",
         "fit_jms", "gauss_core", "half_sample_mode", "kde_mode", "local_fit_mode",
         "mode_estimate", "robust_sigma", "to_correctionlib", "write_correctionlib"],
        ["ARTIFACT_KIND", "CENTRAL_METHODS", "FIT_COLUMNS", "FORMAT_VERSION", "JESFit",
         "JMSFit", "NumericalCalibration", "NumericalConfig", "binning", "calibration",
         "central_value", "config", "export", "fit_jes", "fit_jms", "gauss_core",
         "half_sample_mode", "jes", "jms", "kde_mode", "local_fit_mode", "mode_estimate",
         "robust_sigma", "stats", "to_correctionlib", "write_correctionlib"],
    ),
    "jetcalib.dnn": (
        ["CalibrationNet", "ConstituentConfig", "ConstituentNet", "DNNCalibration", "DNNConfig", "LossConfig",
         "NetworkConfig", "ORACLE_FEATURES", "TrainingConfig", "annealed_width", "lgk_loss", "train"],
        ["CalibrationNet", "ConstituentConfig", "ConstituentNet", "DNNCalibration", "DNNConfig", "LossConfig",
         "NetworkConfig", "ORACLE_FEATURES", "TrainingConfig", "annealed_width", "config", "data", "heads", "kernels",
         "lgk_loss", "losses", "model", "network", "oracle", "train", "training"],
    ),
    "jetcalib.evaluate": (
        ["BINNED_FIELDS", "ETA_SLICES", "MASS_WINDOWS", "PT_BINS", "PT_REGIONS", "UNCALIBRATED",
         "Uncalibrated", "VARIABLES", "binned_metrics", "binned_table", "bootstrap_error", "closure",
         "coverage_table", "fit_mass_peak", "generator_shift", "headline", "interval_coverage",
         "load_calibration", "make_report", "mass_peaks_by_pt", "mode_estimate", "parse_method_specs",
         "pileup_slopes", "pit_histogram", "pit_values", "quantiles", "resolution", "resolution_iqr",
         "run_methods", "sliced_table"],
        ["BINNED_FIELDS", "ETA_SLICES", "MASS_WINDOWS", "PT_BINS", "PT_REGIONS", "UNCALIBRATED",
         "Uncalibrated", "VARIABLES", "binned_metrics", "binned_table", "bootstrap_error", "closure",
         "coverage", "coverage_table", "fit_mass_peak", "generator_shift", "headline",
         "interval_coverage", "load_calibration", "make_report", "mass_peaks_by_pt", "massfit",
         "methods", "metrics", "mode_estimate", "parse_method_specs", "pileup_slopes",
         "pit_histogram", "pit_values", "quantiles", "report", "resolution", "resolution_iqr",
         "run_methods", "sliced_table", "study"],
    ),
    "jetcalib.deploy": (
        ["CorrectionlibCalibration", "FileSummary", "OnnxCalibration", "RUNTIMES",
         "calibrate_file", "calibrate_many", "export_onnx", "load", "reference_model"],
        ["CorrectionlibCalibration", "FileSummary", "OnnxCalibration", "RUNTIMES", "apply",
         "calibrate_file", "calibrate_many", "export_onnx", "load", "loading", "parallel",
         "reference", "reference_model", "runtimes"],
    ),
    "jetcalib.sim": (
        ["SimConfig", "load_config", "parse_mu_range", "plan_chunks", "run_generation"],
        ["SimConfig", "calorimeter", "config", "generator", "geometry", "jets", "load_config",
         "parse_mu_range", "pileup", "pipeline", "plan_chunks", "run_generation", "runner",
         "substructure", "topo", "tracking"],
    ),
    "jetcalib.cli": (
        ["app", "main"],
        ["app", "calibrate", "demo", "evaluate", "export", "generate", "info", "main",
         "numerical", "train"],
    ),
}

#: a namespace that needs an optional extra to import at all
_NEEDS = {"jetcalib.dnn": "torch", "jetcalib.sim": "numba"}

_DUMP = (
    "import importlib, json, sys; m = importlib.import_module(sys.argv[1]); "
    "print(json.dumps({'all': sorted(m.__all__), "
    "'dir': sorted(n for n in dir(m) if not n.startswith('_'))}))"
)


def _fresh_names(namespace: str) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", _DUMP, namespace], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("namespace", sorted(PUBLIC_API))
def test_public_namespace_is_locked(namespace):
    needs = _NEEDS.get(namespace)
    if needs is not None and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{namespace} needs {needs}")
    names = _fresh_names(namespace)
    expected_all, expected_dir = PUBLIC_API[namespace]
    assert names["all"] == sorted(expected_all), "__all__ changed: update PUBLIC_API"
    assert names["dir"] == sorted(expected_dir), "public dir() changed: update PUBLIC_API"
    # everything promised is there; everything public but unpromised is one of its submodules
    assert set(expected_all) - {"__version__"} <= set(expected_dir)


def test_no_stray_imports_in_namespaces():
    """A public name that is not in ``__all__`` is a submodule of that very package (never
    ``np``, ``annotations``, ``os``, or a helper that leaked)."""
    import types

    for namespace, (expected_all, expected_dir) in PUBLIC_API.items():
        needs = _NEEDS.get(namespace)
        if needs is not None and importlib.util.find_spec(needs) is None:
            continue
        module = importlib.import_module(namespace)
        for name in set(expected_dir) - set(expected_all):
            attr = getattr(module, name)
            assert isinstance(attr, types.ModuleType), (namespace, name)
            assert attr.__name__ == f"{namespace}.{name}", (namespace, name, attr.__name__)


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


def test_py_typed_marker_ships():
    """PEP 561: the (empty) ``py.typed`` marker sits in the installed package directory and
    the build configuration puts it into wheels and sdists."""
    import tomllib
    from pathlib import Path

    package_dir = Path(jetcalib.__file__).parent
    assert (package_dir / "py.typed").is_file()
    pyproject = package_dir.parents[1] / "pyproject.toml"
    if pyproject.is_file():  # a source checkout (an installed wheel has no pyproject.toml)
        config = tomllib.loads(pyproject.read_text())
        assert "py.typed" in config["tool"]["setuptools"]["package-data"]["jetcalib"]
