"""Jet tables: the declared schema, provenance metadata, Parquet/ROOT reading and writing,
column mapping for users' own ntuples."""

from .artifacts import ArtifactHeader, canonical_json, content_hash
from .files import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_TREE,
    JetFile,
    TableWriter,
    atomic_path,
    concat_tables,
    detect_format,
    open_jets,
    read_table,
    write_table,
)
from .mapping import ColumnMap, derivation_plan, derive_columns
from .metadata import METADATA_KEY, DatasetMetadata
from .schema import (
    CALIBRATED_COLUMNS,
    COLUMNS,
    INPUT_FEATURES,
    RECO_COLUMNS,
    SCHEMA_VERSION,
    TRUTH_COLUMNS,
    CalibFlag,
    Column,
    Process,
    column,
    columns_in_group,
)

__all__ = [
    "ArtifactHeader",
    "canonical_json",
    "content_hash",
    "CALIBRATED_COLUMNS",
    "COLUMNS",
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_TREE",
    "INPUT_FEATURES",
    "METADATA_KEY",
    "RECO_COLUMNS",
    "SCHEMA_VERSION",
    "TRUTH_COLUMNS",
    "CalibFlag",
    "Column",
    "ColumnMap",
    "DatasetMetadata",
    "JetFile",
    "Process",
    "TableWriter",
    "atomic_path",
    "column",
    "columns_in_group",
    "concat_tables",
    "derivation_plan",
    "derive_columns",
    "detect_format",
    "open_jets",
    "read_table",
    "write_table",
]
