"""Provenance metadata that travels with every jet table (Parquet key-value metadata, or a
``TObjString`` beside the TTree in ROOT files)."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._version import __version__
from ..errors import ArtifactError, describe_validation_error
from .schema import SCHEMA_VERSION

__all__ = ["METADATA_KEY", "SIMULATION_VERSION", "DatasetMetadata", "check_simulation_versions",
           "simulation_version"]

#: Key of the JSON metadata in Parquet key-value metadata, and name of the ROOT TObjString.
METADATA_KEY = "jetcalib_metadata"

#: Version of the detector simulation (``jetcalib generate``) that this code runs, recorded in
#: every generated table. Bumped whenever the simulated detector changes what a jet looks like;
#: training on tables of another version would mix two detectors. 1: one grid, clusters split
#: at tower maxima; 2: split at cell maxima with shared cells, LC weights from cell density,
#: EM-dominated crack loss.
SIMULATION_VERSION = "3"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class DatasetMetadata(BaseModel):
    """Provenance of a jet table.

    ``generator`` holds whatever produced the table (process, Pythia settings, detector
    config, pile-up profile); ``seeds`` the seeds used, so that the table can be remade.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    jetcalib_version: str = __version__
    created: str = Field(default_factory=_now)
    producer: str = "unknown"  #: the command or function that wrote the table
    generator: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=list)
    n_events: int | None = None
    parents: list[str] = Field(default_factory=list)  #: tables this one was derived from
    extra: dict[str, Any] = Field(default_factory=dict)
    #: how the table was made (:func:`jetcalib.io.provenance.environment`), None in tables from
    #: before it was recorded and in tables written through the API without one
    environment: dict[str, Any] | None = None

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<metadata>") -> DatasetMetadata:
        """Parse and check stored metadata; refuse another schema major version."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:  # nested 1e5 deep
            raise ArtifactError(f"{source}: jetcalib metadata is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ArtifactError(f"{source}: jetcalib metadata is not a JSON object")
        found = str(raw.get("schema_version", "?"))
        if found.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ArtifactError(
                f"{source}: written with jet-table schema {found}, this jetcalib reads "
                f"schema {SCHEMA_VERSION}; regenerate the file with this version"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ArtifactError(f"{source}: invalid jetcalib metadata: {describe_validation_error(exc)}") from None


def simulation_version(meta: DatasetMetadata | None) -> str | None:
    """The simulation version of a table ``jetcalib generate`` wrote ("1" for tables from
    before versions were recorded); None for any other table (the user's own simulation)."""
    if meta is None or meta.producer != "jetcalib generate":
        return None
    return str(meta.generator.get("simulation_version", "1"))


def check_simulation_versions(tables: list[tuple[str, DatasetMetadata | None]]) -> None:
    """Refuse (:class:`~jetcalib.errors.InputError`) generated tables of another simulation
    version than this code's, so that one calibration never mixes two detectors; tables that
    jetcalib did not generate are the user's and pass."""
    from ..errors import InputError

    for source, meta in tables:
        found = simulation_version(meta)
        if found is not None and found != SIMULATION_VERSION:
            raise InputError(f"{source}: generated with simulation version {found}, this jetcalib "
                             f"simulates version {SIMULATION_VERSION}; regenerate it with jetcalib generate")
