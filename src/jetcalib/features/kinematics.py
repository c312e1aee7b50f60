"""Turning predicted responses into calibrated jet kinematics (docs/method.md#applying, docs/flags.md).

Shared by every calibration method so that they all flag and fall back the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.mapping import pt_from_e_m_eta
from ..io.schema import COLUMNS, CONSTITUENT_COLUMNS, KINEMATIC_INPUTS, CalibFlag
from ..io.units import check_plausible, check_units, outputs_from_gev, table_to_gev
from .domain import TrainingDomain, domain_flags

__all__ = ["ENERGY_MAX", "ETA_MAX", "KINEMATIC_INPUTS", "MASS_ENERGY_RTOL", "ResidualResponses",
           "apply_responses", "batched_responses", "calibrate_in_units", "calibrate_with_model", "input_flags",
           "merge_domain_flags", "out_of_range", "pt_from_e_m_eta", "with_residual"]

#: A second calibration stage applied after a model's responses: reco-like columns ``e_reco``,
#: ``m_reco``, ``eta_reco``, ``eta`` (the model-calibrated jets) → ``(R_E, R_m, mass_ok)``,
#: R_m including R_E, as :meth:`jetcalib.numerical.NumericalCalibration.responses`.
ResidualResponses = Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]

#: Calorimeter acceptance |η| < 4.9: jets beyond it are not calibrated.
ETA_MAX = 4.9
#: Largest jet energy (GeV) taken as physical, reco or truth: the LHC's design √s. A jet
#: carries at most the beam energy (7 TeV), so this leaves a factor 2 for mismeasurement;
#: above it the value is a unit mistake (MeV) or corrupt, and the jet is not calibrated.
ENERGY_MAX = 14_000.0
#: A mass above the energy by at most this fraction (≈ 80 float32 steps) is rounding of the
#: stored values, not physics: such a jet is treated as m = E (calibrated, flag MASS_ABOVE_ENERGY if the calibrated mass stays at or above
#: the energy); beyond it m > E is unphysical and the jet is flagged OUT_OF_RANGE.
MASS_ENERGY_RTOL = 1e-5


def input_flags(
    e_reco: np.ndarray,
    m_reco: np.ndarray,
    eta_reco: np.ndarray,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Per-jet :class:`~jetcalib.io.CalibFlag` for inputs no method should calibrate:
    NON_FINITE_INPUT (NaN, inf, or a null in the file), NON_POSITIVE_MASS, OUT_OF_RANGE
    (:func:`out_of_range`: E <= 0, E > 14 TeV, m > E beyond rounding, |η| > 4.9).

    ``features`` is an optional ``[N, F]`` array of the method's inputs; a non-finite entry
    flags the jet. Returns ``int8[N]``, 0 where the jet can be calibrated.
    """
    e = np.asarray(e_reco, dtype=np.float64)
    m = np.asarray(m_reco, dtype=np.float64)
    eta = np.asarray(eta_reco, dtype=np.float64)
    flag = np.zeros(e.shape, dtype=np.int8)
    bad_kin = ~(np.isfinite(e) & np.isfinite(m) & np.isfinite(eta))
    if features is not None:
        bad_kin |= ~np.all(np.isfinite(features), axis=1)
    flag[bad_kin] = CalibFlag.NON_FINITE_INPUT
    rest = flag == 0
    flag[rest & ~(m > 0)] = CalibFlag.NON_POSITIVE_MASS
    rest = flag == 0
    flag[rest & out_of_range(e, m, eta)] = CalibFlag.OUT_OF_RANGE
    return flag


