"""Fitted mass-peak position and width for boosted W/Z and top jets (docs/method.md#evaluation)."""

from __future__ import annotations

import numpy as np

from ..numerical.stats import gauss_core
from .metrics import _Q16, _Q84, quantiles

__all__ = ["MASS_WINDOWS", "fit_mass_peak"]

#: Mass window (GeV) in which each resonance's peak is fitted.
MASS_WINDOWS: dict[str, tuple[float, float]] = {"wz": (50.0, 130.0), "top": (120.0, 230.0)}


def fit_mass_peak(mass: np.ndarray, window: tuple[float, float],
                  weights: np.ndarray | None = None) -> dict[str, float]:
    """Gaussian-core fit of the jet-mass peak inside ``window`` (GeV).

    Returns ``position`` and ``width`` (σ of the core, GeV), ``relative_width`` = width /
    position and ``n`` (jets in the window); NaN values when fewer than 30 jets fall inside.
    ``weights`` (per jet, e.g. 1/σ̂² of a probabilistic head): a weighted fit, started from the
    weighted median and 16/84 % quantiles; jets with a non-finite or non-positive weight are left out.
    """
    m = np.asarray(mass, dtype=np.float64)
    keep = np.isfinite(m) & (m > window[0]) & (m < window[1])
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        keep &= np.isfinite(w) & (w > 0)
    inside = m[keep]
    if inside.size < 30:
        return {"position": float("nan"), "width": float("nan"), "relative_width": float("nan"),
                "n": int(inside.size)}
    if weights is None:
        mu, sig = gauss_core(inside, window=1.0)
    else:
        q16, q50, q84 = quantiles(inside, [_Q16, 0.5, _Q84], w[keep])
        mu, sig = gauss_core(inside, window=1.0, weights=w[keep], start=(float(q50), float(0.5 * (q84 - q16))))
    return {"position": mu, "width": sig, "relative_width": sig / mu, "n": int(inside.size)}
