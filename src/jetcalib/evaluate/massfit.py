"""Fitted mass-peak position and width for boosted W/Z and top jets (docs/method.md#evaluation)."""

from __future__ import annotations

import numpy as np

from ..numerical.stats import gauss_core

__all__ = ["MASS_WINDOWS", "fit_mass_peak"]

#: Mass window (GeV) in which each resonance's peak is fitted.
MASS_WINDOWS: dict[str, tuple[float, float]] = {"wz": (50.0, 130.0), "top": (120.0, 230.0)}


def fit_mass_peak(mass: np.ndarray, window: tuple[float, float]) -> dict[str, float]:
    """Gaussian-core fit of the jet-mass peak inside ``window`` (GeV).

    Returns ``position`` and ``width`` (σ of the core, GeV), ``relative_width`` = width /
    position and ``n`` (jets in the window); NaN values when fewer than 30 jets fall inside.
    """
    m = np.asarray(mass, dtype=np.float64)
    inside = m[np.isfinite(m) & (m > window[0]) & (m < window[1])]
    if inside.size < 30:
        return {"position": float("nan"), "width": float("nan"), "relative_width": float("nan"),
                "n": int(inside.size)}
    mu, sig = gauss_core(inside, window=1.0)
    return {"position": mu, "width": sig, "relative_width": sig / mu, "n": int(inside.size)}
