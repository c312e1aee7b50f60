"""Coverage of predicted per-jet uncertainties (docs/method.md#heads, docs/evaluation.md): is
the true response inside the predicted central interval as often as it claims, bin by bin?

Pure numpy. Inputs are per jet: the true response ``r = reco/true`` and the predicted
quantiles at Φ(−1), 0.5, Φ(1) (``r_*_q16``, the median, ``r_*_q84``; a probabilistic DNN head's
:meth:`~jetcalib.dnn.DNNCalibration.predict_distribution`), or any ``pit`` values the caller
computed from a full predicted CDF.

PIT values (probability integral transform, u = F̂(r_true)) from three quantiles use the
split normal through them, in log r: u = Φ((y − y50)/(y50 − y16)) below the median and
Φ((y − y50)/(y84 − y50)) above, y = log r. It is exact at the three quantiles (so the 68 %
coverage does not depend on it) and for a (log-)Gaussian; beyond ±1σ it assumes Gaussian
tails, so the 95 % coverage and the outer PIT bins test the quantiles *and* that assumption.
With correct uncertainties u is uniform: a flat PIT histogram, 68.27 % of jets inside
[q16, q84] and 95 % with u in [0.025, 0.975].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import ndtr

__all__ = ["CENTRAL_68", "COVERAGE_FIELDS", "coverage_rows", "coverage_table", "interval_coverage", "pit_histogram", "pit_values",
           "summarise_coverage"]

#: Nominal content of the central interval [q16, q84] (Φ(1) − Φ(−1)).
CENTRAL_68 = 0.6826894921370859
#: Fields of :func:`coverage_table` with one value per bin.
COVERAGE_FIELDS = ("lo", "hi", "n", "coverage68", "coverage68_err", "coverage95", "coverage95_err",
                   "pit_max_dev", "resolution_predicted", "resolution_observed")


def interval_coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      weights: np.ndarray | None = None) -> tuple[float, float]:
    """(fraction of finite jets with lo ≤ true ≤ hi, its binomial standard error); weighted
    with ``weights`` (error from the effective number of jets). NaN for no jets."""
    true, lo, hi = (np.asarray(a, dtype=np.float64) for a in (true, lo, hi))
    ok = np.isfinite(true) & np.isfinite(lo) & np.isfinite(hi)
    w = np.ones(true.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    ok &= np.isfinite(w)
    w = w[ok]
    if w.sum() <= 0:
        return float("nan"), float("nan")
    inside = ((true[ok] >= lo[ok]) & (true[ok] <= hi[ok])).astype(np.float64)
    f = float(np.sum(w * inside) / np.sum(w))
    n_eff = float(w.sum() ** 2 / np.sum(w * w))
    return f, float(np.sqrt(max(f * (1 - f), 0.0) / n_eff))


def pit_values(true: np.ndarray, q16: np.ndarray, q50: np.ndarray, q84: np.ndarray, *,
               log: bool = True) -> np.ndarray:
    """PIT values u = F̂(true) ``[N]`` from predicted 16/50/84 % quantiles (split normal through
    them, see the module docstring), in log space if ``log`` (responses > 0); NaN where an
    input is not finite (or not positive with ``log``) or the quantiles are not increasing."""
    arrays = [np.asarray(a, dtype=np.float64) for a in (true, q16, q50, q84)]
    with np.errstate(divide="ignore", invalid="ignore"):
        y, a, m, b = (np.log(v) for v in arrays) if log else arrays
        below = (y - m) / (m - a)
        above = (y - m) / (b - m)
        u = np.where(y < m, ndtr(below), ndtr(above))
    good = np.isfinite(y) & np.isfinite(a) & np.isfinite(m) & np.isfinite(b) & (a < m) & (m < b)
    return np.where(good, u, np.nan)


def pit_histogram(pit: np.ndarray, bins: int = 10, weights: np.ndarray | None = None) -> np.ndarray:
    """Histogram ``[bins]`` of the finite PIT values on [0, 1], normalised to 1 for a flat
    distribution (an entry 1.1 is 10 % above flat). NaN entries for no values."""
    u = np.asarray(pit, dtype=np.float64)
    w = np.ones(u.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(u) & np.isfinite(w)
    counts, _ = np.histogram(np.clip(u[ok], 0.0, 1.0), bins=bins, range=(0.0, 1.0), weights=w[ok])
    total = counts.sum()
    return counts * bins / total if total > 0 else np.full(bins, np.nan)


def coverage_table(
    true: np.ndarray,
    q16: np.ndarray,
    q50: np.ndarray,
    q84: np.ndarray,
    variable: np.ndarray,
    edges: np.ndarray | list[float],
    *,
    pit: np.ndarray | None = None,
    pit_bins: int = 10,
    weights: np.ndarray | None = None,
    log: bool = True,
) -> dict[str, np.ndarray]:
    """Coverage of the predicted intervals in bins of ``variable`` (``edges``, e.g. pT_true,
    m_true/pT_true, η, μ, or deciles of the predicted resolution).

    Per bin (:data:`COVERAGE_FIELDS`, one value each): ``lo``, ``hi``, ``n`` (jets with finite
    inputs), ``coverage68`` (fraction with q16 ≤ true ≤ q84; nominal :data:`CENTRAL_68`) and
    its binomial error, ``coverage95`` (fraction with PIT in [0.025, 0.975]; nominal 0.95) and
    its error, ``pit_max_dev`` (largest |histogram − 1| of the flat-normalised PIT histogram),
    ``resolution_predicted`` (median over the jets of (q84 − q16)/2/q50) and
    ``resolution_observed`` (half the 16-84 % width of true/q50 over the jets: what the
    predicted one should equal). ``pit_hist`` ``[bins, pit_bins]``: the PIT histograms.
    ``pit``: PIT values from the full predicted CDF (default: :func:`pit_values` from the
    quantiles).
    """
    true, q16, q50, q84, var = (np.asarray(a, dtype=np.float64) for a in (true, q16, q50, q84, variable))
    edges = np.asarray(edges, dtype=np.float64)
    u = pit_values(true, q16, q50, q84, log=log) if pit is None else np.asarray(pit, dtype=np.float64)
    w_all = np.ones(true.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    finite = np.isfinite(true) & np.isfinite(q16) & np.isfinite(q50) & np.isfinite(q84) & np.isfinite(u)
    nb = edges.size - 1
    out: dict[str, np.ndarray] = {name: np.full(nb, np.nan) for name in COVERAGE_FIELDS}
    out["pit_hist"] = np.full((nb, pit_bins), np.nan)
    out["lo"], out["hi"] = edges[:-1].copy(), edges[1:].copy()
    idx = np.digitize(var, edges) - 1
    for i in range(nb):
        sel = finite & (idx == i)
        out["n"][i] = float(sel.sum())
        if not sel.any():
            continue
        w = w_all[sel]
        out["coverage68"][i], out["coverage68_err"][i] = interval_coverage(true[sel], q16[sel], q84[sel], w)
        out["coverage95"][i], out["coverage95_err"][i] = interval_coverage(u[sel], np.full(w.size, 0.025),
                                                                           np.full(w.size, 0.975), w)
        hist = pit_histogram(u[sel], pit_bins, w)
        out["pit_hist"][i] = hist
        out["pit_max_dev"][i] = float(np.max(np.abs(hist - 1.0)))
        out["resolution_predicted"][i] = float(np.median((q84[sel] - q16[sel]) / 2 / q50[sel]))
        rel = true[sel] / q50[sel]
        lo, hi = np.quantile(rel, [0.5 * (1 - CENTRAL_68), 0.5 * (1 + CENTRAL_68)])
        out["resolution_observed"][i] = float((hi - lo) / 2)
    return out


def summarise_coverage(table: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Worst bins of a :func:`coverage_table`: largest |coverage68 − nominal| and |coverage95 −
    0.95| in units of their errors, largest PIT deviation (bins with jets only)."""
    n = np.asarray(table["n"])
    ok = n > 0
    if not ok.any():
        return {"coverage68_pull_max": float("nan"), "coverage95_pull_max": float("nan"),
                "pit_max_dev": float("nan")}
    with np.errstate(divide="ignore", invalid="ignore"):
        p68 = np.abs(table["coverage68"][ok] - CENTRAL_68) / table["coverage68_err"][ok]
        p95 = np.abs(table["coverage95"][ok] - 0.95) / table["coverage95_err"][ok]
    return {"coverage68_pull_max": float(np.nanmax(p68)), "coverage95_pull_max": float(np.nanmax(p95)),
            "pit_max_dev": float(np.nanmax(table["pit_max_dev"][ok]))}


