"""Jet mass scale by numerical inversion, after the JES (docs/method.md#numerical-inversion, step 2).

Truth bins of E_true × ln(m_true/E_true) × |η_det| give points (⟨ln E⟩, ⟨ln(m/E)⟩, central
r_m) in *reco* coordinates (JES-calibrated E and m). Per |η| bin, the scattered points are
interpolated (linear on their Delaunay triangulation, nearest point outside their hull) onto a
regular grid of nodes in (ln E, ln(m/E)); the calibration interpolates bilinearly between
nodes, with coordinates clamped to the grid. The grid is shared by all η bins so that the
export to correctionlib is a plain multi-binning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .binning import bin_index, group_by_bin, log_edges, safe_log
from .config import NumericalConfig
from .stats import central_value

__all__ = ["JMSFit", "bilinear", "fit_jms"]


def bilinear(
    values: np.ndarray, x_nodes: np.ndarray, y_nodes: np.ndarray, x: np.ndarray, y: np.ndarray,
    grid: np.ndarray | None = None,
) -> np.ndarray:
    """Bilinear interpolation at (x, y) (shape ``[N]``), coordinates clamped to the node range,
    of ``values[G, nx, ny]`` with ``grid[N]`` choosing each row's grid, of ``values[N, nx, ny]``
    (one grid per row, already selected) or of ``values[nx, ny]``."""
    x = np.clip(x, x_nodes[0], x_nodes[-1])
    y = np.clip(y, y_nodes[0], y_nodes[-1])
    ix = np.clip(np.searchsorted(x_nodes, x, side="right") - 1, 0, len(x_nodes) - 2)
    iy = np.clip(np.searchsorted(y_nodes, y, side="right") - 1, 0, len(y_nodes) - 2)
    tx = (x - x_nodes[ix]) / (x_nodes[ix + 1] - x_nodes[ix])
    ty = (y - y_nodes[iy]) / (y_nodes[iy + 1] - y_nodes[iy])
    if grid is not None:  # index the corners only: values[grid] would copy a grid per row
        rows, v = np.asarray(grid), values
    else:
        rows = np.arange(len(x))
        v = values if values.ndim == 3 else np.broadcast_to(values, (len(x), *values.shape))
    v00, v10 = v[rows, ix, iy], v[rows, ix + 1, iy]
    v01, v11 = v[rows, ix, iy + 1], v[rows, ix + 1, iy + 1]
    return v00 * (1 - tx) * (1 - ty) + v10 * tx * (1 - ty) + v01 * (1 - tx) * ty + v11 * tx * ty


@dataclass
class JMSFit:
    """The fitted JMS: node values ``[n_eta, nx, ny]`` of R_m on a (ln E, ln(m/E)) grid."""

    eta_edges: np.ndarray  #: [n_eta + 1] edges in |η_det|
    x_nodes: np.ndarray  #: [nx] ln(E_JES / GeV)
    y_nodes: np.ndarray  #: [ny] ln(m_JES / E_JES)
    values: np.ndarray  #: [n_eta, nx, ny] mass response at the nodes
    min_energy: float  #: GeV; below this JES-calibrated energy the mass is not calibrated
    points: list[dict[str, list[float]]]  #: the inversion points (x, y, r) per η bin
    merged: list[int]
    max_energy: float | None = None  #: GeV; at or above this JES-calibrated energy neither (None: no limit)

    def response(self, e_jes: np.ndarray, m_jes: np.ndarray, eta_det: np.ndarray) -> np.ndarray:
        """R_m (shape ``[N]``) at JES-calibrated E and m (GeV). Never NaN."""
        x = safe_log(e_jes)
        y = safe_log(m_jes) - x
        idx = bin_index(np.abs(np.asarray(eta_det, dtype=np.float64)), self.eta_edges)
        # (the 24 × 20 grid per jet that self.values[idx] gave took 3.8 kB a jet: 0.4 GB per
        # 100k-jet chunk of calibrate)
        return bilinear(self.values, self.x_nodes, self.y_nodes, x, y, grid=idx)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eta_edges": self.eta_edges.tolist(),
            "x_nodes": self.x_nodes.tolist(),
            "y_nodes": self.y_nodes.tolist(),
            "values": self.values.tolist(),
            "min_energy": self.min_energy,
            "max_energy": self.max_energy,
            "points": self.points,
            "merged": self.merged,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JMSFit:
        return cls(
            eta_edges=np.asarray(d["eta_edges"], dtype=np.float64),
            x_nodes=np.asarray(d["x_nodes"], dtype=np.float64),
            y_nodes=np.asarray(d["y_nodes"], dtype=np.float64),
            values=np.asarray(d["values"], dtype=np.float64),
            min_energy=float(d["min_energy"]),
            points=list(d.get("points", [])),
            merged=list(d.get("merged", [])),
            max_energy=None if d.get("max_energy") is None else float(d["max_energy"]),
        )


def _points(
    e_true: np.ndarray,
    m_true: np.ndarray,
    e_jes: np.ndarray,
    m_jes: np.ndarray,
    e_edges: np.ndarray,
    y_edges: np.ndarray,
    config: NumericalConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inversion points in one |η| window: ⟨ln E_JES⟩ (as ln of the mean), ⟨ln(m/E)_JES⟩, r_m."""
    ny = len(y_edges) - 1
    ie = np.searchsorted(e_edges, e_true, side="right") - 1
    iy = np.searchsorted(y_edges, np.log(m_true / e_true), side="right") - 1
    inside = (ie >= 0) & (ie < len(e_edges) - 1) & (iy >= 0) & (iy < ny)
    idx = np.where(inside, ie * ny + iy, -1)
    xs, ys, rs = [], [], []
    for _, rows in group_by_bin(idx, (len(e_edges) - 1) * ny):
        if rows.size < config.jms_min_entries:
            continue
        xs.append(np.log(np.mean(e_jes[rows])))
        ys.append(np.mean(np.log(m_jes[rows] / e_jes[rows])))
        rs.append(central_value(m_jes[rows] / m_true[rows], config.central))
    return np.array(xs), np.array(ys), np.array(rs)


