"""``--dump-config``: YAML with each key's description as a comment, that reads back equal."""

from __future__ import annotations

import pytest
import yaml

from jetcalib._textfiles import commented_yaml
from jetcalib.cli import main
from jetcalib.dnn.config import DNNConfig
from jetcalib.numerical import NumericalConfig
from jetcalib.sim.config import SimConfig, load_config


def _comment_above(text: str, key: str) -> str:
    """The comment lines right above the first ``key:`` line, joined."""
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    above: list[str] = []
    while i > 0 and lines[i - 1].lstrip().startswith("#"):
        i -= 1
        above.insert(0, lines[i].lstrip()[1:].strip())
    return " ".join(above)


def test_generate_dump_config_has_comments_and_loads_back_equal(tmp_path, capsys):
    assert main(["generate", "--dump-config"]) == 0
    out = capsys.readouterr().out
    # from the #: comments of sim/config.py: trailing, above, and a section's docstring
    assert _comment_above(out, "b_field_t") == "solenoid field (T)"
    assert "layer boundaries in depth" in _comment_above(out, "layer_edges_lambda")
    assert _comment_above(out, "tracking") == "Inner detector in a solenoid (|η| < 2.5)."
    assert max(len(line) for line in out.splitlines() if line.lstrip().startswith("#")) <= 96
    (tmp_path / "c.yaml").write_text(out, encoding="utf-8")
    assert load_config(tmp_path / "c.yaml") == SimConfig()


def test_train_dump_config_has_comments_and_loads_back_equal(tmp_path, capsys):
    assert main(["train", "--dump-config", "--epochs", "7", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert _comment_above(out, "lr") == "initial learning rate (Adam)"  # Field(description=...)
    assert _comment_above(out, "closure").startswith("Residual closure after the network")
    (tmp_path / "c.yaml").write_text(out, encoding="utf-8")
    want = DNNConfig.from_dict({"training": {"epochs": 7, "seed": 3}})
    assert DNNConfig.from_file(tmp_path / "c.yaml") == want


@pytest.mark.parametrize("config", [
    SimConfig(), DNNConfig(), NumericalConfig(),
    NumericalConfig(central="mode", jms_max_energy=1500.0, jms_eta_edges=(0.0, 1.0, 2.0)),
    DNNConfig.from_dict({"features": ["log_e", "eta"], "network": {"input_clip": None}}),
], ids=["sim", "dnn", "numerical", "numerical-changed", "dnn-changed"])
def test_commented_yaml_round_trips(config):
    text = commented_yaml(config, header="two\nlines")
    assert text.startswith("# two\n# lines\n")
    assert yaml.safe_load(text) == config.model_dump(mode="json")
    assert type(config).model_validate(yaml.safe_load(text)) == config


def test_every_numerical_and_dnn_field_has_a_description():
    from jetcalib.dnn.config import LossConfig, NetworkConfig, TrainingConfig

    for cls in (NumericalConfig, DNNConfig, NetworkConfig, LossConfig, TrainingConfig):
        missing = [n for n, f in cls.model_fields.items()
                   if not f.description and n not in ("network", "loss", "training")]
        assert missing == [], cls.__name__
