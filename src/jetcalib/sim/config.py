"""Every parameter of the simulated detector and of the event generation (SIMULATION.md).

One pydantic model, :class:`SimConfig`, holds them all with SIMULATION.md's defaults; it is
dumped to YAML by ``jetcalib generate --dump-config`` and read back with ``--config``.
Energies in GeV, angles in rad, depths in interaction lengths λ_int.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError, describe_validation_error

__all__ = [
    "CalorimeterConfig",
    "GenerationConfig",
    "JetConfig",
    "PileupConfig",
    "SimConfig",
    "TopoConfig",
    "TrackingConfig",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingConfig(_Strict):
    """Inner detector in a solenoid (|η| < 2.5)."""

    eta_max: float = 2.5
    b_field_t: float = 2.0  #: solenoid field (T)
    calo_radius_m: float = 1.5  #: calorimeter face radius (m)
    min_pt_reach_calo: float = 0.45  #: charged particles below this pT (GeV) loop inside
    bend_coeff: float = 0.45  #: Δφ ≈ bend_coeff · q / pT[GeV] at the calorimeter face (rad)
    track_min_pt: float = 0.5
    eff_low_pt: float = 0.85  #: track efficiency for pT < 1 GeV
    eff_high_pt: float = 0.92  #: track efficiency for pT >= 1 GeV
    sigma_pt_quad: float = 0.0005  #: σ(pT)/pT = 0.05 % · pT[GeV] ⊕ 1 %
    sigma_pt_const: float = 0.01
    vertex_eff: float = 0.6  #: efficiency to find a pile-up vertex with >= 2 tracks
    vertex_min_tracks: int = 2
    assoc_dr: float = 1.0  #: tracks within ΔR of the ungroomed jet axis are associated


class CalorimeterConfig(_Strict):
    """Sampling calorimeter on one common projective grid for all six layers."""

    eta_max: float = 4.9
    cell_deta: float = 0.05
    n_phi: int = 128  #: Δφ = 2π/128 ≈ 0.049
    layers: tuple[str, ...] = ("EM1", "EM2", "EM3", "HAD0", "HAD1", "HAD2")
    #: layer boundaries in depth (λ_int): the EM calorimeter is ≈ 1.2 λ deep
    layer_edges_lambda: tuple[float, ...] = (0.0, 0.15, 0.85, 1.2, 2.7, 4.2, 6.5)
    #: EM-shower depth: Gamma(3, X0·(ln(E/E_c)+1)/3) in λ_int, deeper with ln E
    em_x0_lambda: float = 0.055
    em_critical_gev: float = 0.01
    em_stochastic: float = 0.10  #: σ/E = 10 %/√E ⊕ 0.7 %
    em_constant: float = 0.007
    em_lateral_sigma: float = 0.02
    had_stochastic: float = 0.50  #: σ/E ≈ 50 %/√E ⊕ 3 %
    had_constant: float = 0.03
    had_lateral_sigma: float = 0.06
    had_depth_scale: float = 0.65  #: hadronic part: Gamma(2, scale) after the first interaction
    fem_k: float = 0.82  #: ⟨f_em⟩ = 1 − (E/1 GeV)^(k−1)
    fem_concentration: float = 5.0  #: Beta(κ⟨f⟩, κ(1−⟨f⟩)): smaller κ = larger f_em fluctuations
    h_over_e: float = 0.6  #: non-compensation
    n_spots: int = 4  #: lateral sampling points per particle and layer
    dead_material_gev: float = 0.35  #: mean energy lost in front of the calorimeter (GeV)
    crack_barrel_endcap: tuple[float, float] = (1.37, 1.52)
    crack_barrel_endcap_response: float = 0.70
    crack_forward: tuple[float, float] = (3.1, 3.3)
    crack_forward_response: float = 0.75
    muon_mip_gev: float = 2.5  #: minimum-ionising deposit, spread over layers
    noise_em_gev: float = 0.030
    noise_had_gev: float = 0.050


class TopoConfig(_Strict):
    """4-2-0 topological clustering and local hadronic (LC) calibration."""

    seed_sigma: float = 4.0
    grow_sigma: float = 2.0
    cell_sigma: float = 0.0
    include_pileup_noise: bool = True
    #: towers (layer sums) that are local maxima above this energy (GeV) split clusters
    split_e_gev: float = 0.5
    #: clusters with EM-layer fraction above this are EM-like (weight 1); linear in between
    lc_em_frac_hi: float = 0.90
    lc_em_frac_lo: float = 0.50
    #: fraction of the hadronic correction 1/⟨R_h⟩ − 1 applied (< 1: LC under-corrects, as the
    #: cluster-level classification cannot see each shower's f_em)
    lc_had_strength: float = 0.4
    #: deliberately imperfect out-of-cluster + dead-material correction (one constant)
    lc_ooc_dm_factor: float = 1.06
    min_cluster_e: float = 0.0  #: clusters at or below this EM-scale energy (GeV) are dropped


class PileupConfig(_Strict):
    """In-time pile-up from a reusable minimum-bias pool."""

    pool_size: int = 2000
    pool_seed: int = 4242
    pool_settings: tuple[str, ...] = ("SoftQCD:nonDiffractive = on",)


class JetConfig(_Strict):
    """Jet finding, grooming, matching and the rows kept."""

    radius: float = 1.0
    grooming: Literal["trimming"] = "trimming"  #: SPEC §2 default (SoftDrop not implemented)
    trim_rsub: float = 0.2
    trim_fcut: float = 0.05
    min_pt_reco: float = 50.0  #: reco jets considered for matching (ungroomed pT, GeV)
    min_pt_true: float = 100.0  #: truth jets kept (groomed pT, GeV)
    max_abs_eta_true: float = 2.8
    match_dr: float = 0.75
    max_jets_per_event: int = 2


class GenerationConfig(_Strict):
    """Event generation: Pythia settings shared by all processes, chunking."""

    ecm_gev: float = 13000.0
    chunk_size: int = 250
    #: pT-hat slices (GeV) for dijets, like ATLAS JZ slices; equal events per slice
    dijet_slices: tuple[tuple[float, float], ...] = (
        (160.0, 300.0), (300.0, 550.0), (550.0, 1000.0), (1000.0, 1800.0), (1800.0, 3500.0),
    )
    wprime_masses: tuple[float, ...] = (1000.0, 1500.0, 2000.0, 3000.0)
    zprime_masses: tuple[float, ...] = (1500.0, 2000.0, 3000.0)
    #: altered shower/hadronisation for generator-dependence tests (dijet_alt)
    alt_settings: tuple[str, ...] = (
        "TimeShower:alphaSvalue = 0.1200",
        "StringZ:aLund = 0.55",
        "StringZ:bLund = 0.75",
    )


class SimConfig(_Strict):
    """Everything that defines a generated sample besides process, events, seed and μ range."""

    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    calorimeter: CalorimeterConfig = Field(default_factory=CalorimeterConfig)
    topo: TopoConfig = Field(default_factory=TopoConfig)
    pileup: PileupConfig = Field(default_factory=PileupConfig)
    jets: JetConfig = Field(default_factory=JetConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(json.loads(self.model_dump_json()), sort_keys=False)

    def digest(self, *parts: str) -> str:
        """A short hash of selected sections (e.g. ``"calorimeter"``), for cache keys."""
        data = json.loads(self.model_dump_json())
        sel = {p: data[p] for p in parts} if parts else data
        return hashlib.sha256(json.dumps(sel, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: str | Path | None) -> SimConfig:
    """Read a YAML config (missing keys take the defaults); one-line error if unusable."""
    if path is None:
        return SimConfig()
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise InputError(f"{p}: cannot read detector config ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: detector config is not a YAML text file (not valid UTF-8)") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: detector config is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{p}: detector config must be a YAML mapping")
    try:
        return SimConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{p}: invalid detector config: {describe_validation_error(exc)}") from None
