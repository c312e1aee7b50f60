"""Signals in worker processes (calibrate --workers, generate --workers).

A worker gets SIGTERM from its parent when the command is stopped, and SIGINT with the whole
process group on Ctrl-C. While it runs a task the signal unwinds the task like Ctrl-C does in
the main process (:class:`~jetcalib.errors.Terminated` / ``KeyboardInterrupt``), so its
temporary outputs are removed; an idle worker just exits, without a traceback of the pool's
own loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

__all__ = ["install_worker_handlers", "signals_held", "task", "terminate_workers"]

_busy = False
_stopped: int | None = None  # the signal received, if any


def _interrupt(signum: int) -> BaseException:
    from .errors import Terminated

    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handler(signum: int, _frame: object) -> None:
    global _stopped
    _stopped = signum
    if not _busy:
        os._exit(128 + signum)
    raise _interrupt(signum)


def install_worker_handlers() -> None:
    """Call first in a worker process (a pool's initializer)."""
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


@contextlib.contextmanager
def task() -> Iterator[None]:
    """Mark the worker busy: a signal now unwinds the task instead of ending the process."""
    global _busy
    if _stopped is not None:  # a task the pool had already handed over when the signal came
        raise _interrupt(_stopped)
    _busy = True
    try:
        yield
    finally:
        _busy = False


def terminate_workers(pool: Any) -> None:
    """SIGTERM every process of a ``ProcessPoolExecutor`` (after its queued work is
    cancelled): the running tasks stop and clean up instead of running to the end while the
    parent waits."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.terminate()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a short block (renaming finished files into place),
    delivering them after it: the files are replaced all together or not at all. Outside the
    main thread the mask of that thread alone would change, so nothing is held there."""
    import threading

    blocked = {signal.SIGINT, signal.SIGTERM}
    in_main = threading.current_thread() is threading.main_thread()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked) if in_main else None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
