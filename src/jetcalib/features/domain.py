"""The training domain of a calibration: where it learnt, and flags for jets outside it (docs/flags.md#training-domain).

A :class:`TrainingDomain` is stored in every new artifact (DNN model, numerical calibration,
ONNX export) and is part of its content hash. ``calibrate(table, domain=...)`` uses it:

``"flag"`` (default)
    out-of-domain jets are calibrated as any other jet (their ``e_cal``, ``pt_cal``, ``m_cal``
    are exactly what ``"ignore"`` gives) and flagged ``OUTSIDE_TRAINING_ETA`` (7),
    ``OUTSIDE_TRAINING_PT`` (8) or ``INPUT_OUTSIDE_TRAINING`` (9) where their flag would
    otherwise be 0, 3 or 6 (their energy is calibrated): the flag warns. Jets flagged 1, 2, 4
    or 5 (reco kinematics) keep that code.
``"strict"``
    out-of-domain jets are not calibrated: they keep their reco kinematics with codes 7-9,
    decided from the inputs before any prediction (after codes 1, 2 and 5), as other flagged jets.
``"ignore"``
    no domain flags (the behaviour before domains existed).

An artifact without a stored domain (written before format DNN 2.1 / numerical 1.1) gets no
domain flags under any policy.

Ranges are taken over the jets the calibration was fitted on (for a DNN the jets of its training
selection, training and validation; for a numerical calibration the jets inside its fitted |η|
range):

* each network input: its minimum and maximum. Every training jet is inside, a new sample of
  the training distribution is flagged only at its extreme tails (about 2/N per input for N
  training jets; 0.1 %/99.9 % quantiles would flag 0.2 % per input, some 4 % of the jets over
  21 inputs), and a foreign sentinel (−999) is flagged whatever the choice; sentinels the
  training saw (the simulation's −0.1 for τ21 of a jet with < 3 constituents) lie inside.
* |η_reco|: its maximum (η is measured precisely: no outliers beyond the truth cut).
* reco pT (DNN) or reco E (numerical): the 1 % and 99.9 % quantiles. The low edge of the reco
  pT of a truth-selected sample is smeared by the response's long low tail: on the toy jets a
  150 GeV truth cut gives a reco pT minimum of 10 GeV and a 0.1 % quantile of 30 GeV (jets
  mismeasured low), which would let through the 50 GeV jets this flag is for (a true 50 GeV
  jet would be calibrated as a mismeasured 150 GeV one); the 1 % quantile (60 GeV there) marks
  where the bulk of the training ends. The high edge is set by the falling spectrum, not a cut:
  99.9 %. The price: about 1.1 % of jets like the training ones are flagged
  ``OUTSIDE_TRAINING_PT``, most of them badly mismeasured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArtifactError, InputError
from ..io.mapping import pt_from_e_m_eta
from ..io.schema import CalibFlag

__all__ = ["DOMAIN_POLICIES", "KINEMATIC_QUANTILES", "TrainingDomain", "check_policy", "domain_flags"]

#: What ``calibrate(table, domain=...)`` does with jets outside the training domain.
DOMAIN_POLICIES = ("flag", "strict", "ignore")


def check_policy(policy: str) -> str:
    """``policy`` if it is one of :data:`DOMAIN_POLICIES`, else :class:`InputError`."""
    if policy not in DOMAIN_POLICIES:
        raise InputError(f"domain: unknown policy {policy!r}; choose one of {', '.join(DOMAIN_POLICIES)}")
    return policy


#: Quantiles that bound the reco pT (E) range of the domain (the inputs use min/max).
KINEMATIC_QUANTILES = (0.01, 0.999)


def _range(values: np.ndarray, quantiles: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """(min, max) of the finite values, or the two ``quantiles``; None if there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    if quantiles is None:
        return float(v.min()), float(v.max())
    lo, hi = np.quantile(v, quantiles)
    return float(lo), float(hi)


