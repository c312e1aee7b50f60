"""Robust central-value estimators of a response distribution (pure numpy).

Used by the numerical calibration to summarise ``r = reco / true`` in a bin, and re-exported by
:mod:`jetcalib.evaluate` for closure figures. Every function takes a 1-D sample ``x`` (shape
``[N]``, any unit; responses are dimensionless) and returns a float; an empty sample gives NaN
(callers decide how to treat empty bins, see :mod:`jetcalib.numerical.jes`).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np

__all__ = [
    "CENTRAL_METHODS",
    "CentralMethod",
    "central_uncertainty",
    "central_value",
    "gauss_core",
    "half_sample_mode",
    "kde_mode",
    "local_fit_mode",
    "mode_estimate",
    "robust_sigma",
]

#: Central values a calibration can be derived from (``--central``, ``NumericalConfig.central``).
CentralMethod = Literal["median", "gauss", "mode"]
CENTRAL_METHODS: tuple[str, ...] = get_args(CentralMethod)

# Gaussian-core fits use the window mean ± GAUSS_WINDOW·sigma (ATLAS uses 1.5-2 sigma).
GAUSS_WINDOW = 1.5


def _clean(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def robust_sigma(x: np.ndarray) -> float:
    """(q84 − q16) / 2 of the finite entries: σ for a Gaussian, insensitive to tails."""
    a = _clean(x)
    if a.size < 2:
        return float("nan")
    q16, q84 = np.quantile(a, [0.15865525, 0.84134475])
    return float(0.5 * (q84 - q16))


def gauss_core(x: np.ndarray, *, window: float = GAUSS_WINDOW, iterations: int = 4,
               weights: np.ndarray | None = None, start: tuple[float, float] | None = None) -> tuple[float, float]:
    """Mean and width ``(μ, σ)`` of a Gaussian fitted to the core of ``x``.

    Iterates: histogram the entries within μ ± ``window``·σ, fit a parabola to the log of the
    counts (weighted by √counts, the Poisson weight of a log count), read μ and σ from it.
    Starts from the median and :func:`robust_sigma`, or from ``start``; falls back to the start
    when the fit is not a peak (too few entries, or an upward parabola), so the result is never
    NaN for N ≥ 2. ``weights`` (per entry; entries with a non-finite or non-positive weight
    dropped): weighted histograms, each log count weighted by √(its effective entries); give
    ``start`` from weighted quantiles with them.
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    w: np.ndarray | None = None
    if weights is None:
        a = a[np.isfinite(a)]
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        keep = np.isfinite(a) & np.isfinite(w) & (w > 0)
        a, w = a[keep], w[keep]
    if a.size == 0:
        return float("nan"), float("nan")
    mu0, sig0 = (float(np.median(a)), robust_sigma(a)) if start is None else start
    if a.size < 30 or not (sig0 > 0):
        return mu0, sig0
    mu, sig = mu0, sig0
    for _ in range(iterations):
        lo, hi = mu - window * sig, mu + window * sig
        inside = (a >= lo) & (a <= hi)
        core = a[inside]
        wc = None if w is None else w[inside]
        nbins = int(np.clip(core.size // 25, 8, 40))
        counts, edges = np.histogram(core, bins=nbins, range=(lo, hi), weights=wc)
        centres = 0.5 * (edges[:-1] + edges[1:])
        use = counts > 0
        if use.sum() < 4:
            break
        if wc is None:
            n_eff = counts[use]
        else:
            sq, _ = np.histogram(core, bins=nbins, range=(lo, hi), weights=wc**2)
            n_eff = counts[use] ** 2 / sq[use]
        # Fit in units of sigma around mu to keep the normal equations well conditioned.
        t = (centres[use] - mu) / sig
        coef = np.polyfit(t, np.log(counts[use]), 2, w=np.sqrt(n_eff))
        c2, c1 = coef[0], coef[1]
        if not (c2 < 0):
            break
        new_mu = mu + sig * (-c1 / (2 * c2))
        new_sig = sig * math.sqrt(-1 / (2 * c2))
        # A fit that jumps out of its own window is not describing this peak.
        if not (np.isfinite(new_mu) and np.isfinite(new_sig)) or abs(new_mu - mu) > window * sig:
            break
        mu, sig = float(new_mu), float(new_sig)
    return mu, sig


def half_sample_mode(x: np.ndarray) -> float:
    """Half-sample mode (Bickel & Frühwirth 2006): repeatedly keep the densest half.

    Robust and parameter-free, but noisy for smooth unimodal densities; used for tiny samples.
    """
    a = np.sort(_clean(x))
    if a.size == 0:
        return float("nan")
    while a.size > 3:
        h = (a.size + 1) // 2
        widths = a[h - 1 :] - a[: a.size - h + 1]
        i = int(np.argmin(widths))
        a = a[i : i + h]
    if a.size == 3:
        d1, d2 = a[1] - a[0], a[2] - a[1]
        if d1 < d2:
            return float(0.5 * (a[0] + a[1]))
        if d2 < d1:
            return float(0.5 * (a[1] + a[2]))
        return float(a[1])
    return float(a.mean())


def kde_mode(x: np.ndarray, *, bandwidth: float | None = None) -> float:
    """Mode of a Gaussian kernel density estimate, on a fine binned grid.

    The default bandwidth 0.5·σ_robust·N^(−1/7) follows the N^(−1/7) rate that is optimal for
    locating a mode; it is noisy (≈ 0.05·σ at N = 2·10⁵), hence :func:`local_fit_mode`. The
    density is histogrammed on 2,000 bins over the central 99 % and
    smoothed by FFT convolution; the peak is refined by a parabola through the three highest
    bins. Samples under 50 entries fall back to :func:`half_sample_mode`.
    """
    a = _clean(x)
    if a.size < 50:
        return half_sample_mode(a)
    sig = robust_sigma(a)
    if not (sig > 0):
        return float(np.median(a))
    h = bandwidth if bandwidth is not None else 0.5 * sig * a.size ** (-1 / 7)
    lo, hi = np.quantile(a, [0.005, 0.995])
    lo, hi = lo - 4 * h, hi + 4 * h
    nbins = 2000
    counts, edges = np.histogram(a, bins=nbins, range=(lo, hi))
    dx = edges[1] - edges[0]
    half = math.ceil(4 * h / dx)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) * dx / h) ** 2)
    dens = np.convolve(counts.astype(np.float64), k, mode="same")
    i = int(np.argmax(dens))
    centre = edges[i] + 0.5 * dx
    if 0 < i < nbins - 1:
        ym, y0, yp = dens[i - 1], dens[i], dens[i + 1]
        denom = ym - 2 * y0 + yp
        if denom < 0:
            centre += 0.5 * dx * (ym - yp) / denom
    return float(centre)


