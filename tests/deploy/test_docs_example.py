"""The Python example of docs/own-simulation.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "own-simulation.md"


def test_the_coffea_example_runs(numcal_path, capsys):
    text = DOC.read_text()
    section = text[text.index("## In Python, in a coffea processor"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    exec(compile(block.group(1), str(DOC), "exec"), {"NUMERICAL_CALIBRATION": numcal_path})
    printed = capsys.readouterr().out
    assert printed.strip()  # it printed the first event's calibrated energies and flags
