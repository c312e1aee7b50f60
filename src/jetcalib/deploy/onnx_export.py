"""Export a trained DNN to one ONNX graph (normalisation inside), plus the sidecar that ATLAS's
deployed calibration reads (normalisation outside the graph, docs/method.md#atlas-runtime)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_paths, content_hash
from ..io.provenance import environment

__all__ = ["CONSTITUENT_INPUTS", "METADATA_HASH", "check_not_oracle", "constituent_input_shapes", "export_onnx", "graph_hash", "metadata_hashes", "onnx_bytes",
           "training_simulation_version"]

#: Packages whose versions an export's environment record names.
EXPORT_PACKAGES: tuple[str, ...] = ("numpy", "torch", "onnx", "onnxruntime")

#: ONNX opset: old enough for every onnxruntime in use, new enough for LayerNorm as one op.
OPSET = 17


def _wrapped(model: Any) -> Any:
    import torch

    class _Exported(torch.nn.Module):
        """raw features [N, F] → (outputE [N], outputM [N]) responses, normalisation inside."""

        def __init__(self) -> None:
            super().__init__()
            self.net = model.net
            norm = model.normalisation
            self.register_buffer("scale", torch.tensor(np.asarray(norm.scale), dtype=torch.float32))
            self.register_buffer("offset", torch.tensor(np.asarray(norm.offset), dtype=torch.float32))

        scale: torch.Tensor
        offset: torch.Tensor

        def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = features * self.scale + self.offset
            if getattr(self.net, "head", "mode") != "mode":
                # a probabilistic head: [N, 5] = (calibration response, q16, q84, median, E-m
                # correlation) per target: columns 0-2 as the athena graph's
                return _pack_distribution(self.net.distribution(x))
            log_r_e, log_r_m = self.net(x)
            return torch.exp(log_r_e), torch.exp(log_r_m)

    if getattr(model, "layout", None) is not None:
        return _WrappedConstituents(_Exported()).eval()
    return _Exported().eval()


def _pack_distribution(d: dict[str, Any]) -> tuple[Any, Any]:
    """A probabilistic head's summary as the two [N, 5] outputs: (calibration response, q16,
    q84, median, E-m correlation) per target; columns 0-2 as the athena graph's."""
    import torch

    corr = d["corr"].unsqueeze(1)
    return tuple(torch.cat([torch.exp(torch.stack([d[f"cal_{t}"], d[f"q16_{t}"], d[f"q84_{t}"], d[f"q50_{t}"]],
                                                  dim=1)), corr], dim=1) for t in ("e", "m"))  # type: ignore[return-value]


#: The graph inputs of a constituent network's export besides ``features`` (without the two
#: track inputs when ``constituents.max_tracks`` is 0).
CONSTITUENT_INPUTS: tuple[str, ...] = ("clusters", "cluster_mask", "tracks", "track_mask")


def _WrappedConstituents(base: Any) -> Any:
    import torch

    class _ExportedConstituents(torch.nn.Module):
        """features [N, F] raw, clusters [N, K_c, F_c], cluster_mask [N, K_c], tracks
        [N, K_t, F_t], track_mask [N, K_t] (raw, GeV/rad/mm; masks 1/0) → (outputE, outputM) as
        the jet network's export; the jet inputs' normalisation and the constituents'
        transforms and normalisation inside."""

        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, features: torch.Tensor, clusters: torch.Tensor, cluster_mask: torch.Tensor,
                    *tracks_and_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            net = self.base.net
            x = features * self.base.scale + self.base.offset
            if tracks_and_mask:
                tracks, track_mask = tracks_and_mask
            else:  # K_t = 0: no track inputs
                n = features.shape[0]
                tracks, track_mask = features.new_zeros(n, 0, 4), features.new_zeros(n, 0)
            if net.head != "mode":
                return _pack_distribution(net.distribution_parts(x, clusters, cluster_mask, tracks, track_mask))
            log_r_e, log_r_m = net.forward_parts(x, clusters, cluster_mask, tracks, track_mask)
            return torch.exp(log_r_e), torch.exp(log_r_m)

    return _ExportedConstituents()


