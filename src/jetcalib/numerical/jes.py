"""Jet energy scale by numerical inversion (docs/method.md#numerical-inversion, step 1).

In bins of E_true × η_det the central value of r_E = E_reco / E_true is paired with the mean
E_reco of the bin; per η bin, a polynomial in ln E_reco through these points is the response
R(E_reco, η_det) that the calibration divides by. Outside the fitted ln E_reco range R is held at
its edge value (a polynomial extrapolates wildly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .binning import bin_index, group_by_bin, log_edges, safe_log
from .config import NumericalConfig
from .stats import central_uncertainty, central_value

__all__ = ["JESFit", "PolyResponse", "fit_jes", "jes_eta_edges"]


@dataclass
class PolyResponse:
    """R(x) = Σ c_k u^k with u = (2x − lo − hi)/(hi − lo), x = ln(E / GeV) clamped to [lo, hi]."""

    lo: float
    hi: float
    coef: list[float]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _horner(_to_u(np.asarray(x, dtype=np.float64), self.lo, self.hi), np.asarray(self.coef))


def _to_u(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    return (2 * np.clip(x, lo, hi) - (lo + hi)) / (hi - lo)


def _horner(u: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Σ coef[..., k] u^k; ``coef`` is ``[K]`` or ``[N, K]`` (one row per value of u)."""
    out = np.zeros_like(u)
    for k in range(coef.shape[-1] - 1, -1, -1):
        out = out * u + coef[..., k]
    return out


