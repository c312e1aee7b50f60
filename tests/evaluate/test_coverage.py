"""Coverage diagnostics on synthetic jets with known predicted distributions: right
uncertainties cover 68/95 % with flat PIT, too narrow ones are caught in the bin where they are."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.evaluate import coverage_table, interval_coverage, pit_histogram, pit_values
from jetcalib.evaluate.coverage import CENTRAL_68, summarise_coverage


def _jets(n: int = 200_000, seed: int = 3, narrow_above: float | None = None):
    """Log-normal responses with a per-jet width 0.03-0.2; predicted quantiles exact, or too
    narrow (0.7 × the width) for jets with x > ``narrow_above``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    mu = rng.normal(0.0, 0.05, n)
    sigma = 0.03 + 0.17 * rng.uniform(0, 1, n)
    r = np.exp(mu + sigma * rng.standard_normal(n))
    s_pred = sigma if narrow_above is None else np.where(x > narrow_above, 0.7 * sigma, sigma)
    return r, np.exp(mu - s_pred), np.exp(mu), np.exp(mu + s_pred), x, sigma


def test_right_uncertainties_cover_and_give_a_flat_pit():
    r, q16, q50, q84, x, _ = _jets()
    f, err = interval_coverage(r, q16, q84)
    assert abs(f - CENTRAL_68) < 3 * err
    assert err == pytest.approx(np.sqrt(f * (1 - f) / r.size))
    u = pit_values(r, q16, q50, q84)
    assert np.all((u >= 0) & (u <= 1))
    assert np.max(np.abs(pit_histogram(u, 20) - 1)) < 0.05
    t = coverage_table(r, q16, q50, q84, x, np.linspace(0, 1, 6))
    assert np.all(np.abs(t["coverage68"] - CENTRAL_68) < 4 * t["coverage68_err"])
    assert np.all(np.abs(t["coverage95"] - 0.95) < 4 * t["coverage95_err"])
    assert np.all(t["pit_max_dev"] < 0.1)
    assert t["pit_hist"].shape == (5, 10)
    assert t["n"].sum() == r.size
    s = summarise_coverage(t)
    assert s["coverage68_pull_max"] < 4


def test_too_narrow_uncertainties_are_found_in_their_bins():
    r, q16, q50, q84, x, _ = _jets(narrow_above=0.6)
    t = coverage_table(r, q16, q50, q84, x, np.linspace(0, 1, 6))
    # Φ(0.7) − Φ(−0.7) = 51.6 %: the last two bins, the first three as nominal
    assert np.all(np.abs(t["coverage68"][:3] - CENTRAL_68) < 4 * t["coverage68_err"][:3])
    assert np.all(np.abs(t["coverage68"][3:] - 0.516) < 0.01)
    assert np.all(t["pit_max_dev"][3:] > 0.3)  # U-shaped PIT: tails over-populated
    assert summarise_coverage(t)["coverage68_pull_max"] > 20


def test_predicted_resolution_tracks_the_observed_one_in_deciles():
    r, q16, q50, q84, _, _sigma = _jets()
    pred = (q84 - q16) / 2 / q50
    t = coverage_table(r, q16, q50, q84, pred, np.quantile(pred, np.linspace(0, 1, 11)))
    ratio = t["resolution_observed"] / t["resolution_predicted"]
    assert np.all(np.abs(ratio - 1) < 0.05)
    assert t["resolution_observed"][-1] > 2 * t["resolution_observed"][0]


def test_bad_inputs_give_nan_not_errors():
    u = pit_values(np.array([1.0, np.nan, -1.0, 1.0]), np.array([0.9, 0.9, 0.9, 1.1]),
                   np.array([1.0, 1.0, 1.0, 1.0]), np.array([1.1, 1.1, 1.1, 1.2]))
    assert u[0] == pytest.approx(0.5)
    assert np.isnan(u[1:]).all()
    t = coverage_table(np.ones(3), np.full(3, 0.9), np.ones(3), np.full(3, 1.1), np.array([5.0, 6, 7]), [0, 1, 2])
    assert np.all(t["n"] == 0)
    assert np.isnan(t["coverage68"]).all()
    assert np.isnan(summarise_coverage(t)["pit_max_dev"])
    assert np.isnan(interval_coverage(np.array([]), np.array([]), np.array([]))[0])


def _calibrated_outputs(n: int = 60_000, seed: int = 4):
    """A table and the outputs of a method with exact log-normal uncertainties."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(150, 3000, n)
    table = {"pt_true": pt, "eta_true": rng.uniform(-2.5, 2.5, n), "m_true": rng.uniform(5, 300, n),
             "e_true": pt * 1.2}
    out = {"calib_flag": np.zeros(n, dtype=np.int8)}
    for t, truth in (("e", "e_true"), ("m", "m_true")):
        sigma = 0.02 + 0.1 * rng.uniform(0, 1, n)
        table[f"{t}_reco"] = table[truth] * np.exp(-0.05 + sigma * rng.standard_normal(n))
        q16, q50, q84 = (np.exp(-0.05 + k * sigma) for k in (-1, 0, 1))
        out.update({f"r_{t}_q16": q16.astype(np.float32), f"r_{t}_q84": q84.astype(np.float32),
                    f"{t}_cal_rel_unc": ((q84 - q16) / 2 / q50).astype(np.float32)})
    return table, out


def test_report_rows_for_methods_with_uncertainties_only():
    from jetcalib.evaluate.coverage import coverage_rows

    table, out = _calibrated_outputs()
    rows = coverage_rows(table, {"density": out, "numerical": {"calib_flag": out["calib_flag"]}},
                         [200, 500, 1000, 3000], min_pt=200, abs_eta_max=2.0, min_mass=30)
    assert {r["method"] for r in rows} == {"density"}
    assert {(r["quantity"], r["variable"]) for r in rows} == {(q, v) for q in ("energy", "mass")
                                                           for v in ("pt_true", "rel_unc")}
    pt_rows = [r for r in rows if r["variable"] == "pt_true"]
    assert len(pt_rows) == 6
    for r in rows:
        assert abs(r["coverage68"] - CENTRAL_68) < 4 * r["coverage68_err"] + 1e-3
        assert abs(r["resolution_observed"] / r["resolution_predicted"] - 1) < 0.1
    dec = [r for r in rows if r["variable"] == "rel_unc" and r["quantity"] == "energy"]
    assert len(dec) == 10
    assert sum(r["n"] for r in dec) == sum(r["n"] for r in pt_rows if r["quantity"] == "energy")
