"""Settings of the numerical calibration, stored inside its artifact."""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InputError
from .stats import CENTRAL_METHODS

__all__ = ["NumericalConfig"]


class NumericalConfig(BaseModel):
    """Binning and fit choices of the JES + JMS numerical inversion (docs/method.md#numerical-inversion).

    Energies and masses in GeV; η is the detector pseudorapidity (column ``eta``).
    """

    # every numeric field has a range (a zero bin count or step would divide by zero or loop);
    # NaN and ±inf are refused
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    central: str = "median"  #: central value of a response bin: median, gauss (core fit), mode
    # --- JES: bins of E_true × η_det -----------------------------------------------------------
    eta_max: Annotated[float, Field(gt=0, le=4.9)] = 2.0  #: fitted |η| range; jets beyond use the edge bin
    eta_step: Annotated[float, Field(gt=0)] = 0.1
    signed_eta: bool = False  #: η bins (−2, 2) instead of |η| bins (the detector is symmetric)
    n_e_bins: Annotated[int, Field(ge=2)] = 40  #: log-spaced E_true bins between the 0.1 % and 99.9 % quantiles
    min_entries: Annotated[int, Field(ge=1)] = 50  #: fewer jets than this: the bin is dropped (sparse)
    min_points: Annotated[int, Field(ge=1)] = 5  #: fewer good E bins than this in an η bin: merge with neighbours
    degree: Annotated[int, Field(ge=0, le=12)] = 4  #: polynomial degree of R(ln E_reco) (lowered when points are few)
    # --- JMS: bins of E_true × ln(m_true/E_true) × |η_det| ------------------------------------
    jms: bool = True
    jms_eta_edges: tuple[Annotated[float, Field(ge=0)], ...] = (0.0, 0.4, 0.8, 1.2, 1.6, 2.0)
    jms_n_e_bins: Annotated[int, Field(ge=2)] = 16
    jms_n_logm_bins: Annotated[int, Field(ge=2)] = 16
    jms_min_entries: Annotated[int, Field(ge=1)] = 30
    jms_min_mass: Annotated[float, Field(ge=0)] = 10.0  #: truth mass below which jets do not enter the JMS fit (GeV)
    jms_min_energy: Annotated[float, Field(ge=0)] = 180.0  #: JMS applied only where the JES-calibrated E exceeds this (GeV)
    #: ... and only below this (GeV; None: no upper limit). The DNN's residual closure sets it:
    #: see jetcalib.dnn.training.CLOSURE_JMS_MAX_ENERGY.
    jms_max_energy: Annotated[float, Field(gt=0)] | None = None
    jms_grid: tuple[Annotated[int, Field(ge=2)], Annotated[int, Field(ge=2)]] = (24, 20)  #: reco-coordinate grid nodes in (ln E, ln(m/E))

    @model_validator(mode="after")
    def _ordered(self) -> NumericalConfig:
        edges = self.jms_eta_edges
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("jms_eta_edges must be at least two increasing values")
        if self.jms_max_energy is not None and self.jms_max_energy <= self.jms_min_energy:
            raise ValueError("jms_max_energy must be above jms_min_energy")
        return self

    def check(self) -> NumericalConfig:
        """Raise :class:`InputError` for settings no fit can use; returns ``self``."""
        if self.central not in CENTRAL_METHODS:
            raise InputError(
                f"--central {self.central!r}: choose one of {', '.join(CENTRAL_METHODS)}"
            )
        # the numeric ranges and orderings are the field constraints and _ordered, checked
        # when the (frozen) config is built
        return self

