"""Shared fixtures: small jet tables with every schema column, made from fixed seeds; and the
in-process CLI helpers of the bad-input tests."""

from __future__ import annotations

import numpy as np
import pytest

from jetcalib.io import CALIBRATED_COLUMNS, COLUMNS, UNCERTAINTY_COLUMNS


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the CLI in-process (main() maps errors to exit codes as the installed script does)."""
    from jetcalib.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


#: stderr lines a command prints before it fails that are progress, not a second error
_PROGRESS = ("reading ", "generate ")


def one_error_line(err: str) -> str:
    """The single ``error:`` line of a refused command: no traceback, nothing else but the
    progress lines that preceded it (stderr carries progress too; stdout only results)."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(_PROGRESS)]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error:"), err
    return lines[0]


def make_jet_table(n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """A table with every declared column but the calibration outputs, plausible values, fixed seed."""
    rng = np.random.default_rng(seed)
    table: dict[str, np.ndarray] = {}
    for name, col in COLUMNS.items():
        if name in CALIBRATED_COLUMNS or name in UNCERTAINTY_COLUMNS:
            continue
        dt = col.numpy_dtype
        if dt.kind == "f":
            table[name] = rng.uniform(0.1, 2.0, n).astype(dt)
        else:
            table[name] = rng.integers(0, 100, n).astype(dt)
    pt = rng.uniform(150, 3000, n)
    eta = rng.uniform(-2, 2, n)
    m = rng.uniform(5, 300, n)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
    for kind, scale in (("true", 1.0), ("reco", 0.9)):
        table[f"pt_{kind}"] = (pt * scale).astype(np.float32)
        table[f"eta_{kind}"] = eta.astype(np.float32)
        table[f"m_{kind}"] = (m * scale).astype(np.float32)
        table[f"e_{kind}"] = (e * scale).astype(np.float32)
        table[f"phi_{kind}"] = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    table["eta"] = table["eta_reco"]
    table["log_e"] = np.log(table["e_reco"]).astype(np.float32)
    table["log_m"] = np.log(np.maximum(table["m_reco"], 1)).astype(np.float32)
    table["event"] = np.arange(n, dtype=np.int64)
    table["process"] = np.zeros(n, dtype=np.int16)
    return table


@pytest.fixture
def jet_table() -> dict[str, np.ndarray]:
    return make_jet_table()
