"""The calibration network (docs/method.md#network): feature annotation, residual MLP trunk, energy and
mass heads predicting log-responses, and the multiplicative mass residual path g(x)."""

from __future__ import annotations

import torch
from torch import nn

from . import heads
from .config import DNNConfig, NetworkConfig

__all__ = ["CalibrationNet", "FeatureAnnotation", "ResidualBlock"]


class FeatureAnnotation(nn.Module):
    """Each scalar input x_i through its own MLP 1 → hidden → k (SiLU), all features at once.

    Per-feature weights are stacked so that F small MLPs cost two batched einsums instead of F
    module calls. Input ``[B, F]`` → output ``[B, F·k]``.
    """

    def __init__(self, n_features: int, hidden: int, k: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n_features, hidden) * 0.5)
        self.b1 = nn.Parameter(torch.zeros(n_features, hidden))
        self.w2 = nn.Parameter(torch.randn(n_features, hidden, k) / hidden**0.5)
        self.b2 = nn.Parameter(torch.zeros(n_features, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.silu(x.unsqueeze(-1) * self.w1 + self.b1)  # [B, F, hidden]
        out = torch.einsum("bfh,fhk->bfk", h, self.w2) + self.b2  # [B, F, k]
        return out.flatten(1)


class ResidualBlock(nn.Module):
    """h + SiLU(Linear(LayerNorm(h))): pre-norm residual keeps deep trunks trainable."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + nn.functional.silu(self.linear(self.norm(h)))


class CalibrationNet(nn.Module):
    """Normalised inputs ``[B, F]`` → ``(log r̂_E, log r̂_m)``, each ``[B]``.

    Outputs are log-responses, so r̂ = exp(·) > 0 always. With ``mass_residual`` the mass is
    log r̂_m = head_m(trunk) + g(x), i.e. r̂_m = r̂_m,trunk · exp(g(x)) with g a small MLP
    on the input layer; g's last layer starts at zero so it begins as the identity factor.

    With a probabilistic ``head`` (docs/method.md#heads; :mod:`jetcalib.dnn.heads`) one layer
    ``head_p`` replaces ``head_e``/``head_m``: :meth:`head_params` gives its parameters
    (g(x) added to the mass locations), :meth:`distribution` the per-jet summaries, and
    ``forward`` the calibration log-responses (the density's marginal modes, the median, the
    mean), so that every caller of the mode network works unchanged. The mode network's
    modules and state-dict keys are those of before.
    """

    def __init__(self, n_features: int, cfg: NetworkConfig, *, head: str = "mode", components: int = 4) -> None:
        super().__init__()
        if head not in heads.HEADS:
            raise ValueError(f"unknown head {head!r}; one of {', '.join(heads.HEADS)}")
        self.head = head
        self.components = components
        self.n_features = n_features
        self.input_clip = cfg.input_clip
        self.annotation = (
            FeatureAnnotation(n_features, cfg.annotation_hidden, cfg.annotation_dim) if cfg.annotation else None
        )
        n_in = n_features * (1 + (cfg.annotation_dim if cfg.annotation else 0))
        self.stem = nn.Linear(n_in, cfg.width)
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.width) for _ in range(cfg.n_blocks)))
        self.norm = nn.LayerNorm(cfg.width)
        if head == "mode":
            self.head_e = nn.Linear(cfg.width, 1)
            self.head_m = nn.Linear(cfg.width, 1)
            for layer in (self.head_e, self.head_m):
                nn.init.zeros_(layer.weight)  # start at a constant response (bias set from the data)
                nn.init.zeros_(layer.bias)
        else:
            self.head_p = nn.Linear(cfg.width, heads.n_params(head, components))
            heads.init_head(self.head_p, head, components, 0.0, 0.0)
        self.mass_residual: nn.Module | None = None
        if cfg.mass_residual:
            w = cfg.mass_residual_width
            last = nn.Linear(w, 1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mass_residual = nn.Sequential(
                nn.Linear(n_features, w), nn.SiLU(), nn.Linear(w, w), nn.SiLU(), last
            )

    @classmethod
    def from_config(cls, cfg: DNNConfig) -> CalibrationNet:
        """The network a :class:`DNNConfig` describes (its features, network section, head)."""
        return cls(len(cfg.features), cfg.network, head=cfg.head, components=cfg.head_components)

    def set_output_bias(self, log_r_e: float, log_r_m: float) -> None:
        """Start the heads at the training sample's typical log-responses."""
        if self.head != "mode":
            heads.init_head(self.head_p, self.head, self.components, log_r_e, log_r_m)
            return
        with torch.no_grad():
            self.head_e.bias.fill_(log_r_e)
            self.head_m.bias.fill_(log_r_m)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(clamped inputs, trunk output ``[B, width]``)."""
        if self.input_clip is not None:
            # Some ratio inputs have tails of 1e6 IQRs (tiny denominators): clamping inside the
            # graph keeps them from saturating every unit, and travels with an ONNX export.
            x = x.clamp(-self.input_clip, self.input_clip)
        z = x if self.annotation is None else torch.cat([x, self.annotation(x)], dim=1)
        return x, self.norm(self.blocks(nn.functional.silu(self.stem(z))))

    def head_params(self, x: torch.Tensor) -> torch.Tensor:
        """A probabilistic head's parameters ``[B, P]`` (mass locations shifted by g(x))."""
        if self.head == "mode":
            raise ValueError("the mode head has no distribution parameters")
        x, h = self._trunk(x)
        params = self.head_p(h)
        if self.mass_residual is not None:
            params = heads.shift_mass(self.head, self.components, params, self.mass_residual(x).squeeze(-1))
        return params

    def distribution(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-jet summaries of a probabilistic head (:data:`jetcalib.dnn.heads.SUMMARY_KEYS`,
        in log r)."""
        return heads.summarise(self.head, self.components, self.head_params(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.head != "mode":
            d = self.distribution(x)
            return d["cal_e"], d["cal_m"]
        x, h = self._trunk(x)
        log_r_e = self.head_e(h).squeeze(-1)
        log_r_m = self.head_m(h).squeeze(-1)
        if self.mass_residual is not None:
            log_r_m = log_r_m + self.mass_residual(x).squeeze(-1)
        return log_r_e, log_r_m