def constituent_input_shapes(layout: Any) -> dict[str, tuple[int, ...]]:
    """The constituent graph inputs and their per-jet shapes (the batch axis N left out)."""
    from ..io.schema import CLUSTER_COLUMNS, TRACK_COLUMNS

    shapes: dict[str, tuple[int, ...]] = {"clusters": (layout.max_clusters, len(CLUSTER_COLUMNS)),
                                          "cluster_mask": (layout.max_clusters,)}
    if layout.max_tracks > 0:
        shapes["tracks"] = (layout.max_tracks, len(TRACK_COLUMNS))
        shapes["track_mask"] = (layout.max_tracks,)
    return shapes


def _probabilistic(model: Any) -> bool:
    return getattr(model.net, "head", "mode") != "mode"


def _outputs_text(model: Any) -> str:
    if _probabilistic(model):
        return ("outputE, outputM [N, 5]: column 0 the response r_E = E_reco/E_true, r_m = "
                "m_reco/m_true used to calibrate, columns 1, 2 its 15.87/84.13 % quantiles, 3 its "
                "median, 4 the correlation of log r_E and log r_m (head: " + str(model.config.head) + ")")
    return "outputE = r_E = E_reco/E_true, outputM = r_m = m_reco/m_true"


def _metadata(model: Any, normalisation: str) -> dict[str, str]:
    """Metadata properties that make an ``.onnx`` file self-describing: what jetcalib needs to
    calibrate with it without the model directory (and without torch)."""
    meta = {"features": json.dumps(list(model.features)),
            "content_hash": model.header.content_hash,
            "jetcalib_version": model.header.jetcalib_version,
            "mass_min_reco": repr(float(model.config.mass_min_reco)),
            "outputs": _outputs_text(model),
            "normalisation": normalisation,
            # how this file was made (jetcalib.io.provenance.environment); like every property
            # covered by metadata_hash, but not by content_hash or graph_hash: an export made
            # elsewhere computes the same thing
            "environment": json.dumps(environment(EXPORT_PACKAGES), allow_nan=False)}
    layout = getattr(model, "layout", None)
    if layout is not None:
        # a constituent network (docs/method.md#constituent-network): the graph's further
        # inputs and the columns they come from; OnnxCalibration builds them from these
        meta["constituents"] = json.dumps({**layout.to_dict(), "inputs": {
            k: ["N", *v] for k, v in constituent_input_shapes(layout).items()}}, allow_nan=False)
    sim = training_simulation_version(model.header)
    if sim is not None:  # the simulation the training tables came from (jetcalib.reference checks it)
        meta["simulation_version"] = sim
    model_env = getattr(model.header, "environment", None)
    if model_env is not None:  # how the source model was trained (its artifact.json header)
        meta["model_environment"] = json.dumps(model_env, allow_nan=False)
    if model.residual is not None:
        # The residual closure is a numerical calibration (polynomials and grids), applied by
        # jetcalib after the graph; its hash lets OnnxCalibration refuse an edited one.
        payload = model.residual.to_payload()
        meta["residual"] = json.dumps(payload, allow_nan=False)
        meta["residual_hash"] = content_hash(payload)
    domain = getattr(model, "training_domain", None)
    if domain is not None:
        # the training domain (docs/flags.md#training-domain): OnnxCalibration flags jets outside
        # it as the model does; covered by metadata_hash as every property
        meta["training_domain"] = json.dumps(domain.to_dict(), allow_nan=False)
    return meta


def training_simulation_version(header: Any) -> str | None:
    """The simulation version of the tables a model was trained on (``header.training_data``:
    ``jetcalib generate`` tables record it, ``jetcalib train`` refuses tables of another version
    than its own), comma-joined if they differ; None for a model trained on other tables (the
    user's own simulation) or through the API without provenance."""
    from ..io import DatasetMetadata, simulation_version

    found = set()
    for entry in getattr(header, "training_data", None) or []:
        raw = entry.get("metadata") if isinstance(entry, dict) else None
        if not isinstance(raw, dict):
            continue
        try:
            version = simulation_version(DatasetMetadata.model_validate(raw))
        except ValueError:  # pydantic's ValidationError: a record that is not jetcalib metadata
            continue
        if version is not None:
            found.add(version)
    return ",".join(sorted(found)) or None


