"""Jet finding (anti-kt R = 1.0), grooming, SoftKiller and truth–reco matching with scikit-hep ``fastjet``.

Jets of a whole batch are found at once with fastjet's awkward API. Grooming (``JetConfig.grooming``):

- trimming reclusters each jet's constituents with kt R_sub = 0.2 (jets treated as "events") and
  keeps the subjets with pT > f_cut · pT_jet (this matches fastjet's ``Filter`` with
  ``SelectorPtFractionMin``);
- SoftDrop reclusters each jet's constituents with Cambridge/Aachen and applies fjcontrib's
  ``SoftDrop`` (exposed by the awkward API as ``exclusive_jets_softdrop_grooming``): decluster
  along the harder branch and drop the softer one until min(pT1, pT2)/(pT1 + pT2) > z_cut ·
  (ΔR12/R)^β.

SoftKiller (:func:`softkiller_mask`) is a small numpy version of fjcontrib's: this fastjet
package does not expose it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["JetSet", "as_momentum", "find_jets", "groom_kwargs", "kinematics", "match_jets", "quiet_fastjet",
           "softkiller_mask"]


def as_momentum(px, py, pz, e, counts):
    """A jagged awkward array of Momentum4D records (events × particles)."""
    import awkward as ak
    import vector

    vector.register_awkward()
    rec = ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D")
    return ak.unflatten(rec, np.asarray(counts, dtype=np.int64))


@contextlib.contextmanager
def quiet_fastjet() -> Iterator[None]:
    """fastjet's awkward API warns about exclusive jets even for kt (it compares a
    JetDefinition to an algorithm enum): a library false positive, silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dcut and exclusive jets", category=UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@dataclass
class JetSet:
    """Jets of a batch, flat. Four-vectors (n_jets, 4) as (px, py, pz, E) in GeV.
    Groomed constituents of jet j: ``const[const_off[j]:const_off[j+1]]`` (indices into the
    batch's flat input arrays)."""

    evt: np.ndarray
    p4: np.ndarray  #: ungroomed
    p4_groomed: np.ndarray
    const: np.ndarray
    const_off: np.ndarray
    n_const_ungroomed: np.ndarray

    def kin(self, groomed: bool = True) -> dict[str, np.ndarray]:
        return kinematics(self.p4_groomed if groomed else self.p4)


def kinematics(p4: np.ndarray) -> dict[str, np.ndarray]:
    """pt, eta, phi, m, e from (n, 4) four-vectors."""
    px, py, pz, e = p4.T
    pt = np.hypot(px, py)
    m2 = e * e - px * px - py * py - pz * pz
    return {"pt": pt, "eta": np.arcsinh(pz / np.maximum(pt, 1e-12)), "phi": np.arctan2(py, px),
            "m": np.sqrt(np.maximum(m2, 0.0)), "e": e}


_BANNER_SHOWN = False


def banner_to_stderr() -> None:
    """Print FastJet's once-per-process banner now, onto stderr: FastJet writes it to stdout
    on its first clustering, where it would mix with a command's results. (Its C++ banner
    stream cannot be set from Python, so file descriptor 1 is pointed at 2 meanwhile.)"""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return
    import ctypes
    import os
    import sys

    import fastjet._swig as fj_swig

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        fj_swig.ClusterSequence.print_banner()  # sets FastJet's own "shown" flag
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN = True


def _cluster(arr, algorithm, radius):
    import fastjet

    banner_to_stderr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fastjet.ClusterSequence(arr, fastjet.JetDefinition(algorithm, radius))


def groom_kwargs(jc) -> dict:
    """The grooming arguments of :func:`find_jets` from a ``JetConfig``."""
    return {"grooming": jc.grooming, "beta": jc.softdrop_beta, "zcut": jc.softdrop_zcut}


