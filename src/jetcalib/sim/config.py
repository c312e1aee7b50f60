"""Every parameter of the simulated detector and of the event generation (docs/detector.md).

One pydantic model, :class:`SimConfig`, holds them all with the defaults that docs/detector.md describes; it is
dumped to YAML by ``jetcalib generate --dump-config`` and read back with ``--config``.
Energies in GeV, angles in rad, depths in interaction lengths λ_int.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError, describe_validation_error
from ..io.metadata import SIMULATION_VERSION

__all__ = [
    "CalorimeterConfig",
    "ConstituentConfig",
    "GenerationConfig",
    "JetConfig",
    "LayerGranularity",
    "PileupConfig",
    "SimConfig",
    "TopoConfig",
    "TrackingConfig",
    "load_config",
]


# Every numeric field has a range: a zero chunk size looped for ever, a negative width or a
# NaN resolution would run for hours before producing nonsense. NaN and ±inf are refused for
# every float (allow_inf_nan=False).
_Pos = Annotated[float, Field(gt=0)]
_NonNeg = Annotated[float, Field(ge=0)]
_Frac = Annotated[float, Field(ge=0, le=1)]
_PosInt = Annotated[int, Field(ge=1)]
_Range = tuple[_NonNeg, _NonNeg]


def _ordered(name: str, lo: float, hi: float) -> None:
    if not lo < hi:
        raise ValueError(f"{name}: the lower edge {lo} must be below the upper edge {hi}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrackingConfig(_Strict):
    """Inner detector in a solenoid (|η| < 2.5)."""

    eta_max: _Pos = 2.5
    b_field_t: _Pos = 2.0  #: solenoid field (T)
    calo_radius_m: _Pos = 1.5  #: calorimeter face radius (m)
    min_pt_reach_calo: _NonNeg = 0.45  #: charged particles below this pT (GeV) loop inside
    bend_coeff: _NonNeg = 0.45  #: Δφ ≈ bend_coeff · q / pT[GeV] at the calorimeter face (rad)
    track_min_pt: _NonNeg = 0.5
    eff_low_pt: _Frac = 0.85  #: track efficiency for pT < 1 GeV
    eff_high_pt: _Frac = 0.92  #: track efficiency for pT >= 1 GeV
    sigma_pt_quad: _NonNeg = 0.0005  #: σ(pT)/pT = 0.05 % · pT[GeV] ⊕ 1 %
    sigma_pt_const: _NonNeg = 0.01
    vertex_eff: _Frac = 0.6  #: efficiency to find a pile-up vertex with >= 2 tracks
    vertex_min_tracks: _PosInt = 2
    assoc_dr: _Pos = 1.0  #: tracks within ΔR of the ungroomed jet axis are associated
    #: longitudinal track–vertex association. Vertex z ~ Normal(0, beamspot_sigma_z_mm); track
    #: z0 resolution σ_z0 = z0_res_const_mm ⊕ z0_res_mstk_mm / pT[GeV]; a track belongs to the
    #: primary vertex when |z0 − z_PV| < assoc_z0_sigmas · σ_z0. ATLAS-like orders of magnitude
    #: (LHC Run 2 luminous region σ_z ≈ 35–45 mm; ATLAS ID z0 resolution ≈ 50 µm at high pT and
    #: O(1 mm) at 0.5–1 GeV from multiple scattering), not a fit to ATLAS.
    beamspot_sigma_z_mm: _Pos = 45.0
    z0_res_const_mm: _NonNeg = 0.05
    z0_res_mstk_mm: _NonNeg = 0.8  #: mm·GeV
    assoc_z0_sigmas: _Pos = 3.0
    #: ...or when |z0 − z_PV| · sin θ is below this (mm; ATLAS's loose track-to-vertex
    #: association for jets, which lets the tracks of nearby pile-up vertices in; 0: off)
    assoc_z0_sintheta_mm: _NonNeg = 3.0

    @model_validator(mode="after")
    def _check(self) -> TrackingConfig:
        if self.z0_res_const_mm == 0 and self.z0_res_mstk_mm == 0:
            raise ValueError("z0_res_const_mm and z0_res_mstk_mm cannot both be 0 (zero z0 "
                             "resolution: no track would be inside its vertex window)")
        return self


class LayerGranularity(_Strict):
    """The cells of one layer: ``eta_regions`` lists (upper |η| edge, Δη) from η = 0 outwards
    (the last edge is the calorimeter's ``eta_max``; each region a whole number of cells);
    ``n_phi`` cells in φ (a multiple of the coarsest layer's, so pile-up rotations map cells
    onto cells in every layer)."""

    eta_regions: Annotated[tuple[tuple[_Pos, _Pos], ...], Field(min_length=1)]
    n_phi: Annotated[int, Field(ge=4, le=4096)]


#: ATLAS-like barrel granularity (EM1 strips Δη = 0.025/8, EM2 0.025 × 0.025, EM3 0.05 × 0.025,
#: hadronic 0.1 × 0.1; EM1 strips 0.025/4 in the endcap; 0.1 from |η| = 2.4–2.5 to 3.2 and
#: 0.2125 (8 cells) in the forward calorimeter, 3.2 < |η| < 4.9)
_FORWARD = ((3.2, 0.1), (4.9, 0.2125))
DEFAULT_GRANULARITY = (
    LayerGranularity(eta_regions=((1.4, 0.003125), (2.4, 0.00625), *_FORWARD), n_phi=64),
    LayerGranularity(eta_regions=((2.5, 0.025), *_FORWARD), n_phi=256),
    LayerGranularity(eta_regions=((2.5, 0.05), *_FORWARD), n_phi=256),
    LayerGranularity(eta_regions=_FORWARD, n_phi=64),
    LayerGranularity(eta_regions=_FORWARD, n_phi=64),
    LayerGranularity(eta_regions=_FORWARD, n_phi=64),
)


class CalorimeterConfig(_Strict):
    """Sampling calorimeter of six layers, each with its own projective cell geometry."""

    eta_max: _Pos = 4.9
    layers: Annotated[tuple[str, ...], Field(min_length=1)] = ("EM1", "EM2", "EM3", "HAD0", "HAD1", "HAD2")
    #: cell geometry per layer (docs/detector.md#cells)
    granularity: tuple[LayerGranularity, ...] = DEFAULT_GRANULARITY
    #: layer boundaries in depth (λ_int): the EM calorimeter is ≈ 1.2 λ deep
    layer_edges_lambda: tuple[_NonNeg, ...] = (0.0, 0.15, 0.85, 1.2, 2.7, 4.2, 6.5)
    #: EM-shower depth: Gamma(3, X0·(ln(E/E_c)+1)/3) in λ_int, deeper with ln E
    em_x0_lambda: _Pos = 0.055
    em_critical_gev: _Pos = 0.01
    em_stochastic: _NonNeg = 0.10  #: σ/E = 10 %/√E ⊕ 0.7 %
    em_constant: _NonNeg = 0.007
    had_stochastic: _NonNeg = 0.50  #: σ/E ≈ 50 %/√E ⊕ 3 %
    had_constant: _NonNeg = 0.03
    had_depth_scale: _Pos = 0.65  #: hadronic part: Gamma(2, scale) after the first interaction
    fem_k: Annotated[float, Field(gt=0, lt=1)] = 0.82  #: ⟨f_em⟩ = 1 − (E/1 GeV)^(k−1)
    fem_concentration: _Pos = 5.0  #: Beta(κ⟨f⟩, κ(1−⟨f⟩)): smaller κ = larger f_em fluctuations
    h_over_e: _Pos = 0.6  #: non-compensation
    #: lateral shower profiles: a Gaussian core and a Gaussian halo (σ in η and in φ, rad),
    #: the halo carrying ``*_halo_frac`` of the energy, integrated over each cell
    em_core_sigma: _Pos = 0.010
    em_halo_sigma: _Pos = 0.030
    em_halo_frac: _Frac = 0.15
    had_core_sigma: _Pos = 0.035
    had_halo_sigma: _Pos = 0.10
    had_halo_frac: _Frac = 0.45
    #: a hadron shower's EM component (π⁰ → γγ) is this many narrow showers, each displaced
    #: from the hadron's axis by Normal(0, had_em_subshower_sigma) in η and in φ, with energy
    #: shares drawn from a flat Dirichlet distribution
    had_em_subshowers: Annotated[int, Field(ge=1, le=8)] = 4
    had_em_subshower_sigma: _NonNeg = 0.06
    #: a deposit is spread over cells within this many halo σ of its axis...
    lateral_window_sigmas: Annotated[float, Field(ge=1, le=6)] = 3.0
    #: ...that receive at least this energy (GeV; the rest is shared among them, so energy is
    #: kept): far below the electronic noise, it bounds the cells a soft particle touches
    lateral_min_cell_gev: _NonNeg = 0.01
    dead_material_gev: _NonNeg = 0.35  #: mean energy lost in front of the calorimeter (GeV)
    crack_barrel_endcap: _Range = (1.37, 1.52)
    #: response in the barrel–endcap gap, of the EM and the hadronic shower component apart: the
    #: gap (cryostat walls, cables) stops mostly the EM part; LC's dead-material weight
    #: (TopoConfig.lc_dm_crack_factor) corrects part of the loss
    crack_barrel_endcap_em_response: _Frac = 0.80
    crack_barrel_endcap_had_response: _Frac = 0.95
    crack_forward: _Range = (3.1, 3.3)
    crack_forward_response: _Frac = 0.75
    muon_mip_gev: _NonNeg = 2.5  #: minimum-ionising deposit, spread over layers
    noise_em_gev: _NonNeg = 0.030
    noise_had_gev: _NonNeg = 0.050

    @model_validator(mode="after")
    def _check(self) -> CalorimeterConfig:
        edges = self.layer_edges_lambda
        if len(edges) != len(self.layers) + 1:
            raise ValueError(f"layer_edges_lambda needs {len(self.layers) + 1} edges for "
                             f"{len(self.layers)} layers, got {len(edges)}")
        for a, b in itertools.pairwise(edges):
            _ordered("layer_edges_lambda", a, b)
        _ordered("crack_barrel_endcap", *self.crack_barrel_endcap)
        _ordered("crack_forward", *self.crack_forward)
        if len(self.granularity) != len(self.layers):
            raise ValueError(f"granularity: {len(self.granularity)} layer geometries for "
                             f"{len(self.layers)} layers")
        coarsest = min(g.n_phi for g in self.granularity)
        for name, g in zip(self.layers, self.granularity, strict=True):
            if g.n_phi % coarsest:
                raise ValueError(f"granularity of {name}: n_phi = {g.n_phi} is not a multiple of "
                                 f"the coarsest layer's {coarsest} (pile-up rotations would not "
                                 "map its cells onto cells)")
            lo = 0.0
            for hi, d in g.eta_regions:
                _ordered(f"granularity of {name}: eta_regions", lo, hi)
                n = (hi - lo) / d
                if abs(n - round(n)) > 1e-6:
                    raise ValueError(f"granularity of {name}: the region {lo:g} < |eta| < {hi:g} is "
                                     f"not a whole number of cells of deta = {d:g}")
                lo = hi
            if abs(lo - self.eta_max) > 1e-9:
                raise ValueError(f"granularity of {name}: the last eta region ends at {lo:g}, "
                                 f"not at eta_max = {self.eta_max:g}")
        if self.em_halo_sigma < self.em_core_sigma or self.had_halo_sigma < self.had_core_sigma:
            raise ValueError("a lateral halo sigma is below its core sigma")
        return self


class TopoConfig(_Strict):
    """4-2-0 topological clustering and local hadronic (LC) calibration."""

    seed_sigma: _NonNeg = 4.0
    grow_sigma: _NonNeg = 2.0
    cell_sigma: _NonNeg = 0.0
    include_pileup_noise: bool = True
    #: cells that are local maxima above this energy (GeV) split clusters (ATLAS: 500 MeV)
    split_e_gev: _NonNeg = 0.5
    #: a local maximum needs at least this many in-layer neighbours in its cluster (ATLAS: 4)
    split_min_neighbours: Annotated[int, Field(ge=0, le=8)] = 4
    #: distance scale (in η-φ) of the energy sharing of cells between two split clusters
    share_scale: _Pos = 0.05
    #: clusters with EM-layer fraction above this are EM-like (weight 1); linear in between
    lc_em_frac_hi: _Frac = 0.90
    lc_em_frac_lo: _Frac = 0.50
    #: fraction of the hadronic correction 1/⟨R_h⟩ − 1 applied (< 1: LC under-corrects, as the
    #: cluster-level classification cannot see each shower's f_em)
    lc_had_strength: _Frac = 0.15
    #: a cell's hadronic weight is that of a hadron of (cell energy density × this) GeV, the
    #: density being the cell's energy per 0.05 × 2π/128 of area (so the weight does not change
    #: when clusters are split or merged, nor with the layer's granularity)
    lc_density_scale: _Pos = 10.0
    #: out-of-cluster correction 1 + this × isolation (the fraction of a cluster's border
    #: cells that are in no cluster: energy lost outside an isolated cluster is found nowhere)
    lc_ooc_isolated: Annotated[float, Field(ge=0, le=1)] = 0.2
    #: dead-material correction, and its value in the barrel–endcap crack
    lc_dm_factor: _Pos = 0.995
    lc_dm_crack_factor: _Pos = 1.05
    #: plus this energy (GeV) over the cluster's EM-scale energy: dead material in front takes
    #: about a fixed energy per particle, a large share of a soft cluster's
    lc_dm_gev: _NonNeg = 0.3
    min_cluster_e: _NonNeg = 0.0  #: clusters at or below this EM-scale energy (GeV) are dropped

    @model_validator(mode="after")
    def _check(self) -> TopoConfig:
        if not self.seed_sigma >= self.grow_sigma >= self.cell_sigma:
            raise ValueError("thresholds must satisfy seed_sigma >= grow_sigma >= cell_sigma")
        _ordered("lc_em_frac_lo, lc_em_frac_hi", self.lc_em_frac_lo, self.lc_em_frac_hi)
        return self


class PileupConfig(_Strict):
    """In-time pile-up from a reusable minimum-bias pool."""

    pool_size: _PosInt = 2000
    pool_seed: Annotated[int, Field(ge=0, lt=900_000_000)] = 4242  #: Pythia's seed range
    pool_settings: tuple[str, ...] = ("SoftQCD:nonDiffractive = on",)


class JetConfig(_Strict):
    """Jet finding, grooming, pile-up suppression, matching and the rows kept.

    ``grooming`` is applied identically to truth and reco jets; the groomed columns (``e_reco``,
    ``m_reco``, ``pt_true``, ...) are those of the chosen grooming, ``*_ungroomed`` the anti-kt
    jet. ``trimming``: kt R_sub = ``trim_rsub`` subjets with pT > ``trim_fcut`` · pT_jet.
    ``softdrop``: Cambridge/Aachen declustering (fjcontrib SoftDrop) dropping the softer branch
    until min(pT1, pT2)/(pT1 + pT2) > ``softdrop_zcut`` · (ΔR12/``radius``)^``softdrop_beta``.
    ``softkiller``: before reco jet finding (clusters only, never truth particles) remove the
    clusters with pT below the median over (η, φ) patches of ``softkiller_grid`` spacing, on
    |η| < ``softkiller_eta_max``, of each patch's largest cluster pT (docs/detector.md#jets).
    """

    radius: _Pos = 1.0
    grooming: Literal["trimming", "softdrop"] = "trimming"  #: docs/detector.md#jets
    trim_rsub: _Pos = 0.2
    trim_fcut: _Frac = 0.05
    softdrop_beta: Annotated[float, Field(ge=0, le=10)] = 1.0  #: angular exponent β (0: mMDT)
    softdrop_zcut: Annotated[float, Field(ge=0, le=0.5)] = 0.1  #: z_cut (z ≤ ½ by definition)
    softkiller: bool = False  #: SoftKiller pile-up suppression on clusters before reco jets
    softkiller_grid: Annotated[float, Field(ge=0.05, le=3.2)] = 0.4  #: patch size in η and φ
    softkiller_eta_max: Annotated[float, Field(gt=0, le=10)] = 4.9  #: grid covers |η| < this
    min_pt_reco: _NonNeg = 50.0  #: reco jets considered for matching (ungroomed pT, GeV)
    min_pt_true: _NonNeg = 100.0  #: truth jets kept (groomed pT, GeV)
    max_abs_eta_true: _Pos = 2.8
    match_dr: _Pos = 0.75
    max_jets_per_event: _PosInt = 2


class ConstituentConfig(_Strict):
    """The jagged constituent columns of a table (``jetcalib generate --constituents``):
    per groomed reco jet its clusters (hardest first) and its primary-vertex tracks within
    ``tracking.assoc_dr`` of the jet axis (highest pT first), at most ``max_clusters`` and
    ``max_tracks`` of each. Off by default: they multiply a table's size several times."""

    store: bool = False  #: write the ``cl_*`` and ``trk_*`` columns (docs/inputs.md#constituents)
    max_clusters: Annotated[int, Field(ge=1, le=1000)] = 64  #: clusters kept per jet, hardest first
    max_tracks: Annotated[int, Field(ge=0, le=1000)] = 64  #: tracks kept per jet, highest pT first


class GenerationConfig(_Strict):
    """Event generation: Pythia settings shared by all processes, chunking."""

    ecm_gev: _Pos = 13000.0
    chunk_size: _PosInt = 250
    #: pT-hat slices (GeV) for dijets, like ATLAS JZ slices; equal events per slice
    dijet_slices: Annotated[tuple[_Range, ...], Field(min_length=1)] = (
        (160.0, 300.0), (300.0, 550.0), (550.0, 1000.0), (1000.0, 1800.0), (1800.0, 3500.0),
    )
    wprime_masses: Annotated[tuple[_Pos, ...], Field(min_length=1)] = (1000.0, 1500.0, 2000.0, 3000.0)
    zprime_masses: Annotated[tuple[_Pos, ...], Field(min_length=1)] = (1500.0, 2000.0, 3000.0)
    #: altered shower/hadronisation for generator-dependence tests (dijet_alt)
    alt_settings: tuple[str, ...] = (
        "TimeShower:alphaSvalue = 0.1200",
        "StringZ:aLund = 0.55",
        "StringZ:bLund = 0.75",
    )

    @model_validator(mode="after")
    def _check(self) -> GenerationConfig:
        for lo, hi in self.dijet_slices:
            _ordered("dijet_slices", lo, hi)
        return self


#: settings that a later simulation version replaced, and the version they belong to (a config
#: written for that version)
_OLD_VERSION_KEYS = {"crack_barrel_endcap_response": "1", "lc_ooc_dm_factor": "1", "vertex_assoc_eff": "1",
                     "cell_deta": "2", "n_phi": "2", "n_spots": "2", "em_lateral_sigma": "2",
                     "had_lateral_sigma": "2"}


class SimConfig(_Strict):
    """Everything that defines a generated sample besides process, events, seed and μ range."""

    #: the simulation version this config is for (``--dump-config`` writes it); another one is
    #: refused: its settings would not mean the same detector
    simulation_version: str = SIMULATION_VERSION
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    calorimeter: CalorimeterConfig = Field(default_factory=CalorimeterConfig)
    topo: TopoConfig = Field(default_factory=TopoConfig)
    pileup: PileupConfig = Field(default_factory=PileupConfig)
    jets: JetConfig = Field(default_factory=JetConfig)
    constituents: ConstituentConfig = Field(default_factory=ConstituentConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)

    @model_validator(mode="after")
    def _check_version(self) -> SimConfig:
        if self.simulation_version != SIMULATION_VERSION:
            raise ValueError(f"simulation_version: this config is for simulation version "
                             f"{self.simulation_version}, this jetcalib simulates version "
                             f"{SIMULATION_VERSION}; start from jetcalib generate --dump-config")
        return self

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
    from .._textfiles import read_yaml_or_toml

    p = Path(path)
    raw = read_yaml_or_toml(p, "detector config", yaml_only=True) or {}
    if not isinstance(raw, dict):
        raise InputError(f"{p}: detector config must be a YAML mapping")
    try:
        return SimConfig.model_validate(raw)
    except ValidationError as exc:
        old = sorted(str(e["loc"][-1]) for e in exc.errors()
                     if e["type"] == "extra_forbidden" and e["loc"] and e["loc"][-1] in _OLD_VERSION_KEYS)
        if old:
            raise InputError(f"{p}: {old[0]} is a setting of simulation version "
                             f"{_OLD_VERSION_KEYS[old[0]]}; this jetcalib "
                             f"simulates version {SIMULATION_VERSION}: start from jetcalib generate "
                             "--dump-config") from None
        raise InputError(f"{p}: invalid detector config: {describe_validation_error(exc)}") from None
