"""The jetcalib version, recorded in every artifact's provenance."""

__version__ = "0.3.0"
