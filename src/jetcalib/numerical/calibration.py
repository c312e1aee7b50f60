"""The numerical calibration object: fit (JES then JMS), apply, save and load (docs/method.md#numerical-inversion).

Follows the calibration protocol of jetcalib (``required_columns``, ``calibrate(table)``,
``save(path)``, ``load(path)``) so that ``jetcalib calibrate`` and ``jetcalib evaluate`` treat
it like any other method.

Format 1.1 added the training domain (``payload["domain"]``, hashed with the payload): the reco
E range and largest |η| of the jets inside the fitted |η| range; calibrating flags jets outside
it (docs/flags.md#training-domain). A 1.0 artifact has none and gets no domain flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, InputError
from ..features import (
    TrainingDomain,
    apply_responses,
    calibrate_in_units,
    domain_flags,
    input_flags,
    merge_domain_flags,
)
from ..io import ArtifactHeader, ArtifactKind, atomic_path, content_hash
from ..io.provenance import environment, hash_input_files
from .config import NumericalConfig
from .jes import JESFit, fit_jes
from .jms import JMSFit, fit_jms

__all__ = ["ARTIFACT_KIND", "FIT_COLUMNS", "FORMAT_VERSION", "NumericalCalibration"]

ARTIFACT_KIND = ArtifactKind.NUMERICAL_CALIBRATION
FORMAT_VERSION = "1.1"
#: Columns the fit reads: truth and reco kinematics and the detector η (``eta``).
FIT_COLUMNS: tuple[str, ...] = ("e_true", "m_true", "e_reco", "m_reco", "eta_reco", "eta")
#: Packages whose versions the artifact's environment record names (numpy always).
ENVIRONMENT_PACKAGES: tuple[str, ...] = ("numpy", "scipy", "pydantic")


def _has(table: Any, name: str) -> bool:
    """Whether ``table`` has the column ``name`` (``in`` on an awkward Array compares values)."""
    from ..features.table import _column_names

    return name in _column_names(table)


def _column(table: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        return np.asarray(table[name], dtype=np.float64)
    except KeyError:
        raise InputError(f"numerical calibration: the table has no column {name!r}") from None


def apply_domain(training_domain: TrainingDomain | None, domain: str, e: np.ndarray, m: np.ndarray,
                 eta_reco: np.ndarray, r_e: np.ndarray, r_m: np.ndarray, flag: np.ndarray,
                 cal_mass: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`~jetcalib.features.apply_responses` with the training-domain flags of ``domain``
    (the rule of every numerical runtime: numpy and correctionlib)."""
    outside = domain_flags(training_domain, domain, e, m, eta_reco)
    if outside is not None and domain == "strict":
        flag = merge_domain_flags(flag, outside)
    out = apply_responses(e, m, eta_reco, r_e, r_m, flag, calibrate_mass=cal_mass)
    if outside is not None and domain == "flag":
        out["calib_flag"] = merge_domain_flags(out["calib_flag"], outside)
    return out