def find_jets(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, counts: np.ndarray,
              radius: float, min_pt: float, rsub: float, fcut: float, grooming: str = "trimming",
              beta: float = 1.0, zcut: float = 0.1) -> JetSet:
    """Anti-kt jets with ungroomed pT > ``min_pt`` of every event, and their groomed version
    (``grooming`` "trimming" with ``rsub``, ``fcut`` or "softdrop" with ``beta``, ``zcut`` and
    R0 = ``radius``).

    Inputs are flat (n_particles,) arrays ordered by event with ``counts`` per event."""
    import awkward as ak
    import fastjet

    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    arr = as_momentum(px, py, pz, e, counts)
    cs = _cluster(arr, fastjet.antikt_algorithm, radius)
    idx = cs.constituent_index(min_pt)  # events × jets × constituents (local indices)
    njets = ak.num(idx, axis=1).to_numpy()
    evt = np.repeat(np.arange(len(counts)), njets)
    idx_j = ak.flatten(idx, axis=1)  # jets × constituents
    nc = ak.num(idx_j, axis=1).to_numpy()
    glob = ak.flatten(idx_j).to_numpy().astype(np.int64) + np.repeat(starts[evt], nc)
    P = np.stack([px, py, pz, e], axis=1)
    joff = np.concatenate([[0], np.cumsum(nc)]).astype(np.int64)
    p4 = np.add.reduceat(P[glob], joff[:-1], axis=0) if len(nc) else np.zeros((0, 4))
    if len(nc) == 0:
        z = np.zeros(0, np.int64)
        return JetSet(evt, p4, p4, z, np.zeros(1, np.int64), z)
    if grooming == "softdrop":
        keep_c = _softdrop_keep(P[glob], nc, radius, beta, zcut)
        c_jet = np.repeat(np.arange(len(nc)), nc)[keep_c]
        const = glob[keep_c]
        gcount = np.bincount(c_jet, minlength=len(nc))
        goff = np.concatenate([[0], np.cumsum(gcount)]).astype(np.int64)
        g4 = np.zeros((len(nc), 4))
        np.add.at(g4, c_jet, P[const])
        return JetSet(evt, p4, g4, const, goff, nc)
    if grooming != "trimming":
        raise ValueError(f"unknown grooming {grooming!r}")
    # trimming: kt R_sub subjets of each jet's constituents
    pc = P[glob]  # constituents in jet order, (n, 4)
    sub = as_momentum(pc[:, 0], pc[:, 1], pc[:, 2], pc[:, 3], nc)
    cs2 = _cluster(sub, fastjet.kt_algorithm, rsub)
    sidx = cs2.constituent_index(0.0)  # jets × subjets × constituents
    nsub = ak.num(sidx, axis=1).to_numpy()
    sidx_flat = ak.flatten(sidx, axis=1)
    nsc = ak.num(sidx_flat, axis=1).to_numpy()
    sub_jet = np.repeat(np.arange(len(nc)), nsub)
    loc = ak.flatten(sidx_flat).to_numpy().astype(np.int64) + np.repeat(joff[:-1][sub_jet], nsc)
    soff = np.concatenate([[0], np.cumsum(nsc)]).astype(np.int64)
    ps = pc[loc]  # constituents in subjet order
    sp4 = np.add.reduceat(ps, soff[:-1], axis=0)
    jpt = np.hypot(p4[:, 0], p4[:, 1])
    keep_sub = np.hypot(sp4[:, 0], sp4[:, 1]) > fcut * jpt[sub_jet]
    keep_c = np.repeat(keep_sub, nsc)
    # subjets come jet by jet, so the kept constituents are already grouped by jet
    c_jet = np.repeat(sub_jet, nsc)[keep_c]
    const = glob[loc[keep_c]]
    gcount = np.bincount(c_jet, minlength=len(nc))
    goff = np.concatenate([[0], np.cumsum(gcount)]).astype(np.int64)
    g4 = np.zeros((len(nc), 4))
    np.add.at(g4, c_jet, ps[keep_c])
    return JetSet(evt, p4, g4, const, goff, nc)


#: C/A radius for SoftDrop's reclustering: larger than any ΔR inside a jet, so that every
#: jet's constituents end in one C/A tree (R0 of the SoftDrop condition is the jet radius)
_CA_RADIUS = 10.0


def _softdrop_keep(pc: np.ndarray, nc: np.ndarray, radius: float, beta: float, zcut: float) -> np.ndarray:
    """Which constituents survive SoftDrop: ``pc`` (n, 4) the constituents of all jets in jet
    order, ``nc`` the count per jet. fjcontrib returns the groomed constituents as
    four-vectors, copied bit for bit from the inputs, so they are found again by value."""
    import awkward as ak
    import fastjet

    pc = np.ascontiguousarray(pc, dtype=np.float64)
    sub = as_momentum(pc[:, 0], pc[:, 1], pc[:, 2], pc[:, 3], nc)
    cs = _cluster(sub, fastjet.cambridge_algorithm, _CA_RADIUS)
    with quiet_fastjet():
        sd = cs.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=zcut,
                                                 symmetry_measure="scalar_z", R0=radius,
                                                 recursion_choice="larger_pt")
    c = sd.constituents
    gn = ak.num(c, axis=1).to_numpy()
    g = np.stack([ak.flatten(c[k]).to_numpy() for k in ("px", "py", "pz", "E")], axis=1)
    jet_u = np.repeat(np.arange(len(nc), dtype=np.float64), nc)
    jet_g = np.repeat(np.arange(len(gn), dtype=np.float64), gn)
    key = np.dtype((np.void, 40))
    ku = np.ascontiguousarray(np.column_stack([jet_u, pc])).view(key).ravel()
    kg = np.ascontiguousarray(np.column_stack([jet_g, g])).view(key).ravel()
    keep = np.isin(ku, kg)
    if int(keep.sum()) != len(kg):
        raise RuntimeError("SoftDrop: groomed constituents not found among the jet's constituents")
    return keep


