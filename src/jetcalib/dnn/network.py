"""The calibration network (docs/method.md#network): feature annotation, residual MLP trunk, energy and
mass heads predicting log-responses, and the multiplicative mass residual path g(x)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..io.schema import CLUSTER_COLUMNS, TRACK_COLUMNS
from . import heads
from .config import ConstituentConfig, DNNConfig, NetworkConfig
from .kernels import Linear

__all__ = ["CalibrationNet", "ConstituentEncoder", "ConstituentNet", "FeatureAnnotation", "ResidualBlock",
           "build_network"]


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
        # Feature-major [F, B, hidden]: the batched product and SiLU's backward then see
        # contiguous tensors. Batch-major ([B, F, hidden] with an einsum) made the backward's
        # SiLU run on a permuted gradient, 10-40x slower (9.5 ms of an ~80 ms training step).
        # (x.t() copied: a broadcast product would otherwise inherit its batch-major strides)
        h = nn.functional.silu(x.t().contiguous().unsqueeze(-1) * self.w1.unsqueeze(1) + self.b1.unsqueeze(1))
        out = torch.baddbmm(self.b2.unsqueeze(1), h, self.w2)  # [F, B, k]
        return out.transpose(0, 1).reshape(x.shape[0], -1)  # [B, F·k], feature-major columns


class ResidualBlock(nn.Module):
    """h + SiLU(Linear(LayerNorm(h))): pre-norm residual keeps deep trunks trainable."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear = Linear(width, width)

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

    A probabilistic network also holds the width recalibration
    (docs/method.md#width-recalibration; :mod:`jetcalib.dnn.recalibration`): the float32
    buffer ``recal_pit [2, PIT_KNOTS]``, the identity until :meth:`set_recalibration`. A state
    dict without it (saved by an earlier jetcalib) loads with the identity.
    """

    recal_pit: torch.Tensor

    def __init__(self, n_features: int, cfg: NetworkConfig, *, head: str = "mode", components: int = 4,
                 extra_dim: int = 0) -> None:
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
        # extra_dim: pooled constituent embeddings joining the stem's input (ConstituentNet); 0
        # for the jet-input network, whose modules and state-dict keys stay as they were
        n_in = n_features * (1 + (cfg.annotation_dim if cfg.annotation else 0)) + extra_dim
        self.stem = Linear(n_in, cfg.width)
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.width) for _ in range(cfg.n_blocks)))
        self.norm = nn.LayerNorm(cfg.width)
        if head == "mode":
            self.head_e = Linear(cfg.width, 1)
            self.head_m = Linear(cfg.width, 1)
            for layer in (self.head_e, self.head_m):
                nn.init.zeros_(layer.weight)  # start at a constant response (bias set from the data)
                nn.init.zeros_(layer.bias)
        else:
            self.head_p = Linear(cfg.width, heads.n_params(head, components))
            heads.init_head(self.head_p, head, components, 0.0, 0.0)
            self.register_buffer("recal_pit", heads.identity_recalibration())
            self._register_load_state_dict_pre_hook(_identity_if_absent)
        self.mass_residual: nn.Module | None = None
        if cfg.mass_residual:
            w = cfg.mass_residual_width
            last = Linear(w, 1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mass_residual = nn.Sequential(
                Linear(n_features, w), nn.SiLU(), Linear(w, w), nn.SiLU(), last
            )

    @classmethod
    def from_config(cls, cfg: DNNConfig) -> CalibrationNet:
        """The network a :class:`DNNConfig` describes (its features, network section, head)."""
        return cls(len(cfg.network_features), cfg.network, head=cfg.head, components=cfg.head_components)

    def set_output_bias(self, log_r_e: float, log_r_m: float) -> None:
        """Start the heads at the training sample's typical log-responses."""
        if self.head != "mode":
            heads.init_head(self.head_p, self.head, self.components, log_r_e, log_r_m)
            return
        with torch.no_grad():
            self.head_e.bias.fill_(log_r_e)
            self.head_m.bias.fill_(log_r_m)

    def _trunk(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(clamped inputs, trunk output ``[B, width]``); ``extra [B, extra_dim]`` joins the
        stem's input (the pooled constituents of :class:`ConstituentNet`)."""
        if self.input_clip is not None:
            # Some ratio inputs have tails of 1e6 IQRs (tiny denominators): clamping inside the
            # graph keeps them from saturating every unit, and travels with an ONNX export.
            x = x.clamp(-self.input_clip, self.input_clip)
        z = x if self.annotation is None else torch.cat([x, self.annotation(x)], dim=1)
        if extra is not None:
            z = torch.cat([z, extra], dim=1)
        return x, self.norm(self.blocks(nn.functional.silu(self.stem(z))))

    # The public methods take the network's rows; the _-methods the jet inputs and the extra
    # stem inputs apart, so that ConstituentNet overrides the former alone.
    def _params(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        if self.head == "mode":
            raise ValueError("the mode head has no distribution parameters")
        x, h = self._trunk(x, extra)
        params = self.head_p(h)
        if self.mass_residual is not None:
            params = heads.shift_mass(self.head, self.components, params, self.mass_residual(x).squeeze(-1))
        return params

    def _responses(self, x: torch.Tensor, extra: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.head != "mode":
            d = heads.summarise(self.head, self.components, self._params(x, extra))
            return d["cal_e"], d["cal_m"]
        x, h = self._trunk(x, extra)
        log_r_e = self.head_e(h).squeeze(-1)
        log_r_m = self.head_m(h).squeeze(-1)
        if self.mass_residual is not None:
            log_r_m = log_r_m + self.mass_residual(x).squeeze(-1)
        return log_r_e, log_r_m

    def head_params(self, x: torch.Tensor) -> torch.Tensor:
        """A probabilistic head's parameters ``[B, P]`` (mass locations shifted by g(x))."""
        return self._params(x, None)

    def pit(self, x: torch.Tensor, y_e: torch.Tensor, y_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Un-recalibrated PIT values ``(u_E, u_m)`` ``[B]`` (float64): the predicted marginal
        CDFs at the true log-responses ``y_e``, ``y_m`` (:func:`jetcalib.dnn.heads.marginal_cdf`)."""
        return heads.marginal_cdf(self.head, self.components, self.head_params(x).double(),
                                  y_e.double(), y_m.double())

    def recalibration_levels(self) -> torch.Tensor | None:
        """The levels ``[2, 3]`` at which :meth:`distribution` reads the quantiles
        (:func:`jetcalib.dnn.heads.recalibrated_levels`), None for the identity recalibration
        (the quantiles at :data:`~jetcalib.dnn.heads.LEVELS`, exactly as before it existed).
        A constant of the weights: an ONNX trace takes the branch its buffer calls for."""
        if self.head == "mode" or torch.equal(self.recal_pit, heads.identity_recalibration().to(self.recal_pit.device)):
            return None
        return heads.recalibrated_levels(self.recal_pit)

    @property
    def recalibrated(self) -> bool:
        """True when a fitted (non-identity) width recalibration is set."""
        return self.recalibration_levels() is not None

    def set_recalibration(self, knots: Any) -> None:
        """Set the width recalibration's knots ``[2, PIT_KNOTS]`` (E, m; increasing in [0, 1],
        :func:`jetcalib.dnn.recalibration.pit_knots`)."""
        if self.head == "mode":
            raise ValueError("the mode head has no distribution to recalibrate")
        k = torch.as_tensor(np.asarray(knots, dtype=np.float32))
        if tuple(k.shape) != tuple(self.recal_pit.shape) or not bool(torch.isfinite(k).all()):
            raise ValueError(f"recalibration knots of shape {tuple(k.shape)}, want {tuple(self.recal_pit.shape)}, finite")
        with torch.no_grad():
            self.recal_pit.copy_(k)

    def distribution(self, x: torch.Tensor, recalibrated: bool = True) -> dict[str, torch.Tensor]:
        """Per-jet summaries of a probabilistic head (:data:`jetcalib.dnn.heads.SUMMARY_KEYS`,
        in log r); the quantiles width-recalibrated unless ``recalibrated`` is False."""
        return heads.summarise(self.head, self.components, self.head_params(x),
                               self.recalibration_levels() if recalibrated else None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._responses(x, None)


def _identity_if_absent(state_dict: dict[str, Any], prefix: str, *_args: Any) -> None:
    """load_state_dict pre-hook of a probabilistic network: a state dict without
    ``recal_pit`` (weights saved before the width recalibration existed, or a checkpoint of
    such a run) gets the identity, so that it loads and gives exactly its earlier outputs."""
    state_dict.setdefault(prefix + "recal_pit", heads.identity_recalibration())


#: Per-cluster values after the transforms of :meth:`ConstituentEncoder.transform`: ln E, E / ΣE,
#: Δη, Δφ, the six layer fractions, ln(1 + cells), ln LC weight, isolation.
CLUSTER_FEATURES = 13
#: Per-track values: ln pT, pT / ΣpT, Δη, Δφ, Δz0 sin θ.
TRACK_FEATURES = 5


class ConstituentEncoder(nn.Module):
    """A DeepSets encoder of one set (clusters or tracks): raw padded values ``[B, K, F_raw]``
    and mask ``[B, K]`` (1 = a constituent) → ``[B, out_dim]``, invariant under any permutation
    of the constituents and blind to padding.

    Per constituent: the feature transforms (:meth:`transform`), the robust normalisation
    ``(v − median) / IQR`` fitted on the training constituents (buffers ``center``/``scale``,
    so in ``weights.pt`` and the content hash, and inside an ONNX export), clamped to ±10, then
    an MLP (SiLU). Pooling over the masked set: ``sum / K`` and/or the mean (0 for an empty
    set), plus the count / K.
    """

    center: torch.Tensor
    scale: torch.Tensor

    def __init__(self, kind: str, k: int, width: int, layers: int, pooling: str) -> None:
        super().__init__()
        if kind not in ("clusters", "tracks"):
            raise ValueError(f"unknown constituent kind {kind!r}")
        self.kind, self.k, self.pooling = kind, k, pooling
        n_in = CLUSTER_FEATURES if kind == "clusters" else TRACK_FEATURES
        self.register_buffer("center", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        mlp: list[nn.Module] = []
        for i in range(layers):
            mlp += [Linear(n_in if i == 0 else width, width), nn.SiLU()]
        self.mlp = nn.Sequential(*mlp)
        self.out_dim = width * (2 if pooling == "sum_mean" else 1) + 1

    def transform(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw values ``[B, K, F_raw]`` (GeV, rad, mm) → transformed ``[B, K, F]`` before the
        normalisation. Energies enter as logs (they span 4 decades) and as the share of the
        set's sum (the jet's energy flow, scale-free); the masked entries do not enter sums."""
        e = v[..., 0].clamp_min(1e-3)
        e_in = torch.where(mask > 0, e, torch.zeros_like(e))
        share = e_in / e_in.sum(dim=1, keepdim=True).clamp_min(1e-6)
        parts = [torch.log(e), share, v[..., 1], v[..., 2]]
        if self.kind == "clusters":
            parts += [v[..., i] for i in range(3, 9)]
            parts += [torch.log1p(v[..., 9].clamp_min(0.0)), torch.log(v[..., 10].clamp_min(1e-3)), v[..., 11]]
        else:
            parts.append(v[..., 3])
        return torch.stack(parts, dim=-1)

    def normalised(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Transformed, normalised values ``[B, K, F]``, clamped to ±10, 0 where masked
        (``where``, not a product: a padded NaN must not leak)."""
        z = ((self.transform(v, mask) - self.center) / self.scale).clamp(-10.0, 10.0)
        return torch.where(mask.unsqueeze(-1) > 0, z, torch.zeros_like(z))

    def forward(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.mlp(self.normalised(v, mask))  # [B, K, width]
        m = mask.unsqueeze(-1)
        h = torch.where(m > 0, h, torch.zeros_like(h))
        total = h.sum(dim=1)
        count = mask.sum(dim=1, keepdim=True)
        pooled: list[torch.Tensor] = []
        if self.pooling in ("sum_mean", "sum"):
            pooled.append(total / self.k)  # a fixed scale: still a sum, of unit size
        if self.pooling in ("sum_mean", "mean"):
            pooled.append(total / count.clamp_min(1.0))  # an empty set pools to 0
        pooled.append(count / self.k)
        return torch.cat(pooled, dim=1)


class ConstituentNet(CalibrationNet):
    """The constituent network (``DNNConfig.inputs = "constituents"``,
    docs/method.md#constituent-network): :class:`CalibrationNet` whose stem also reads the
    pooled cluster and track embeddings (:class:`ConstituentEncoder`), with the same trunk,
    heads, mass path g(x) and loss.

    Its rows are the flat layout of :class:`jetcalib.features.constituents.ConstituentLayout`
    (``[B, width]``: the normalised jet inputs, then the raw padded constituents and masks),
    so that training, ``predict_responses`` and ``calibrate`` pass one tensor as for the jet
    network; :meth:`forward_parts` takes the five tensors apart (the ONNX export's inputs).
    """

    def __init__(self, n_features: int, cfg: NetworkConfig, ccfg: ConstituentConfig, *, head: str = "mode",
                 components: int = 4) -> None:
        from ..features.constituents import ConstituentLayout

        clusters = ConstituentEncoder("clusters", ccfg.max_clusters, ccfg.width, ccfg.layers, ccfg.pooling)
        tracks = (ConstituentEncoder("tracks", ccfg.max_tracks, ccfg.width, ccfg.layers, ccfg.pooling)
                  if ccfg.max_tracks > 0 else None)
        super().__init__(n_features, cfg, head=head, components=components,
                         extra_dim=clusters.out_dim + (tracks.out_dim if tracks is not None else 0))
        self.cluster_encoder = clusters
        self.track_encoder = tracks
        self.layout = ConstituentLayout(n_features, ccfg.max_clusters, ccfg.max_tracks)

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Flat rows ``[B, width]`` → (features ``[B, F]``, clusters ``[B, K_c, F_c]``, cluster mask
        ``[B, K_c]``, tracks ``[B, K_t, F_t]``, track mask ``[B, K_t]``)."""
        s = self.layout.slices()
        b = rows.shape[0]
        lay = self.layout
        return (rows[:, s["features"]],
                rows[:, s["clusters"]].reshape(b, lay.max_clusters, len(CLUSTER_COLUMNS)),
                rows[:, s["cluster_mask"]],
                rows[:, s["tracks"]].reshape(b, lay.max_tracks, len(TRACK_COLUMNS)),
                rows[:, s["track_mask"]])

    def encode(self, clusters: torch.Tensor, cluster_mask: torch.Tensor, tracks: torch.Tensor,
               track_mask: torch.Tensor) -> torch.Tensor:
        """The pooled constituent embeddings ``[B, extra_dim]`` that join the stem's input."""
        parts = [self.cluster_encoder(clusters, cluster_mask)]
        if self.track_encoder is not None:
            parts.append(self.track_encoder(tracks, track_mask))
        return torch.cat(parts, dim=1)

    def _parts(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, cl, cm, tr, tm = self.split(rows)
        return x, self.encode(cl, cm, tr, tm)

    def head_params(self, x: torch.Tensor) -> torch.Tensor:
        return self._params(*self._parts(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._responses(*self._parts(x))

    def forward_parts(self, features: torch.Tensor, clusters: torch.Tensor, cluster_mask: torch.Tensor,
                      tracks: torch.Tensor, track_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log r̂_E, log r̂_m) from normalised ``features [B, F]`` and the raw constituent tensors."""
        return self._responses(features, self.encode(clusters, cluster_mask, tracks, track_mask))

    def distribution_parts(self, features: torch.Tensor, clusters: torch.Tensor, cluster_mask: torch.Tensor,
                           tracks: torch.Tensor, track_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`distribution` from the five tensors apart."""
        extra = self.encode(clusters, cluster_mask, tracks, track_mask)
        return heads.summarise(self.head, self.components, self._params(features, extra),
                               self.recalibration_levels())

    @torch.no_grad()
    def fit_constituent_normalisation(self, rows: torch.Tensor, max_constituents: int = 1_000_000) -> None:
        """Set each encoder's robust normalisation (median, IQR; IQR 0 → 1) from the training
        rows' real constituents (at most ``max_constituents`` of them, evenly spaced)."""
        _, cl, cm, tr, tm = self.split(rows)
        sets = [(self.cluster_encoder, cl, cm)]
        if self.track_encoder is not None:
            sets.append((self.track_encoder, tr, tm))
        for enc, v, m in sets:
            z = enc.transform(v, m)[m > 0]  # [n, F]
            if z.shape[0] == 0:
                continue
            # evenly spaced, at most max_constituents (torch.quantile takes < 2**24 values)
            z = z[:: -(-z.shape[0] // max_constituents)].double()
            q = torch.quantile(z, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
            iqr = q[2] - q[0]
            enc.center.copy_(q[1].float())
            enc.scale.copy_(torch.where(iqr > 1e-6, iqr, torch.ones_like(iqr)).float())


def build_network(cfg: DNNConfig) -> CalibrationNet:
    """The network a :class:`DNNConfig` describes: :class:`CalibrationNet` for ``inputs: jets``,
    :class:`ConstituentNet` for ``inputs: constituents``."""
    if cfg.inputs == "constituents":
        return ConstituentNet(len(cfg.features), cfg.network, cfg.constituents, head=cfg.head,
                              components=cfg.head_components)
    return CalibrationNet.from_config(cfg)