class NumericalCalibration:
    """JES (per η bin, smooth in ln E_reco) followed by JMS (per |η| bin, on a reco grid).

    Applying it: R_E = JES(E_reco, η_det); E_JES = E_reco/R_E and m_JES = m_reco/R_E (the whole
    four-vector is scaled); R_m = JMS(E_JES, m_JES, η_det), used only where E_JES > 180 GeV
    (``jms_min_energy``), otherwise the mass follows the energy and the jet is flagged
    ``MASS_NOT_CALIBRATED``. The response handed to :func:`~jetcalib.features.apply_responses`
    is r_E = R_E and r_m = R_E·R_m, so the shared fallbacks (e.g. m' ≥ E keeps m/R_E) apply.
    """

    #: Columns :meth:`calibrate` reads. ``eta`` is the detector η (docs/inputs.md#inputs), ``eta_reco``
    #: the jet's η for pT; each can be derived from the other when only one is stored.
    required_columns: tuple[str, ...] = ("e_reco", "m_reco", "eta_reco", "eta")

    def __init__(
        self,
        config: NumericalConfig,
        jes: JESFit,
        jms: JMSFit | None,
        header: ArtifactHeader | None = None,
        training_domain: TrainingDomain | None = None,
    ) -> None:
        self.config = config
        self.training_domain = training_domain
        self.jes = jes
        self.jms = jms
        self.header = header or ArtifactHeader(
            artifact=ARTIFACT_KIND, format_version=FORMAT_VERSION, features=list(self.required_columns),
            environment=environment(ENVIRONMENT_PACKAGES),
        )

    # --- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        table: Mapping[str, Any],
        config: NumericalConfig | None = None,
        *,
        training_data: list[dict[str, Any]] | None = None,
    ) -> NumericalCalibration:
        """Derive the calibration from matched jets (columns :data:`FIT_COLUMNS`, GeV).

        Unweighted: every jet counts once. The per-bin central values do not need the event
        weights (within a narrow truth bin they only reshuffle jets of the same kind), and
        unweighted bins keep their full statistical power.
        """
        config = config or NumericalConfig()
        e_true, m_true = _column(table, "e_true"), _column(table, "m_true")
        e_reco, m_reco = _column(table, "e_reco"), _column(table, "m_reco")
        eta = _column(table, "eta")
        if e_true.size == 0:
            raise InputError("numerical calibration: the training table is empty")
        jes = fit_jes(e_true, e_reco, eta, config)
        jms = None
        if config.jms:
            r_e = jes.response(e_reco, eta)
            jms = fit_jms(e_true, m_true, e_reco / r_e, m_reco / r_e, eta, config)
        inside = (np.abs(eta) <= config.eta_max) & np.isfinite(e_reco) & (e_reco > 0)
        if not inside.any():
            inside = np.isfinite(e_reco) & (e_reco > 0) & np.isfinite(eta)
        domain = TrainingDomain.from_jets(e_reco[inside], m_reco[inside], eta[inside], use_pt=False,
                                          use_energy=True, selection={"abs_eta_max": config.eta_max})
        header = ArtifactHeader(
            artifact=ARTIFACT_KIND,
            format_version=FORMAT_VERSION,
            features=list(cls.required_columns),
            # each input table's provenance with the sha256 of its file (when it has one)
            training_data=hash_input_files(training_data or []),
            # not hashed (content_hash covers the payload only): the same fit made with other
            # versions or on another machine is the same calibration
            environment=environment(ENVIRONMENT_PACKAGES),
        )
        return cls(config, jes, jms, header, domain)

    # --- applying -----------------------------------------------------------------------------
    def responses(self, table: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(r_E, r_m, calibrate_mass)`` per jet (shapes ``[N]``); r_m includes the JES."""
        e, m = _column(table, "e_reco"), _column(table, "m_reco")
        eta_det = _column(table, "eta" if _has(table, "eta") else "eta_reco")
        r_e = self.jes.response(e, eta_det)
        if self.jms is None:
            return r_e, r_e, np.zeros(e.shape, dtype=bool)
        e_jes, m_jes = e / r_e, m / r_e
        r_m = r_e * self.jms.response(e_jes, m_jes, eta_det)
        mass_ok = e_jes > self.jms.min_energy
        if self.jms.max_energy is not None:
            mass_ok &= e_jes < self.jms.max_energy
        return r_e, r_m, mass_ok

    def calibrate(self, table: Mapping[str, Any], units: str | None = None, *, domain: str = "flag",
                  column_map: Any = None, preset: str | None = None) -> dict[str, np.ndarray]:
        """``e_cal``, ``pt_cal``, ``m_cal`` and ``calib_flag`` for each jet of ``table``, whose
        energies are in ``units`` (``"GeV"`` or ``"MeV"``; outputs in the same unit, a table
        whose median energy looks like the other unit refused).

        ``domain``: jets outside the fit's E/|η| range (``training_domain``) are calibrated and
        flagged 7/8 (``"flag"``), keep their reco kinematics with those flags (``"strict"``), or
        are not flagged (``"ignore"``); docs/flags.md#training-domain.
        ``column_map`` (a :class:`~jetcalib.io.ColumnMap` or ``{jetcalib name: your name}``) and
        ``preset`` (``"atlas"``: ATLAS names, MeV) read your own names, as ``calibrate --map``
        and ``--preset`` do; ``units`` None: the map's or preset's unit, else GeV."""
        return calibrate_in_units(table, units, lambda t: self._calibrate_gev(t, domain),
                                  column_map=column_map, preset=preset)

    def _calibrate_gev(self, table: Mapping[str, Any], domain: str = "flag") -> dict[str, np.ndarray]:
        e, m = _column(table, "e_reco"), _column(table, "m_reco")
        eta_reco = _column(table, "eta_reco" if _has(table, "eta_reco") else "eta")
        r_e, r_m, cal_mass = self.responses(table)
        flag = input_flags(e, m, eta_reco)
        return apply_domain(self.training_domain, domain, e, m, eta_reco, r_e, r_m, flag, cal_mass)

    # --- storage ------------------------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """The calibration itself (config, JES polynomials, JMS grids) as JSON-able data, without
        the header: what :meth:`save` hashes and writes, and what another artifact embeds."""
        payload = {
            "config": self.config.model_dump(mode="json"),
            "jes": self.jes.to_dict(),
            "jms": None if self.jms is None else self.jms.to_dict(),
        }
        if self.training_domain is not None:  # absent (format 1.0): the payload hashes as before
            payload["domain"] = self.training_domain.to_dict()
        return payload

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the artifact (JSON with header and hashed payload) atomically."""
        payload = self.to_payload()
        header = self.header.model_copy(update={"content_hash": content_hash(payload)})
        text = json.dumps({"header": header.model_dump(mode="json"), "payload": payload}, allow_nan=False)
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        self.header = header
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NumericalCalibration:
        """Read an artifact written by :meth:`save`; refuse a wrong kind, version or hash."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: calibration file not found")
        try:
            raw = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # nested 1e5 deep
            raise ArtifactError(f"{p}: not a JSON calibration artifact ({exc})") from None
        if not isinstance(raw, dict) or "payload" not in raw:
            raise ArtifactError(f"{p}: not a jetcalib artifact (no header/payload)")
        header = ArtifactHeader.check(
            raw.get("header"), artifact=ARTIFACT_KIND, format_version=FORMAT_VERSION, source=str(p)
        )
        payload = raw["payload"]
        header.verify_hash(content_hash(payload), str(p))
        # the whole document against its schema (jetcalib.io.schemas; imported here: it imports
        # this subpackage's config)
        from ..io.schemas import NumericalCalibrationArtifact, check_document

        check_document(NumericalCalibrationArtifact, raw, stored_version=header.format_version,
                       reads_version=FORMAT_VERSION, source=str(p), what="numerical-calibration artifact")
        return cls.from_payload(payload, header, source=str(p))

    @classmethod
    def from_payload(cls, payload: Any, header: ArtifactHeader | None = None, *,
                     source: str = "<payload>") -> NumericalCalibration:
        """Rebuild from :meth:`to_payload` data; :class:`ArtifactError` if it is malformed."""
        try:
            config = NumericalConfig.model_validate(payload["config"])
            jes = JESFit.from_dict(payload["jes"])
            jms = None if payload["jms"] is None else JMSFit.from_dict(payload["jms"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: malformed numerical-calibration payload ({exc})") from None
        domain = TrainingDomain.from_dict(payload.get("domain"), source=source)
        return cls(config, jes, jms, header, domain)

    def __repr__(self) -> str:
        n_jms = "none" if self.jms is None else f"{len(self.jms.eta_edges) - 1} |η| bins"
        return (
            f"NumericalCalibration(central={self.config.central!r}, JES {len(self.jes.bins)} η bins, "
            f"JMS {n_jms})"
        )
