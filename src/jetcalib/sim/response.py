"""Uncalibrated response summaries of a generated table (used by the sim tests and
``benchmarks/sim_response.py``): median and relative width per bin, crack dip, correlations."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

__all__ = ["crack_dip", "spearman_at_fixed_pt"]


def crack_dip(abs_eta: np.ndarray, r: np.ndarray, crack: tuple[float, float] = (1.37, 1.52)) -> tuple[float, float]:
    """Median response inside the crack and in the barrel/endcap next to it (|η| < 1.2 or
    1.7–2.4): a dip shows as the first below the second."""
    inside = (abs_eta > crack[0]) & (abs_eta < crack[1])
    outside = (abs_eta < 1.2) | ((abs_eta > 1.7) & (abs_eta < 2.4))
    return float(np.median(r[inside])), float(np.median(r[outside]))


def spearman_at_fixed_pt(table: dict[str, np.ndarray], r: np.ndarray, names: list[str],
                         edges: np.ndarray) -> dict[str, float]:
    """Spearman ρ between ``r`` and each variable within pT_true bins, averaged over bins
    (weighted by counts), so that the common pT dependence does not fake a correlation."""
    from scipy.stats import spearmanr

    res = {}
    pt = table["pt_true"]
    for name in names:
        acc, nsum = 0.0, 0
        for lo, hi in pairwise(edges):
            sel = (pt >= lo) & (pt < hi)
            if sel.sum() < 30:
                continue
            rho = spearmanr(r[sel], table[name][sel]).statistic
            if np.isfinite(rho):
                acc += rho * sel.sum()
                nsum += int(sel.sum())
        res[name] = acc / nsum if nsum else float("nan")
    return res
