"""Configuration of the DNN calibration: network, loss, training, application.

One pydantic model, loadable from YAML or TOML (``jetcalib train --config``), printable with
``jetcalib train --dump-config``. Every **[ours]** choice of docs/method.md#network and #loss is a field here so
that the ablation can switch it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError, describe_validation_error
from ..io.schema import INPUT_FEATURES

__all__ = ["CONSTITUENT_KEYS", "HEAD_KEYS", "ORACLE_KEYS", "RUNTIME_KEYS", "ConstituentConfig", "DNNConfig", "LossConfig",
           "NetworkConfig", "TrainingConfig", "runtime_settings"]

#: Run-time settings that configs of jetcalib 0.1 carried in ``training`` (where they changed
#: the model's content hash). They say how a run uses the machine, not what model it makes:
#: now run-time arguments (``jetcalib train --threads``, ``train(threads=)``). A config or a
#: stored model that still holds one is read: the key is dropped from the config, and
#: :meth:`DNNConfig.from_file_with_runtime` hands its value back as the run's setting.
RUNTIME_KEYS: tuple[str, ...] = ("threads",)

#: Keys added with the probabilistic heads (docs/method.md#heads). A config with the default
#: ``head: mode`` is stored and hashed without them (:meth:`DNNConfig.to_document`), so a
#: mode model's ``artifact.json`` and content hash are those of earlier jetcalib, and older
#: artifacts (without the keys) read as ``head: mode``.
HEAD_KEYS: tuple[str, ...] = ("head", "head_components")

#: Keys added with the constituent network (issue #16, docs/method.md#constituent-network). A
#: config with the default ``inputs: jets`` (and default ``constituents``) is stored and hashed
#: without them, as for :data:`HEAD_KEYS`: every earlier model keeps its document and hash.
CONSTITUENT_KEYS: tuple[str, ...] = ("inputs", "constituents")

#: Keys added with the oracle (issue #16, docs/method.md#oracle): stored and hashed only when
#: not empty, as for :data:`HEAD_KEYS`.
ORACLE_KEYS: tuple[str, ...] = ("oracle_features",)


class _Strict(BaseModel):
    # NaN or ±inf in any float (a learning rate, a loss weight) trains for minutes into NaN
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NetworkConfig(_Strict):
    """Shape of the network (docs/method.md#network)."""

    width: int = Field(256, ge=4, description="units per trunk layer")
    n_blocks: int = Field(6, ge=1, description="residual blocks in the trunk")
    annotation: bool = Field(True, description="per-feature annotation MLPs 1 -> k")
    annotation_dim: int = Field(8, ge=1, description="k: outputs of each annotation MLP")
    annotation_hidden: int = Field(16, ge=1, description="hidden units of each annotation MLP")
    mass_residual: bool = Field(True, description="multiplicative mass path g(x) from the inputs")
    mass_residual_width: int = Field(64, ge=1, description="hidden units of g(x)")
    input_clip: float | None = Field(
        10.0, gt=0, description="clamp normalised inputs to ±this inside the network (None: off)"
    )


class LossConfig(_Strict):
    """Loss per target, with Δ = log r̂ − log r (docs/method.md#loss)."""

    kind: Literal["lgk", "mse", "l1"] = Field("lgk", description="lgk (mode), l1 (median), mse (mean)")
    alpha: float = Field(0.05, ge=0, description="leak of the LGK loss: alpha·|Δ|")
    h_start: float = Field(0.2, gt=0, description="LGK kernel width at the first LGK epoch")
    h_end: float = Field(0.05, gt=0, description="LGK kernel width reached after anneal_epochs")
    anneal_epochs: int = Field(12, ge=1, description="epochs over which h decays geometrically")
    pretrain_epochs: int = Field(2, ge=0, description="epochs of L1 pre-training before LGK")
    mass_min_true: float = Field(10.0, ge=0, description="mass loss only where m_true > this (GeV)")
    mass_weight: float = Field(
        0.5, ge=0, description="weight of the mass loss against the energy loss (0.5: the shared trunk "
        "leans towards the energy, where the target is tighter; the mass keeps its lead over numerical)")


class TrainingConfig(_Strict):
    """Optimisation, data selection and sample weights."""

    epochs: int = Field(36, ge=1, description="maximum epochs (early stopping may end sooner); 36 "
                        "take 2.6-2.8 min on 2 CPU cores for the standard sample's 272k training jets")
    batch_size: int = Field(4096, ge=1, description="jets per optimiser step (the global batch under DDP)")
    lr: float = Field(1e-3, gt=0, description="initial learning rate (Adam)")
    lr_min: float = Field(1e-5, gt=0, description="learning rate reached at the last epoch")
    schedule: Literal["cosine", "exponential"] = Field(
        "cosine", description="learning-rate decay from lr to lr_min: cosine or exponential")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay of Adam")
    val_fraction: float = Field(0.1, ge=0.1, lt=0.9, description="validation split (>= 10 %)")
    patience: int = Field(6, ge=1, description="early-stopping patience in epochs")
    seed: int = Field(42, ge=0, lt=2**32, description="numpy and torch seeds take 0 <= seed < 2**32")
    max_jets: int | None = Field(None, ge=100, description="use at most this many jets")
    weights: bool = Field(True, description="flatten (ln E_true, ln m_true/E_true) with weights")
    energy_weights: bool = Field(
        False,
        description="apply the flattening weights to the energy loss too (off: only the mass "
        "loss is weighted; the energy loss sees the generated spectrum, which the pT-hat slices "
        "already spread over 150 GeV-3 TeV; see benchmarks/results/train_dnn.txt)",
    )
    weight_bins: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = Field(
        (30, 20), description="bins in (ln E_true, ln m_true/E_true) of the flattening weights")
    weight_cap: float = Field(20.0, ge=1, description="largest weight / mean weight")
    pt_true_min: float = Field(150.0, ge=0, description="training selection, GeV")
    abs_eta_true_max: float = Field(2.0, gt=0, description="training selection")

    @model_validator(mode="before")
    @classmethod
    def _drop_runtime_keys(cls, raw: Any) -> Any:
        # a 0.1 config (or model) with training.threads: read, the run-time setting left out
        if isinstance(raw, dict) and any(k in raw for k in RUNTIME_KEYS):
            return {k: v for k, v in raw.items() if k not in RUNTIME_KEYS}
        return raw

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) must not exceed lr ({self.lr})")
        return self


