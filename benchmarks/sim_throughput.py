"""Throughput of the full simulation chain (⟨μ⟩ = 40) against bare Pythia, per stage.

    .venv/bin/python benchmarks/sim_throughput.py [N_EVENTS] [PROCESS]

Bare Pythia = initialise + generate the same events of the same chunk (same seed). The
pile-up pool is made once and cached (its one-off cost is printed separately); numba
compilation is warmed up on a tiny chunk first.
"""

from __future__ import annotations

import sys
import time

from jetcalib.sim import SimConfig, plan_chunks
from jetcalib.sim.generator import generate_batch, make_pythia, process_settings
from jetcalib.sim.pileup import load_or_make_pool
from jetcalib.sim.pipeline import Chunk, simulate_chunk


def measure(n: int, process: str = "dijet", mu: float = 40.0, cfg: SimConfig | None = None) -> dict:
    """Seconds of bare Pythia and of the full chain on the same ``n`` events (slice 1 of
    ``process``, fixed ⟨μ⟩ = ``mu``), the chain's table and its seconds per stage; the pile-up
    pool is made or loaded first and numba warmed up on a tiny chunk, neither timed."""
    cfg = cfg or SimConfig()
    t0 = time.perf_counter()
    pool = load_or_make_pool(cfg)
    pool_s = time.perf_counter() - t0
    warm = Chunk(0, process, 0, 0, 5, 99, 1.0)
    simulate_chunk(warm, (mu, mu), cfg, pool)  # numba compile / load
    chunks = plan_chunks(process, n * len(cfg.generation.dijet_slices), 1, cfg)
    chunk = Chunk(0, process, 1, 0, n, chunks[0].seed, 1.0 / n)

    t0 = time.perf_counter()
    py = make_pythia(process_settings(process, cfg.generation, chunk.slice_index), chunk.seed)
    generate_batch(py, n)
    bare = time.perf_counter() - t0

    t0 = time.perf_counter()
    table, timings = simulate_chunk(chunk, (mu, mu), cfg, pool)
    full = time.perf_counter() - t0
    return {"pool_s": pool_s, "pool_events": pool.n, "slice": chunk.slice_index, "bare_s": bare,
            "full_s": full, "table": table, "stage_s": timings}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    process = sys.argv[2] if len(sys.argv) > 2 else "dijet"
    m = measure(n, process)
    print(f"pile-up pool ({m['pool_events']} events): {m['pool_s']:.1f} s (cached after the first run)")
    bare, full = m["bare_s"], m["full_s"]
    print(f"{process}, slice {m['slice']}, {n} events, <mu> = 40, {len(m['table']['event'])} matched jets")
    print(f"bare Pythia : {n / bare:7.1f} events/s")
    print(f"full chain  : {n / full:7.1f} events/s")
    print(f"ratio full/bare time: {full / bare:.2f}  (target <= 1.6)")
    print("time per stage (ms/event):")
    for k, v in sorted(m["stage_s"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:<14s} {1000 * v / n:7.2f}")

if __name__ == "__main__":
    main()