@dataclass
class JESFit:
    """The fitted JES: one :class:`PolyResponse` per η bin, and the points behind each fit."""

    eta_edges: np.ndarray  #: [B+1] bin edges in η (signed) or |η|
    signed_eta: bool
    bins: list[PolyResponse]
    points: list[dict[str, list[float]]] = field(default_factory=list)  #: x, r, err per bin
    merged: list[int] = field(default_factory=list)  #: η-neighbour half-window used per bin

    def response(self, e_reco: np.ndarray, eta_det: np.ndarray) -> np.ndarray:
        """R_E for each jet (shape ``[N]``, float64); E in GeV. Never NaN."""
        v = np.asarray(eta_det, dtype=np.float64)
        idx = bin_index(v if self.signed_eta else np.abs(v), self.eta_edges)
        lo = np.array([b.lo for b in self.bins])[idx]
        hi = np.array([b.hi for b in self.bins])[idx]
        kmax = max(len(b.coef) for b in self.bins)
        coef = np.zeros((len(self.bins), kmax))
        for i, b in enumerate(self.bins):
            coef[i, : len(b.coef)] = b.coef
        return _horner(_to_u(safe_log(e_reco), lo, hi), coef[idx])

    def to_dict(self) -> dict[str, Any]:
        return {
            "eta_edges": [float(e) for e in self.eta_edges],
            "signed_eta": self.signed_eta,
            "bins": [{"lo": b.lo, "hi": b.hi, "coef": b.coef} for b in self.bins],
            "points": self.points,
            "merged": self.merged,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JESFit:
        return cls(
            eta_edges=np.asarray(d["eta_edges"], dtype=np.float64),
            signed_eta=bool(d["signed_eta"]),
            bins=[PolyResponse(float(b["lo"]), float(b["hi"]), [float(c) for c in b["coef"]]) for b in d["bins"]],
            points=list(d.get("points", [])),
            merged=list(d.get("merged", [])),
        )


def jes_eta_edges(config: NumericalConfig) -> np.ndarray:
    """η bin edges: Δη = ``eta_step`` up to ``eta_max``, signed or in |η|."""
    n = round(config.eta_max / config.eta_step)
    edges = np.linspace(0.0, config.eta_max, n + 1)
    return np.concatenate([-edges[:0:-1], edges]) if config.signed_eta else edges


def _points(
    e_true: np.ndarray, e_reco: np.ndarray, e_edges: np.ndarray, config: NumericalConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inversion points of one η window: x = ln⟨E_reco⟩, central r_E, its uncertainty."""
    idx = np.searchsorted(e_edges, e_true, side="right") - 1
    idx[(idx < 0) | (idx >= len(e_edges) - 1)] = -1
    xs, rs, errs = [], [], []
    for _, rows in group_by_bin(idx, len(e_edges) - 1):
        if rows.size < config.min_entries:
            continue  # sparse bin: dropped; the smooth fit bridges it
        r = e_reco[rows] / e_true[rows]
        xs.append(np.log(np.mean(e_reco[rows])))
        rs.append(central_value(r, config.central))
        errs.append(central_uncertainty(r, config.central))
    return np.array(xs), np.array(rs), np.array(errs)


def _fit_poly(x: np.ndarray, r: np.ndarray, err: np.ndarray, degree: int) -> PolyResponse:
    """Weighted polynomial fit in ln E_reco, lowering the degree until E_cal(E_reco) is
    monotonic over the fitted range (an inversion that folds back would map two reco
    energies onto one calibrated energy)."""
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        return PolyResponse(lo, lo + 1.0, [float(np.average(r, weights=1 / err**2))])
    grid = np.linspace(lo, hi, 200)
    w = 1.0 / np.maximum(err, 1e-6)
    for d in range(max(0, min(degree, len(x) - 2)), -1, -1):
        poly = np.polynomial.Polynomial.fit(x, r, d, w=w, domain=[lo, hi], window=[-1, 1])
        resp = PolyResponse(lo, hi, [float(c) for c in poly.coef])
        rg = resp(grid)
        if np.all(rg > 0) and np.all(np.diff(grid - np.log(rg)) > 0):
            return resp
    return resp  # degree 0: a positive constant always inverts monotonically


def fit_jes(
    e_true: np.ndarray, e_reco: np.ndarray, eta_det: np.ndarray, config: NumericalConfig
) -> JESFit:
    """Fit the JES on matched jets (arrays of shape ``[N]``; energies in GeV).

    An η bin with fewer than ``min_points`` usable E bins borrows the jets of its η
    neighbours (±1, ±2, ... bins) until it has enough; empty regions therefore never give NaN.
    """
    e_true = np.asarray(e_true, dtype=np.float64)
    e_reco = np.asarray(e_reco, dtype=np.float64)
    eta = np.asarray(eta_det, dtype=np.float64)
    eta_edges = jes_eta_edges(config)
    v = eta if config.signed_eta else np.abs(eta)
    good = np.isfinite(e_true) & np.isfinite(e_reco) & np.isfinite(v) & (e_true > 0) & (e_reco > 0)
    good &= (v >= eta_edges[0]) & (v < eta_edges[-1])
    if good.sum() < config.min_entries * 2:
        raise InputError(
            f"numerical calibration: only {int(good.sum())} usable jets within |η| < "
            f"{config.eta_max}; the JES fit needs at least {config.min_entries * 2}"
        )
    e_true, e_reco, v = e_true[good], e_reco[good], v[good]
    e_edges = log_edges(e_true, config.n_e_bins)
    nb = len(eta_edges) - 1
    idx = bin_index(v, eta_edges)
    bins, points, merged = [], [], []
    for k in range(nb):
        for w in range(nb):
            sel = (idx >= k - w) & (idx <= k + w)
            x, r, err = _points(e_true[sel], e_reco[sel], e_edges, config)
            if len(x) >= config.min_points or (k - w <= 0 and k + w >= nb - 1):
                break
        if len(x) == 0:
            raise InputError(
                "numerical calibration: no E_true bin has enough jets "
                f"(min_entries={config.min_entries}); use a larger sample"
            )
        bins.append(_fit_poly(x, r, err, config.degree))
        points.append({"x": x.tolist(), "r": r.tolist(), "err": err.tolist()})
        merged.append(w)
    return JESFit(eta_edges, config.signed_eta, bins, points, merged)
