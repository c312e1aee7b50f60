"""Per-jet losses of Δ = log r̂ − log r, and the weighted, masked total (docs/method.md#loss).

* ``lgk`` (leaky Gaussian kernel): ``1 − exp(−Δ²/(2h²)) + α|Δ|``. Minimising the expected
  kernel term maximises a kernel density estimate of p(r | x) at r̂, i.e. seeks the **mode**;
  the small leak α|Δ| keeps gradients alive for jets far in the tails.
* ``l1``: |Δ| → the median. ``mse``: Δ² → the mean (pulled by the tails).
"""

from __future__ import annotations

import math

import torch

__all__ = ["LOSSES", "annealed_width", "lgk_loss", "pointwise_loss"]


def lgk_loss(delta: torch.Tensor, h: float, alpha: float) -> torch.Tensor:
    """Leaky Gaussian kernel loss per element (same shape as ``delta``)."""
    return 1.0 - torch.exp(-(delta * delta) / (2.0 * h * h)) + alpha * delta.abs()


def _l1(delta: torch.Tensor, _h: float, _alpha: float) -> torch.Tensor:  # the losses' one signature
    return delta.abs()


def _mse(delta: torch.Tensor, _h: float, _alpha: float) -> torch.Tensor:
    return delta * delta


LOSSES = {"lgk": lgk_loss, "l1": _l1, "mse": _mse}


def pointwise_loss(kind: str, delta: torch.Tensor, h: float, alpha: float) -> torch.Tensor:
    """Per-element loss of the named kind (``lgk``, ``l1``, ``mse``)."""
    return LOSSES[kind](delta, h, alpha)


def annealed_width(epoch: int, *, pretrain_epochs: int, anneal_epochs: int, h_start: float, h_end: float) -> float:
    """LGK kernel width for an epoch: h_start at the first LGK epoch, decaying geometrically to
    h_end over ``anneal_epochs`` epochs, constant afterwards. A wide kernel first finds the
    bulk; a narrow one then resolves its peak."""
    k = max(epoch - pretrain_epochs, 0)
    frac = min(k / max(anneal_epochs - 1, 1), 1.0)
    return float(math.exp(math.log(h_start) + frac * (math.log(h_end) - math.log(h_start))))