def local_fit_mode(x: np.ndarray, *, window: float = 1.0, iterations: int = 2) -> float:
    """Mode from a cubic fit to the log-density around the peak (default mode estimator).

    Seeds with a wide-kernel :func:`kde_mode` (bandwidth 0.3·σ_robust: stable, but biased
    towards the longer tail), then histograms the entries within ± ``window``·σ_robust of it
    and fits a cubic to the log of the counts (weights √counts). The cubic term absorbs the
    skewness that biases a parabola (Gaussian-core) fit, so the stationary point is an
    unbiased mode to O(σ²): measured within 0.1 % on lognormal (σ = 0.15, 0.3) and gamma
    (k = 5, 20) samples of 10⁵ entries. Falls back to the seed when the fit has no maximum
    inside the window, and to :func:`half_sample_mode` under 200 entries.
    """
    a = _clean(x)
    if a.size < 200:
        return half_sample_mode(a)
    sig = robust_sigma(a)
    if not (sig > 0):
        return float(np.median(a))
    mode = kde_mode(a, bandwidth=0.3 * sig)
    for _ in range(iterations):
        lo, hi = mode - window * sig, mode + window * sig
        core = a[(a >= lo) & (a <= hi)]
        nbins = int(np.clip(core.size // 50, 10, 60))
        counts, edges = np.histogram(core, bins=nbins, range=(lo, hi))
        use = counts > 0
        if use.sum() < 6:
            break
        t = (0.5 * (edges[:-1] + edges[1:])[use] - mode) / sig
        poly = np.polynomial.Polynomial.fit(
            t, np.log(counts[use]), 3, w=np.sqrt(counts[use]), domain=[-1, 1], window=[-1, 1]
        )
        roots = poly.deriv().roots()
        roots = roots[np.abs(roots.imag) < 1e-12].real
        roots = roots[(np.abs(roots) <= window) & (poly.deriv(2)(roots) < 0)]
        if roots.size == 0:
            break
        mode = float(mode + sig * roots[np.argmin(np.abs(roots))])
    return mode


def mode_estimate(x: np.ndarray, *, method: str = "fit") -> float:
    """Most probable value of a sample ``x`` (shape ``[N]``).

    ``"fit"`` (default, :func:`local_fit_mode`), ``"kde"`` (:func:`kde_mode`), ``"hsm"``
    (:func:`half_sample_mode`) or ``"gauss"`` (mean of a Gaussian-core fit,
    :func:`gauss_core`, the usual ATLAS choice; biased towards the tail for skewed responses).
    """
    if method == "fit":
        return local_fit_mode(x)
    if method == "kde":
        return kde_mode(x)
    if method == "hsm":
        return half_sample_mode(x)
    if method == "gauss":
        return gauss_core(x)[0]
    raise ValueError(f"unknown mode estimator {method!r} (fit, kde, hsm, gauss)")


def central_value(x: np.ndarray, method: str = "median") -> float:
    """Central value of a response sample by one of :data:`CENTRAL_METHODS`."""
    if method == "median":
        a = _clean(x)
        return float(np.median(a)) if a.size else float("nan")
    if method == "gauss":
        return gauss_core(x)[0]
    if method == "mode":
        return local_fit_mode(x)
    raise ValueError(f"unknown central value {method!r}; choose one of {', '.join(CENTRAL_METHODS)}")


def central_uncertainty(x: np.ndarray, method: str = "median") -> float:
    """Approximate statistical uncertainty of :func:`central_value` (same unit as ``x``).

    1.2533·σ/√N for the median and the Gaussian core (asymptotic for a Gaussian); twice that for
    the mode, whose estimator converges more slowly. Used only to weight smooth fits.
    """
    a = _clean(x)
    if a.size < 2:
        return float("inf")
    scale = 2.0 if method == "mode" else 1.0
    return float(scale * 1.2533 * robust_sigma(a) / math.sqrt(a.size))
