"""Bin lookup helpers shared by the JES and JMS fits (pure numpy)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["bin_index", "group_by_bin", "log_edges", "safe_log"]


def safe_log(x: np.ndarray) -> np.ndarray:
    """ln(x) as float64, with non-positive or non-finite x mapped to ln(1) = 0 (no warnings).

    Callers flag such jets separately (:func:`jetcalib.features.input_flags`); this only keeps
    the arithmetic quiet and finite for them.
    """
    a = np.asarray(x, dtype=np.float64)
    return np.log(np.where(np.isfinite(a) & (a > 0), a, 1.0))


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the bin of each value (shape ``[N]``, int64), clamped to the first/last bin.

    Values beyond the edges use the edge bins (docs/method.md#numerical-inversion);
    non-finite values land in bin 0 (such jets are flagged, never calibrated).
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=edges[0], posinf=edges[-1], neginf=edges[0])
    idx = np.searchsorted(edges, v, side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


def group_by_bin(idx: np.ndarray, n_bins: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(bin, row_indices)`` for every non-empty bin, with one sort instead of a scan
    per bin (``idx`` in [0, n_bins), or −1 for rows to skip)."""
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    bounds = np.searchsorted(sorted_idx, np.arange(n_bins + 1), side="left")
    for b in range(n_bins):
        lo, hi = bounds[b], bounds[b + 1]
        if hi > lo:
            yield b, order[lo:hi]


def log_edges(values: np.ndarray, n_bins: int, *, q: float = 0.001) -> np.ndarray:
    """``n_bins`` log-spaced edges between the q and 1 − q quantiles of positive ``values``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = np.quantile(v, [q, 1 - q])
    if not hi > lo:
        hi = lo * 1.01
    return np.geomspace(lo, hi, n_bins + 1)
