"""Evaluation of calibrations: closure and resolution (binned, with bootstrap errors), mass
peaks, figures and a self-contained HTML report (docs/method.md#evaluation).

The metric functions are pure numpy and meant to be reused (DNN tests, benchmarks)::

    from jetcalib.evaluate import resolution, closure, mode_estimate, binned_metrics
"""

from .massfit import MASS_WINDOWS, fit_mass_peak
from .methods import UNCALIBRATED, Uncalibrated, load_calibration, parse_method_specs
from .metrics import (
    BINNED_FIELDS,
    binned_metrics,
    bootstrap_error,
    closure,
    mode_estimate,
    quantiles,
    resolution,
    resolution_iqr,
)
from .report import make_report
from .study import PT_REGIONS, VARIABLES, binned_table, headline, run_methods

__all__ = [
    "BINNED_FIELDS",
    "MASS_WINDOWS",
    "PT_REGIONS",
    "UNCALIBRATED",
    "VARIABLES",
    "Uncalibrated",
    "binned_metrics",
    "binned_table",
    "bootstrap_error",
    "closure",
    "fit_mass_peak",
    "headline",
    "load_calibration",
    "make_report",
    "mode_estimate",
    "parse_method_specs",
    "quantiles",
    "resolution",
    "resolution_iqr",
    "run_methods",
]
