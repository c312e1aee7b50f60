"""No configuration value may hang or silently break a command (issue #19): every numeric field
of the detector/generation, DNN and numerical configs has a range, floats are finite and
intervals ordered; a value outside is one ``error:`` line (exit 2) naming the field."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from tests.conftest import one_error_line, run

from jetcalib.dnn import DNNConfig
from jetcalib.errors import InputError
from jetcalib.numerical import NumericalConfig
from jetcalib.sim.config import SimConfig

BAD_NUMBERS = {"negative": -1, "zero": 0, "nan": math.nan, "inf": math.inf}


def test_generate_chunk_size_zero_is_a_usage_error(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("generation:\n  chunk_size: 0\n")
    code, _, err = run(capsys, "generate", "--events", "5", "--config", cfg, "--out", tmp_path / "x.parquet")
    assert code == 2
    assert "chunk_size" in one_error_line(err)
    assert not (tmp_path / "x.parquet").exists()


# (section, field, bad values): counts must be >= 1, sizes > 0, fractions in [0, 1]
SIM_CASES = [
    ("generation", "chunk_size", ("negative", "zero")),
    ("generation", "ecm_gev", ("negative", "zero", "nan", "inf")),
    ("calorimeter", "em_core_sigma", ("negative", "zero", "nan", "inf")),
    ("calorimeter", "lateral_min_cell_gev", ("negative", "nan", "inf")),
    ("calorimeter", "noise_em_gev", ("negative", "nan", "inf")),
    ("tracking", "eff_low_pt", ("negative", "nan", "inf")),
    ("topo", "lc_em_frac_hi", ("negative", "nan")),
    ("pileup", "pool_size", ("negative", "zero")),
    ("jets", "radius", ("negative", "zero", "nan", "inf")),
    ("jets", "max_jets_per_event", ("negative", "zero")),
]


@pytest.mark.parametrize(("section", "field", "bad"),
                         [(s, f, b) for s, f, bads in SIM_CASES for b in bads])
def test_sim_config_field_out_of_range(section, field, bad, tmp_path, capsys):
    value = BAD_NUMBERS[bad]
    with pytest.raises(ValidationError, match=field):
        SimConfig.model_validate({section: {field: value}})
    # and through the CLI: one line, exit 2 (YAML spells NaN and inf .nan and .inf)
    text = {math.nan: ".nan", math.inf: ".inf"}.get(value, str(value)) if isinstance(value, float) else str(value)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"{section}:\n  {field}: {text}\n")
    code, _, err = run(capsys, "generate", "--dump-config", "--config", cfg)
    assert code == 2
    assert field in one_error_line(err)


@pytest.mark.parametrize("change", [
    {"generation": {"dijet_slices": [[300.0, 160.0]]}},
    {"generation": {"dijet_slices": []}},
    {"calorimeter": {"crack_forward": [3.3, 3.1]}},
    {"calorimeter": {"layer_edges_lambda": [0.0, 0.15, 0.1, 1.2, 2.7, 4.2, 6.5]}},
    {"calorimeter": {"layer_edges_lambda": [0.0, 1.0]}},
    {"topo": {"seed_sigma": 1.0, "grow_sigma": 2.0}},
    {"topo": {"lc_em_frac_lo": 0.95}},
    {"pileup": {"pool_seed": 900_000_000}},
], ids=lambda c: next(iter(next(iter(c.values())))))
def test_sim_config_intervals_are_ordered(change):
    with pytest.raises(ValidationError):
        SimConfig.model_validate(change)


@pytest.mark.parametrize(("section", "field", "bad"), [
    ("training", "batch_size", "zero"), ("training", "lr", "negative"), ("training", "lr", "nan"),
    ("training", "lr_min", "inf"), ("training", "weight_decay", "nan"), ("training", "seed", "negative"),
    ("loss", "alpha", "inf"), ("loss", "mass_weight", "nan"), ("network", "input_clip", "inf"),
    ("network", "width", "zero"), ("training", "weight_cap", "nan"),
])
def test_dnn_config_field_out_of_range(section, field, bad):
    with pytest.raises(InputError, match=field):
        DNNConfig.from_dict({section: {field: BAD_NUMBERS[bad]}})


def test_dnn_config_orders_learning_rates_and_weight_bins():
    with pytest.raises(InputError, match="lr_min"):
        DNNConfig.from_dict({"training": {"lr": 1e-4, "lr_min": 1e-3}})
    with pytest.raises(InputError, match="weight_bins"):
        DNNConfig.from_dict({"training": {"weight_bins": [0, 20]}})


def test_dnn_train_config_file_with_nan_is_one_line(assets, tmp_path, capsys):
    cfg = tmp_path / "nan.toml"
    cfg.write_text("[training]\nlr = nan\n")
    code, _, err = run(capsys, "train", "--data", assets["good"], "-o", tmp_path / "m", "--config", cfg, "-q")
    assert code == 2
    assert "lr" in one_error_line(err)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("field", "bad"), [
    ("eta_step", 0), ("eta_step", math.nan), ("eta_max", math.inf), ("n_e_bins", 1), ("min_entries", 0),
    ("degree", -1), ("jms_n_e_bins", 0), ("jms_min_mass", math.nan), ("jms_max_energy", -5.0),
    ("jms_grid", (1, 20)), ("jms_eta_edges", (0.0, 0.8, 0.4)),
])
def test_numerical_config_field_out_of_range(field, bad):
    with pytest.raises(ValidationError, match=field):
        NumericalConfig(**{field: bad})


def test_numerical_config_defaults_and_closure_setting_are_valid():
    assert NumericalConfig().n_e_bins >= 2
    assert NumericalConfig(jms_max_energy=1500.0).jms_max_energy == 1500.0
    assert SimConfig().generation.chunk_size >= 1
    assert DNNConfig().training.lr_min <= DNNConfig().training.lr
