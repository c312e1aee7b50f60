"""The trained DNN calibration: prediction, calibration of jet tables, and the model artifact.

Artifact layout (one directory)::

    MODEL_DIR/artifact.json   header (ArtifactHeader, kind "dnn-model"), config, normalisation,
                              residual closure (numerical-calibration payload or null),
                              training summary
    MODEL_DIR/weights.pt      torch.save of the network's state_dict

``content_hash`` covers the bytes of ``weights.pt``, the config, the normalisation, the
residual and the training domain; loading recomputes it (over the config as stored) and
refuses a modified or mismatched artifact. Run-time settings (threads, devices, ...) are not
in the config: the same model trained with other threads has the same hash. Format 2.0 added the residual closure (``DNNConfig.closure``); 1.x models must be
retrained. Format 2.1 added ``training_domain`` (:class:`~jetcalib.features.TrainingDomain`,
docs/flags.md#training-domain); a 2.0 model has none (hashed as before) and gets no domain flags.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ArtifactError, InputError
from ..features import (
    KINEMATIC_INPUTS,
    Normalisation,
    TrainingDomain,
    batched_responses,
    calibrate_in_units,
    calibrate_with_model,
    feature_matrix,
)
from ..features.constituents import ConstituentLayout, packed_inputs
from ..features.kinematics import uncertainty_columns
from ..io import ArtifactHeader, ArtifactKind, atomic_path, content_hash
from ..io.provenance import environment
from ..numerical import NumericalCalibration
from .config import DNNConfig
from .network import CalibrationNet, build_network

__all__ = ["ARTIFACT_KIND", "FORMAT_VERSION", "DNNCalibration"]

#: Rows per PyTorch forward (inference, validation). Activations of [8192, 256] float32 (8 MB)
#: stay in the heap and near the caches; with 65536 rows (64 MB each) every operator got fresh
#: pages from mmap and ran 2-3x slower (torch inference 57k vs 135k jets/s on 2 threads).
TORCH_BATCH = 8192

ARTIFACT_KIND = ArtifactKind.DNN_MODEL
FORMAT_VERSION = "2.1"
_HEADER_FILE = "artifact.json"
_WEIGHTS_FILE = "weights.pt"
#: Packages whose versions the artifact's environment record names (header ``environment``,
#: not covered by the content hash: the same weights made elsewhere are the same model).
ENVIRONMENT_PACKAGES: tuple[str, ...] = ("numpy", "torch", "lightning", "pydantic")
#: :meth:`CalibrationNet.distribution` keys → :meth:`DNNCalibration.predict_distribution` names.
_DISTRIBUTION_KEYS = {"cal_e": "r_e", "cal_m": "r_m", "q16_e": "r_e_q16", "q50_e": "r_e_q50", "q84_e": "r_e_q84",
                      "q16_m": "r_m_q16", "q50_m": "r_m_q50", "q84_m": "r_m_q84", "corr": "r_em_corr"}
#: :func:`~jetcalib.features.kinematics.uncertainty_columns`' arguments.
_QUANTILE_ORDER = ("r_e_q16", "r_e_q50", "r_e_q84", "r_m_q16", "r_m_q50", "r_m_q84", "r_em_corr")


def _payload_hash(weights: bytes, cfg: dict[str, Any], norm: Normalisation, residual: dict[str, Any] | None,
                  domain: dict[str, Any] | None = None) -> str:
    # ``cfg`` as stored: a 0.1 model's config holds training.threads (a run-time setting that
    # DNNConfig now drops, see RUNTIME_KEYS) and was hashed with it
    parts: list[Any] = [weights, cfg, norm.to_dict(), residual]
    if domain is not None:  # a model without a domain (format 2.0) keeps its hash
        parts.append({"training_domain": domain})
    return content_hash(*parts)


class DNNCalibration:
    """A trained network with its normalisation and config (the calibration protocol).

    ``calibrate(table)`` → ``e_cal, pt_cal, m_cal, calib_flag`` (and, for a probabilistic
    head, the :data:`~jetcalib.io.UNCERTAINTY_COLUMNS`); ``predict_responses(x)``
    → ``(r̂_E, r̂_m)``, the network's alone. ``residual``: the closure stage applied after the
    network by ``calibrate`` (``DNNConfig.closure``), a numerical calibration of the
    DNN-calibrated jets, or None. ``training_domain``: where it was trained
    (:class:`~jetcalib.features.TrainingDomain`), None if unknown.
    """

    def __init__(
        self,
        net: CalibrationNet,
        config: DNNConfig,
        normalisation: Normalisation,
        header: ArtifactHeader | None = None,
        summary: dict[str, Any] | None = None,
        residual: NumericalCalibration | None = None,
        training_domain: TrainingDomain | None = None,
    ) -> None:
        if list(normalisation.features) != config.network_features:
            raise ArtifactError("normalisation and config list different features")
        self.residual = residual
        self.training_domain = training_domain
        self.net = net.eval()
        self.config = config
        self.normalisation = normalisation
        self.header = header or ArtifactHeader(artifact=ARTIFACT_KIND, format_version=FORMAT_VERSION,
                                               environment=environment(ENVIRONMENT_PACKAGES))
        self.summary = dict(summary or {})

    @property
    def features(self) -> tuple[str, ...]:
        """What the network reads per jet: the inputs, then any oracle features."""
        return tuple(self.config.network_features)

    @property
    def oracle(self) -> bool:
        """True for an oracle model (``oracle_features``, docs/method.md#oracle): it reads the
        simulator's hidden truth, calibrates only generated tables and is never exported."""
        return bool(self.config.oracle_features)

    def _with_oracle(self, table: Any) -> Any:
        """``table`` with the oracle features added (an oracle model), else ``table``."""
        if not self.oracle:
            return table
        from .oracle import with_oracle_columns

        return with_oracle_columns(table, self.config.oracle_features,
                                   keep=(*KINEMATIC_INPUTS, *self.config.features))

    @property
    def layout(self) -> ConstituentLayout | None:
        """The flat row layout of a constituent network (``inputs: constituents``), else None."""
        if self.config.inputs != "constituents":
            return None
        c = self.config.constituents
        return ConstituentLayout(len(self.features), c.max_clusters, c.max_tracks)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns ``calibrate`` reads (derivable ones such as ``log_e`` may be absent); for a
        constituent network also the jagged ``cl_*``/``trk_*`` columns."""
        layout = self.layout
        extra = () if layout is None else layout.columns
        if self.oracle:  # the hidden-truth columns the oracle features are computed from
            from .oracle import oracle_source_columns

            extra = oracle_source_columns(self.config.oracle_features)
        return tuple(dict.fromkeys(KINEMATIC_INPUTS + tuple(self.config.features) + extra))

    @property
    def input_width(self) -> int:
        """Values per row of ``predict_responses``' input: F, or the constituent layout's width."""
        layout = self.layout
        return len(self.features) if layout is None else layout.width

    def _network_rows(self, rows: np.ndarray) -> torch.Tensor:
        """Raw rows → the network's input: the jet inputs normalised, constituents as they are."""
        n_f = len(self.features)
        if rows.shape[1] == n_f:
            return torch.from_numpy(self.normalisation.apply(rows))
        jet = self.normalisation.apply(rows[:, :n_f]).astype(np.float32)
        return torch.from_numpy(np.concatenate([jet, np.asarray(rows[:, n_f:], dtype=np.float32)], axis=1))

    def network_inputs(self, table: Any) -> np.ndarray:
        """The raw rows ``[N, input_width]`` that ``predict_responses`` takes for a GeV jet table:
        the features, then (constituent network) the padded constituents and masks."""
        x = feature_matrix(self._with_oracle(table), self.features, what="jet table")
        layout = self.layout
        return x if layout is None else packed_inputs(x, table, layout)

    # --- prediction ----------------------------------------------------------------------
    def predict_responses(self, features: np.ndarray, *, batch_size: int = TORCH_BATCH) -> tuple[np.ndarray, np.ndarray]:
        """Responses ``(r̂_E, r̂_m)``, ``float64[N]`` each, for raw features ``[N, F]`` in the
        model's feature order (a constituent network: the rows of :meth:`network_inputs`,
        ``[N, input_width]``). Rows with a non-finite value get NaN."""
        def evaluate(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                le, lm = self.net(self._network_rows(rows))
            return torch.exp(le.double()).numpy(), torch.exp(lm.double()).numpy()

        width = None if self.layout is None else self.input_width
        return batched_responses(features, self.features, evaluate, batch_size, width=width)

    @property
    def probabilistic(self) -> bool:
        """True for a density, quantile or gaussian head (docs/method.md#heads)."""
        return self.config.head != "mode"

    def predict_distribution(self, features: np.ndarray, *, batch_size: int = TORCH_BATCH,
                             recalibrated: bool = True) -> dict[str, np.ndarray]:
        """Per-jet summaries of a probabilistic head for raw features ``[N, F]``, ``float64[N]``
        each, as responses r = reco/true: ``r_e``, ``r_m`` (the calibration responses: the
        density's marginal modes, the quantile head's median, the Gaussian's mean in log r),
        ``r_e_q16``, ``r_e_q50``, ``r_e_q84``, ``r_m_q16``, ``r_m_q50``, ``r_m_q84`` (quantiles
        at Φ(−1), 0.5, Φ(1)) and ``r_em_corr`` (correlation of log r_E and log r_m; 0 where the
        head does not model it). The quantiles are width-recalibrated
        (docs/method.md#width-recalibration) unless ``recalibrated`` is False; the responses
        and the correlation are the same either way. Rows with a non-finite feature get NaN.
        :class:`InputError` for the mode head."""
        if not self.probabilistic:
            raise InputError("this model has the mode head: it predicts no distribution (head: mode)")
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.input_width:
            raise InputError(f"features have shape {x.shape}, this model reads [N, {self.input_width}]")
        out = {name: np.full(x.shape[0], np.nan) for name in _DISTRIBUTION_KEYS.values()}
        good = np.flatnonzero(np.all(np.isfinite(x), axis=1))
        for start in range(0, good.size, batch_size):
            rows = good[start:start + batch_size]
            with torch.inference_mode():
                d = self.net.distribution(self._network_rows(x[rows]), recalibrated=recalibrated)
            for key, name in _DISTRIBUTION_KEYS.items():
                v = d[key].double()
                out[name][rows] = (v if key == "corr" else torch.exp(v)).numpy()
        return out

    def predict_pit(self, features: np.ndarray, r_e: np.ndarray, r_m: np.ndarray, *,
                    recalibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """PIT values ``(u_E, u_m)``, ``float64[N]``: the predicted marginal CDFs of a
        probabilistic head at the true responses ``r_e``, ``r_m`` (reco/true;
        :func:`jetcalib.dnn.heads.marginal_cdf`), for :func:`jetcalib.evaluate.coverage.coverage_table`'s
        ``pit``; with ``recalibrated`` (and a fitted width recalibration) mapped through it
        (:func:`jetcalib.dnn.recalibration.recalibrated_pit`), consistent with the
        recalibrated quantiles of :meth:`predict_distribution`. NaN where a feature or a
        response is not finite or not positive."""
        if not self.probabilistic:
            raise InputError("this model has the mode head: it predicts no distribution (head: mode)")
        x = np.asarray(features)
        with np.errstate(divide="ignore", invalid="ignore"):
            y_e, y_m = np.log(np.asarray(r_e, dtype=np.float64)), np.log(np.asarray(r_m, dtype=np.float64))
        good = np.all(np.isfinite(x), axis=1) & np.isfinite(y_e) & np.isfinite(y_m)
        u_e, u_m = np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan)
        rows = np.flatnonzero(good)
        for start in range(0, rows.size, TORCH_BATCH):
            sel = rows[start:start + TORCH_BATCH]
            with torch.inference_mode():
                a, b = self.net.pit(self._network_rows(x[sel]), torch.from_numpy(y_e[sel]),
                                    torch.from_numpy(y_m[sel]))
            u_e[sel], u_m[sel] = a.numpy(), b.numpy()
        if recalibrated and self.net.recalibrated:
            from .recalibration import recalibrated_pit

            knots = self.net.recal_pit.detach().cpu().numpy()
            u_e, u_m = recalibrated_pit(u_e, knots[0]), recalibrated_pit(u_m, knots[1])
        return u_e, u_m

    def fit_recalibration(self, features: np.ndarray, r_e: np.ndarray, r_m: np.ndarray,
                          mass: np.ndarray | None = None) -> dict[str, Any]:
        """Fit the width recalibration (docs/method.md#width-recalibration) on these jets
        (raw features ``[N, F]``, true responses reco/true): the knots of each target from the
        jets' un-recalibrated PIT values (the mass from the jets where ``mass`` is True, all
        by default), set into the network. Returns what ``summary["width_recalibration"]``
        records (and stores it there). Changes the weights: save the model again."""
        from .recalibration import fit_from_pit

        u_e, u_m = self.predict_pit(features, r_e, r_m, recalibrated=False)
        if mass is not None:
            u_m = np.where(np.asarray(mass, dtype=bool), u_m, np.nan)
        record = fit_from_pit(self.net, u_e, u_m)
        self.summary["width_recalibration"] = record
        return record

    def _responses_and_uncertainties(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(r̂_E, r̂_m, the :data:`~jetcalib.io.UNCERTAINTY_COLUMNS`) of a probabilistic head."""
        d = self.predict_distribution(features)
        return d["r_e"], d["r_m"], uncertainty_columns(*(d[k] for k in _QUANTILE_ORDER))

    def calibrate(self, table: Any, units: str | None = None, *, domain: str = "flag",
                  column_map: Any = None, preset: str | None = None) -> dict[str, np.ndarray]:
        """Calibrate a jet table (dict of arrays, pandas DataFrame or awkward Array) whose
        energies are in ``units`` (``"GeV"`` or ``"MeV"``; outputs in the same unit, a table
        whose median energy looks like the other unit refused).

        Jets with a non-finite input, m_reco ≤ 0 or outside |η| < 4.9 keep their reco
        kinematics and get a non-zero ``calib_flag``; the mass is calibrated only where
        m_reco > ``config.mass_min_reco`` (else it follows the energy, flag 6). The residual
        closure, if any, follows the network. ``domain``: what to do with jets outside the
        training domain (``"flag"``: calibrated, flagged 7-9; ``"strict"``: reco kinematics,
        flagged 7-9; ``"ignore"``; docs/flags.md#training-domain).
        ``column_map`` (a :class:`~jetcalib.io.ColumnMap` or ``{jetcalib name: your name}``) and
        ``preset`` (``"atlas"``: ATLAS names, MeV) read your own names, as ``calibrate --map``
        and ``--preset`` do; ``units`` None: the map's or preset's unit, else GeV.
        """
        return calibrate_in_units(table, units, lambda t: self._calibrate_gev(t, domain),
                                  column_map=column_map, preset=preset)

    def _calibrate_gev(self, table: Any, domain: str = "flag") -> dict[str, np.ndarray]:
        # a probabilistic head adds the UNCERTAINTY_COLUMNS; the mode head's output is as before
        predict = self._responses_and_uncertainties if self.probabilistic else self.predict_responses
        return calibrate_with_model(self._with_oracle(table), self.features, predict,
                                    self.config.mass_min_reco,
                                    None if self.residual is None else self.residual.responses,
                                    training_domain=self.training_domain, domain=domain,
                                    pack=self._pack())

    def _pack(self) -> Any:
        """``calibrate_with_model``'s ``pack`` for a constituent network, else None."""
        layout = self.layout
        if layout is None:
            return None
        return lambda x, table: packed_inputs(x, table, layout)

    # --- artifact ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the artifact directory (created if needed); files are replaced atomically,
        ``artifact.json`` last so that a half-written model never looks complete."""
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        # Saved through a buffer: torch.save names the archive's inner folder after the file
        # it writes, so saving to a temporary name would put that (random) name into the
        # weights' bytes and their content hash.
        buffer = io.BytesIO()
        torch.save(self.net.state_dict(), buffer)
        weights = buffer.getvalue()
        with atomic_path(d / _WEIGHTS_FILE) as tmp:
            tmp.write_bytes(weights)
        residual = None if self.residual is None else self.residual.to_payload()
        domain = None if self.training_domain is None else self.training_domain.to_dict()
        header = self.header.model_copy(
            update={
                "features": list(self.features),
                "content_hash": _payload_hash(weights, self.config.to_document(), self.normalisation,
                                              residual, domain),
            }
        )
        doc = {
            "header": header.model_dump(mode="json"),
            "config": self.config.to_document(),
            "normalisation": self.normalisation.to_dict(),
            "residual": residual,
            "training_domain": domain,
            "summary": self.summary,
        }
        with atomic_path(d / _HEADER_FILE) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, allow_nan=False))
        self.header = header
        return d

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DNNCalibration:
        """Load and verify an artifact directory; :class:`ArtifactError` if it is not a DNN
        model, was made for another format/schema, or was modified after saving."""
        d = Path(path)
        src = str(d)
        if not (d / _HEADER_FILE).is_file():
            raise ArtifactError(f"{src}: not a DNN model directory (no {_HEADER_FILE})")
        try:
            doc = json.loads((d / _HEADER_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # nested 1e5 deep
            raise ArtifactError(f"{src}/{_HEADER_FILE}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ArtifactError(f"{src}/{_HEADER_FILE}: not a jetcalib artifact")
        header = ArtifactHeader.check(doc.get("header"), artifact=ARTIFACT_KIND,
                                      format_version=FORMAT_VERSION, source=src)
        try:
            cfg = DNNConfig.model_validate(doc.get("config"))
        except Exception as exc:  # noqa: BLE001 -- a stored config this version cannot read
            raise ArtifactError(f"{src}: invalid stored config ({str(exc).splitlines()[0]})") from None
        norm = Normalisation.from_dict(doc.get("normalisation"), source=src)
        if not (d / _WEIGHTS_FILE).is_file():
            raise ArtifactError(f"{src}: weights file {_WEIGHTS_FILE} is missing")
        weights = (d / _WEIGHTS_FILE).read_bytes()
        raw_residual = doc.get("residual")
        raw_domain = doc.get("training_domain")
        header.verify_hash(_payload_hash(weights, doc["config"], norm, raw_residual, raw_domain), src)
        # the whole artifact.json against its schema (jetcalib.io.schemas)
        from ..io.schemas import DNNModelArtifact, check_document

        check_document(DNNModelArtifact, doc, stored_version=header.format_version,
                       reads_version=FORMAT_VERSION, source=f"{src}/{_HEADER_FILE}",
                       what="dnn-model artifact")
        residual = None if raw_residual is None else NumericalCalibration.from_payload(raw_residual, source=src)
        domain = TrainingDomain.from_dict(raw_domain, source=src)
        if header.features != cfg.network_features or list(norm.features) != cfg.network_features:
            raise ArtifactError(f"{src}: header, config and normalisation list different features")
        net = build_network(cfg)
        try:
            import io as _io

            state = torch.load(_io.BytesIO(weights), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 -- weights that do not fit the stored config
            raise ArtifactError(f"{src}: weights do not match the stored network config "
                                f"({str(exc).splitlines()[0]})") from None
        return cls(net, cfg, norm, header, doc.get("summary"), residual, domain)