def softkiller_mask(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, counts: np.ndarray,
                    grid: float, eta_max: float) -> np.ndarray:
    """SoftKiller (Cacciari, Salam, Soyez 2015): which particles to keep, per event.

    The event's pT cut is the median, over the patches of an (η, φ) grid of spacing ``grid``
    on |η| < ``eta_max``, of the largest particle pT in each patch (0 for an empty patch);
    particles with pT below it are removed (pT ≥ cut kept, so the hardest particle of an
    event always survives). As in fjcontrib the median of an even number of patches is the
    upper middle value. Particles outside the grid take the cut but do not set it. Written
    in numpy because the installed fastjet package does not expose fjcontrib's SoftKiller."""
    counts = np.asarray(counts, np.int64)
    n_ev = len(counts)
    n_eta = max(1, int(np.ceil(2 * eta_max / grid - 1e-9)))
    n_phi = max(1, int(np.ceil(2 * np.pi / grid - 1e-9)))
    n_tiles = n_eta * n_phi
    evt = np.repeat(np.arange(n_ev), counts)
    ie = np.floor((eta + eta_max) / (2 * eta_max) * n_eta).astype(np.int64)
    ip = np.floor(np.mod(phi, 2 * np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
    inside = (ie >= 0) & (ie < n_eta)
    tmax = np.zeros(n_ev * n_tiles)
    np.maximum.at(tmax, (evt * n_tiles + ie * n_phi + ip)[inside], pt[inside])
    cut = np.partition(tmax.reshape(n_ev, n_tiles), n_tiles // 2, axis=1)[:, n_tiles // 2]
    return pt >= cut[evt]


def match_jets(t_evt: np.ndarray, t_eta: np.ndarray, t_phi: np.ndarray, r_evt: np.ndarray,
               r_eta: np.ndarray, r_phi: np.ndarray, max_dr: float) -> tuple[np.ndarray, np.ndarray]:
    """For each truth jet the closest reco jet of the same event within ``max_dr``, kept only
    if unique (no other truth jet picked the same reco jet). Returns (reco index or −1, ΔR).

    Ties in ΔR go to the lowest reco index. All (truth, reco) pairs of the same event are
    formed at once, rather than looping over events in Python."""
    t_evt = np.asarray(t_evt, np.int64)
    r_evt = np.asarray(r_evt, np.int64)
    nt = len(t_evt)
    match = np.full(nt, -1, np.int64)
    dr_best = np.full(nt, np.inf)
    if nt == 0 or len(r_evt) == 0:
        return match, dr_best
    r_order = np.argsort(r_evt, kind="stable")  # reco jets by event, index order within one
    r_sorted = r_evt[r_order]
    lo = np.searchsorted(r_sorted, t_evt, side="left")
    cnt = np.searchsorted(r_sorted, t_evt, side="right") - lo
    has = np.nonzero(cnt)[0]  # truth jets whose event has reco jets
    if len(has) == 0:
        return match, dr_best
    cnt_h = cnt[has]
    first = np.cumsum(cnt_h) - cnt_h
    k = np.repeat(np.arange(len(has)), cnt_h)  # pair → position in ``has``
    ri = r_order[lo[has][k] + np.arange(int(cnt_h.sum())) - first[k]]  # pair → reco jet
    ti = has[k]
    dphi = (t_phi[ti] - r_phi[ri] + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(t_eta[ti] - r_eta[ri], dphi)
    dmin = np.minimum.reduceat(dr, first)
    # first pair of each truth jet reaching its minimum (np.argmin's choice)
    at_min = np.nonzero(dr == dmin[k])[0]
    first_min = at_min[np.unique(k[at_min], return_index=True)[1]]
    picked = ri[first_min]
    ok = dmin < max_dr
    uniq, n_pick = np.unique(picked[ok], return_counts=True)
    ok &= ~np.isin(picked, uniq[n_pick > 1])
    match[has[ok]] = picked[ok]
    dr_best[has[ok]] = dmin[ok]
    return match, dr_best