def out_of_range(e: np.ndarray, m: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
    """``bool[N]``: jets with finite values outside physics: E <= 0, E > :data:`ENERGY_MAX`,
    m > E beyond :data:`MASS_ENERGY_RTOL`, or |η| > :data:`ETA_MAX` (``eta`` given)."""
    e = np.asarray(e, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    bad = ~(e > 0) | (e > ENERGY_MAX) | (m > e * (1.0 + MASS_ENERGY_RTOL))
    if eta is not None:
        bad |= np.abs(np.asarray(eta, dtype=np.float64)) > ETA_MAX
    return bad


def apply_responses(
    e_reco: np.ndarray,
    m_reco: np.ndarray,
    eta_reco: np.ndarray,
    response_e: np.ndarray,
    response_m: np.ndarray,
    flag: np.ndarray | None = None,
    *,
    calibrate_mass: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Calibrated ``e_cal``, ``pt_cal``, ``m_cal`` (GeV, float32) and ``calib_flag`` (int8).

    E_cal = E_reco / r̂_E and m_cal = m_reco / r̂_m; pT from (E_cal, m_cal, η). Where
    ``calibrate_mass`` is False the mass follows the energy (m_reco / r̂_E) and the jet is
    flagged ``MASS_NOT_CALIBRATED``; where m_cal ≥ E_cal the same fallback is used with flag
    ``MASS_ABOVE_ENERGY``. Jets already flagged (``flag`` ≠ 0) or with a non-finite or
    non-positive response keep their reco kinematics.
    """
    e = np.asarray(e_reco, dtype=np.float64)
    m = np.asarray(m_reco, dtype=np.float64)
    eta = np.asarray(eta_reco, dtype=np.float64)
    r_e = np.asarray(response_e, dtype=np.float64)
    r_m = np.asarray(response_m, dtype=np.float64)
    out_flag = (
        np.zeros(e.shape, dtype=np.int8) if flag is None else np.asarray(flag, dtype=np.int8).copy()
    )
    bad_pred = ~(np.isfinite(r_e) & (r_e > 0) & np.isfinite(r_m) & (r_m > 0))
    out_flag[(out_flag == 0) & bad_pred] = CalibFlag.BAD_PREDICTION
    ok = out_flag == 0

    with np.errstate(divide="ignore", invalid="ignore"):
        e_cal = np.where(ok, e / r_e, e)
        m_follow = np.where(ok, m / r_e, m)
        m_cal = np.where(ok, m / r_m, m)
    if calibrate_mass is not None:
        no_mass = ok & ~np.asarray(calibrate_mass, dtype=bool)
        m_cal = np.where(no_mass, m_follow, m_cal)
        out_flag[no_mass] = CalibFlag.MASS_NOT_CALIBRATED
    above = ok & (m_cal >= e_cal)
    m_cal = np.where(above, m_follow, m_cal)
    out_flag[above] = CalibFlag.MASS_ABOVE_ENERGY
    return {
        "e_cal": e_cal.astype(np.float32),
        "pt_cal": pt_from_e_m_eta(e_cal, m_cal, eta).astype(np.float32),
        "m_cal": m_cal.astype(np.float32),
        "calib_flag": out_flag,
    }


def with_residual(
    e_reco: np.ndarray,
    m_reco: np.ndarray,
    eta_reco: np.ndarray,
    response_e: np.ndarray,
    response_m: np.ndarray,
    residual: ResidualResponses,
) -> tuple[np.ndarray, np.ndarray]:
    """Total responses of a model followed by a residual stage, ``float64[N]`` each.

    The residual sees the model-calibrated jet (E/r̂_E, m/r̂_m, η) and returns (R_E, R_m,
    mass_ok); the totals are r̂_E·R_E and r̂_m·R_m, or r̂_m·R_E where the residual leaves the
    mass alone (mass_ok False: the residual then scales the whole four-vector). Rows with a
    non-finite or non-positive response keep it (NaN there is the caller's flag).
    """
    r_e = np.asarray(response_e, dtype=np.float64).copy()
    r_m = np.asarray(response_m, dtype=np.float64).copy()
    ok = np.isfinite(r_e) & (r_e > 0) & np.isfinite(r_m) & (r_m > 0)
    stage = {"e_reco": np.asarray(e_reco, dtype=np.float64)[ok] / r_e[ok],
             "m_reco": np.asarray(m_reco, dtype=np.float64)[ok] / r_m[ok]}
    stage["eta_reco"] = stage["eta"] = np.asarray(eta_reco, dtype=np.float64)[ok]
    res_e, res_m, mass_ok = residual(stage)
    r_e[ok] *= res_e
    r_m[ok] *= np.where(mass_ok, res_m, res_e)
    return r_e, r_m


def calibrate_with_model(
    table: Any,
    features: Sequence[str],
    predict_responses: Callable[[np.ndarray], tuple[Any, ...]],
    mass_min_reco: float = 0.0,
    residual: ResidualResponses | None = None,
    *,
    training_domain: TrainingDomain | None = None,
    domain: str = "flag",
    pack: Callable[[np.ndarray, Any], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Calibrate a jet table (dict of arrays, pandas DataFrame or awkward Array) with a model
    that maps raw features ``[N, F]`` (rows of NaN for jets not to calibrate) to responses,
    optionally followed by a ``residual`` stage (:func:`with_residual`).

    One rule for every runtime (PyTorch, onnxruntime): jets with a non-finite input, m_reco ≤ 0
    or outside |η| < 4.9 keep their reco kinematics with a non-zero ``calib_flag``; the mass is
    calibrated only where m_reco > ``mass_min_reco`` (GeV), else it follows the energy.
    Jets outside ``training_domain`` (if known) are flagged 7-9 as ``domain`` says
    (:data:`~jetcalib.features.DOMAIN_POLICIES`: ``"flag"`` calibrated and flagged,
    ``"strict"`` not calibrated, ``"ignore"`` not flagged).

    ``predict_responses`` may return a third item, a dict of further per-jet columns (a
    probabilistic network's resolutions and quantiles, :data:`~jetcalib.io.UNCERTAINTY_COLUMNS`):
    they are added to the output as they are (NaN for jets not given to the model).

    ``pack`` (a constituent network, docs/method.md#constituent-network): ``(features [N, F],
    table) → [N, D]`` rows the model reads instead of the features (the features followed by
    the jet's constituents, :func:`jetcalib.features.constituents.packed_inputs`); a non-finite
    value anywhere in a row flags the jet NON_FINITE_INPUT as a non-finite feature does.
    """
    from .table import as_columns, feature_matrix

    cols = as_columns(table, KINEMATIC_INPUTS, what="jet table")
    try:
        x = feature_matrix(table, features, what="jet table")
    except InputError as exc:
        raise InputError(
            f"{exc}; the model does not match the table (it reads {len(features)} "
            f"features: {', '.join(features)})"
        ) from None
    rows = x if pack is None else pack(x, table)
    flag = input_flags(cols["e_reco"], cols["m_reco"], cols["eta_reco"], rows)
    outside = domain_flags(training_domain, domain, cols["e_reco"], cols["m_reco"], cols["eta_reco"],
                           x, features)
    if outside is not None and domain == "strict":
        flag = merge_domain_flags(flag, outside)
    predicted = predict_responses(np.where(flag[:, None] == 0, rows, np.nan))
    r_e, r_m = predicted[0], predicted[1]
    extra: dict[str, np.ndarray] = predicted[2] if len(predicted) > 2 else {}
    m = np.asarray(cols["m_reco"], dtype=np.float64)
    if residual is not None:
        r_e, r_m = with_residual(cols["e_reco"], m, cols["eta_reco"], r_e, r_m, residual)
    out = apply_responses(cols["e_reco"], m, cols["eta_reco"], r_e, r_m, flag,
                          calibrate_mass=m > mass_min_reco)
    if outside is not None and domain == "flag":
        out["calib_flag"] = merge_domain_flags(out["calib_flag"], outside)
    out.update(extra)
    return out


#: Codes a training-domain flag (7-9) replaces: jets whose energy is calibrated (0, and the
#: mass fallbacks 3 and 6). Jets left at reco kinematics (1, 2, 4, 5) keep their code.
DOMAIN_REPLACES = (CalibFlag.OK, CalibFlag.MASS_ABOVE_ENERGY, CalibFlag.MASS_NOT_CALIBRATED)


def uncertainty_columns(r_e_q16: np.ndarray, r_e_q50: np.ndarray, r_e_q84: np.ndarray, r_m_q16: np.ndarray,
                        r_m_q50: np.ndarray, r_m_q84: np.ndarray, r_em_corr: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`~jetcalib.io.UNCERTAINTY_COLUMNS` (float32) from a probabilistic model's
    predicted response quantiles and correlation: ``*_cal_rel_unc`` = (q84 − q16)/2 / median;
    one rule for every runtime (PyTorch, onnxruntime)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"e_cal_rel_unc": (np.asarray(r_e_q84, np.float64) - r_e_q16) / 2 / r_e_q50,
               "m_cal_rel_unc": (np.asarray(r_m_q84, np.float64) - r_m_q16) / 2 / r_m_q50,
               "r_e_q16": r_e_q16, "r_e_q84": r_e_q84, "r_m_q16": r_m_q16, "r_m_q84": r_m_q84,
               "r_em_corr": r_em_corr}
    return {k: np.asarray(v, dtype=np.float64).astype(np.float32) for k, v in out.items()}


def merge_domain_flags(flag: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """``flag`` with the domain flags ``outside`` (:meth:`TrainingDomain.flags`, 0 inside) where
    it is one of :data:`DOMAIN_REPLACES`; other codes (the jet kept its reco kinematics) stay."""
    flag = np.asarray(flag, dtype=np.int8)
    outside = np.asarray(outside, dtype=np.int8)
    take = (outside != 0) & np.isin(flag, np.array(DOMAIN_REPLACES, dtype=np.int8))
    return np.where(take, outside, flag).astype(np.int8)


def calibrate_in_units(
    table: Any,
    units: str | None,
    calibrate_gev: Callable[[Any], dict[str, np.ndarray]],
    *,
    column_map: Any = None,
    preset: str | None = None,
) -> dict[str, np.ndarray]:
    """``calibrate_gev(table)`` for a table in ``units`` (``"GeV"`` or ``"MeV"``): the one
    place every calibration converts units (:mod:`jetcalib.io.units`).

    Refuses a table whose median ``e_reco`` looks like the other unit
    (:func:`~jetcalib.io.units.check_plausible`); in MeV, the energy-valued columns are
    converted to GeV on the way in and ``e_cal``, ``pt_cal``, ``m_cal`` come back in MeV.

    A jagged awkward Array of records (events × jets, fields named as jetcalib columns) is
    calibrated jet by jet and comes back as a jagged awkward Array of records (``e_cal``,
    ``pt_cal``, ``m_cal``, ``calib_flag``) with the same jets per event; a pandas DataFrame
    comes back as a DataFrame with the same index; anything else as a dict of numpy arrays.

    ``column_map`` ({jetcalib name: the table's name} or a ColumnMap) and ``preset``
    (:mod:`jetcalib.io.presets`) rename the table's fields first; an event-level field of a
    jagged table (μ, NPV) is given to each jet of its event. ``units`` None: the map's or the
    preset's unit, else GeV.
    """
    from .table import _column_names, as_columns, flatten_jagged, jagged_counts, unflatten_outputs

    index = _dataframe_index(table)
    if index is not None:  # pandas in, pandas out (same index)
        import pandas as pd

        out = calibrate_in_units({str(c): table[c].to_numpy() for c in table.columns}, units, calibrate_gev,
                                 column_map=column_map, preset=preset)
        return pd.DataFrame(out, index=index)
    if column_map is not None or preset is not None:
        table, map_units = _renamed(table, column_map, preset)
        units = units or map_units
    units = units or "GeV"

    counts = jagged_counts(table)
    if counts is not None:
        return unflatten_outputs(calibrate_in_units(flatten_jagged(table), units, calibrate_gev), counts)
    units = check_units(units)
    try:
        e_reco = as_columns(table, ("e_reco",), what="jet table")["e_reco"]
    except InputError:  # no energy at all: the calibration itself names what is missing
        e_reco = None
    if e_reco is not None:
        check_plausible(e_reco, units)
    if units == "GeV":
        return calibrate_gev(table)
    cols = {name: table[name] for name in _column_names(table) if name in COLUMNS}
    converted: dict[str, Any] = table_to_gev(cols, units)
    # the jagged constituent columns of a constituent network: energies (cl_e, trk_pt) in GeV too
    for name in _column_names(table):
        if name in CONSTITUENT_COLUMNS:
            scale = 1e-3 if CONSTITUENT_COLUMNS[name].unit == "GeV" else 1.0
            converted[name] = table[name] * scale if scale != 1.0 else table[name]
    return outputs_from_gev(calibrate_gev(converted), units)


def _dataframe_index(table: Any) -> Any:
    """The index of a pandas DataFrame (imported only when one is given), else None."""
    if type(table).__module__.split(".")[0] != "pandas" or not hasattr(table, "columns"):
        return None
    return table.index


def _renamed(table: Any, column_map: Any, preset: str | None) -> tuple[Any, str | None]:
    """``table`` with jetcalib's field names, read through ``column_map``/``preset``, and the
    unit they declare (None: not said)."""
    from ..io import ColumnMap
    from ..io.presets import preset_column_map
    from .table import _column_names

    fields = _column_names(table)
    cmap = column_map if isinstance(column_map, ColumnMap) or column_map is None else ColumnMap(column_map)
    if preset is not None:
        cmap = preset_column_map(preset, fields, column_map=cmap)
    assert cmap is not None
    present = set(fields)
    out = {}
    for name in COLUMNS:
        user = cmap.user_name(name)
        if user in present:
            out[name] = table[user]
    if getattr(table, "fields", None) is not None and not isinstance(table, Mapping):
        import awkward as ak

        return ak.zip(out), cmap.units  # broadcasts event-level fields to the jets
    return out, cmap.units


def batched_responses(
    features: np.ndarray,
    feature_names: Sequence[str],
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    batch_size: int,
    *,
    width: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Responses ``(r̂_E, r̂_m)``, ``float64[N]`` each, for raw features ``[N, F]``: ``evaluate``
    (one runtime's network call on raw finite rows ``[B, F]``) runs on batches of at most
    ``batch_size`` rows; rows with a non-finite feature get NaN without being evaluated.
    ``width``: values per row when the rows hold more than the features (a constituent
    network's flat layout, :class:`~jetcalib.features.constituents.ConstituentLayout`)."""
    x = np.asarray(features)
    if width is not None and x.shape[1:] != (width,):
        raise InputError(f"inputs have shape {x.shape}, this model reads [N, {width}] ({len(feature_names)} "
                         "features, then the constituents: jetcalib.features.constituents.packed_inputs)")
    if width is None and (x.ndim != 2 or x.shape[1] != len(feature_names)):
        raise InputError(f"features have shape {x.shape}, this model reads [N, {len(feature_names)}] "
                         f"({', '.join(feature_names)})")
    r_e = np.full(x.shape[0], np.nan)
    r_m = np.full(x.shape[0], np.nan)
    good = np.flatnonzero(np.all(np.isfinite(x), axis=1))
    x_good = x[good]
    for start in range(0, good.size, batch_size):
        rows = good[start : start + batch_size]
        r_e[rows], r_m[rows] = evaluate(x_good[start : start + batch_size])
    return r_e, r_m
