"""Running ``jetcalib`` in a child process and signalling it at a chosen point (the signal and
interruption tests). The child is forked from the test process (``main(args)``, what the
``jetcalib`` script runs), so it does not pay the ~10 s of importing torch + Lightning again,
or, with ``fresh``, a new interpreter (a forkserver pool cannot start from a forked copy of the
test process)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from jetcalib.cli import main


def cli_child(args: list[str]) -> None:
    code = 1
    try:
        code = main(args)
    finally:
        os._exit(code)  # never run the parent's (pytest's) exit handlers


class Fresh:
    """``jetcalib ARGS`` in a new interpreter, with a Process's interface (``generate``: its
    forkserver pool cannot start from a forked copy of the test process)."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import sys; from jetcalib.cli import main; "
                                      "sys.exit(main(sys.argv[1:]))", *args],
                                     stdout=subprocess.DEVNULL)  # stderr: pytest's, shown on failure
        self.pid = self.proc.pid

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll()


def signal_when(args: list[str], ready: Callable[[], bool], sig: int, delay: float,
                 timeout: float = 120.0, fresh: bool = False) -> int:
    """Run ``jetcalib ARGS`` in a forked child (``fresh``: a new interpreter), send it ``sig``
    ``delay`` s after ``ready()``; return its exit status."""
    child: Any = Fresh(args) if fresh else mp.get_context("fork").Process(target=cli_child, args=(args,))
    if not fresh:
        child.start()
    t0 = time.monotonic()
    while not ready():
        assert child.is_alive(), f"the command ended (exit {child.exitcode}) before the signal point"
        assert time.monotonic() - t0 < timeout, "the signal point never came"
        time.sleep(0.005)
    time.sleep(delay)
    assert child.is_alive(), f"finished before the signal (delay {delay:.2f} s)"
    os.kill(child.pid, sig)
    child.join(60)
    if child.is_alive():  # a hang is a failure, not a stuck test run
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        pytest.fail(f"still running 60 s after {signal.Signals(sig).name} (delay {delay:.2f} s)")
    assert child.exitcode is not None
    return child.exitcode


def run_ok(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


