"""Settings of the numerical calibration, stored inside its artifact."""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict

from ..errors import InputError
from .stats import CENTRAL_METHODS

__all__ = ["NumericalConfig"]


class NumericalConfig(BaseModel):
    """Binning and fit choices of the JES + JMS numerical inversion (SPEC.md §6).

    Energies and masses in GeV; η is the detector pseudorapidity (column ``eta``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    central: str = "median"  #: central value of a response bin: median, gauss (core fit), mode
    # --- JES: bins of E_true × η_det -----------------------------------------------------------
    eta_max: float = 2.0  #: fitted |η| range; jets beyond use the edge bin
    eta_step: float = 0.1
    signed_eta: bool = False  #: η bins (−2, 2) instead of |η| bins (the detector is symmetric)
    n_e_bins: int = 40  #: log-spaced E_true bins between the 0.1 % and 99.9 % quantiles
    min_entries: int = 50  #: fewer jets than this: the bin is dropped (sparse)
    min_points: int = 5  #: fewer good E bins than this in an η bin: merge with neighbours
    degree: int = 4  #: polynomial degree of R(ln E_reco) (lowered when points are few)
    # --- JMS: bins of E_true × ln(m_true/E_true) × |η_det| ------------------------------------
    jms: bool = True
    jms_eta_edges: tuple[float, ...] = (0.0, 0.4, 0.8, 1.2, 1.6, 2.0)
    jms_n_e_bins: int = 16
    jms_n_logm_bins: int = 16
    jms_min_entries: int = 30
    jms_min_mass: float = 10.0  #: truth mass below which jets do not enter the JMS fit (GeV)
    jms_min_energy: float = 180.0  #: JMS applied only where the JES-calibrated E exceeds this (GeV)
    #: ... and only below this (GeV; None: no upper limit). The DNN's residual closure sets it:
    #: see jetcalib.dnn.training.CLOSURE_JMS_MAX_ENERGY.
    jms_max_energy: float | None = None
    jms_grid: tuple[int, int] = (24, 20)  #: reco-coordinate grid nodes in (ln E, ln(m/E))

    def check(self) -> NumericalConfig:
        """Raise :class:`InputError` for settings no fit can use; returns ``self``."""
        if self.central not in CENTRAL_METHODS:
            raise InputError(
                f"--central {self.central!r}: choose one of {', '.join(CENTRAL_METHODS)}"
            )
        if self.eta_max <= 0 or self.eta_step <= 0 or self.degree < 0 or self.n_e_bins < 2:
            raise InputError("numerical calibration: eta_max, eta_step, n_e_bins must be positive")
        edges = self.jms_eta_edges
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise InputError("numerical calibration: jms_eta_edges must be increasing")
        return self