class ConstituentConfig(_Strict):
    """The constituent network's set encoders (``inputs: constituents``;
    docs/method.md#constituent-network): one per-constituent MLP for the clusters and one for
    the tracks, each pooled over its (masked) set."""

    max_clusters: int = Field(32, ge=1, le=256, description=(
        "K_c: clusters per jet the network reads, hardest (LC energy) first; the rest are dropped"))
    max_tracks: int = Field(32, ge=0, le=256, description=(
        "K_t: primary-vertex tracks per jet the network reads, highest pT first (0: no track encoder)"))
    width: int = Field(64, ge=4, le=1024, description="units of each per-constituent MLP layer (embedding width)")
    layers: int = Field(2, ge=1, le=8, description="layers of each per-constituent MLP")
    pooling: Literal["sum_mean", "sum", "mean"] = Field("sum_mean", description=(
        "masked pooling over each set: sum_mean (the sum / K and the mean, concatenated), sum (/ K) "
        "or mean; the constituent count / K is always added"))


class DNNConfig(_Strict):
    """Everything that defines a trained DNN calibration except the data and weights."""

    features: list[str] = Field(default_factory=lambda: list(INPUT_FEATURES),
                                description="network inputs, a subset of the 21 (docs/inputs.md)")
    normalisation: Literal["robust", "minmax"] = Field(
        "robust", description="input normalisation: robust (median, IQR) or minmax")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    mass_min_reco: float = Field(0.0, ge=0, description=(
        "Mass calibrated only where m_reco > this (GeV); below it the mass follows the energy "
        "(flag MASS_NOT_CALIBRATED). ATLAS's runtime uses 40 GeV (docs/method.md#atlas-runtime); "
        "we calibrate every jet with m > 0 by default because the network is trained down to "
        "m_true = 10 GeV and the evaluation's mass figures start at 30 GeV. Set 40 for "
        "ATLAS-identical behaviour."))
    head: Literal["mode", "density", "quantile", "gaussian"] = Field("mode", description=(
        "What the network predicts per target (docs/method.md#heads) [ours]. mode: one number, "
        "the mode of p(r | x) (LGK loss; the paper's). density: a mixture of head_components "
        "bivariate Gaussians in (log r_E, log r_m) with full covariance (negative log-likelihood); "
        "calibrates with the mode of each marginal. quantile: the 16/50/84 % quantiles per target "
        "(pinball loss); calibrates with the median. gaussian: one Gaussian per target in log r "
        "(negative log-likelihood); calibrates with its mean. The probabilistic heads add "
        "per-jet resolutions and quantiles to calibrate's output; loss.kind and the LGK schedule "
        "apply to mode alone."))
    head_components: int = Field(4, ge=1, le=16, description="K: Gaussians of the density head")
    inputs: Literal["jets", "constituents"] = Field("jets", description=(
        "What the network reads (docs/method.md#constituent-network) [ours, beyond the paper; "
        "issue #16]. jets: the 21 jet-level inputs. constituents: the same 21 inputs plus the "
        "jet's clusters and primary-vertex tracks (the jagged cl_*/trk_* columns of generate "
        "--constituents), each set through a permutation-invariant per-constituent MLP with masked "
        "pooling (DeepSets), concatenated with the annotated inputs before the same trunk, heads "
        "and loss."))
    constituents: ConstituentConfig = Field(default_factory=ConstituentConfig,
                                            description="set encoders of inputs: constituents")
    oracle_features: list[str] = Field(default_factory=list, description=(
        "Hidden simulator truth added to the inputs (docs/method.md#oracle) [ours, beyond the "
        "paper; issue #16]: names of jetcalib.dnn.oracle.ORACLE_FEATURES (pileup_frac_true, "
        "fem_true, invisible_frac_true, out_of_cluster_frac_true, out_of_cone_frac_true, "
        "numu_frac_true). Not empty: an oracle model, the bound on what a calibration of these "
        "jets can reach; it calibrates only generated tables and is never exported. Jet inputs only."))
    closure: Literal["numerical", "none"] = Field("numerical", description=(
        "Residual closure after the network [ours]. The network predicts the mode of "
        "p(r | x_reco); in bins of truth E or m the median calibrated response then sits below 1 "
        "(1.4 % for E, 3.7 % for m on the standard sample: low-side tails, and the truth prior at "
        "fixed reco inputs). numerical: fit the numerical inversion "
        "(docs/method.md#numerical-inversion; JES, then JMS) on the DNN-calibrated training jets "
        "and apply it after the network, as a smooth function of the calibrated (E, m, η), its "
        "mass step only below 1500 GeV: median closure 0.22 % (E) and 1.4 % (m) on the standard "
        "sample, for ~0.5 % of the E resolution. none: the network's responses alone."))

    @model_validator(mode="after")
    def _check(self) -> DNNConfig:
        unknown = [f for f in self.features if f not in INPUT_FEATURES]
        if unknown:
            raise ValueError(f"features not among the 21 inputs: {', '.join(unknown)}")
        if len(set(self.features)) != len(self.features) or not self.features:
            raise ValueError("features must be a non-empty list without repetition")
        if self.inputs == "jets" and self.constituents != ConstituentConfig():
            raise ValueError("constituents settings given but inputs is jets (set inputs: constituents)")
        if self.oracle_features:
            from .oracle import check_oracle_features

            check_oracle_features(self.oracle_features)
            if self.inputs == "constituents":
                raise ValueError("oracle_features are for a jet-input network (inputs: jets), not "
                                 "a constituent network")
        return self

    @property
    def network_features(self) -> list[str]:
        """What the network reads per jet, in order: ``features``, then ``oracle_features``."""
        return [*self.features, *self.oracle_features]

    def to_document(self) -> dict[str, Any]:
        """The config as stored in an artifact and hashed: ``model_dump(mode="json")`` without
        :data:`HEAD_KEYS` when ``head`` is ``mode`` with the default components, and without
        :data:`CONSTITUENT_KEYS` when ``inputs`` is ``jets``, without :data:`ORACLE_KEYS` when
        ``oracle_features`` is empty (the keys earlier jetcalib did not
        have: such a model keeps its hash)."""
        doc = self.model_dump(mode="json")
        defaults = {name: type(self).model_fields[name].default for name in HEAD_KEYS}
        if all(doc[name] == defaults[name] for name in HEAD_KEYS):
            for name in HEAD_KEYS:
                del doc[name]
        # likewise the constituent keys for a jet-input network (the validator has checked that
        # its constituents section is the default): earlier models keep their hash
        if self.inputs == "jets":
            for name in CONSTITUENT_KEYS:
                del doc[name]
        if not self.oracle_features:
            for name in ORACLE_KEYS:
                del doc[name]
        return doc

    @classmethod
    def from_file(cls, path: str | Path) -> DNNConfig:
        """Read a YAML (``.yaml``/``.yml``) or TOML file; :class:`InputError` if unusable."""
        return cls.from_file_with_runtime(path)[0]

    @classmethod
    def from_file_with_runtime(cls, path: str | Path) -> tuple[DNNConfig, dict[str, Any]]:
        """:meth:`from_file`, and the run-time settings (:data:`RUNTIME_KEYS`) an old config
        held in ``training`` (``{}`` for a current one)."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: config file not found")
        from .._textfiles import read_yaml_or_toml

        raw = read_yaml_or_toml(p, "config")
        return cls.from_dict(raw, source=str(p)), runtime_settings(raw)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "config") -> DNNConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InputError(f"{source}: {describe_validation_error(exc)}") from None

    def dump_yaml(self) -> str:
        """The config as YAML, each key after its description as a comment; reads back equal."""
        from .._textfiles import commented_yaml

        return commented_yaml(self, header=(
            "jetcalib train config (DNNConfig): give it back with --config; a missing key takes its "
            "default.\nRun-time settings (--threads, --devices, ...) are options, not config keys."))


def runtime_settings(raw: Any) -> dict[str, Any]:
    """The run-time settings (:data:`RUNTIME_KEYS`) that a raw config's ``training`` holds."""
    training = raw.get("training") if isinstance(raw, dict) else None
    if not isinstance(training, dict):
        return {}
    return {k: training[k] for k in RUNTIME_KEYS if k in training}
