"""The header every stored artifact (numerical calibration, DNN model, ...) carries, and the
content hash that lets loading refuse a tampered or mismatched artifact."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._version import __version__
from ..errors import ArtifactError, describe_validation_error
from .schema import SCHEMA_VERSION

__all__ = ["ArtifactHeader", "ArtifactKind", "canonical_json", "content_hash"]


class ArtifactKind(StrEnum):
    """The kinds of stored calibration (``ArtifactHeader.artifact``), spelled once."""

    DNN_MODEL = "dnn-model"
    NUMERICAL_CALIBRATION = "numerical-calibration"


def canonical_json(payload: Any) -> bytes:
    """JSON with sorted keys and no whitespace: the bytes that :func:`content_hash` hashes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def content_hash(*parts: bytes | Any) -> str:
    """``sha256:<hex>`` over ``parts`` (bytes as they are, anything else as canonical JSON)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else canonical_json(part))
    return "sha256:" + h.hexdigest()


class ArtifactHeader(BaseModel):
    """What every artifact says about itself.

    ``artifact`` names the kind (``"numerical-calibration"``, ``"dnn-model"``, ...) and
    ``format_version`` that kind's own layout version; ``schema_version`` is the jet-table
    schema its columns refer to; ``content_hash`` covers the payload (see each kind), never
    the header: not ``created``, ``training_data`` or ``environment``, which say how and where
    the artifact was made, not what it computes.
    """

    model_config = ConfigDict(extra="forbid")

    artifact: str
    format_version: str
    schema_version: str = SCHEMA_VERSION
    jetcalib_version: str = __version__
    created: str = Field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )
    features: list[str] = Field(default_factory=list)
    seeds: dict[str, int] = Field(default_factory=dict)
    training_data: list[dict[str, Any]] = Field(default_factory=list)  #: provenance of inputs
    #: how the artifact was made (:func:`jetcalib.io.provenance.environment`: Python and package
    #: versions, command line, git commit); None for artifacts from before it was recorded.
    #: Not covered by ``content_hash``: the same payload made elsewhere is the same artifact.
    environment: dict[str, Any] | None = None
    content_hash: str = ""

    @classmethod
    def check(
        cls, raw: Any, *, artifact: str, format_version: str, source: str
    ) -> ArtifactHeader:
        """Validate a stored header: right kind, same major format and schema versions."""
        if not isinstance(raw, dict):
            raise ArtifactError(f"{source}: not a jetcalib artifact (no header)")
        found = raw.get("artifact")
        if found != artifact:
            raise ArtifactError(f"{source}: is a {found or 'unknown'} artifact, expected {artifact}")
        try:
            header = cls.model_validate(raw)
        except ValidationError as exc:
            raise ArtifactError(f"{source}: invalid artifact header: {describe_validation_error(exc)}") from None
        if header.format_version.split(".")[0] != format_version.split(".")[0]:
            raise ArtifactError(
                f"{source}: {artifact} format {header.format_version}, this jetcalib reads "
                f"{format_version}; re-create it with jetcalib {__version__}"
            )
        if header.schema_version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ArtifactError(
                f"{source}: made for jet-table schema {header.schema_version}, this jetcalib "
                f"uses {SCHEMA_VERSION}"
            )
        return header

    def verify_hash(self, expected: str, source: str) -> None:
        """Refuse the artifact if its payload no longer matches the stored hash."""
        if self.content_hash != expected:
            raise ArtifactError(
                f"{source}: content hash mismatch (stored {self.content_hash[:19]}..., "
                f"computed {expected[:19]}...): the artifact was modified or is corrupt"
            )
