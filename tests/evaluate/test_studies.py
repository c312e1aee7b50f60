"""The report's studies beyond the inclusive bins: |η| slices, pile-up slopes, generator
dependence, mass peaks per pT bin, and the figures' axes (categorical process, fitted ranges,
ratio errors, label)."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.evaluate import (
    PT_BINS,
    binned_table,
    generator_shift,
    mass_peaks_by_pt,
    pileup_slopes,
    sliced_table,
)
from jetcalib.evaluate.plots import closure_resolution_figure, jet_definition, setup_style


def _table(n: int, seed: int, *, slope_mu: float = 0.0, scale: float = 1.0, eta_shift: float = 0.0):
    """Jets with a known response: median ``scale·(1 + slope_mu·(μ − 35) + eta_shift·[|η| > 1.2])``,
    5 % Gaussian resolution; a quarter W/Z jets (m_true 80 GeV), a quarter top (173 GeV)."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(210, 2900, n)
    eta = rng.uniform(-1.95, 1.95, n)
    mu = rng.uniform(10, 60, n)
    proc = rng.choice([0, 0, 1, 2], n)
    m_true = np.where(proc == 1, 80.0, np.where(proc == 2, 173.0, rng.uniform(40, 200, n)))
    e_true = pt * np.cosh(eta)
    med = scale * (1 + slope_mu * (mu - 35) + eta_shift * (np.abs(eta) > 1.2))
    r_e = med * (1 + 0.05 * rng.standard_normal(n))
    r_m = med * (1 + 0.08 * rng.standard_normal(n))
    table = {"pt_true": pt, "eta_true": eta, "e_true": e_true, "m_true": m_true, "mu": mu,
             "npv": np.round(0.6 * mu + rng.normal(0, 2, n)), "process": proc}
    out = {"e_cal": e_true * r_e, "m_cal": m_true * r_m, "pt_cal": pt * r_e, "calib_flag": np.zeros(n, np.int8)}
    return table, out


def test_pileup_slope_recovers_a_known_slope():
    table, tilted = _table(30_000, 1, slope_mu=0.002)
    _, flat = _table(30_000, 1)
    sliced = sliced_table(table, {"tilted": tilted, "flat": flat}, "mu", "pt_true", PT_BINS, n_boot=20, seed=3)
    assert set(sliced["slice_lo"]) == set(PT_BINS[:-1])
    slopes = pileup_slopes(sliced)
    assert len(slopes) == 2 * 2 * (len(PT_BINS) - 1)  # methods × quantities × pT bins
    for r in slopes:
        want = 0.002 if r["method"] == "tilted" else 0.0
        assert r["slope_err"] > 0
        assert abs(r["slope"] - want) < 4 * r["slope_err"] + 2e-4, r


def test_eta_slices_see_an_eta_dependent_closure():
    table, out = _table(20_000, 2, eta_shift=0.05)
    sliced = sliced_table(table, {"m": out}, "pt_true", "abs_eta", np.array([0.0, 1.2, 2.0]),
                          quantities=("energy",), n_boot=5)
    central = sliced["median"][sliced["slice_lo"] == 0.0]
    forward = sliced["median"][sliced["slice_lo"] == 1.2]
    assert np.nanmax(np.abs(central - 1)) < 0.01
    assert np.nanmin(forward) > 1.035


def test_sliced_table_without_the_column_is_empty():
    table, out = _table(500, 3)
    del table["mu"]
    assert sliced_table(table, {"m": out}, "mu", "pt_true", PT_BINS, n_boot=2) == {}


def test_generator_shift_measures_a_scale_change():
    nominal, out_nom = _table(20_000, 4)
    alt, out_alt = _table(20_000, 5, scale=1.02)
    rows = generator_shift(nominal, {"m": out_nom}, alt, {"m": out_alt}, n_boot=20, seed=1)
    assert {(r["quantity"], r["pt_lo"]) for r in rows} == {(q, lo) for q in ("energy", "mass") for lo in PT_BINS[:-1]}
    for r in rows:
        assert r["median_shift"] == pytest.approx(0.02, abs=4 * r["median_shift_err"] + 1e-3), r
        assert abs(r["resolution_shift"]) < 4 * r["resolution_shift_err"] + 2e-3, r
        assert r["n_nominal"] > 100
        assert r["n_alt"] > 100


