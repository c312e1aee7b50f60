"""Width recalibration of a probabilistic head (docs/method.md#width-recalibration).

The NLL or pinball fit of a finite network, stopped early, does not give calibrated widths:
its 68 % intervals may hold 73 % of the jets. The fix is a monotone map per target, fitted on
the validation split after training: with u = F̂(y_true) the PIT values of the trained head
(its marginal CDF at the true log-response; for the mass only the jets whose mass loss is not
masked), the knots are the empirical quantiles Q_u(p_j) of u at the nominal levels
p_j = j / (PIT_KNOTS − 1) (:func:`pit_knots`). Then

* the recalibrated quantile at level p is the predicted marginal quantile at level Q_u(p)
  (:func:`jetcalib.dnn.heads.recalibrated_levels`, read by ``summarise(..., levels=)``),
* the recalibrated PIT is the empirical CDF of u, G(u) = Q_u⁻¹(u) (:func:`recalibrated_pit`),

both by linear interpolation between the knots. The knots are the network's float32 buffer
``recal_pit [2, PIT_KNOTS]`` (E, m): in ``weights.pt``, the content hash and the ONNX graph.
The identity (knots = nominal levels) changes nothing. It makes the *marginal* coverage of
the validation distribution nominal (up to its statistical precision); coverage in bins of
pT, mass or predicted resolution is only measured (benchmarks/heads.py), not imposed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .heads import LEVELS, PIT_KNOTS, nominal_levels

__all__ = ["MIN_JETS", "fit_from_pit", "pit_knots", "recalibrated_pit", "recalibration_summary"]

#: Fewest finite PIT values a target's map is fitted from; with fewer it stays the identity.
MIN_JETS = 100
#: Share of the identity blended into the knots so that they increase strictly (the map and
#: its inverse are then well defined where many jets share a PIT value, e.g. 0 or 1).
_BLEND = 1e-4
_TARGETS = ("energy", "mass")


def _grid() -> np.ndarray:
    # the float32 nominal levels of the network's identity buffer, as float64
    return nominal_levels().numpy().astype(np.float64)


def pit_knots(u: np.ndarray) -> np.ndarray:
    """The knots ``float32 [PIT_KNOTS]`` of one target from its PIT values ``u`` (NaN ignored):
    the empirical quantiles of u at the nominal levels, ending at 0 and 1, strictly
    increasing; the nominal levels themselves (identity) for fewer than :data:`MIN_JETS`."""
    v = np.asarray(u, dtype=np.float64)
    v = np.clip(v[np.isfinite(v)], 0.0, 1.0)
    grid = _grid()
    if v.size < MIN_JETS:
        return grid.astype(np.float32)
    q = np.quantile(v, grid)
    q[0], q[-1] = 0.0, 1.0
    q = np.maximum.accumulate(q)
    return ((1.0 - _BLEND) * q + _BLEND * grid).astype(np.float32)


def recalibrated_pit(u: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The recalibrated PIT G(u) ``float64 [N]``: the empirical CDF of the validation PIT
    values, i.e. u mapped from the knots back to the nominal levels (NaN stays NaN)."""
    return np.interp(np.asarray(u, dtype=np.float64), np.asarray(knots, dtype=np.float64), _grid())


def recalibration_summary(knots: np.ndarray, n_e: int, n_m: int) -> dict[str, Any]:
    """``summary["width_recalibration"]`` of a model: per target the levels at which the
    predicted CDF is read for the recalibrated 15.87/84.13 % quantiles, and the jets fitted."""
    grid = _grid()
    out: dict[str, Any] = {"method": "validation PIT quantiles", "knots": PIT_KNOTS}
    for t, name in enumerate(_TARGETS):
        k = np.asarray(knots[t], dtype=np.float64)
        out[name] = {"q16_level": round(float(np.interp(LEVELS[0], grid, k)), 5),
                     "q84_level": round(float(np.interp(LEVELS[2], grid, k)), 5),
                     "jets": int(n_e if t == 0 else n_m)}
    return out


def fit_from_pit(net: Any, u_e: np.ndarray, u_m: np.ndarray) -> dict[str, Any]:
    """Fit both targets' knots from un-recalibrated PIT values (NaN ignored: pass NaN for the
    mass of jets it is not fitted on), set them into the probabilistic network ``net``
    (``set_recalibration``) and return :func:`recalibration_summary`'s record."""
    knots = np.stack([pit_knots(u_e), pit_knots(u_m)])
    net.set_recalibration(knots)
    return recalibration_summary(knots, int(np.isfinite(u_e).sum()), int(np.isfinite(u_m).sum()))
