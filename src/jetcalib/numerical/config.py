"""Settings of the numerical calibration, stored inside its artifact."""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .stats import CentralMethod

__all__ = ["NumericalConfig"]


class NumericalConfig(BaseModel):
    """Binning and fit choices of the JES + JMS numerical inversion (docs/method.md#numerical-inversion).

    Energies and masses in GeV; η is the detector pseudorapidity (column ``eta``).
    """

    # every numeric field has a range (a zero bin count or step would divide by zero or loop);
    # NaN and ±inf are refused; the central method is a Literal: all checked when the (frozen)
    # config is built, as for DNNConfig and SimConfig
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    central: CentralMethod = Field(
        "median", description="central value of a response bin: median, gauss (core fit), mode")
    # --- JES: bins of E_true × η_det -----------------------------------------------------------
    eta_max: float = Field(2.0, gt=0, le=4.9, description="fitted |η| range; jets beyond use the edge bin")
    eta_step: float = Field(0.1, gt=0, description="width of the η bins")
    signed_eta: bool = Field(False, description="η bins (−2, 2) instead of |η| bins (the detector is symmetric)")
    n_e_bins: int = Field(40, ge=2, description="log-spaced E_true bins between the 0.1 % and 99.9 % quantiles")
    min_entries: int = Field(50, ge=1, description="fewer jets than this: the bin is dropped (sparse)")
    min_points: int = Field(5, ge=1, description="fewer good E bins than this in an η bin: merge with neighbours")
    degree: int = Field(4, ge=0, le=12, description="polynomial degree of R(ln E_reco) (lowered when points are few)")
    # --- JMS: bins of E_true × ln(m_true/E_true) × |η_det| ------------------------------------
    jms: bool = Field(True, description="fit the mass scale too (off: the mass follows the energy)")
    jms_eta_edges: tuple[Annotated[float, Field(ge=0)], ...] = Field(
        (0.0, 0.4, 0.8, 1.2, 1.6, 2.0), description="|η| bin edges of the JMS fit")
    jms_n_e_bins: int = Field(16, ge=2, description="E_true bins of the JMS fit")
    jms_n_logm_bins: int = Field(16, ge=2, description="ln(m_true/E_true) bins of the JMS fit")
    jms_min_entries: int = Field(30, ge=1, description="fewer jets than this: the JMS bin is dropped")
    jms_min_mass: float = Field(10.0, ge=0, description="truth mass below which jets do not enter the JMS fit (GeV)")
    jms_min_energy: float = Field(
        180.0, ge=0, description="JMS applied only where the JES-calibrated E exceeds this (GeV)")
    jms_max_energy: float | None = Field(
        None, gt=0, description="... and only below this (GeV; None: no upper limit). The DNN's "
        "residual closure sets it: see jetcalib.dnn.training.CLOSURE_JMS_MAX_ENERGY")
    jms_grid: tuple[Annotated[int, Field(ge=2)], Annotated[int, Field(ge=2)]] = Field(
        (24, 20), description="reco-coordinate grid nodes in (ln E, ln(m/E))")

    @model_validator(mode="after")
    def _ordered(self) -> NumericalConfig:
        edges = self.jms_eta_edges
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("jms_eta_edges must be at least two increasing values")
        if self.jms_max_energy is not None and self.jms_max_energy <= self.jms_min_energy:
            raise ValueError("jms_max_energy must be above jms_min_energy")
        return self

