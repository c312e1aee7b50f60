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

__all__ = ["METADATA_HASH", "export_onnx", "graph_hash", "metadata_hashes", "onnx_bytes"]

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

        def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            log_r_e, log_r_m = self.net(features * self.scale + self.offset)
            return torch.exp(log_r_e), torch.exp(log_r_m)

    return _Exported().eval()


def _metadata(model: Any, normalisation: str) -> dict[str, str]:
    """Metadata properties that make an ``.onnx`` file self-describing: what jetcalib needs to
    calibrate with it without the model directory (and without torch)."""
    meta = {"features": json.dumps(list(model.features)),
            "content_hash": model.header.content_hash,
            "jetcalib_version": model.header.jetcalib_version,
            "mass_min_reco": repr(float(model.config.mass_min_reco)),
            "outputs": "outputE = r_E = E_reco/E_true, outputM = r_m = m_reco/m_true",
            "normalisation": normalisation}
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


def onnx_bytes(model: Any, *, normalisation_inside: bool = True) -> bytes:
    """The serialised ONNX graph of ``model`` (see :func:`export_onnx`), checked with
    ``onnx.checker``. Used both for the files and for in-memory export (``--runtime
    onnxruntime`` on a model directory)."""
    import io

    import onnx
    import torch

    wrapped = _wrapped(model)
    module = wrapped if normalisation_inside else _identity_norm(wrapped)
    buf = io.BytesIO()
    # dynamo=False: torch 2.13's default dynamo exporter needs the onnxscript package;
    # the legacy exporter and its internals raise DeprecationWarnings about themselves only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (torch.zeros(2, len(model.features)),), buf, dynamo=False,
                          input_names=["features"], output_names=["outputE", "outputM"],
                          dynamic_axes={"features": {0: "N"}, "outputE": {0: "N"},
                                        "outputM": {0: "N"}},
                          opset_version=OPSET)
    proto = onnx.load_from_string(buf.getvalue())
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
    order); outputs ``outputE``, ``outputM`` (responses r̂_E, r̂_m, > 0). Metadata properties:
    ``features`` (JSON list), ``content_hash`` and ``jetcalib_version`` of the source model,
    ``mass_min_reco`` (GeV; the mass is calibrated only above it), ``normalisation``,
    ``graph_hash`` (:func:`graph_hash`), ``training_domain`` (JSON, when the model has one:
    docs/flags.md#training-domain) and ``metadata_hash`` (:func:`metadata_hashes`).
    The sidecar lists input names with ``NormScale``/``NormOffset`` per feature for runtimes
    that normalise outside the graph (their graph is then fed x·NormScale + NormOffset: use the
    same ``.onnx`` with identity normalisation, written as ``<stem>.nonorm.onnx``).
    A residual closure (``DNNConfig.closure``) is not part of the graph: ``jetcalib`` reads it
    from the metadata properties ``residual``/``residual_hash``; other runtimes evaluate the
    correctionlib file named in the sidecar after the graph, as its ``residual_rule`` says.
    """
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


def _write_all(model: Any, paths: dict[str, Path], tmps: dict[str, Path]) -> None:
    for key in ("onnx", "nonorm"):
        tmps[key].write_bytes(onnx_bytes(model, normalisation_inside=key == "onnx"))
    sidecar = {
        "onnx_file": paths["nonorm"].name,
        "outputs": ["outputE", "outputM"],
        "inputs": [{"name": f, "NormScale": float(s), "NormOffset": float(o)}
                   for f, s, o in zip(model.features, model.normalisation.scale,
                                      model.normalisation.offset, strict=True)],
        "mass_min_GeV": float(model.config.mass_min_reco),
        "content_hash": model.header.content_hash,
    }
    if getattr(model, "training_domain", None) is not None:
        # per-input (min, max) of the raw features over the training jets, |η_reco| and reco
        # pT ranges: jets outside are flagged 7-9 (docs/flags.md#training-domain)
        sidecar["training_domain"] = model.training_domain.to_dict()
    if "residual" in paths:
        from ..numerical import write_correctionlib

        write_correctionlib(model.residual, tmps["residual"], residual_of=model.header.content_hash)
        sidecar["residual_correctionlib"] = paths["residual"].name
        sidecar["residual_rule"] = (
            "after the network: E1 = E/outputE, m1 = m/outputM; then the residual, as the numerical "
            "calibration: R_E = jes_response(eta, E1), E2 = E1/R_E, m_jes = m1/R_E; where "
            "jms_min_energy() < E2 < jms_max_energy(), m2 = m_jes/jms_response(eta, E2, m_jes), else "
            "m2 = m_jes")
    tmps["sidecar"].write_text(json.dumps(sidecar, indent=2))


def _identity_norm(wrapped: Any) -> Any:
    import copy

    import torch

    plain = copy.deepcopy(wrapped)
    plain.scale = torch.ones_like(plain.scale)
    plain.offset = torch.zeros_like(plain.offset)
    return plain