def graph_hash(proto: Any) -> str:
    """``sha256:<hex>`` of what an ONNX ``ModelProto`` computes: its graph (nodes, initializers,
    inputs and outputs), opset imports, model-local functions and IR version, serialised
    deterministically; not the metadata properties (see :func:`metadata_hashes`)."""
    import onnx

    core = onnx.ModelProto(ir_version=proto.ir_version)
    core.graph.CopyFrom(proto.graph)
    core.opset_import.extend(proto.opset_import)
    core.functions.extend(proto.functions)
    return content_hash(core.SerializeToString(deterministic=True))


#: The metadata property holding the hash of every other property.
METADATA_HASH = "metadata_hash"


def metadata_hashes(props: dict[str, str]) -> dict[str, str]:
    """``{key: sha256 of its value}`` for every metadata property but ``metadata_hash``: stored
    as that property (JSON), so that a reader refuses an edited, added or removed property and
    names it. Every property is covered, as any may change results (features: the input order;
    mass_min_reco: where the mass is calibrated; normalisation; residual: the closure;
    training_domain: which jets are flagged 7-9)."""
    return {k: content_hash(v.encode()) for k, v in sorted(props.items()) if k != METADATA_HASH}


def traced_graph(module: Any, n_features: int, input_name: str,
                 extra_inputs: dict[str, tuple[int, ...]] | None = None) -> Any:
    """``module`` (features [N, F] → outputE, outputM) exported to an ONNX ``ModelProto`` with
    a dynamic batch axis, at :data:`OPSET`: the one torch → ONNX export of every graph.
    ``extra_inputs``: further float32 inputs after the features, name → per-jet shape (a
    constituent network's padded constituents and masks)."""
    import io

    import onnx
    import torch

    extra = extra_inputs or {}
    names = [input_name, *extra]
    # example inputs of batch 2: half the constituents present, so that no path traces as dead
    args = [torch.zeros(2, n_features)]
    for name, shape in extra.items():
        t = torch.ones(2, *shape)
        if name.endswith("_mask"):
            t[:, shape[0] // 2:] = 0.0
        args.append(t)
    buf = io.BytesIO()
    # dynamo=False: torch 2.13's default dynamo exporter needs the onnxscript package;
    # the legacy exporter and its internals raise DeprecationWarnings about themselves only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, tuple(args), buf, dynamo=False,  # type: ignore[arg-type]
                          input_names=names, output_names=["outputE", "outputM"],
                          dynamic_axes={**{n: {0: "N"} for n in names}, "outputE": {0: "N"}, "outputM": {0: "N"}},
                          opset_version=OPSET)
    return onnx.load_from_string(buf.getvalue())


def check_not_oracle(model: Any, what: str = "export") -> None:
    """Refuse (:class:`~jetcalib.errors.InputError`, one line) an oracle model
    (docs/method.md#oracle): it reads the simulator's hidden truth, which no detector measures."""
    if getattr(model, "oracle", False):
        from ..errors import InputError

        names = ", ".join(model.config.oracle_features)
        raise InputError(f"{what}: this is an oracle model (oracle_features: {names}); it reads the "
                         "simulator's hidden truth, which no detector measures, so it bounds what a "
                         "calibration can reach and is not one to deploy")


