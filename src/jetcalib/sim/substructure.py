"""Jet substructure of groomed jets: fastjet/fjcontrib where it has the piece (√d12, √d23,
exclusive kt subjets, N-subjettiness with WTA kt axes, C2/D2), hand-written numpy for the rest
(width, Qw, effective number of constituents, safe ratios).

Inputs are flat per-constituent arrays of many jets with ``offsets`` (n_jets + 1,) such that
jet j owns entries ``offsets[j]:offsets[j+1]``. Undefined values take :data:`SENTINEL`.
"""

from __future__ import annotations

import numpy as np

from .jets import as_momentum, quiet_fastjet

__all__ = ["SENTINEL", "eff_n", "fastjet_substructure", "qw_from_subjets", "safe_ratio", "width"]

#: value of a ratio whose denominator is below 1e-8, or of a variable a jet with fewer than three
#: constituents cannot have (as ATLAS's deployed DNN calibration; docs/inputs.md#sentinels)
SENTINEL = -0.1


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, :data:`SENTINEL` where |den| < 1e-8."""
    num = np.asarray(num, float)
    den = np.asarray(den, float)
    ok = np.abs(den) >= 1e-8
    return np.where(ok, num / np.where(ok, den, 1.0), SENTINEL)


def _segment_sum(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0.0], np.cumsum(x)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def width(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_eta: np.ndarray,
          jet_phi: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Σ pT_i ΔR(i, jet) / Σ pT_i per jet."""
    n = np.diff(offsets)
    je = np.repeat(jet_eta, n)
    jp = np.repeat(jet_phi, n)
    dphi = (phi - jp + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(eta - je, dphi)
    return safe_ratio(_segment_sum(pt * dr, offsets), _segment_sum(pt, offsets))


def eff_n(e: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(Σ E_i)² / Σ E_i² per jet."""
    return safe_ratio(_segment_sum(e, offsets) ** 2, _segment_sum(e * e, offsets))


def qw_from_subjets(p4: np.ndarray) -> np.ndarray:
    """Smallest pairwise invariant mass of three subjets; ``p4`` shape (n, 3, 4) (px,py,pz,E)."""
    out = np.full(len(p4), np.inf)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        s = p4[:, a] + p4[:, b]
        m2 = s[:, 3] ** 2 - s[:, 0] ** 2 - s[:, 1] ** 2 - s[:, 2] ** 2
        out = np.minimum(out, np.sqrt(np.maximum(m2, 0.0)))
    return out


def fastjet_substructure(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
                         offsets: np.ndarray, radius: float = 1.0) -> dict[str, np.ndarray]:
    """split12, split23 (GeV), tau21, tau32, c2, d2, qw (GeV) per jet, from exclusive kt
    reclustering (R = ``radius``) of each jet's constituents. Jets with < 3 constituents get
    split23 = qw = 0 and :data:`SENTINEL` for the ratios (fjcontrib refuses them); √d12 of a
    two-constituent jet is computed directly, of a one-constituent jet it is 0."""
    import awkward as ak
    import fastjet

    n = np.diff(offsets)
    nj = len(n)
    out = {k: np.full(nj, SENTINEL) for k in ("tau21", "tau32", "c2", "d2")}
    out["split12"] = np.zeros(nj)
    out["split23"] = np.zeros(nj)
    out["qw"] = np.zeros(nj)
    ok = n >= 3
    if not ok.any():
        return out
    sel = np.repeat(ok, n)
    arr = as_momentum(px[sel], py[sel], pz[sel], e[sel], n[ok])
    with quiet_fastjet():
        cs = fastjet.ClusterSequence(arr, fastjet.JetDefinition(fastjet.kt_algorithm, radius))
        d12 = ak.to_numpy(cs.exclusive_dmerge(1))
        d23 = ak.to_numpy(cs.exclusive_dmerge(2))
        ex3 = cs.exclusive_jets(3)
        # fjcontrib works on the exclusive 1-jet: recluster with an R so large that every
        # constituent merges into it (with R = 1, constituents > 1 apart would be left out)
        big = fastjet.ClusterSequence(arr, fastjet.JetDefinition(fastjet.kt_algorithm, 10.0))
        tau = big.njettiness(axes_definition="WTA_KT_Axes", njets=[1, 2, 3], beta=1.0, R0=radius)
        c2 = ak.to_numpy(big.exclusive_jets_energy_correlator(njets=1, beta=1.0, func="c2"))
        d2 = ak.to_numpy(big.exclusive_jets_energy_correlator(njets=1, beta=1.0, func="d2"))
    tau = np.asarray(ak.to_numpy(tau), float).reshape(-1, 3)
    sub = np.stack([ak.to_numpy(ex3[k]) for k in ("px", "py", "pz", "E")], axis=-1)
    # two constituents: the only kt merging, √d12 = min(pT)·ΔR/R (or the softer pT if ΔR > R)
    two = np.nonzero(n == 2)[0]
    if len(two):
        a, b = offsets[two], offsets[two] + 1
        pa, pb = np.hypot(px[a], py[a]), np.hypot(px[b], py[b])
        dphi = (np.arctan2(py[a], px[a]) - np.arctan2(py[b], px[b]) + np.pi) % (2 * np.pi) - np.pi
        dy = 0.5 * np.log((e[a] + pz[a]) / (e[a] - pz[a])) - 0.5 * np.log((e[b] + pz[b]) / (e[b] - pz[b]))
        out["split12"][two] = np.minimum(pa, pb) * np.minimum(np.hypot(dy, dphi) / radius, 1.0)
    out["split12"][ok] = np.sqrt(np.maximum(d12, 0.0))
    out["split23"][ok] = np.sqrt(np.maximum(d23, 0.0))
    out["tau21"][ok] = safe_ratio(tau[:, 1], tau[:, 0])
    out["tau32"][ok] = safe_ratio(tau[:, 2], tau[:, 1])
    out["c2"][ok] = np.where(np.isfinite(c2), c2, SENTINEL)
    out["d2"][ok] = np.where(np.isfinite(d2), d2, SENTINEL)
    out["qw"][ok] = qw_from_subjets(sub.reshape(-1, 3, 4))
    return out
