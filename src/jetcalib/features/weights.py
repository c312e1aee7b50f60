"""Training sample weights that flatten the spectrum in (ln E_true, ln(m_true/E_true)).

Without them the network's loss is dominated by the most populated region of a steeply
falling dijet spectrum and the calibration inherits that prior (docs/method.md#loss).
"""

from __future__ import annotations

import numpy as np

__all__ = ["flatten_weights"]

#: Floor on m_true/E_true before the log, so that massless truth jets land in the first bin.
_MIN_MASS_RATIO = 1e-3


def flatten_weights(
    e_true: np.ndarray,
    m_true: np.ndarray,
    *,
    bins: tuple[int, int] = (30, 20),
    cap: float = 20.0,
) -> np.ndarray:
    """Per-jet weights ∝ 1 / (jets in its 2-D histogram bin), mean 1, capped.

    ``e_true``, ``m_true``: ``[N]`` in GeV. ``bins``: (ln E, ln m/E) bins spanning the data's
    range. ``cap``: the largest weight allowed, as a multiple of the mean weight (sparse bins
    would otherwise let a handful of jets dominate). Returns ``float32[N]`` with mean 1.
    """
    if not cap >= 1.0:
        raise ValueError(f"cap must be >= 1 (a multiple of the mean weight), got {cap}")
    e = np.asarray(e_true, dtype=np.float64)
    x = np.log(np.maximum(e, 1e-3))
    y = np.log(np.clip(np.asarray(m_true, dtype=np.float64) / np.maximum(e, 1e-3), _MIN_MASS_RATIO, 1.0))
    if x.size == 0:
        return np.ones(0, dtype=np.float32)
    counts, xe, ye = np.histogram2d(x, y, bins=bins)
    ix = np.clip(np.searchsorted(xe, x, side="right") - 1, 0, bins[0] - 1)
    iy = np.clip(np.searchsorted(ye, y, side="right") - 1, 0, bins[1] - 1)
    w = 1.0 / counts[ix, iy]
    w /= w.mean()
    if w.max() > cap:
        # Find c with mean(min(c·w, cap)) = 1 (monotone in c): capped jets sit exactly at the cap
        # and the rest share the remaining weight, so the mean stays 1.
        lo, hi = 0.0, 1.0
        while np.minimum(hi * w, cap).mean() < 1.0 and hi < 1e12:
            hi *= 2.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if np.minimum(mid * w, cap).mean() < 1.0 else (lo, mid)
        w = np.minimum(hi * w, cap)
    return w.astype(np.float32)
