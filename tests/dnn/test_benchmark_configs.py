"""The committed benchmark configs (benchmarks/configs/) are valid DNN configs: a typo there
would only show after minutes of generation and training."""

from __future__ import annotations

from pathlib import Path

import yaml

from jetcalib.dnn import DNNConfig

CONFIGS = Path(__file__).resolve().parents[2] / "benchmarks" / "configs"


def test_ablation_variants_are_valid_and_distinct():
    variants = yaml.safe_load((CONFIGS / "ablation.yaml").read_text())
    labels = [v["label"] for v in variants]
    assert len(set(labels)) == len(labels) == 8
    configs = []
    for v in variants:
        raw = DNNConfig().model_dump()
        for section, values in v["change"].items():
            if isinstance(values, dict):
                raw[section].update(values)
            else:
                raw[section] = values
        configs.append(DNNConfig.model_validate(raw).model_dump_json())
    assert len(set(configs)) == len(configs)  # every variant changes something


def test_mlp_mse_config_is_the_plain_regression():
    cfg = DNNConfig.from_file(CONFIGS / "mlp_mse.yaml")
    assert cfg.loss.kind == "mse"
    assert cfg.closure == "none"
    assert not cfg.network.annotation
    assert not cfg.network.mass_residual
    assert not cfg.training.weights


def test_headroom_configs_are_the_oracles_and_the_constituent_network():
    assert DNNConfig.from_file(CONFIGS / "constituent.yaml").inputs == "constituents"
    assert len(DNNConfig.from_file(CONFIGS / "oracle_all.yaml").oracle_features) == 6
    assert DNNConfig.from_file(CONFIGS / "oracle_pu_fem.yaml").oracle_features == ["pileup_frac_true", "fem_true"]
    for name in ("constituent", "oracle_all", "oracle_pu_fem"):  # otherwise the defaults
        cfg = DNNConfig.from_file(CONFIGS / f"{name}.yaml")
        assert cfg.network == DNNConfig().network
        assert cfg.training == DNNConfig().training
