"""A synthetic jet table with every schema column and a KNOWN response mode, for tests,
benchmarks and demos before (or instead of) the full simulation.

The log-responses are skewed: a narrow Gaussian core at the mode plus a one-sided tail (low
for the energy, high for the mass, as in a calorimeter), so that mode ≠ median ≠ mean and a
mode-seeking loss can be told apart from L1 and MSE. The mode depends on quantities the
network can see: energy (``log_e``), η (a crack at |η| ≈ 1.45), ``em_frac``, the mass-to-pT
ratio and pile-up ``mu``. The true modes are returned as ``toy_mode_e``/``toy_mode_m``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["toy_jets", "toy_mode_e", "toy_mode_m"]


def toy_mode_e(e_true: np.ndarray, eta: np.ndarray, em_frac: np.ndarray) -> np.ndarray:
    """Mode of r_E: rises with ln E, higher for EM-rich jets, a dip at the barrel–endcap crack."""
    crack = np.exp(-(((np.abs(eta) - 1.45) / 0.08) ** 2))
    return 0.80 + 0.04 * np.log(e_true / 200.0) + 0.25 * (em_frac - 0.57) - 0.06 * crack


def toy_mode_m(mode_e: np.ndarray, m_over_pt: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Mode of r_m: follows r_E, above it for light jets (angular smearing) and with pile-up."""
    return mode_e * (1.05 + 0.25 * np.exp(-m_over_pt / 0.08) + 0.002 * (mu - 35.0))


def _power_law(rng: np.random.Generator, n: int, lo: float, hi: float, power: float) -> np.ndarray:
    u = rng.random(n)
    a, b = lo ** (1 - power), hi ** (1 - power)
    return (a + u * (b - a)) ** (1 / (1 - power))


def toy_jets(n: int = 20_000, seed: int = 0, *, spectrum_power: float = 3.0) -> dict[str, np.ndarray]:
    """``n`` toy jets: truth, reco, the 21 inputs, event columns (GeV), and the true modes."""
    rng = np.random.default_rng(seed)
    f4 = np.float32
    pt = _power_law(rng, n, 150.0, 3000.0, spectrum_power)
    eta = rng.uniform(-2.0, 2.0, n)
    kind = rng.choice(3, n, p=[0.7, 0.15, 0.15])
    m = np.exp(rng.uniform(np.log(5.0), np.log(np.minimum(0.3 * pt, 400.0)), n))
    m = np.where(kind == 1, rng.normal(85.0, 5.0, n), m)
    m = np.where(kind == 2, rng.normal(173.0, 10.0, n), m)
    m = np.clip(m, 1.0, 0.5 * pt)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
    mu = rng.uniform(10.0, 60.0, n)
    em_frac = rng.beta(4.0, 3.0, n)

    mode_e = toy_mode_e(e, eta, em_frac)
    mode_m = toy_mode_m(mode_e, m / pt, mu)
    # Energy: core σ = 4 %, 35 % of jets in a low tail starting 5 % below the mode.
    tail_e = rng.random(n) < 0.35
    d_e = rng.normal(0, 0.04, n) - tail_e * (0.05 + rng.exponential(0.2, n))
    # Mass: core σ = 7 %, 30 % in a high tail starting 7 % above the mode.
    tail_m = rng.random(n) < 0.30
    d_m = rng.normal(0, 0.07, n) + tail_m * (0.07 + rng.exponential(0.25, n))
    e_reco = e * mode_e * np.exp(d_e)
    m_reco = np.minimum(m * mode_m * np.exp(d_m), 0.9 * e_reco)
    eta_reco = eta + rng.normal(0, 0.01, n)
    pt_reco = np.sqrt(e_reco**2 - m_reco**2) / np.cosh(eta_reco)
    phi = rng.uniform(-np.pi, np.pi, n)
    neutral = rng.uniform(0.2, 0.6, n)
    split12 = m_reco * rng.uniform(0.2, 0.6, n)
    t: dict[str, np.ndarray] = {
        "event": np.arange(n, dtype=np.int64),
        "weight": np.ones(n),
        "process": np.where(kind == 0, 0, np.where(kind == 1, 1, 2)).astype(np.int16),
        "mu_actual": rng.poisson(mu).astype(f4),
        "e_true": e, "pt_true": pt, "eta_true": eta, "phi_true": phi, "m_true": m,
        "e_reco": e_reco, "pt_reco": pt_reco, "eta_reco": eta_reco,
        "phi_reco": phi + rng.normal(0, 0.01, n), "m_reco": m_reco,
        "eta": eta_reco,
        "log_e": np.log(e_reco),
        "log_m": np.log(np.maximum(m_reco, 1.0)),
        "width": 0.8 * (m_reco / pt_reco) * (1 + 0.2 * rng.normal(size=n)),
        "em_frac": np.clip(em_frac + rng.normal(0, 0.01, n), 0, 1),
        "em3_frac": rng.uniform(0.0, 0.05, n),
        "tile0_frac": (1 - em_frac) * rng.uniform(0.3, 0.6, n),
        "eff_n_clusters": 3.0 + rng.gamma(3.0, 2.0, n),
        "groom_m_ratio": rng.uniform(0.5, 1.0, n),
        "neutral_e_frac": neutral,
        "charged_pt_frac": np.clip(1 - neutral + rng.normal(0, 0.05, n), 0, None),
        "charged_m_frac": rng.uniform(0.3, 1.0, n),
        "split12": split12,
        "split23": split12 * rng.uniform(0.1, 0.5, n),
        "c2": rng.uniform(0.05, 0.4, n),
        "d2": rng.uniform(0.5, 4.0, n),
        "tau21": rng.uniform(0.2, 0.9, n),
        "tau32": rng.uniform(0.4, 0.95, n),
        "qw": m_reco * rng.uniform(0.2, 0.6, n),
        "mu": mu,
        "npv": 1.0 + rng.binomial(np.round(mu).astype(int), 0.6),
    }
    out = {k: (v.astype(f4) if v.dtype == np.float64 and k != "weight" else v) for k, v in t.items()}
    out["toy_mode_e"] = mode_e
    out["toy_mode_m"] = mode_m
    return out
