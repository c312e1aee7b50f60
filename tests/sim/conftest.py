"""Shared fixtures of the simulation tests: a tiny detector config (small pile-up pool, small
chunks) with its own pool cache, and one small generated dijet table per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jetcalib.sim.config import SimConfig

TINY = {
    "pileup": {"pool_size": 100},
    "generation": {"chunk_size": 20},
}


@pytest.fixture(scope="session")
def tiny_cfg() -> SimConfig:
    return SimConfig.model_validate(TINY)


@pytest.fixture(scope="session")
def sim_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private pool cache for the session (JETCALIB_CACHE is read at call time)."""
    d = tmp_path_factory.mktemp("jetcalib_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("JETCALIB_CACHE", str(d))
    yield d
    mp.undo()


@pytest.fixture(scope="session")
def dijet_table(tiny_cfg: SimConfig, sim_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """60 dijet events (seed 3, μ 10–30) generated with one worker: (table, path)."""
    from jetcalib.io import read_table
    from jetcalib.sim import run_generation

    out = tmp_path_factory.mktemp("gen") / "d.parquet"
    run_generation("dijet", 60, 3, (10.0, 30.0), out, tiny_cfg, workers=1)
    table, _ = read_table(out, None)
    return table, out


def particles(pid, e, eta, phi=None, charge=None):
    """Synthetic one-particle-per-event batch (for detector unit tests)."""
    from jetcalib.sim.generator import Particles

    pid = np.asarray(pid, np.int32)
    e = np.asarray(e, float)
    n = len(pid)
    eta = np.broadcast_to(np.asarray(eta, float), (n,))
    phi = np.zeros(n) if phi is None else np.broadcast_to(np.asarray(phi, float), (n,))
    charge = np.zeros(n, np.float32) if charge is None else np.broadcast_to(np.asarray(charge, np.float32), (n,))
    pt = e / np.cosh(eta)
    return Particles(np.arange(n, dtype=np.int32), pt * np.cos(phi), pt * np.sin(phi),
                     pt * np.sinh(eta), e, pid, np.array(charge), n)
