"""benchmarks/_bounds.py and the cheap parts of benchmarks/scaling.py: the FLOP count of the
default network and the linearity verdict on generation cost (the measurements themselves are
benchmarks, not tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def test_default_network_flops_per_jet_match_its_weight_matrices():
    from _bounds import network_flops_per_jet

    from jetcalib.dnn import DNNConfig
    from jetcalib.dnn.network import build_network

    cfg = DNNConfig()
    net = build_network(cfg)
    fwd = network_flops_per_jet(net, len(cfg.network_features), backward=False)
    # 2 x multiply-accumulates of every matrix product; the annotation's w1 (one scalar per
    # unit) and its 2-D biases b1, b2 are element-wise
    elementwise = ("annotation.w1", "annotation.b1", "annotation.b2")
    weights = sum(p.numel() for n, p in net.named_parameters() if p.ndim >= 2 and not n.endswith(elementwise))
    assert fwd == pytest.approx(2 * weights, rel=1e-6)
    train = network_flops_per_jet(net, len(cfg.network_features), backward=True)
    assert 2.5 * fwd < train < 3.5 * fwd  # backward: two products per forward product
    assert all(p.grad is None for p in net.parameters())  # no gradients left behind


def test_generation_cost_linearity_verdict():
    from scaling import linear_in_mu

    linear = [{"mu": m, "ms_per_event": 10 + 0.1 * m} for m in (10, 40, 80, 140)]
    fit = linear_in_mu(linear)
    assert fit["slope_ms_per_mu"] == pytest.approx(0.1, rel=1e-3)
    assert not fit["superlinear"]
    quadratic = [{"mu": m, "ms_per_event": 10 + 0.002 * m * m} for m in (10, 40, 80, 140)]
    assert linear_in_mu(quadratic)["superlinear"]
    assert sys.modules["scaling"].POINTS.keys() == {"train", "calibrate", "generate_mu", "generate_workers"}
