"""The jetcalib version, recorded in every artifact's provenance."""

__version__ = "0.1.0"
