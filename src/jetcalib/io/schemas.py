"""The JSON artifacts jetcalib writes, as pydantic models: the models ARE the schema (as
correctionlib's ``schemav2``). ``schemas/<name>.schema.json`` in the repository is generated
from them (``python -m jetcalib.io.schemas --write schemas/``) and a test keeps the two equal.

| name (:data:`SCHEMAS`) | model | file |
|---|---|---|
| ``numerical-calibration`` | :class:`NumericalCalibrationArtifact` | ``numerical fit -o X.json`` |
| ``dnn-model`` | :class:`DNNModelArtifact` | ``MODEL/artifact.json`` |
| ``onnx-sidecar`` | :class:`OnnxSidecar` | ``MODEL.sidecar.json`` (``sidecar_version`` 2.x) |
| ``evaluation-summary`` | :class:`EvaluationSummary` | ``REPORT/summary.json`` |

Each model describes what this jetcalib writes (unknown keys refused); free-form parts
(``environment``, rule texts, training summaries) stay ``dict[str, Any]``; so do the two
configs (the DNN's and the numerical one), whose own models live downstream and validate them
when the artifact is loaded: ``io`` imports no later stage. Not imported by ``jetcalib.io``
itself; the readers import it lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ArtifactError, describe_validation_error
from .artifacts import ArtifactHeader
from .metadata import DatasetMetadata

__all__ = [
    "SCHEMAS",
    "DNNModelArtifact",
    "EvaluationSummary",
    "JESBin",
    "JESPayload",
    "JMSPayload",
    "NormalisationPayload",
    "NumericalCalibrationArtifact",
    "NumericalPayload",
    "OnnxSidecar",
    "SidecarInput",
    "TrainingDomainPayload",
    "check_document",
    "schema_text",
    "write_schemas",
]


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingDomainPayload(_Exact):
    """``TrainingDomain.to_dict()``: the numerical ``payload.domain``, the DNN's and the
    sidecar's ``training_domain``."""

    ranges: str
    abs_eta_reco_max: float
    pt_reco: list[float] | None = None  #: [min, max] GeV (DNN models)
    e_reco: list[float] | None = None  #: [min, max] GeV (numerical calibrations)
    inputs: dict[str, list[float]] = {}  #: per raw input [min, max]
    selection: dict[str, Any] = {}


class JESBin(_Exact):
    lo: float
    hi: float
    coef: list[float]  #: polynomial in ln E_reco


class JESPayload(_Exact):
    eta_edges: list[float]
    signed_eta: bool
    bins: list[JESBin]
    points: list[Any] = []
    merged: list[Any] = []


class JMSPayload(_Exact):
    eta_edges: list[float]
    x_nodes: list[float]
    y_nodes: list[float]
    values: list[Any]  #: response grid [|η| bin][x node][y node]
    min_energy: float
    max_energy: float | None = None
    points: list[Any] = []
    merged: list[Any] = []


class NumericalPayload(_Exact):
    """``NumericalCalibration.to_payload()``, hashed by the header's ``content_hash``; also
    the ``residual`` of a DNN model."""

    config: dict[str, Any]  #: a NumericalConfig (validated by the numerical stage)
    jes: JESPayload
    jms: JMSPayload | None
    domain: TrainingDomainPayload | None = None  #: absent in format 1.0


class NumericalCalibrationArtifact(_Exact):
    """The numerical calibration file (``NumericalCalibration.save``)."""

    header: ArtifactHeader
    payload: NumericalPayload


class NormalisationPayload(_Exact):
    """``Normalisation.to_dict()``: x_norm = x · scale + offset per feature."""

    method: str = "robust"
    features: list[str]
    scale: list[float]
    offset: list[float]


class DNNModelArtifact(_Exact):
    """``MODEL/artifact.json`` (``DNNCalibration.save``); the weights are ``weights.pt``."""

    header: ArtifactHeader
    config: dict[str, Any]  #: ``DNNConfig.model_dump(mode="json")``
    normalisation: NormalisationPayload
    residual: NumericalPayload | None = None
    training_domain: TrainingDomainPayload | None = None  #: null/absent in format 2.0
    summary: dict[str, Any] | None = None


class SidecarInput(_Exact):
    name: str
    NormScale: float
    NormOffset: float
    index: int
    definition: str
    unit: str
    when_undefined: str
    sentinel: float | None


class OnnxSidecar(_Exact):
    """``MODEL.sidecar.json`` of ``export`` (``deploy.onnx_export.sidecar_document``)."""

    sidecar_version: str
    onnx_file: str
    outputs: list[str]
    inputs: list[SidecarInput]
    mass_min_GeV: float
    content_hash: str
    units: dict[str, Any]
    normalisation: dict[str, Any]
    output_meaning: dict[str, Any]
    calibration_rule: list[str]
    flag_rules: dict[str, Any]
    environment: dict[str, Any] | None = None
    training_domain: TrainingDomainPayload | None = None
    residual_correctionlib: str | None = None
    residual_rule: str | None = None
    residual_inputs: str | None = None
    #: a constituent network's further graph inputs (docs/method.md#constituent-network)
    constituent_inputs: dict[str, Any] | None = None