def _to_grid(x: np.ndarray, y: np.ndarray, r: np.ndarray, xn: np.ndarray, yn: np.ndarray) -> np.ndarray | None:
    """Node values from scattered points, or None if they span no triangle."""
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
    from scipy.spatial import QhullError

    gx, gy = np.meshgrid(xn, yn, indexing="ij")
    # Interpolate in scaled coordinates: ln E and ln(m/E) have different spreads, and Delaunay
    # triangles in raw units would be long and thin.
    sx, sy = np.ptp(xn) or 1.0, np.ptp(yn) or 1.0
    pts = np.column_stack([x / sx, y / sy])
    nodes = np.column_stack([gx.ravel() / sx, gy.ravel() / sy])
    try:
        lin = LinearNDInterpolator(pts, r)(nodes)
    except (QhullError, ValueError):
        return None
    near = NearestNDInterpolator(pts, r)(nodes)
    return np.where(np.isfinite(lin), lin, near).reshape(gx.shape)


def fit_jms(
    e_true: np.ndarray,
    m_true: np.ndarray,
    e_jes: np.ndarray,
    m_jes: np.ndarray,
    eta_det: np.ndarray,
    config: NumericalConfig,
) -> JMSFit:
    """Fit the JMS on matched jets after the JES (arrays ``[N]``, GeV).

    Only jets with m_true > ``jms_min_mass`` enter. A |η| bin whose points span no triangle
    borrows its neighbours' jets (±1, ±2 bins...); the result never contains NaN.
    """
    e_true = np.asarray(e_true, dtype=np.float64)
    m_true = np.asarray(m_true, dtype=np.float64)
    e_jes = np.asarray(e_jes, dtype=np.float64)
    m_jes = np.asarray(m_jes, dtype=np.float64)
    aeta = np.abs(np.asarray(eta_det, dtype=np.float64))
    eta_edges = np.asarray(config.jms_eta_edges, dtype=np.float64)
    good = np.isfinite(e_true + m_true + e_jes + m_jes + aeta)
    good &= (m_true > config.jms_min_mass) & (m_true < e_true) & (m_jes > 0) & (e_jes > m_jes)
    good &= aeta < eta_edges[-1]
    if good.sum() < config.jms_min_entries * 4:
        raise InputError(
            f"numerical calibration: only {int(good.sum())} jets with m_true > "
            f"{config.jms_min_mass} GeV for the JMS fit; use a larger sample or --no-jms"
        )
    e_true, m_true, e_jes, m_jes, aeta = (a[good] for a in (e_true, m_true, e_jes, m_jes, aeta))
    e_edges = log_edges(e_true, config.jms_n_e_bins)
    y_true = np.log(m_true / e_true)
    y_lo, y_hi = np.quantile(y_true, [0.005, 0.995])
    y_edges = np.linspace(float(y_lo), float(y_hi), config.jms_n_logm_bins + 1)
    nb = len(eta_edges) - 1
    idx = bin_index(aeta, eta_edges)
    windows: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
    for k in range(nb):
        for w in range(nb):
            sel = (idx >= k - w) & (idx <= k + w)
            x, y, r = _points(e_true[sel], m_true[sel], e_jes[sel], m_jes[sel], e_edges, y_edges, config)
            if len(x) >= 6 or (k - w <= 0 and k + w >= nb - 1):
                break
        windows.append((x, y, r, w))
    all_x = np.concatenate([wd[0] for wd in windows])
    all_y = np.concatenate([wd[1] for wd in windows])
    if all_x.size < 3:
        raise InputError("numerical calibration: too few populated (E, m/E) bins for the JMS fit")
    nx, ny = config.jms_grid
    xn = np.linspace(all_x.min(), all_x.max(), nx)
    yn = np.linspace(all_y.min(), all_y.max(), ny)
    values = np.empty((nb, nx, ny))
    for k, (x, y, r, _) in enumerate(windows):
        grid = _to_grid(x, y, r, xn, yn) if len(x) >= 3 else None
        if grid is None:
            # Degenerate window (collinear or < 3 points): the η-inclusive points instead.
            all_r = np.concatenate([wd[2] for wd in windows])
            grid = _to_grid(all_x, all_y, all_r, xn, yn)
            if grid is None:
                grid = np.full((nx, ny), float(np.median(all_r)))
        values[k] = grid
    points = [{"x": x.tolist(), "y": y.tolist(), "r": r.tolist()} for x, y, r, _ in windows]
    return JMSFit(eta_edges, xn, yn, values, config.jms_min_energy, points, [wd[3] for wd in windows],
                  config.jms_max_energy)
