"""Evaluation of calibrations: closure and resolution (binned, with bootstrap errors), mass
peaks, figures and a self-contained HTML report (docs/method.md#evaluation).

The metric functions are pure numpy and meant to be reused (DNN tests, benchmarks)::

    from jetcalib.evaluate import resolution, closure, mode_estimate, binned_metrics

The studies beyond the inclusive bins (|η| slices, μ/NPV in pT bins, pile-up slopes,
generator dependence, mass peaks per pT bin) are :func:`sliced_table`, :func:`pileup_slopes`,
:func:`generator_shift` and :func:`mass_peaks_by_pt`; :mod:`jetcalib.evaluate.inputs` reads
test samples and builds the report's provenance block. :mod:`jetcalib.evaluate.coverage`
checks a probabilistic head's per-jet uncertainties: :func:`coverage_table` (68/95 % coverage,
PIT histograms, predicted vs observed resolution in bins of any variable).
"""

from .coverage import coverage_table, interval_coverage, pit_histogram, pit_values
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
from .study import (
    ETA_SLICES,
    PT_BINS,
    PT_REGIONS,
    VARIABLES,
    binned_table,
    generator_shift,
    headline,
    mass_peaks_by_pt,
    pileup_slopes,
    run_methods,
    sliced_table,
)

__all__ = [
    "BINNED_FIELDS",
    "ETA_SLICES",
    "MASS_WINDOWS",
    "PT_BINS",
    "PT_REGIONS",
    "UNCALIBRATED",
    "VARIABLES",
    "Uncalibrated",
    "binned_metrics",
    "binned_table",
    "bootstrap_error",
    "closure",
    "coverage_table",
    "fit_mass_peak",
    "generator_shift",
    "headline",
    "interval_coverage",
    "load_calibration",
    "make_report",
    "mass_peaks_by_pt",
    "mode_estimate",
    "parse_method_specs",
    "pileup_slopes",
    "pit_histogram",
    "pit_values",
    "quantiles",
    "resolution",
    "resolution_iqr",
    "run_methods",
    "sliced_table",
]
