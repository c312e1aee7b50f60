"""Deployment runtimes: a calibration applied without its training framework.

* :class:`OnnxCalibration` runs the DNN with onnxruntime (the default of ``jetcalib
  calibrate``): from an exported ``.onnx`` file (feature order, content hash and mass threshold
  read from its metadata properties, so torch is never imported) or from a model directory
  exported in memory.
* :class:`CorrectionlibCalibration` evaluates the numerical calibration with correctionlib: from
  the JSON ``jetcalib numerical fit --correctionlib`` writes, or converted in memory.

Both follow the calibration protocol (``required_columns``, ``calibrate(table)``) and give the
same flags and fallbacks as the native objects: they reuse :func:`~jetcalib.features.input_flags`
and :func:`~jetcalib.features.apply_responses`; only the response evaluation differs. Both are
picklable (the session is rebuilt lazily in the receiving process), so that worker processes
and dask workers receive them once.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, InputError
from ..features import (
    KINEMATIC_INPUTS,
    TrainingDomain,
    as_columns,
    batched_responses,
    calibrate_in_units,
    calibrate_with_model,
    check_policy,
    input_flags,
)
from ..features.constituents import ConstituentLayout, packed_inputs
from ..features.kinematics import uncertainty_columns
from ..io import INPUT_FEATURES, ArtifactHeader, ArtifactKind, content_hash
from ..io.schema import TRACK_COLUMNS
from ..numerical import NumericalCalibration

__all__ = ["CorrectionlibCalibration", "OnnxCalibration"]

#: Rows per onnxruntime call. It bounds the activations onnxruntime keeps in its arena (width
#: 256: 4 MB per tensor; peak memory per worker in benchmarks/calibrate_many.py was 988 MB with
#: 65536 rows, 577 MB with 16384) and keeps them near the caches: on 2 threads the default
#: network runs at 280-287k jets/s with 4096 rows against 171-214k with 16384 (inference.py).
ONNX_BATCH = 4096


def constituent_input_shapes(layout: ConstituentLayout) -> dict[str, tuple[int, ...]]:
    """:func:`jetcalib.deploy.onnx_export.constituent_input_shapes` (imported when needed)."""
    from .onnx_export import constituent_input_shapes as shapes

    return shapes(layout)


def _json_dict(text: str | None) -> dict[str, Any] | None:
    """A metadata property holding a JSON object (the environment record), None if absent or
    not an object (an export from before the record)."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class OnnxCalibration:
    """A DNN calibration evaluated by an onnxruntime ``InferenceSession`` (CPU).

    ``model`` is the serialised graph written by ``jetcalib export`` (input ``features``
    float32 [N, F] raw, outputs ``outputE``/``outputM`` responses, normalisation inside).
    ``threads``: onnxruntime intra-op threads (``None``: one per core); execution is sequential
    (the graph is a chain, inter-op parallelism only adds threads).
    """

    method = "dnn"

    def __init__(self, model: bytes, *, source: str = "<memory>", threads: int | None = None) -> None:
        self._model = bytes(model)
        self.source = source
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        _ = self.session  # refuses what onnxruntime cannot load, with its reason
        meta = self._verified_metadata()
        try:
            features = json.loads(meta["features"])
            self.mass_min_reco = float(meta["mass_min_reco"])
            content_hash = meta.get("content_hash", "")
        except (KeyError, ValueError) as exc:
            raise ArtifactError(f"{source}: not an ONNX file written by jetcalib export (metadata "
                                f"property {exc} missing or unreadable; re-export the model)") from None
        self.residual = self._residual(meta)
        self.training_domain = self._domain(meta)
        #: simulation version of the training tables (metadata property; None if not recorded)
        self.simulation_version: str | None = meta.get("simulation_version")
        if meta.get("normalisation", "inside") != "inside":
            raise ArtifactError(f"{source}: this graph expects normalised inputs (the .nonorm.onnx "
                                "form); calibrate with the .onnx that has the normalisation inside")
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ArtifactError(f"{source}: metadata property 'features' is not a list of names")
        unknown = [f for f in features if f not in INPUT_FEATURES]
        if not features or unknown:
            raise ArtifactError(f"{source}: metadata lists unknown features {unknown}")
        self.layout = self._layout(meta, len(features))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        want = ["features"] if self.layout is None else ["features", *constituent_input_shapes(self.layout)]
        if ([i.name for i in inputs] != want or inputs[0].shape[-1] != len(features)
                or [o.name for o in outputs] != ["outputE", "outputM"]):
            raise ArtifactError(f"{source}: graph is not {', '.join(want)} (features [N, {len(features)}]) -> "
                                "outputE, outputM")
        self.header = ArtifactHeader(artifact=ArtifactKind.DNN_MODEL, format_version="onnx",
                                     features=features, content_hash=content_hash,
                                     jetcalib_version=meta.get("jetcalib_version", "unknown"),
                                     environment=_json_dict(meta.get("environment")))

    def _verified_metadata(self) -> dict[str, str]:
        """The metadata properties, after refusing a graph or any property modified after
        ``jetcalib export`` (the ``graph_hash`` and ``metadata_hash`` properties)."""
        import onnx

        from .onnx_export import METADATA_HASH, graph_hash, metadata_hashes

        try:
            proto = onnx.load_from_string(self._model)
        except Exception as exc:  # noqa: BLE001 -- protobuf's DecodeError and onnx's own: not a valid graph
            raise ArtifactError(f"{self.source}: not a readable ONNX file ({str(exc).splitlines()[0]})") from None
        keys = [p.key for p in proto.metadata_props]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:  # which value a runtime would use is not defined
            raise ArtifactError(f"{self.source}: metadata property {twice[0]!r} appears more than once: "
                                "the metadata was modified after jetcalib export")
        meta = {p.key: p.value for p in proto.metadata_props}
        if not meta.get("graph_hash"):
            raise ArtifactError(f"{self.source}: no graph_hash metadata property (exported by an older "
                                "jetcalib); re-export the model with jetcalib export")
        if METADATA_HASH not in meta:
            raise ArtifactError(f"{self.source}: no {METADATA_HASH} metadata property (exported by an "
                                "older jetcalib, its metadata unprotected); re-export the model with "
                                "jetcalib export")
        try:
            stored = json.loads(meta[METADATA_HASH])
        except ValueError:
            stored = None
        if not isinstance(stored, dict):
            raise ArtifactError(f"{self.source}: metadata property {METADATA_HASH!r} is unreadable: "
                                "the metadata was modified after jetcalib export")
        found = metadata_hashes(meta)
        for key in sorted(set(stored) | set(found)):
            if stored.get(key) != found.get(key):
                what = ("added" if key not in stored else "removed" if key not in found else "changed")
                raise ArtifactError(f"{self.source}: metadata property {key!r} {what} after jetcalib "
                                    "export (content hash mismatch): the metadata was modified")
        computed = graph_hash(proto)
        if computed != meta["graph_hash"]:
            raise ArtifactError(f"{self.source}: content hash mismatch (stored {meta['graph_hash'][:19]}..., "
                                f"computed {computed[:19]}...): the graph was modified or is corrupt")
        return meta

    def _residual(self, meta: dict[str, str]) -> NumericalCalibration | None:
        """The residual closure stored in the metadata (a NumericalCalibration), or None."""
        if "residual" not in meta:
            return None
        try:
            payload = json.loads(meta["residual"])
        except ValueError:
            raise ArtifactError(f"{self.source}: metadata property 'residual' is not JSON") from None
        if content_hash(payload) != meta.get("residual_hash"):
            raise ArtifactError(f"{self.source}: content hash mismatch of the residual closure: "
                                "its metadata was modified after jetcalib export")
        return NumericalCalibration.from_payload(payload, source=self.source)

    def _layout(self, meta: dict[str, str], n_features: int) -> ConstituentLayout | None:
        """The constituent layout of a constituent network's export (metadata ``constituents``),
        or None for the jet network."""
        if "constituents" not in meta:
            return None
        try:
            raw = json.loads(meta["constituents"])
            layout = ConstituentLayout(n_features, int(raw["max_clusters"]), int(raw["max_tracks"]))
            same = (list(raw["cluster_columns"]) == list(layout.cluster_columns)
                    and list(raw["track_columns"]) == list(TRACK_COLUMNS))
        except (ValueError, KeyError, TypeError):
            raise ArtifactError(f"{self.source}: metadata property 'constituents' is unreadable") from None
        if not same:
            raise ArtifactError(f"{self.source}: its constituent columns are not this jetcalib's "
                                "(cl_*/trk_*, io.CLUSTER_COLUMNS/TRACK_COLUMNS); re-export the model")
        return layout

    def _domain(self, meta: dict[str, str]) -> TrainingDomain | None:
        """The training domain stored in the metadata (exports of format 2.1 models), or None."""
        if "training_domain" not in meta:
            return None
        try:
            raw = json.loads(meta["training_domain"])
        except ValueError:
            raise ArtifactError(f"{self.source}: metadata property 'training_domain' is not JSON") from None
        return TrainingDomain.from_dict(raw, source=self.source)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, threads: int | None = None) -> OnnxCalibration:
        """Open an ``.onnx`` file written by ``jetcalib export``."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InputError(f"{p}: cannot read ({exc.strerror})") from None
        return cls(data, source=str(p), threads=threads)

    @classmethod
    def from_dnn(cls, model: Any, *, source: str = "<memory>", threads: int | None = None) -> OnnxCalibration:
        """Export a loaded :class:`~jetcalib.dnn.DNNCalibration` in memory (imports torch)."""
        from .onnx_export import onnx_bytes

        return cls(onnx_bytes(model), source=source, threads=threads)

    # --- the session, rebuilt lazily after unpickling -------------------------------------
    @property
    def session(self) -> Any:
        with self._lock:  # dask runs several tasks per worker process in threads
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.inter_op_num_threads = 1
                if self.threads:
                    opts.intra_op_num_threads = int(self.threads)
                try:
                    self._session = ort.InferenceSession(self._model, opts,
                                                         providers=["CPUExecutionProvider"])
                except Exception as exc:  # noqa: BLE001 -- onnxruntime's own error types: not a valid graph
                    raise ArtifactError(f"{self.source}: onnxruntime cannot load it "
                                        f"({str(exc).splitlines()[0]})") from None
            return self._session

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self._model, "source": self.source, "threads": self.threads,
                "mass_min_reco": self.mass_min_reco, "header": self.header, "residual": self.residual,
                "training_domain": self.training_domain, "simulation_version": self.simulation_version,
                "layout": self.layout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._model = state["model"]
        self.source, self.threads = state["source"], state["threads"]
        self.mass_min_reco, self.header = state["mass_min_reco"], state["header"]
        self.residual = state["residual"]
        self.training_domain = state.get("training_domain")
        self.simulation_version = state.get("simulation_version")
        self.layout = state.get("layout")
        self._session, self._lock = None, threading.Lock()

    # --- the calibration protocol --------------------------------------------------------
    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.header.features)

    @property
    def required_columns(self) -> tuple[str, ...]:
        extra = () if self.layout is None else self.layout.columns
        return tuple(dict.fromkeys(KINEMATIC_INPUTS + self.features + extra))

    def _feeds(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs for raw rows (features, or a constituent network's flat layout)."""
        rows = np.asarray(rows, dtype=np.float32)
        if self.layout is None:
            return {"features": np.ascontiguousarray(rows)}
        parts = self.layout.unpack(rows)
        return {name: np.ascontiguousarray(parts[name])
                for name in ("features", *constituent_input_shapes(self.layout))}

    def predict_responses(self, features: np.ndarray, *, batch_size: int = ONNX_BATCH) -> tuple[np.ndarray, np.ndarray]:
        """Responses ``(r̂_E, r̂_m)``, ``float64[N]`` each, for raw features ``[N, F]`` in the
        model's order (a constituent network: its flat rows,
        :func:`jetcalib.features.constituents.packed_inputs`); rows with a non-finite value get
        NaN (as ``DNNCalibration``)."""
        sess = self.session

        def evaluate(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out_e, out_m = sess.run(None, self._feeds(rows))
            # a probabilistic head's graph gives [N, 5] (response, q16, q84, median, corr)
            return (out_e[:, 0], out_m[:, 0]) if out_e.ndim == 2 else (out_e, out_m)

        width = None if self.layout is None else self.layout.width
        return batched_responses(features, self.features, evaluate, batch_size, width=width)

    @property
    def probabilistic(self) -> bool:
        """True for the export of a probabilistic head (outputs [N, 5], docs/method.md#heads):
        ``calibrate`` then adds the :data:`~jetcalib.io.UNCERTAINTY_COLUMNS` as the PyTorch model."""
        return len(self.session.get_outputs()[0].shape) == 2

    def _responses_and_uncertainties(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        sess = self.session
        x = np.asarray(features)
        cols = np.full((x.shape[0], 10), np.nan)
        good = np.flatnonzero(np.all(np.isfinite(x), axis=1))
        for start in range(0, good.size, ONNX_BATCH):
            rows = good[start:start + ONNX_BATCH]
            out_e, out_m = sess.run(None, self._feeds(x[rows]))
            cols[rows] = np.concatenate([out_e, out_m], axis=1)
        # columns: E (r, q16, q84, q50, corr), m (r, q16, q84, q50, corr)
        extra = uncertainty_columns(cols[:, 1], cols[:, 3], cols[:, 2], cols[:, 6], cols[:, 8], cols[:, 7], cols[:, 4])
        return cols[:, 0], cols[:, 5], extra

    def calibrate(self, table: Any, units: str | None = None, *, domain: str = "flag",
                  column_map: Any = None, preset: str | None = None) -> dict[str, np.ndarray]:
        """``e_cal, pt_cal, m_cal`` (in ``units``) and ``calib_flag``: the same rules as
        :meth:`jetcalib.dnn.DNNCalibration.calibrate`, responses from onnxruntime, then the
        residual closure if the model has one; ``domain`` as there (the training domain read
        from the metadata); ``column_map``, ``preset`` as there."""
        return calibrate_in_units(table, units, lambda t: self._calibrate_gev(t, domain),
                                  column_map=column_map, preset=preset)

    def _calibrate_gev(self, table: Any, domain: str = "flag") -> dict[str, np.ndarray]:
        predict = self._responses_and_uncertainties if self.probabilistic else self.predict_responses
        layout = self.layout
        pack = None if layout is None else (lambda x, t: packed_inputs(x, t, layout))
        return calibrate_with_model(table, self.features, predict, self.mass_min_reco,
                                    None if self.residual is None else self.residual.responses,
                                    training_domain=self.training_domain, domain=domain, pack=pack)

    def __repr__(self) -> str:
        return f"OnnxCalibration({self.source!r}, {len(self.features)} features, threads={self.threads})"


# --- correctionlib ---------------------------------------------------------------------------
_MIN_ENERGY_IN_DESCRIPTION = re.compile(r"E_JES > ([0-9.eE+-]+) GeV")


def _columns(table: Any) -> dict[str, np.ndarray]:
    """float64 kinematics; ``eta`` (detector) and ``eta_reco`` each derived from the other
    when only one is stored, as the numerical calibration does."""
    cols = as_columns(table, CorrectionlibCalibration.required_columns, what="jet table")
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def is_correction_set(raw: Any) -> bool:
    """Whether parsed JSON looks like a correctionlib ``CorrectionSet`` (schema v2)."""
    return isinstance(raw, dict) and "schema_version" in raw and "corrections" in raw


class CorrectionlibCalibration:
    """The numerical calibration evaluated by correctionlib from its exported JSON.

    Needs ``jes_response(eta, e_reco)``; ``jms_response(eta, e_jes, m_jes)`` is optional
    (without it the mass follows the energy, as a JES-only :class:`NumericalCalibration`).
    The JMS energy threshold is read from the ``jms_min_energy`` correction (no inputs), or
    from ``jms_response``'s description for files written before it existed.
    """

    method = "numerical"
    #: as :class:`~jetcalib.numerical.NumericalCalibration`: detector η and the jet's η
    required_columns: tuple[str, ...] = ("e_reco", "m_reco", "eta_reco", "eta")

    def __init__(self, text: str, *, source: str = "<memory>",
                 training_domain: TrainingDomain | None = None) -> None:
        self._text = text
        self.source = source
        #: the training domain: from the ``domain_*`` corrections of the file (exports since
        #: numerical format 1.1), or the NumericalCalibration converted in memory
        self.training_domain = training_domain
        self._load()

    def _load(self) -> None:
        import correctionlib

        raw = self._verified_document()
        try:
            cset = correctionlib.CorrectionSet.from_string(self._text)
        except Exception as exc:  # noqa: BLE001 -- correctionlib's validation (pydantic or its C++ parser)
            raise ArtifactError(f"{self.source}: not a valid correctionlib file "
                                f"({str(exc).splitlines()[0]})") from None
        names = set(cset.keys())
        if "jes_response" not in names:
            raise ArtifactError(f"{self.source}: correctionlib file without jes_response "
                                f"(has {', '.join(sorted(names)) or 'nothing'}); expected the "
                                "export of jetcalib numerical fit --correctionlib")
        self._jes = cset["jes_response"]
        self._jms = cset["jms_response"] if "jms_response" in names else None
        self.min_energy = math.inf
        if "jms_min_energy" in names:
            self.min_energy = float(cset["jms_min_energy"].evaluate())
        elif self._jms is not None:
            found = _MIN_ENERGY_IN_DESCRIPTION.search(self._jms.description or "")
            if found is None:
                raise ArtifactError(f"{self.source}: jms_response without its energy threshold "
                                    "(no jms_min_energy correction)")
            self.min_energy = float(found.group(1))
        self.max_energy = float(cset["jms_max_energy"].evaluate()) if "jms_max_energy" in names else math.inf
        if self.training_domain is None and {"domain_abs_eta_max", "domain_e_reco_min"} <= names:
            self.training_domain = TrainingDomain(
                abs_eta_max=float(cset["domain_abs_eta_max"].evaluate()),
                energy=(float(cset["domain_e_reco_min"].evaluate()), float(cset["domain_e_reco_max"].evaluate())),
            )
        desc = raw.get("description", "")
        found_hash = re.search(r"source hash (\S+)", desc or "")
        self.header = ArtifactHeader(artifact=ArtifactKind.NUMERICAL_CALIBRATION, format_version="correctionlib",
                                     features=list(self.required_columns),
                                     content_hash=found_hash.group(1) if found_hash
                                     and found_hash.group(1) != "unsaved" else "")

    def _verified_document(self) -> dict[str, Any]:
        """The parsed JSON, after refusing a file that jetcalib did not export, one modified
        since (its content hash), and a DNN's residual closure (not a calibration alone)."""
        from ..numerical.export import RESIDUAL_MARK, correctionlib_hash, stored_correctionlib_hash

        try:
            raw = json.loads(self._text)
        except (ValueError, RecursionError) as exc:
            raise ArtifactError(f"{self.source}: not a valid correctionlib file (not JSON: {exc})") from None
        if not is_correction_set(raw):
            raise ArtifactError(f"{self.source}: not a valid correctionlib file (no schema_version "
                                "and corrections)")
        stored = stored_correctionlib_hash(raw)
        if stored is None:
            # jetcalib evaluates only its own exports: another file's corrections need not
            # follow the rules (inputs, thresholds) that calibrate() applies around them
            raise ArtifactError(f"{self.source}: correctionlib file without a jetcalib content hash: "
                                "not exported by this jetcalib (jetcalib loads only its own exports; "
                                "re-export it with jetcalib numerical fit --correctionlib)")
        try:
            computed = correctionlib_hash(raw)
        except (ValueError, RecursionError):  # NaN or a nesting json cannot write back
            computed = ""
        if computed != stored:
            raise ArtifactError(f"{self.source}: content hash mismatch (stored {stored[:19]}..., computed "
                                f"{computed[:19]}...): the correctionlib file was modified or is corrupt")
        if str(raw.get("description", "")).startswith(RESIDUAL_MARK):
            raise ArtifactError(f"{self.source}: the residual closure of a DNN model (the step after the "
                                "network), not a calibration by itself; calibrate with the model's "
                                ".onnx export or its model directory")
        return raw

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CorrectionlibCalibration:
        p = Path(path)
        try:
            return cls(p.read_text(), source=str(p))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: cannot read ({exc})") from None

    @classmethod
    def from_numerical(cls, cal: Any, *, source: str = "<memory>") -> CorrectionlibCalibration:
        """Convert a :class:`~jetcalib.numerical.NumericalCalibration` in memory."""
        from ..numerical import to_correctionlib

        return cls(json.dumps(to_correctionlib(cal)), source=source,
                   training_domain=getattr(cal, "training_domain", None))

    def __getstate__(self) -> dict[str, Any]:
        # correctionlib's C++ objects do not pickle: ship the JSON, parse it again
        return {"text": self._text, "source": self.source, "training_domain": self.training_domain}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._text, self.source = state["text"], state["source"]
        self.training_domain = state.get("training_domain")
        self._load()

    def responses(self, table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(r_E, r_m, calibrate_mass)`` per jet, as :meth:`NumericalCalibration.responses`;
        NaN where an input is unusable (correctionlib is only asked about sane jets)."""
        cols = _columns(table)
        e, m, eta_det = cols["e_reco"], cols["m_reco"], cols["eta"]
        r_e = np.full(e.shape, np.nan)
        r_m = np.full(e.shape, np.nan)
        cal_mass = np.zeros(e.shape, dtype=bool)
        ok = np.isfinite(e) & (e > 0) & np.isfinite(m) & (m > 0) & np.isfinite(eta_det)
        r_e[ok] = self._jes.evaluate(eta_det[ok], e[ok])
        if self._jms is None:
            return r_e, r_e.copy(), cal_mass
        ok &= np.isfinite(r_e) & (r_e > 0)
        e_jes, m_jes = e[ok] / r_e[ok], m[ok] / r_e[ok]
        r_m[ok] = r_e[ok] * self._jms.evaluate(eta_det[ok], e_jes, m_jes)
        cal_mass[ok] = (e_jes > self.min_energy) & (e_jes < self.max_energy)
        return r_e, r_m, cal_mass

    def calibrate(self, table: Any, units: str | None = None, *, domain: str = "flag",
                  column_map: Any = None, preset: str | None = None) -> dict[str, np.ndarray]:
        """``e_cal, pt_cal, m_cal`` (in ``units``) and ``calib_flag``: the rules of
        :meth:`NumericalCalibration.calibrate`, responses from correctionlib, ``domain`` as
        there (the training domain of the ``domain_*`` corrections; none in older exports);
        ``column_map``, ``preset`` as there."""
        check_policy(domain)
        return calibrate_in_units(table, units, lambda t: self._calibrate_gev(t, domain),
                                  column_map=column_map, preset=preset)

    def _calibrate_gev(self, table: Any, domain: str = "flag") -> dict[str, np.ndarray]:
        from ..numerical.calibration import apply_domain

        cols = _columns(table)
        e, m, eta_reco = cols["e_reco"], cols["m_reco"], cols["eta_reco"]
        r_e, r_m, cal_mass = self.responses(table)
        flag = input_flags(e, m, eta_reco)
        return apply_domain(self.training_domain, domain, e, m, eta_reco, r_e, r_m, flag, cal_mass)

    def __repr__(self) -> str:
        return f"CorrectionlibCalibration({self.source!r}, JMS {'yes' if self._jms else 'no'})"