@dataclass(frozen=True)
class TrainingDomain:
    """Where a calibration was fitted.

    ``abs_eta_max``: largest |η_reco| of the training jets; ``pt``/``energy``: the 1 % and
    99.9 % quantiles of their reco pT / reco E (GeV), or None where the method does not restrict
    it; ``inputs``:
    per network input feature, (min, max) of the raw feature over the training jets.
    ``selection``: the truth selection of the training (informational: truth is unknown at
    calibration, so the flags use the reco quantities above), e.g. ``pt_true_min``,
    ``pt_true_max`` (largest seen), ``abs_eta_true_max``.
    """

    abs_eta_max: float
    pt: tuple[float, float] | None = None
    energy: tuple[float, float] | None = None
    inputs: dict[str, tuple[float, float]] = field(default_factory=dict)
    selection: dict[str, float] = field(default_factory=dict)

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_jets(
        cls,
        e_reco: np.ndarray,
        m_reco: np.ndarray,
        eta_reco: np.ndarray,
        *,
        features: np.ndarray | None = None,
        feature_names: Sequence[str] = (),
        use_pt: bool = True,
        use_energy: bool = False,
        selection: Mapping[str, float] | None = None,
    ) -> TrainingDomain:
        """The domain spanned by the given (training) jets; non-finite values are ignored."""
        eta = np.abs(np.asarray(eta_reco, dtype=np.float64))
        eta = eta[np.isfinite(eta)]
        if eta.size == 0:
            raise InputError("training domain: no jet with a finite η")
        inputs: dict[str, tuple[float, float]] = {}
        if features is not None:
            x = np.asarray(features, dtype=np.float64)
            for j, name in enumerate(feature_names):
                r = _range(x[:, j])
                if r is not None:
                    inputs[name] = r
        return cls(
            abs_eta_max=float(eta.max()),
            pt=_range(pt_from_e_m_eta(e_reco, m_reco, eta_reco), KINEMATIC_QUANTILES) if use_pt else None,
            energy=_range(np.asarray(e_reco, dtype=np.float64), KINEMATIC_QUANTILES) if use_energy else None,
            inputs=inputs,
            selection={k: float(v) for k, v in (selection or {}).items()},
        )

    # --- storage ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what the artifacts store and hash)."""
        return {
            "ranges": "|eta_reco|, inputs: max, min/max; pt_reco, e_reco: 1 %/99.9 % quantiles "
                      "of the training jets",
            "abs_eta_reco_max": self.abs_eta_max,
            "pt_reco": None if self.pt is None else list(self.pt),
            "e_reco": None if self.energy is None else list(self.energy),
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "selection": dict(self.selection),
        }

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "<domain>") -> TrainingDomain | None:
        """Rebuild from :meth:`to_dict`; None stays None (an artifact without a domain)."""
        if raw is None:
            return None

        def pair(v: Any) -> tuple[float, float] | None:
            if v is None:
                return None
            lo, hi = (float(a) for a in v)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"bad range {v!r}")
            return lo, hi

        try:
            inputs = {str(k): pair(v) for k, v in dict(raw["inputs"]).items()}
            return cls(
                abs_eta_max=float(raw["abs_eta_reco_max"]),
                pt=pair(raw["pt_reco"]),
                energy=pair(raw["e_reco"]),
                inputs={k: v for k, v in inputs.items() if v is not None},
                selection={str(k): float(v) for k, v in dict(raw.get("selection") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: malformed training domain ({exc})") from None

    # --- flags -----------------------------------------------------------------------------
    def flags(
        self,
        e_reco: np.ndarray,
        m_reco: np.ndarray,
        eta_reco: np.ndarray,
        features: np.ndarray | None = None,
        feature_names: Sequence[str] = (),
    ) -> np.ndarray:
        """``int8[N]``: 0 inside the domain, else the first of OUTSIDE_TRAINING_ETA
        (|η_reco| > ``abs_eta_max``), OUTSIDE_TRAINING_PT (reco pT, or reco E for a domain in
        energy, outside its range), INPUT_OUTSIDE_TRAINING (a feature outside its range).
        Non-finite values are not judged here (they are flag 1 already)."""
        e = np.asarray(e_reco, dtype=np.float64)
        eta = np.asarray(eta_reco, dtype=np.float64)
        flag = np.zeros(e.shape, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            out_eta = np.abs(eta) > self.abs_eta_max
            out_kin = np.zeros(e.shape, dtype=bool)
            if self.pt is not None:
                pt = pt_from_e_m_eta(e, m_reco, eta)
                out_kin |= (pt < self.pt[0]) | (pt > self.pt[1])
            if self.energy is not None:
                out_kin |= (e < self.energy[0]) | (e > self.energy[1])
            out_in = np.zeros(e.shape, dtype=bool)
            if features is not None and self.inputs:
                x = np.asarray(features, dtype=np.float64)
                for j, name in enumerate(feature_names):
                    r = self.inputs.get(name)
                    if r is not None:
                        out_in |= (x[:, j] < r[0]) | (x[:, j] > r[1])
        flag[out_in] = CalibFlag.INPUT_OUTSIDE_TRAINING
        flag[out_kin] = CalibFlag.OUTSIDE_TRAINING_PT
        flag[out_eta] = CalibFlag.OUTSIDE_TRAINING_ETA
        return flag


def domain_flags(
    domain: TrainingDomain | None,
    policy: str,
    e_reco: np.ndarray,
    m_reco: np.ndarray,
    eta_reco: np.ndarray,
    features: np.ndarray | None = None,
    feature_names: Sequence[str] = (),
) -> np.ndarray | None:
    """The domain flags of ``policy`` (:data:`DOMAIN_POLICIES`), or None where there are none
    to give (policy ``"ignore"``, or no stored domain)."""
    check_policy(policy)
    if domain is None or policy == "ignore":
        return None
    return domain.flags(e_reco, m_reco, eta_reco, features, feature_names)