def test_mass_peaks_per_pt_bin():
    table, out = _table(20_000, 6)
    rows = mass_peaks_by_pt(table, {"m": out})
    assert {(r["sample"], r["pt_lo"]) for r in rows} == {(s, lo) for s in ("wz", "top") for lo in PT_BINS[:-1]}
    for r in rows:
        peak = 80.0 if r["sample"] == "wz" else 173.0
        assert r["position"] == pytest.approx(peak, rel=0.02)
        assert r["relative_width"] == pytest.approx(0.08, rel=0.25)


@pytest.fixture(scope="module")
def binned():
    table, out = _table(6_000, 7)
    _, worse = _table(6_000, 8)
    return binned_table(table, {"numerical": out, "dnn": worse}, n_boot=5)


def test_process_axis_is_categorical(binned):
    setup_style()
    fig = closure_resolution_figure(binned, "energy", "process", "process", False, "numerical")
    ratio_ax = fig.axes[2]
    assert [t.get_text() for t in ratio_ax.get_xticklabels()] == ["dijet", "W/Z", "top"]
    for ax in fig.axes:
        for line in ax.get_lines():
            if len(line.get_xdata()) > 1 and line.get_linestyle() not in ("None", "none", ""):
                # only the horizontal reference lines at 1 may be drawn as lines
                assert np.ptp(np.asarray(line.get_ydata(), dtype=float)) == 0


def test_x_range_fitted_to_the_data_and_ratio_has_errors():
    table, out = _table(6_000, 9)
    keep = table["pt_true"] < 900  # data stop at 900 GeV, the pT binning runs to 3 TeV
    table = {k: v[keep] for k, v in table.items()}
    out = {k: v[keep] for k, v in out.items()}
    _, worse = _table(6_000, 10)
    binned = binned_table(table, {"numerical": out, "dnn": {k: v[keep] for k, v in worse.items()}}, n_boot=5)
    setup_style()
    fig = closure_resolution_figure(binned, "energy", "pt_true", "pT", True, "numerical")
    assert fig.axes[2].get_xlim()[1] <= 1.06 * 1000
    assert fig.axes[2].get_xlim()[0] >= 190
    assert fig.axes[2].collections, "the ratio panel has error bars"
    assert "median" in fig.axes[0].get_ylabel()


def test_jet_definition_from_the_detector_config():
    assert jet_definition({}) == r"anti-$k_t$ $R$ = 1.0"
    text = jet_definition({"radius": 1.0, "grooming": "trimming", "trim_rsub": 0.2, "trim_fcut": 0.05})
    assert "trimmed" in text
    assert "0.05" in text
    assert "0.2" in text
    assert "soft drop" in jet_definition({"grooming": "softdrop", "softdrop_beta": 1.0, "softdrop_zcut": 0.1})


def test_generator_shift_compares_dijets_with_altered_dijets():
    nominal, out_nom = _table(16_000, 11)
    out_nom["e_cal"] = np.where(nominal["process"] == 0, out_nom["e_cal"], 1.1 * out_nom["e_cal"])
    alt, out_alt = _table(8_000, 12)
    alt["process"] = np.full(8_000, 3)
    rows = generator_shift(nominal, {"m": out_nom}, alt, {"m": out_alt}, n_boot=10)
    # the W/Z and top jets of the nominal sample (10 % off here) are left out of the comparison
    assert all(abs(r["median_shift"]) < 0.01 for r in rows if r["quantity"] == "energy")


def test_weighted_mass_peak_follows_the_weights():
    from jetcalib.evaluate import fit_mass_peak

    rng = np.random.default_rng(4)
    narrow, wide = rng.normal(85.0, 4.0, 20_000), rng.normal(85.0, 12.0, 20_000)
    m = np.concatenate([narrow, wide])
    plain = fit_mass_peak(m, (50.0, 130.0))
    # 1/σ² weights (as a probabilistic head's resolutions give): the narrow jets dominate
    w = np.concatenate([np.full(narrow.size, 1 / 4.0**2), np.full(wide.size, 1 / 12.0**2)])
    weighted = fit_mass_peak(m, (50.0, 130.0), weights=w)
    # the core fit already leans to the narrow jets (σ 4.5 GeV); the weights bring it to their 4 GeV
    assert weighted["width"] < plain["width"] - 0.3
    assert abs(weighted["width"] - 4.0) < 0.3
    assert abs(weighted["position"] - 85.0) < 0.5
    assert weighted["n"] == plain["n"]
    # zero or non-finite weights leave a jet out
    w_bad = np.where(np.arange(m.size) % 2 == 0, w, np.nan)
    in_window = (m > 50.0) & (m < 130.0)
    assert fit_mass_peak(m, (50.0, 130.0), weights=w_bad)["n"] == int((in_window & np.isfinite(w_bad)).sum())
