"""Shared by benchmarks/train_dnn.py and benchmarks/ablation.py: load (or make toy) data,
and the docs/method.md#terms figures (closure, resolution) per truth bin for any calibration's output."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from jetcalib.dnn import DNNConfig
from jetcalib.dnn.toys import toy_jets
from jetcalib.evaluate import mode_estimate
from jetcalib.evaluate.metrics import resolution  # the one definition (docs/method.md#terms)
from jetcalib.io import CONSTITUENT_COLUMNS, open_jets, read_table

PT_EDGES = np.array([200, 300, 400, 500, 700, 1000, 1500, 2000, 3000], dtype=float)
M_EDGES = np.array([30, 50, 70, 90, 110, 140, 180, 250, 400], dtype=float)


def read_flat(path: str | Path) -> dict[str, np.ndarray]:
    """The one-number-per-jet columns of a table as numpy arrays: the jagged constituent columns
    of ``generate --constituents`` (``io.CONSTITUENT_COLUMNS``, ~6x the rest) are left out."""
    with open_jets(Path(path)) as f:
        table = f.read([c for c in f.columns if c not in CONSTITUENT_COLUMNS])
    return {k: np.asarray(v) for k, v in table.items()}


def read_jets(path: str | Path, constituents: bool) -> dict[str, Any]:
    """A whole table (with the jagged constituent columns, as awkward arrays) when
    ``constituents``, else :func:`read_flat`'s columns."""
    return dict(read_table(Path(path))[0]) if constituents else read_flat(path)


def load(path: str | None, n_toy: int, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """The table at ``path`` (:func:`read_flat`) or ``n_toy`` toy jets; and a label saying which."""
    if path:
        table = read_flat(path)
        return table, f"{path} ({len(next(iter(table.values()))):,} jets)"
    return toy_jets(n_toy, seed=seed), f"toy data ({n_toy:,} jets, seed {seed}; NOT the simulation)"


def load_many(paths: list[str] | None, n_toy: int, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Several tables concatenated (columns common to all), or toy jets without ``paths``."""
    if not paths or len(paths) == 1:
        return load(paths[0] if paths else None, n_toy, seed)
    tables = [load(p, n_toy, seed)[0] for p in paths]
    common = [c for c in tables[0] if all(c in t for t in tables[1:])]
    table = {c: np.concatenate([t[c] for t in tables]) for c in common}
    return table, f"{' + '.join(paths)} ({len(table[common[0]]):,} jets)"


def config_with(base: DNNConfig, change: dict[str, object]) -> DNNConfig:
    """``base`` with ``change`` applied: a dict updates that section (``{"loss": {"kind": "l1"}}``),
    anything else replaces a top-level field (``{"closure": "none"}``)."""
    raw = base.model_dump()
    for section, values in change.items():
        if isinstance(values, dict):
            raw[section].update(values)
        else:
            raw[section] = values
    return DNNConfig.model_validate(raw)


def figures(test: dict[str, np.ndarray], cal: dict[str, np.ndarray], min_jets: int = 500) -> dict:
    """Per-bin energy and mass closure/resolution of a calibrated ``test`` table."""
    pt, eta, m_true = test["pt_true"], test["eta_true"], test["m_true"]
    ok = (pt > 200) & (np.abs(eta) < 2.0) & np.isfinite(cal["e_cal"]) & np.isfinite(cal["m_cal"])
    r_e = cal["e_cal"] / test["e_true"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_m = cal["m_cal"] / m_true
    out: dict = {"e_bins": [], "m_bins": []}
    for lo, hi in itertools.pairwise(PT_EDGES):
        sel = ok & (pt >= lo) & (pt < hi)
        if sel.sum() >= 50:
            out["e_bins"].append((lo, hi, int(sel.sum()), float(np.median(r_e[sel])), resolution(r_e[sel])))
        for mlo, mhi in itertools.pairwise(M_EDGES):
            s2 = sel & (m_true >= mlo) & (m_true < mhi)
            if s2.sum() >= min_jets:
                out["m_bins"].append((lo, hi, mlo, mhi, int(s2.sum()), float(np.median(r_m[s2])), resolution(r_m[s2])))
    hi_pt = ok & (pt > 500)
    out["e_res_500"] = resolution(r_e[hi_pt]) if hi_pt.sum() > 50 else float("nan")
    out["e_closure_300"] = max((abs(b[3] - 1) for b in out["e_bins"] if b[0] >= 300), default=float("nan"))
    heavy = ok & (m_true > 50)
    m_cl = []
    for mlo, mhi in itertools.pairwise(M_EDGES):
        s = heavy & (m_true >= mlo) & (m_true < mhi)
        if s.sum() >= 50:
            m_cl.append(abs(float(np.median(r_m[s])) - 1))
    out["m_closure_50"] = max(m_cl, default=float("nan"))
    # the same with the mode (docs/method.md#terms defines both; the DNN's loss seeks the mode)
    out["e_mode_closure_300"] = max(
        (abs(mode_estimate(r_e[ok & (pt >= lo) & (pt < hi)]) - 1) for lo, hi in itertools.pairwise(PT_EDGES)
         if lo >= 300 and (ok & (pt >= lo) & (pt < hi)).sum() >= 50), default=float("nan"))
    out["m_mode_closure_50"] = max(
        (abs(mode_estimate(r_m[heavy & (m_true >= lo) & (m_true < hi)]) - 1) for lo, hi in itertools.pairwise(M_EDGES)
         if (heavy & (m_true >= lo) & (m_true < hi)).sum() >= 50), default=float("nan"))
    return out