class EvaluationSummary(_Exact):
    """``REPORT/summary.json`` of ``evaluate`` (``evaluate.study.headline`` + ``weighted``);
    non-finite numbers are stored as null."""

    baseline: str
    methods: list[str]
    n_jets: int
    selection: dict[str, float]
    #: method -> quantity (energy, mass) -> pT_true region -> value
    resolution: dict[str, dict[str, dict[str, float | None]]]
    resolution_ratio: dict[str, dict[str, dict[str, float | None]]]
    closure_max_deviation: dict[str, dict[str, float | None]]  #: method -> quantity
    mass_peaks: dict[str, dict[str, dict[str, float | None]]]  #: method -> wz/top -> fit
    flagged_fraction: dict[str, float | None]
    weighted: bool
    #: fitted W/Z and top peaks per method and pT_true bin (evaluate.study.mass_peaks_by_pt)
    mass_peaks_by_pt: list[dict[str, str | float | int | None]] | None = None
    #: closure slopes d(median)/dμ and d(median)/dNPV per method, quantity and pT_true bin
    pileup_slopes: list[dict[str, str | float | None]] | None = None
    #: nominal vs altered-generator sample per method, quantity and pT_true bin (evaluate --alt)
    generator_shift: list[dict[str, str | float | int | None]] | None = None
    #: versions, content hashes and seeds of the report's inputs (evaluate.inputs)
    provenance: dict[str, Any] | None = None
    #: coverage of predicted per-jet uncertainties per method, quantity and bin (probabilistic
    #: DNN heads only; evaluate.coverage.coverage_rows)
    coverage: list[dict[str, str | float | int | None]] | None = None


class OnnxMetadata(_Exact):
    """The metadata properties of a jetcalib ``.onnx`` export (``onnx_export._metadata`` plus
    the two hashes), every value a string as ONNX stores them; JSON-valued ones noted."""

    features: str  #: JSON list: the input order
    content_hash: str  #: of the source model
    jetcalib_version: str
    mass_min_reco: str  #: GeV, a float's repr
    outputs: str
    normalisation: str  #: "inside" (the .onnx) or "outside" (the .nonorm.onnx)
    environment: str  #: JSON: how the file was made (io.provenance)
    model_environment: str | None = None  #: JSON: how the source model was trained
    residual: str | None = None  #: JSON: the residual closure's numerical payload
    residual_hash: str | None = None
    training_domain: str | None = None  #: JSON: TrainingDomain.to_dict()
    constituents: str | None = None  #: JSON: a constituent network's layout and further inputs
    graph_hash: str  #: sha256 of the graph (deploy.onnx_export.graph_hash)
    metadata_hash: str  #: JSON: sha256 of every other property


#: schema name (``schemas/<name>.schema.json``) -> model; ``table-metadata`` is the provenance
#: every jet table carries (Parquet key-value metadata, or a TObjString in ROOT)
SCHEMAS: dict[str, type[BaseModel]] = {
    "numerical-calibration": NumericalCalibrationArtifact,
    "dnn-model": DNNModelArtifact,
    "onnx-metadata": OnnxMetadata,
    "onnx-sidecar": OnnxSidecar,
    "evaluation-summary": EvaluationSummary,
    "table-metadata": DatasetMetadata,
}


def check_document(model: type[BaseModel], raw: Any, *, stored_version: str, reads_version: str,
                   source: str, what: str) -> None:
    """Validate a stored document against ``model``; a failure is one :class:`ArtifactError`
    line ``<source>: malformed <what>: <field>: <message>``.

    A newer minor version of the same major format (``stored_version`` above
    ``reads_version``) may add keys the model does not know: it is read as before, without
    the model (ARCHITECTURE.md: a minor version only adds)."""
    def minor(version: str) -> int:
        parts = version.split(".")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    if minor(stored_version) > minor(reads_version):
        return
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"{source}: malformed {what}: {describe_validation_error(exc)}") from None


def schema_text(name: str) -> str:
    """The JSON schema of ``SCHEMAS[name]`` as committed (sorted keys, 2-space indent)."""
    schema = SCHEMAS[name].model_json_schema()
    schema["$id"] = f"{name}.schema.json"
    # the writer's version is a fact about the file, not a default of the schema (else every
    # release would change every schema)
    for props in (schema.get("$defs", {}).get("ArtifactHeader", {}).get("properties", {}),
                  schema.get("properties", {}) if name == "table-metadata" else {}):
        props.get("jetcalib_version", {}).pop("default", None)
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out_dir: str | Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every model into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        p = out / f"{name}.schema.json"
        p.write_text(schema_text(name), encoding="utf-8")
        written.append(p)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetcalib.io.schemas",
                                     description="write the JSON schemas of jetcalib's artifacts")
    parser.add_argument("--write", metavar="DIR", required=True, help="output folder")
    args = parser.parse_args(argv)
    for p in write_schemas(args.write):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