def coverage_rows(table: Mapping[str, np.ndarray], outputs: Mapping[str, Mapping[str, np.ndarray]],
                  pt_edges: np.ndarray | list[float], *, min_pt: float, abs_eta_max: float,
                  min_mass: float) -> list[dict[str, str | float | int | None]]:
    """The report's coverage rows: for every method whose ``calibrate`` output has the
    uncertainty columns (a probabilistic DNN head), energy and mass, one row per pT_true bin
    (``variable`` ``pt_true``) and per decile of the predicted resolution (``rel_unc``), with
    :data:`COVERAGE_FIELDS`. Selection: the evaluation's (pT_true > ``min_pt``, |η_true| <
    ``abs_eta_max``; mass: m_true > ``min_mass``), calibrated jets (``calib_flag`` 0). The
    median is recovered from the columns as (q84 − q16)/2 / rel_unc."""
    pt = np.asarray(table["pt_true"], dtype=np.float64)
    eta = np.asarray(table["eta_true"], dtype=np.float64)
    base = (pt > min_pt) & (np.abs(eta) < abs_eta_max)
    rows: list[dict[str, str | float | int | None]] = []
    for method, out in outputs.items():
        if "r_e_q16" not in out:
            continue
        ok = base & (np.asarray(out["calib_flag"]) == 0)
        for quantity, t, truth, reco in (("energy", "e", "e_true", "e_reco"), ("mass", "m", "m_true", "m_reco")):
            sel = ok & (np.asarray(table["m_true"]) > min_mass) if t == "m" else ok
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.asarray(table[reco], dtype=np.float64) / np.asarray(table[truth], dtype=np.float64)
                q16 = np.asarray(out[f"r_{t}_q16"], dtype=np.float64)
                q84 = np.asarray(out[f"r_{t}_q84"], dtype=np.float64)
                unc = np.asarray(out[f"{t}_cal_rel_unc"], dtype=np.float64)
                q50 = (q84 - q16) / 2 / unc
            if not sel.any():
                continue
            deciles = np.unique(np.quantile(unc[sel], np.linspace(0, 1, 11)))
            for variable, values, edges in (("pt_true", pt, np.asarray(pt_edges, dtype=np.float64)),
                                            ("rel_unc", unc, deciles)):
                if variable == "rel_unc":
                    edges = edges.copy()
                    edges[-1] = np.nextafter(edges[-1], np.inf)  # the largest jet in the last decile
                tab = coverage_table(r[sel], q16[sel], q50[sel], q84[sel], values[sel], edges)
                for i in range(edges.size - 1):
                    row: dict[str, str | float | int | None] = {"method": method, "quantity": quantity,
                                                                "variable": variable}
                    for name in COVERAGE_FIELDS:
                        v = float(tab[name][i])
                        row[name] = (int(v) if name == "n" else v) if np.isfinite(v) else None
                    rows.append(row)
    return rows