def onnx_bytes(model: Any, *, normalisation_inside: bool = True) -> bytes:
    """The serialised ONNX graph of ``model`` (see :func:`export_onnx`), checked with
    ``onnx.checker``. Used both for the files and for in-memory export (``--runtime
    onnxruntime`` on a model directory). An oracle model is refused."""
    import onnx

    check_not_oracle(model)

    wrapped = _wrapped(model)
    module = wrapped if normalisation_inside else _identity_norm(wrapped)
    layout = getattr(model, "layout", None)
    extra = None if layout is None else constituent_input_shapes(layout)
    proto = traced_graph(module, len(model.features), "features", extra)
    meta = _metadata(model, "inside" if normalisation_inside else "outside")
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    # the graph's own hash (weights included): content_hash above names the source model, this
    # one lets a reader refuse a graph modified after export (OnnxCalibration checks it)
    proto.metadata_props.add(key="graph_hash", value=graph_hash(proto))
    props = {p.key: p.value for p in proto.metadata_props}
    proto.metadata_props.add(key=METADATA_HASH, value=json.dumps(metadata_hashes(props)))
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_onnx(model: Any, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``out`` (.onnx), ``<stem>.nonorm.onnx``, ``<stem>.sidecar.json`` and, for a model
    with a residual closure, ``<stem>.residual.corr.json``; returns the paths by role.

    Graph: input ``features`` float32 [N, F] (dynamic N, raw inputs in ``model.features``
    order); outputs ``outputE``, ``outputM`` (responses r̂_E, r̂_m, > 0; for a probabilistic
    head ``[N, 5]``: the response, its 15.87 and 84.13 % quantiles, its median, the E–m
    correlation; columns 0-2 as in the athena graph). Metadata properties:
    ``features`` (JSON list), ``content_hash`` and ``jetcalib_version`` of the source model,
    ``mass_min_reco`` (GeV; the mass is calibrated only above it), ``normalisation``,
    ``graph_hash`` (:func:`graph_hash`), ``training_domain`` (JSON, when the model has one:
    docs/flags.md#training-domain), ``simulation_version`` (of the training tables, when they
    record one: :func:`training_simulation_version`) and ``metadata_hash``
    (:func:`metadata_hashes`).
    The sidecar lists input names with ``NormScale``/``NormOffset`` per feature for runtimes
    that normalise outside the graph (their graph is then fed x·NormScale + NormOffset: use the
    same ``.onnx`` with identity normalisation, written as ``<stem>.nonorm.onnx``).
    A residual closure (``DNNConfig.closure``) is not part of the graph: ``jetcalib`` reads it
    from the metadata properties ``residual``/``residual_hash``; other runtimes evaluate the
    correctionlib file named in the sidecar after the graph, as its ``residual_rule`` says.
    An oracle model is refused before anything is written.
    """
    check_not_oracle(model)
    out = Path(out)
    if out.suffix != ".onnx":
        from ..errors import InputError

        raise InputError(f"{out}: the ONNX file name must end in .onnx")
    paths = {"onnx": out, "nonorm": out.with_suffix(".nonorm.onnx"),
             "sidecar": out.with_suffix(".sidecar.json")}
    if model.residual is not None:
        paths["residual"] = out.with_suffix(".residual.corr.json")
    # the files are one export: written together or not at all (full disk, Ctrl-C), so a half
    # export never looks complete and an earlier export at these names stays whole
    with atomic_paths(paths.values()) as tmps:
        _write_all(model, paths, dict(zip(paths, tmps, strict=True)))
    return paths


#: Version of the sidecar's layout: 1 (no ``sidecar_version``): onnx_file, outputs, inputs
#: (name, NormScale, NormOffset), mass_min_GeV, content_hash, training_domain, residual_*;
#: 2.0 added the words and fields that make it self-describing (units, normalisation,
#: per-input definition/unit/sentinel, output meaning, calibration and flag rules,
#: environment). A minor version only adds keys.
SIDECAR_VERSION = "2.0"

#: What each network input is where it cannot be computed (docs/inputs.md#inputs, "fallback
#: where undefined"): ``(words, sentinel value or None)``. tests/deploy/test_export_onnx.py
#: checks it against docs/inputs.md.
INPUT_FALLBACKS: dict[str, tuple[str, float | None]] = {
    "eta": ("derived from eta_reco if absent", None),
    "log_e": ("derived from e_reco if absent", None),
    "log_m": ("0 for m <= 1 GeV; derived from m_reco if absent", 0.0),
    "width": ("-0.1 if the constituents' pT sum < 1e-8", -0.1),
    "em_frac": ("-0.1 if the denominator < 1e-8", -0.1),
    "em3_frac": ("-0.1 if the denominator < 1e-8", -0.1),
    "tile0_frac": ("-0.1 if the denominator < 1e-8", -0.1),
    "eff_n_clusters": ("-0.1 if the energy sum < 1e-8", -0.1),
    "groom_m_ratio": ("-0.1 if the ungroomed mass < 1e-8", -0.1),
    "neutral_e_frac": ("1 if E_jet < 1e-8", 1.0),
    "charged_pt_frac": ("-0.1 if pT_jet < 1e-8", -0.1),
    "charged_m_frac": ("-0.1 if m_jet < 1e-8 (e.g. m = 0)", -0.1),
    "split12": ("0 for one constituent", 0.0),
    "split23": ("0 for fewer than 3 constituents", 0.0),
    "c2": ("-0.1 for < 3 constituents or a non-finite value", -0.1),
    "d2": ("-0.1 for < 3 constituents or a non-finite value", -0.1),
    "tau21": ("-0.1 for < 3 constituents or tau1 < 1e-8", -0.1),
    "tau32": ("-0.1 for < 3 constituents or tau2 < 1e-8", -0.1),
    "qw": ("0 for fewer than 3 constituents", 0.0),
    "mu": ("none (always defined)", None),
    "npv": ("none (always defined)", None),
}


def _input_entry(index: int, name: str, scale: float, offset: float) -> dict[str, Any]:
    from ..io import COLUMNS

    col = COLUMNS[name]
    words, sentinel = INPUT_FALLBACKS.get(name, ("see docs/inputs.md", None))
    return {"name": name, "NormScale": float(scale), "NormOffset": float(offset), "index": index,
            "definition": col.description, "unit": col.unit or "dimensionless",
            "when_undefined": words, "sentinel": sentinel}


def _flag_rules(model: Any) -> dict[str, Any]:
    """The calib_flag rules of docs/flags.md as the sidecar states them (one rule for every
    runtime: jetcalib.features.input_flags, apply_responses, TrainingDomain.flags)."""
    from ..features import ENERGY_MAX, ETA_MAX, MASS_ENERGY_RTOL
    from ..io import CalibFlag

    words = {
        CalibFlag.OK: "calibrated: E_cal = E/r_E, m_cal = m/r_m",
        CalibFlag.NON_FINITE_INPUT: "e_reco, m_reco, eta_reco or one of the inputs is NaN, inf or "
                                    "missing: not evaluated, reco kinematics kept",
        CalibFlag.NON_POSITIVE_MASS: "m_reco <= 0: not evaluated, reco kinematics kept",
        CalibFlag.OUT_OF_RANGE: f"e_reco <= 0, e_reco > {ENERGY_MAX:g} GeV, m_reco > e_reco*(1 + "
                                f"{MASS_ENERGY_RTOL:g}) or |eta_reco| > {ETA_MAX:g}: not evaluated, "
                                "reco kinematics kept",
        CalibFlag.BAD_PREDICTION: "a total response (after the residual) is non-finite or <= 0: "
                                  "reco kinematics kept",
        CalibFlag.MASS_NOT_CALIBRATED: "m_reco <= mass_min_GeV: E_cal = E/r_E, m_cal = m/r_E",
        CalibFlag.MASS_ABOVE_ENERGY: "m/r_m >= E/r_E: E_cal = E/r_E, m_cal = m/r_E (overrides 6)",
        CalibFlag.OUTSIDE_TRAINING_ETA: "|eta_reco| > training_domain.abs_eta_reco_max",
        CalibFlag.OUTSIDE_TRAINING_PT: "reco pT = sqrt(max(E^2 - m^2, 0))/cosh(eta_reco) outside "
                                       "training_domain.pt_reco [min, max]",
        CalibFlag.INPUT_OUTSIDE_TRAINING: "a raw input outside its training_domain.inputs[name] "
                                          "[min, max]",
    }
    return {
        "codes": [{"code": int(c), "name": c.name, "rule": words[c]} for c in CalibFlag],
        "order": ("1, 2, 5 from the inputs in that order before evaluating (first that applies); "
                  "then 4 from the responses; then 6 (mass threshold), then 3 (overrides 6); "
                  "a jet flagged 1, 2, 4 or 5 keeps e_cal = e_reco, m_cal = m_reco, "
                  "pt_cal from them"),
        "training_domain": ("only with a training_domain: among 7, 8, 9 the first that applies "
                            "(7 first); comparisons strict (a value equal to a limit is inside); "
                            "default policy 'flag': the jet is calibrated as without the domain "
                            "and its code 0, 3 or 6 becomes 7/8/9 (1, 2, 4, 5 are kept); policy "
                            "'strict': 7/8/9 decided after 1, 2, 5 and before evaluating, reco "
                            "kinematics kept; 'ignore': no 7-9"),
        "uncalibrated": "calib_flag in (1, 2, 4, 5), and 7-9 under the 'strict' policy",
        "pt_cal": "pt_cal = sqrt(max(e_cal^2 - m_cal^2, 0))/cosh(eta_reco)",
        "dtypes": "e_cal, pt_cal, m_cal stored as float32 (computed in float64); calib_flag int8",
        "mass_min_GeV": float(model.config.mass_min_reco),
    }


def sidecar_document(model: Any, paths: dict[str, Path]) -> dict[str, Any]:
    """The sidecar (``<stem>.sidecar.json``): everything a runtime outside jetcalib needs to
    reproduce ``jetcalib calibrate`` from ``<stem>.nonorm.onnx`` (and the residual file)."""
    sidecar: dict[str, Any] = {
        "sidecar_version": SIDECAR_VERSION,
        "onnx_file": paths["nonorm"].name,
        "outputs": ["outputE", "outputM"],
        "inputs": [_input_entry(i, f, s, o)
                   for i, (f, s, o) in enumerate(zip(model.features, model.normalisation.scale,
                                                     model.normalisation.offset, strict=True))],
        "mass_min_GeV": float(model.config.mass_min_reco),
        "content_hash": model.header.content_hash,
        "units": {"energy": "GeV", "rule": (
            "the graph, every input with unit GeV or ln GeV, mass_min_GeV, the training domain and "
            "the residual are in GeV: a MeV table is converted first (energies, masses, momenta / "
            "1000, then log_e = ln(e_reco), log_m = ln(max(m_reco, 1))) and e_cal, pt_cal, m_cal "
            "back (* 1000)")},
        "normalisation": {
            "formula": "x_norm = x · NormScale + NormOffset",
            "where": (f"per input, in float32; {paths['nonorm'].name} (onnx_file) is fed x_norm, "
                      f"{paths['onnx'].name} has the same normalisation inside and is fed raw x"),
            "input": "float32 [N, F] tensor 'features', columns in the order of inputs (index)",
        },
        "output_meaning": {
            "outputE": "r_E, the predicted energy response E_reco/E_true (> 0)",
            "outputM": "r_m, the predicted mass response m_reco/m_true (> 0)",
            "calibration": "E_cal = E/outputE, m_cal = m/outputM (E = e_reco, m = m_reco, GeV)",
        } if not _probabilistic(model) else {
            "outputE": ("[N, 5]: column 0 r_E, the energy response E_reco/E_true used to calibrate "
                        f"(head: {model.config.head}); columns 1, 2 the 15.87/84.13 % quantiles of "
                        "the predicted r_E (E_true within [E/col 2, E/col 1] with 68 % probability), "
                        "3 its median, 4 the correlation of log r_E and log r_m (0: not modelled); "
                        "e_cal_rel_unc = (col 2 - col 1)/2/col 3"),
            "outputM": ("[N, 5]: column 0 r_m, the mass response m_reco/m_true used to calibrate; "
                        "columns 1, 2 the 15.87/84.13 % quantiles of the predicted r_m, 3 its median, "
                        "4 the correlation (as outputE's)"),
            "calibration": ("E_cal = E/outputE[:, 0], m_cal = m/outputM[:, 0] (E = e_reco, "
                            "m = m_reco, GeV); the quantiles are the network's, before the residual"),
        },
        "calibration_rule": [
            "1. flags 1, 2, 5 (flag_rules) from e_reco, m_reco, eta_reco and the raw inputs; "
            "under the 'strict' domain policy also 7-9",
            "2. for the jets left (flag 0): x_norm = x · NormScale + NormOffset, run onnx_file: "
            "r_E = outputE, r_m = outputM",
            ("3. the residual (residual_rule) scales the responses: r_E *= R_E, r_m *= R_E·R_JMS "
             "where the JMS applies, else r_m *= R_E" if "residual" in paths else
             "3. no residual closure: r_E, r_m as they are"),
            "4. flag 4 where r_E or r_m is non-finite or <= 0; else E_cal = E/r_E, m_cal = m/r_m; "
            "where m_reco <= mass_min_GeV m_cal = m/r_E (flag 6); where m_cal >= E_cal "
            "m_cal = m/r_E (flag 3)",
            "5. pt_cal = sqrt(max(E_cal^2 - m_cal^2, 0))/cosh(eta_reco); flagged 1, 2, 4, 5: reco "
            "kinematics",
            "6. 'flag' policy (default): codes 0, 3, 6 of jets outside training_domain become 7/8/9",
        ],
        "flag_rules": _flag_rules(model),
        # how this sidecar was made; like the whole sidecar, not part of content_hash
        "environment": environment(EXPORT_PACKAGES),
    }
    layout = getattr(model, "layout", None)
    if layout is not None:
        sidecar["constituent_inputs"] = {
            **layout.to_dict(),
            "inputs": {k: ["N", *v] for k, v in constituent_input_shapes(layout).items()},
            "rule": ("clusters[n, k, j] = column cluster_columns[j] of the k-th cluster of jet n, clusters "
                     "hardest (LC energy) first; tracks likewise (track_columns, highest pT first); raw "
                     "values in GeV, rad, mm; the masks 1 for a constituent, 0 for padding (values 0); "
                     "a jet with more keeps the first max_clusters / max_tracks; the constituents' "
                     "transforms and normalisation are inside both graphs (the .nonorm.onnx too), "
                     "only the features' are outside the .nonorm.onnx; a non-finite constituent "
                     "value flags the jet 1 (not evaluated)"),
        }
    if getattr(model, "training_domain", None) is not None:
        # per-input (min, max) of the raw features over the training jets, |η| and reco pT
        # ranges: jets outside are flagged 7-9 (docs/flags.md#training-domain)
        sidecar["training_domain"] = model.training_domain.to_dict()
    if "residual" in paths:
        sidecar["residual_correctionlib"] = paths["residual"].name
        sidecar["residual_rule"] = (
            "after the network: E1 = E/outputE, m1 = m/outputM; then the residual, as the numerical "
            "calibration: R_E = jes_response(eta, E1), E2 = E1/R_E, m_jes = m1/R_E; where "
            "jms_min_energy() < E2 < jms_max_energy(), m2 = m_jes/jms_response(eta, E2, m_jes), else "
            "m2 = m_jes")
        sidecar["residual_inputs"] = ("eta = eta_reco of the jet; a jms_max_energy correction "
                                      "absent: no upper limit")
    return sidecar


def _write_all(model: Any, paths: dict[str, Path], tmps: dict[str, Path]) -> None:
    for key in ("onnx", "nonorm"):
        tmps[key].write_bytes(onnx_bytes(model, normalisation_inside=key == "onnx"))
    if "residual" in paths:
        from ..numerical import write_correctionlib

        write_correctionlib(model.residual, tmps["residual"], residual_of=model.header.content_hash)
    tmps["sidecar"].write_text(json.dumps(sidecar_document(model, paths), indent=2, ensure_ascii=False))


def _identity_norm(wrapped: Any) -> Any:
    import copy

    import torch

    plain = copy.deepcopy(wrapped)
    if hasattr(plain, "base"):  # a constituent network: the jet inputs' normalisation is the base's
        plain.base.scale = torch.ones_like(plain.base.scale)
        plain.base.offset = torch.zeros_like(plain.base.offset)
        return plain
    plain.scale = torch.ones_like(plain.scale)
    plain.offset = torch.zeros_like(plain.offset)
    return plain
