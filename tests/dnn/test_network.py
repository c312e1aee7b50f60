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


def test_annotation_is_the_per_feature_mlp_and_its_backward_sees_contiguous_activations():
    """Regression (issue #20): the batch-major einsum form ran SiLU's backward on a permuted
    gradient (9.5 ms of an ~80 ms step). The feature-major form must compute the same
    per-feature MLP, column order included, with contiguous activations."""
    from jetcalib.dnn.network import FeatureAnnotation

    torch.manual_seed(3)
    ann = FeatureAnnotation(5, 7, 3)
    with torch.no_grad():
        ann.b1.normal_()
        ann.b2.normal_()
    x = torch.randn(11, 5, requires_grad=True)
    h_ref = torch.nn.functional.silu(x.unsqueeze(-1) * ann.w1 + ann.b1)  # [B, F, hidden]
    ref = (torch.einsum("bfh,fhk->bfk", h_ref, ann.w2) + ann.b2).flatten(1)
    out = ann(x)
    assert out.shape == (11, 15)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: list[tuple[str, bool]] = []

    class Layouts(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func in (torch.ops.aten.silu.default, torch.ops.aten.silu_backward.default):
                seen.append((func.__name__, all(a.is_contiguous() for a in args if isinstance(a, torch.Tensor))))
            return func(*args, **(kwargs or {}))

    with Layouts():
        ann(x).sum().backward()
    assert seen == [("silu.default", True), ("silu_backward.default", True)], seen
    g_ref = torch.autograd.grad(ref.square().sum(), (x, ann.w1, ann.w2))
    g_out = torch.autograd.grad(ann(x).square().sum(), (x, ann.w1, ann.w2))
    for a, b in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
