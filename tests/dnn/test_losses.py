"""Loss values, gradients and the kernel-width schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from jetcalib.dnn.losses import annealed_width, lgk_loss, pointwise_loss


def test_lgk_values():
    d = torch.tensor([0.0, 0.1, -0.1, 1.0])
    h, a = 0.1, 0.05
    got = lgk_loss(d, h, a)
    want = [0.0, 1 - math.exp(-0.5) + 0.005, 1 - math.exp(-0.5) + 0.005, 1 - math.exp(-50) + 0.05]
    assert torch.allclose(got, torch.tensor(want), atol=1e-6)


def test_lgk_gradient_matches_analytic_and_leak_keeps_tails_alive():
    d = torch.tensor([0.05, 0.5, 3.0], requires_grad=True)
    h, a = 0.1, 0.05
    lgk_loss(d, h, a).sum().backward()
    x = d.detach()
    analytic = x / h**2 * torch.exp(-x * x / (2 * h * h)) + a
    assert torch.allclose(d.grad, analytic, atol=1e-6)
    assert d.grad[2] == pytest.approx(a, abs=1e-6)  # kernel gradient vanished; the leak remains
    z = torch.tensor([3.0], requires_grad=True)
    lgk_loss(z, h, 0.0).sum().backward()
    assert z.grad.abs().item() < 1e-10


def test_alternative_losses():
    d = torch.tensor([-2.0, 0.5])
    assert torch.equal(pointwise_loss("l1", d, 0.1, 0.05), torch.tensor([2.0, 0.5]))
    assert torch.equal(pointwise_loss("mse", d, 0.1, 0.05), torch.tensor([4.0, 0.25]))


def test_kernel_width_anneals_from_start_to_end():
    kw = {"pretrain_epochs": 2, "anneal_epochs": 5, "h_start": 0.2, "h_end": 0.05}
    hs = [annealed_width(e, **kw) for e in range(10)]
    assert hs[0] == hs[2] == pytest.approx(0.2)
    assert hs[6] == pytest.approx(0.05)
    assert hs[9] == pytest.approx(0.05)
    assert all(a > b for a, b in itertools.pairwise(hs[2:7]))
