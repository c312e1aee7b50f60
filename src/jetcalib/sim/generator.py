"""Pythia 8 event generation in batches (``pythia8mc`` ``nextBatch``) → flat particle arrays.

A batch of events becomes one :class:`Particles` record of flat numpy arrays with an event
index per particle: every later stage works on whole batches at once, never event by event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..errors import InputError
from .config import GenerationConfig

__all__ = ["PDG", "PROCESSES", "Particles", "generate_batch", "make_pythia", "process_settings"]


class PDG(IntEnum):
    """The PDG particle ids the detector treats apart (|id|; antiparticles have −id)."""

    ELECTRON = 11
    NU_E = 12
    MUON = 13
    NU_MU = 14
    NU_TAU = 16
    PHOTON = 22


#: |PDG id| of the neutrinos: invisible to every detector and to the truth jets
NEUTRINOS = (PDG.NU_E, PDG.NU_MU, PDG.NU_TAU)

#: Names accepted by ``--process``.
PROCESSES = ("dijet", "wprime", "zprime_tt", "dijet_alt")

_COMMON = ("Print:quiet = on", "Next:numberCount = 0", "Next:numberShowEvent = 0",
           "Next:numberShowInfo = 0", "Next:numberShowProcess = 0")
_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")


@dataclass
class Particles:
    """Final-state particles of a batch, flattened. Shapes: (n_particles,); GeV."""

    evt: np.ndarray  #: int32 event index within the batch
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray  #: PDG id
    charge: np.ndarray  #: float32, units of e
    n_events: int

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        pt = np.maximum(self.pt, 1e-9)
        return np.arcsinh(self.pz / pt)

    @property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    def select(self, mask: np.ndarray) -> Particles:
        return Particles(self.evt[mask], self.px[mask], self.py[mask], self.pz[mask],
                         self.e[mask], self.pid[mask], self.charge[mask], self.n_events)


def process_settings(process: str, cfg: GenerationConfig, slice_index: int) -> list[str]:
    """Pythia settings of one process and slice (dijet pT-hat slice, or W′/Z′ mass index)."""
    base = [f"Beams:eCM = {cfg.ecm_gev}"]
    if process in ("dijet", "dijet_alt"):
        lo, hi = cfg.dijet_slices[slice_index]
        s = [*base, "HardQCD:all = on", f"PhaseSpace:pTHatMin = {lo}", f"PhaseSpace:pTHatMax = {hi}"]
        return s + (list(cfg.alt_settings) if process == "dijet_alt" else [])
    if process == "wprime":
        m = cfg.wprime_masses[slice_index]
        return [*base, "NewGaugeBoson:ffbar2Wprime = on", f"34:m0 = {m}", "Wprime:coup2WZ = 1.0",
                       "34:onMode = off", "34:onIfMatch = 24 23", *_HADRONIC_W, *_HADRONIC_Z]
    if process == "zprime_tt":
        m = cfg.zprime_masses[slice_index]
        return [*base, "NewGaugeBoson:ffbar2gmZZprime = on", "Zprime:gmZmode = 3", f"32:m0 = {m}",
                       "32:onMode = off", "32:onIfAny = 6", *_HADRONIC_W]
    if process == "minbias":
        return base  # the pool adds its own SoftQCD settings
    raise InputError(f"--process: unknown process {process!r}; choose one of {', '.join(PROCESSES)}")


def n_slices(process: str, cfg: GenerationConfig) -> int:
    """Number of slices (pT-hat ranges or resonance masses) of a process."""
    if process in ("dijet", "dijet_alt"):
        return len(cfg.dijet_slices)
    if process == "wprime":
        return len(cfg.wprime_masses)
    if process == "zprime_tt":
        return len(cfg.zprime_masses)
    raise InputError(f"--process: unknown process {process!r}; choose one of {', '.join(PROCESSES)}")


def make_pythia(settings: list[str], seed: int):
    """An initialised, silent Pythia with ``Random:seed = seed`` (must be < 900 000 000)."""
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    for s in (*_COMMON, *settings, "Random:setSeed = on", f"Random:seed = {int(seed) % 900_000_000}"):
        if not py.readString(s):
            raise RuntimeError(f"Pythia rejected setting {s!r}")
    if not py.init():
        raise RuntimeError("Pythia initialisation failed")
    return py


_CHARGE_CACHE: dict[int, float] = {}


def _charges(py, pid: np.ndarray) -> np.ndarray:
    """Charge per particle: looked up once per distinct id (no charge field in batches)."""
    uniq, inv = np.unique(pid, return_inverse=True)
    vals = np.empty(len(uniq), np.float32)
    for i, u in enumerate(uniq.tolist()):
        if u not in _CHARGE_CACHE:
            _CHARGE_CACHE[u] = float(py.particleData.charge(u))
        vals[i] = _CHARGE_CACHE[u]
    return vals[inv]


def generate_batch(py, n_events: int) -> Particles:
    """Generate ``n_events`` and return their final-state particles, including neutrinos
    (the detector decides what it sees)."""
    import awkward as ak

    batch = py.nextBatch(n_events)
    prt = batch.prt
    prt = prt[prt.status > 0]
    counts = ak.num(prt).to_numpy()
    flat = ak.flatten(prt)
    pid = ak.to_numpy(flat.id).astype(np.int32)
    p = flat.p
    return Particles(
        evt=np.repeat(np.arange(len(counts), dtype=np.int32), counts),
        px=ak.to_numpy(p.px), py=ak.to_numpy(p.py), pz=ak.to_numpy(p.pz), e=ak.to_numpy(p.e),
        pid=pid, charge=_charges(py, pid), n_events=len(counts),
    )
