"""Closure and resolution of a calibrated response, binned, with bootstrap uncertainties.

Pure numpy, importable by any method's tests and benchmarks. A *response* is the ratio
calibrated / true (e.g. ``e_cal / e_true``), shape ``[N]``; ``weights`` (optional, ``[N]``) make
every statistic a weighted one. The paper (and jetcalib's report by default) evaluates each bin
unweighted: within a narrow truth bin the event weights only reshuffle jets of the same kind,
and unweighted bins keep their full statistical power.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..numerical.stats import mode_estimate

__all__ = [
    "BINNED_FIELDS",
    "binned_metrics",
    "bootstrap_error",
    "closure",
    "mode_estimate",
    "quantiles",
    "resolution",
    "resolution_iqr",
]

# Gaussian quantiles at ±1σ: (q84 − q16)/2 = σ.
_Q16, _Q84 = 0.15865525393145707, 0.8413447460685429


def quantiles(x: np.ndarray, q: np.ndarray | list[float], weights: np.ndarray | None = None) -> np.ndarray:
    """Quantiles ``q`` (in [0, 1]) of the finite entries of ``x``; weighted if ``weights``.

    The weighted version interpolates the mid-point empirical CDF, which reduces to the usual
    (Hazen) quantile when all weights are equal. NaN for an empty sample.
    """
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    ok = np.isfinite(x)
    if weights is None:
        return np.quantile(x[ok], q) if ok.any() else np.full(q.shape, np.nan)
    w = np.asarray(weights, dtype=np.float64)
    ok &= np.isfinite(w) & (w > 0)
    if not ok.any():
        return np.full(q.shape, np.nan)
    # ties in x sorted by weight: the result then does not depend on the order of the rows
    order = np.lexsort((w[ok], x[ok]))
    xs, ws = x[ok][order], w[ok][order]
    cdf = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(q, cdf, xs)


def closure(response: np.ndarray, method: str = "median", weights: np.ndarray | None = None) -> float:
    """Central value of a calibrated response: ``"median"`` or ``"mode"`` (1 is perfect).

    The mode uses :func:`jetcalib.numerical.stats.mode_estimate` (cubic fit of the log-density
    around the peak; unweighted).
    """
    if method == "median":
        return float(quantiles(response, [0.5], weights)[0])
    if method == "mode":
        return float(mode_estimate(np.asarray(response, dtype=np.float64)))
    raise ValueError(f"unknown closure estimator {method!r} (median, mode)")


def resolution(response: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Relative width (q84 − q16) / (2·q50) (docs/method.md#terms; σ/μ for a Gaussian)."""
    q16, q50, q84 = quantiles(response, [_Q16, 0.5, _Q84], weights)
    return float((q84 - q16) / (2 * q50))


def resolution_iqr(response: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Interquartile variant (q75 − q25) / (1.349·q50) (also σ/μ for a Gaussian)."""
    q25, q50, q75 = quantiles(response, [0.25, 0.5, 0.75], weights)
    return float((q75 - q25) / (1.3489795003921634 * q50))


def bootstrap_error(
    stat: Callable[..., float],
    response: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    n_boot: int = 50,
    seed: int = 0,
) -> float:
    """Standard deviation of ``stat`` over ``n_boot`` resamples with replacement (seeded;
    independent of the order of the rows)."""
    x = np.asarray(response, dtype=np.float64)
    if x.size < 2 or n_boot < 2:
        return float("nan")
    # resample the sorted sample: the same jets in another row order (files read in another
    # order, a shuffled table) then give the same error, not another draw of the noise
    order = np.argsort(x, kind="stable") if weights is None else np.lexsort((np.asarray(weights), x))
    x = x[order]
    weights = None if weights is None else np.asarray(weights)[order]
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, x.size, x.size)
        vals[b] = stat(x[idx]) if weights is None else stat(x[idx], weights=np.asarray(weights)[idx])
    return float(np.std(vals, ddof=1))


#: Columns of :func:`binned_metrics`' result, in order.
BINNED_FIELDS: tuple[str, ...] = (
    "lo", "hi", "centre", "n",
    "median", "median_err", "mode", "mode_err",
    "resolution", "resolution_err", "resolution_iqr", "resolution_iqr_err",
)


def binned_metrics(
    response: np.ndarray,
    variable: np.ndarray,
    edges: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    n_boot: int = 50,
    n_boot_mode: int = 10,
    min_entries: int = 30,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Closure (median, mode) and resolution (both variants) of ``response`` in bins of
    ``variable`` (edges ``[B+1]``, bins ``[lo, hi)``), each with a bootstrap error.

    Returns a dict of ``[B]`` arrays (keys :data:`BINNED_FIELDS`); bins with fewer than
    ``min_entries`` jets hold NaN statistics. The mode, costlier, gets ``n_boot_mode``
    resamples. ``centre`` is the mean of ``variable`` in the bin (bin middle when empty).
    """
    r = np.asarray(response, dtype=np.float64)
    v = np.asarray(variable, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    nb = len(edges) - 1
    out = {k: np.full(nb, np.nan) for k in BINNED_FIELDS}
    out["lo"], out["hi"] = edges[:-1].copy(), edges[1:].copy()
    out["centre"] = 0.5 * (edges[:-1] + edges[1:])
    idx = np.searchsorted(edges, v, side="right") - 1
    valid = np.isfinite(r) & np.isfinite(v) & (idx >= 0) & (idx < nb)
    for b in range(nb):
        sel = valid & (idx == b)
        n = int(sel.sum())
        out["n"][b] = n
        if n == 0:
            continue
        out["centre"][b] = float(np.mean(v[sel]))
        if n < min_entries:
            continue
        rb = r[sel]
        wb = None if w is None else w[sel]
        s = seed + 7919 * b  # a different, reproducible bootstrap stream per bin
        out["median"][b] = closure(rb, "median", wb)
        out["median_err"][b] = bootstrap_error(lambda x, weights=None: closure(x, "median", weights),
                                               rb, wb, n_boot=n_boot, seed=s)
        out["mode"][b] = closure(rb, "mode")
        out["mode_err"][b] = bootstrap_error(lambda x, weights=None: closure(x, "mode"),  # noqa: ARG005 -- unweighted
                                             rb, None, n_boot=n_boot_mode, seed=s + 1)
        out["resolution"][b] = resolution(rb, wb)
        out["resolution_err"][b] = bootstrap_error(resolution, rb, wb, n_boot=n_boot, seed=s + 2)
        out["resolution_iqr"][b] = resolution_iqr(rb, wb)
        out["resolution_iqr_err"][b] = bootstrap_error(resolution_iqr, rb, wb, n_boot=n_boot, seed=s + 3)
    return out
