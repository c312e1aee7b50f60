"""Event simulation: Pythia 8 → pile-up → tracks → calorimeter → topo-clusters → LC → jets →
matched jet rows (see docs/detector.md).

Stages (one module each): :mod:`.generator`, :mod:`.pileup`, :mod:`.tracking`,
:mod:`.calorimeter`, :mod:`.topo`, :mod:`.jets`, :mod:`.substructure`, :mod:`.pipeline`
(one chunk end to end) and :mod:`.runner` (chunked, parallel, resumable runs).
"""

from .config import SimConfig, load_config
from .runner import parse_mu_range, plan_chunks, run_generation

__all__ = ["SimConfig", "load_config", "parse_mu_range", "plan_chunks", "run_generation"]
