"""The declared schema of a table of matched large-R jets (docs/inputs.md).

Every jet table that jetcalib reads or writes uses these column names. Energies, momenta and
masses are in GeV; angles in radians; η is dimensionless. One row is one matched
(reco, truth) jet pair, or one reco jet where no truth exists (a user's data to calibrate).

Columns are grouped by what needs them:

``event``       event-level bookkeeping (event number, weight, process, pile-up)
``truth``       the matched truth jet (needed to fit or evaluate a calibration)
``reco``        the reconstructed, groomed jet at constituent (LC) scale
``input``       the 21 network inputs (docs/inputs.md#inputs), computed on the groomed reco jet
``sim``         hidden simulator truth, useful for studies (never a network input)
``calibrated``  what a calibration adds (``e_cal``, ``pt_cal``, ``m_cal``, ``calib_flag``)
``constituents`` (optional, jagged: :data:`CONSTITUENT_COLUMNS`) the groomed reco jet's clusters
                and tracks, written by ``jetcalib generate --constituents``
``uncertainty`` what a probabilistic DNN head (``head: density | quantile | gaussian``,
                docs/method.md#heads) adds besides: per-jet relative resolutions, the 16/84 %
                quantiles of the predicted responses r = reco/true and their E–m correlation
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = [
    "CALIBRATED_COLUMNS",
    "CLUSTER_COLUMNS",
    "COLUMNS",
    "CONSTITUENT_COLUMNS",
    "INPUT_FEATURES",
    "KINEMATIC_INPUTS",
    "RECO_COLUMNS",
    "REQUIRED_FOR",
    "SCHEMA_VERSION",
    "TRACK_COLUMNS",
    "TRUTH_COLUMNS",
    "UNCERTAINTY_COLUMNS",
    "CalibFlag",
    "Column",
    "Process",
    "column",
    "columns_in_group",
]

#: Version of the jet-table schema. Bump the major number when a column changes meaning.
SCHEMA_VERSION = "1.1"  # 1.1: hidden-truth energy columns, optional constituent columns


@dataclass(frozen=True)
class Column:
    """One declared column.

    ``dtype`` is the dtype jetcalib writes; on reading, any real numeric dtype that converts to
    it (float or integer for float columns, integer for integer columns) is accepted and cast;
    strings and booleans are refused.
    """

    name: str
    dtype: str
    unit: str
    group: str
    description: str

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)


class Process(IntEnum):
    """Physics process of a generated event, stored as an integer in the ``process`` column."""

    DIJET = 0
    WPRIME = 1
    ZPRIME_TT = 2
    DIJET_ALT = 3  #: dijets with altered shower/hadronisation (generator-dependence tests)
    UNKNOWN = 99  #: a user's own data


class CalibFlag(IntEnum):
    """Values of ``calib_flag``: 0 means calibrated, 1-6 say why a jet was not (fully), 7-9 warn.

    A jet with a non-zero flag keeps its reco (constituent-scale) kinematics in ``e_cal``,
    ``pt_cal`` and ``m_cal``, except ``MASS_NOT_CALIBRATED`` and ``MASS_ABOVE_ENERGY`` which
    calibrate the energy and keep the mass at ``m_reco / r̂_E`` (docs/flags.md), and the
    training-domain codes 7-9, which by default (``domain="flag"``) only warn: the jet is
    calibrated as usual; with ``domain="strict"`` (``--domain strict``) it keeps its reco
    kinematics (docs/flags.md#training-domain).
    """

    OK = 0
    NON_FINITE_INPUT = 1  #: an input feature is NaN, infinite or missing (null in the file)
    NON_POSITIVE_MASS = 2  #: m_reco <= 0
    #: calibrated m >= calibrated E: mass kept at m_reco / r̂_E. Also a reco jet with m = E up
    #: to rounding (m <= E·(1 + 1e-5), ``jetcalib.features.MASS_ENERGY_RTOL``)
    MASS_ABOVE_ENERGY = 3
    BAD_PREDICTION = 4  #: the method returned a non-finite or non-positive response
    #: outside physics or the method's validity range: |η| > 4.9, E <= 0, E > 14 TeV
    #: (``jetcalib.features.ENERGY_MAX``: a unit mistake such as MeV, or a corrupt value), or
    #: m > E beyond rounding (an unphysical four-vector)
    OUT_OF_RANGE = 5
    MASS_NOT_CALIBRATED = 6  #: energy calibrated, mass below the method's mass threshold
    #: |η_reco| beyond the largest |η_reco| of the training jets (the artifact's training domain)
    OUTSIDE_TRAINING_ETA = 7
    #: reco pT (DNN) or reco E (numerical) outside the 1 %-99.9 % quantiles of the training jets
    OUTSIDE_TRAINING_PT = 8
    #: a network input outside the range it took over the training jets (e.g. a foreign
    #: sentinel such as −999)
    INPUT_OUTSIDE_TRAINING = 9


_G = "GeV"
_COLUMN_LIST: tuple[Column, ...] = (
    # --- event -----------------------------------------------------------------------------
    Column("event", "int64", "", "event", "event number within the generated sample"),
    Column("weight", "float64", "", "event", "event weight (cross-section x slice weight)"),
    Column("process", "int16", "", "event", "physics process, see jetcalib.io.Process"),
    Column("mu_actual", "float32", "", "event", "actual number of pile-up interactions overlaid"),
    # --- truth -----------------------------------------------------------------------------
    Column("e_true", "float32", _G, "truth", "groomed truth-jet energy"),
    Column("pt_true", "float32", _G, "truth", "groomed truth-jet transverse momentum"),
    Column("eta_true", "float32", "", "truth", "truth-jet pseudorapidity"),
    Column("phi_true", "float32", "rad", "truth", "truth-jet azimuth"),
    Column("m_true", "float32", _G, "truth", "groomed truth-jet mass"),
    # --- reco (groomed, constituent/LC scale) -----------------------------------------------
    Column("e_reco", "float32", _G, "reco", "groomed reco-jet energy at LC scale"),
    Column("pt_reco", "float32", _G, "reco", "groomed reco-jet transverse momentum at LC scale"),
    Column("eta_reco", "float32", "", "reco", "groomed reco-jet pseudorapidity"),
    Column("phi_reco", "float32", "rad", "reco", "groomed reco-jet azimuth"),
    Column("m_reco", "float32", _G, "reco", "groomed reco-jet mass at LC scale"),
    # --- the 21 network inputs (docs/inputs.md#inputs), in the network's order --------------
    Column("eta", "float32", "", "input", "detector pseudorapidity of the groomed reco jet"),
    Column("log_e", "float32", "ln GeV", "input", "ln(E / GeV)"),
    Column("log_m", "float32", "ln GeV", "input", "ln(max(m, 1 GeV) / GeV)"),
    Column("width", "float32", "", "input", "sum pT_i dR(i, jet) / sum pT_i"),
    Column("em_frac", "float32", "", "input", "fraction of jet energy in EM layers"),
    Column("em3_frac", "float32", "", "input", "fraction of jet energy in the third EM layer"),
    Column("tile0_frac", "float32", "", "input", "fraction of jet energy in the first HAD layer"),
    Column("eff_n_clusters", "float32", "", "input", "(sum E_i)^2 / sum E_i^2 over clusters"),
    Column("groom_m_ratio", "float32", "", "input", "groomed mass / ungroomed mass"),
    Column("neutral_e_frac", "float32", "", "input", "1 - track energy / jet energy, in [0, 1]"),
    Column("charged_pt_frac", "float32", "", "input", "track pT sum / jet pT"),
    Column("charged_m_frac", "float32", "", "input", "mass of summed tracks / jet mass"),
    Column("split12", "float32", _G, "input", "sqrt(d12) from exclusive kt reclustering"),
    Column("split23", "float32", _G, "input", "sqrt(d23) from exclusive kt reclustering"),
    Column("c2", "float32", "", "input", "energy-correlation ratio C2 (beta = 1)"),
    Column("d2", "float32", "", "input", "energy-correlation ratio D2 (beta = 1)"),
    Column("tau21", "float32", "", "input", "N-subjettiness ratio tau2/tau1 (WTA kt, beta = 1)"),
    Column("tau32", "float32", "", "input", "N-subjettiness ratio tau3/tau2 (WTA kt, beta = 1)"),
    Column("qw", "float32", _G, "input", "smallest pairwise mass of the 3 exclusive kt subjets"),
    Column("mu", "float32", "", "input", "average interactions per crossing <mu>"),
    Column("npv", "float32", "", "input", "number of reconstructed primary vertices"),
    # --- hidden simulator truth (optional) ---------------------------------------------------
    Column("seed", "int64", "", "sim", "seed of the chunk that produced the event"),
    Column("e_reco_ungroomed", "float32", _G, "sim", "ungroomed reco-jet energy (LC scale)"),
    Column("m_reco_ungroomed", "float32", _G, "sim", "ungroomed reco-jet mass (LC scale)"),
    Column("e_true_ungroomed", "float32", _G, "sim", "ungroomed truth-jet energy"),
    Column("m_true_ungroomed", "float32", _G, "sim", "ungroomed truth-jet mass"),
    Column("n_constituents", "int32", "", "sim", "number of constituents of the groomed reco jet"),
    Column("pileup_e_true", "float32", _G, "sim", "true visible pile-up energy inside the jet"),
    Column("fem_true", "float32", "", "sim", "true energy-weighted EM fraction of the jet's showers"),
    Column("dr_match", "float32", "", "sim", "dR between the matched truth and reco jets"),
    Column("e_invisible_true", "float32", _G, "sim",
           "groomed truth-jet energy the calorimeter never shows: e_true minus the visible (EM-scale) "
           "deposits of its particles (dead material, non-compensation, leakage, cracks, loopers)"),
    Column("e_out_of_cluster_true", "float32", _G, "sim",
           "visible deposits of the groomed truth jet's particles minus the reco jet's hard-scatter "
           "EM-scale cluster energy (below-threshold cells, noise, a different constituent set)"),
    Column("e_out_of_cone_true", "float32", _G, "sim",
           "energy of the groomed truth jet's particles whose calorimeter entry point lies outside "
           "dR < R of the reco-jet axis (bending, angular spread)"),
    Column("e_numu_true", "float32", _G, "sim",
           "hard-scatter neutrino and muon energy within dR < R of the truth-jet axis (not in e_true)"),
    # --- calibrated output of any method (docs/flags.md) ----------------------------------------
    Column("e_cal", "float32", _G, "calibrated", "calibrated jet energy"),
    Column("pt_cal", "float32", _G, "calibrated", "calibrated jet transverse momentum"),
    Column("m_cal", "float32", _G, "calibrated", "calibrated jet mass"),
    Column("calib_flag", "int8", "", "calibrated", "0 = calibrated; see jetcalib.io.CalibFlag"),
    # --- per-jet uncertainties of a probabilistic DNN head (docs/method.md#heads) ---------------
    # Quantiles are of the network's predicted p(r | x), r = reco/true (before the residual
    # closure, which moves the calibration point, not the spread): the true energy lies in
    # [e_reco / r_e_q84, e_reco / r_e_q16] with 68 % probability. Levels: Phi(-1), Phi(1).
    Column("e_cal_rel_unc", "float32", "", "uncertainty",
           "relative energy resolution of the jet: (r_e_q84 - r_e_q16) / 2 / median of r_E"),
    Column("m_cal_rel_unc", "float32", "", "uncertainty",
           "relative mass resolution of the jet: (r_m_q84 - r_m_q16) / 2 / median of r_m"),
    Column("r_e_q16", "float32", "", "uncertainty", "15.87 % quantile of the predicted energy response"),
    Column("r_e_q84", "float32", "", "uncertainty", "84.13 % quantile of the predicted energy response"),
    Column("r_m_q16", "float32", "", "uncertainty", "15.87 % quantile of the predicted mass response"),
    Column("r_m_q84", "float32", "", "uncertainty", "84.13 % quantile of the predicted mass response"),
    Column("r_em_corr", "float32", "", "uncertainty",
           "correlation of (log r_E, log r_m) in the predicted density (0 where not modelled)"),
)

#: All declared columns by name.
COLUMNS: dict[str, Column] = {c.name: c for c in _COLUMN_LIST}

_CONSTITUENT_LIST: tuple[Column, ...] = (
    # clusters of the groomed reco jet, hardest (LC energy) first
    Column("cl_e", "float32", _G, "constituents", "cluster energy at LC scale"),
    Column("cl_deta", "float32", "", "constituents", "cluster eta minus the groomed reco-jet eta"),
    Column("cl_dphi", "float32", "rad", "constituents", "cluster phi minus the groomed reco-jet phi, in [-pi, pi)"),
    *(Column(f"cl_frac_{lay}", "float32", "", "constituents",
             f"fraction of the cluster's EM-scale energy in calorimeter layer {lay.upper()}")
      for lay in ("em1", "em2", "em3", "had0", "had1", "had2")),
    Column("cl_n_cells", "float32", "", "constituents", "cells of the cluster (shared cells by their weight)"),
    Column("cl_lc_weight", "float32", "", "constituents", "LC-scale over EM-scale cluster energy"),
    Column("cl_isolation", "float32", "", "constituents",
           "fraction of the cluster's border cells that belong to no cluster"),
    # primary-vertex tracks within tracking.assoc_dr of the ungroomed reco-jet axis, highest pT first
    Column("trk_pt", "float32", _G, "constituents", "track transverse momentum"),
    Column("trk_deta", "float32", "", "constituents", "track eta minus the groomed reco-jet eta"),
    Column("trk_dphi", "float32", "rad", "constituents", "track phi minus the groomed reco-jet phi, in [-pi, pi)"),
    Column("trk_dz0_sintheta", "float32", "mm", "constituents",
           "(z0 - z of the primary vertex) x sin(theta): the track's vertex compatibility"),
)

#: The optional jagged constituent columns (one list per jet; ``dtype`` is the element type).
#: Not part of :data:`COLUMNS`: flat readers never see them.
CONSTITUENT_COLUMNS: dict[str, Column] = {c.name: c for c in _CONSTITUENT_LIST}
#: The per-cluster and per-track constituent columns, in the order a constituent network reads them.
CLUSTER_COLUMNS: tuple[str, ...] = tuple(n for n in CONSTITUENT_COLUMNS if n.startswith("cl_"))
TRACK_COLUMNS: tuple[str, ...] = tuple(n for n in CONSTITUENT_COLUMNS if n.startswith("trk_"))


def columns_in_group(group: str) -> tuple[str, ...]:
    """Names of the declared columns of one group, in schema order."""
    names = tuple(c.name for c in _COLUMN_LIST if c.group == group)
    if not names:
        known = sorted({c.group for c in _COLUMN_LIST})
        raise KeyError(f"unknown column group {group!r}; known groups: {', '.join(known)}")
    return names


def column(name: str) -> Column:
    """The declaration of one column; ``KeyError`` with the known names if undeclared."""
    try:
        return COLUMNS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a jetcalib column") from None


#: The 21 network inputs (docs/inputs.md#inputs), in the order the network reads them.
INPUT_FEATURES: tuple[str, ...] = columns_in_group("input")
#: Truth-jet kinematics needed to fit or evaluate a calibration.
TRUTH_COLUMNS: tuple[str, ...] = columns_in_group("truth")
#: Reco-jet kinematics needed to apply a calibration.
RECO_COLUMNS: tuple[str, ...] = columns_in_group("reco")
#: Columns a calibration adds.
CALIBRATED_COLUMNS: tuple[str, ...] = columns_in_group("calibrated")
#: Columns a probabilistic DNN head adds besides (the mode network and numerical calibrations
#: write none of them).
UNCERTAINTY_COLUMNS: tuple[str, ...] = columns_in_group("uncertainty")


#: Reco kinematics every calibration reads besides its features (pT and φ are not needed:
#: pT_cal is computed from E, m and η).
KINEMATIC_INPUTS: tuple[str, ...] = ("e_reco", "m_reco", "eta_reco")
#: Truth kinematics the training and the evaluation read (φ plays no part).
_TRUTH_KINEMATICS: tuple[str, ...] = ("e_true", "pt_true", "eta_true", "m_true")

#: Columns each kind of job needs (jetcalib names; derivable ones such as ``log_e`` count):
#: exactly what the command reads, so that ``info --check`` asks for nothing it does not.
#: ``evaluate`` also needs the inputs of the methods it evaluates (the 21 features for a DNN).
REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    "calibrate": KINEMATIC_INPUTS + INPUT_FEATURES,
    "train": _TRUTH_KINEMATICS + KINEMATIC_INPUTS + INPUT_FEATURES,
    "evaluate": (*_TRUTH_KINEMATICS, "e_reco", "pt_reco", "m_reco", "eta_reco"),
}


