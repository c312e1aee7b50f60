"""Network shapes, positive responses, the annotation and mass-residual switches."""

from __future__ import annotations

import pytest
import torch

from jetcalib.dnn.config import NetworkConfig
from jetcalib.dnn.network import CalibrationNet


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("annotation", [True, False])
@pytest.mark.parametrize("mass_residual", [True, False])
def test_shapes_and_positive_responses(annotation, mass_residual):
    torch.manual_seed(0)
    cfg = NetworkConfig(width=32, n_blocks=2, annotation=annotation, mass_residual=mass_residual)
    net = CalibrationNet(21, cfg)
    net.set_output_bias(-0.1, 0.2)
    le, lm = net(torch.randn(17, 21) * 5)
    assert le.shape == (17,)
    assert lm.shape == (17,)
    assert torch.all(torch.exp(le) > 0)
    assert torch.all(torch.exp(lm) > 0)
    assert (net.annotation is not None) == annotation
    assert (net.mass_residual is not None) == mass_residual


def test_switches_change_the_architecture():
    base = NetworkConfig(width=32, n_blocks=2)
    full = _n_params(CalibrationNet(21, base))
    assert _n_params(CalibrationNet(21, base.model_copy(update={"annotation": False}))) < full
    assert _n_params(CalibrationNet(21, base.model_copy(update={"mass_residual": False}))) < full


def test_heads_start_at_the_output_bias_and_residual_at_identity():
    net = CalibrationNet(21, NetworkConfig(width=32, n_blocks=2))
    net.set_output_bias(-0.1, 0.2)
    le, lm = net(torch.randn(5, 21))
    assert torch.allclose(le, torch.full((5,), -0.1))
    assert torch.allclose(lm, torch.full((5,), 0.2))


def test_mass_residual_is_a_multiplicative_factor_from_the_inputs():
    torch.manual_seed(1)
    net = CalibrationNet(21, NetworkConfig(width=32, n_blocks=2))
    with torch.no_grad():
        net.mass_residual[-1].bias.fill_(0.3)  # g(x) = 0.3 → r̂_m scaled by e^0.3
    x = torch.randn(4, 21)
    _le, lm = net(x)
    trunk_only = net.head_m(net.norm(net.blocks(torch.nn.functional.silu(
        net.stem(torch.cat([x, net.annotation(x)], 1)))))).squeeze(-1)
    assert torch.allclose(lm, trunk_only + 0.3, atol=1e-6)


def test_extreme_inputs_are_clamped_inside_the_network():
    torch.manual_seed(2)
    net = CalibrationNet(21, NetworkConfig(width=32, n_blocks=2, input_clip=10.0))
    x = torch.randn(3, 21)
    x_far = x.clone()
    x_far[:, 11] = 1e6  # e.g. charged_m_frac with a near-zero jet mass
    x_edge = x.clone()
    x_edge[:, 11] = 10.0
    assert torch.equal(net(x_far)[0], net(x_edge)[0])
    assert torch.isfinite(net(x_far)[1]).all()
