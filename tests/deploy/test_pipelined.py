"""deploy.apply.pipelined: file I/O on a background thread, results in order, errors propagate."""

from __future__ import annotations

import threading

import pytest

from jetcalib.deploy.apply import pipelined


def test_every_chunk_is_processed_and_written_in_order_with_io_off_the_main_thread():
    reads: list[str] = []
    written: list[int] = []

    def chunks():
        for i in range(7):
            reads.append(threading.current_thread().name)
            yield i

    pipelined(chunks(), lambda c: c * 10, written.append)
    assert written == [i * 10 for i in range(7)]
    assert all(name.startswith("jetcalib-io") for name in reads)


def test_a_failing_chunk_stops_the_work_and_propagates():
    written: list[int] = []

    def process(c: int) -> int:
        if c == 3:
            raise ValueError("bad chunk")
        return c

    with pytest.raises(ValueError, match="bad chunk"):
        pipelined(iter(range(100)), process, written.append)
    # chunks before the bad one may or may not have reached the writer (the caller discards
    # the file either way); nothing at or after it did
    assert written == list(range(len(written)))
    assert len(written) <= 3


def test_a_failing_read_or_write_propagates():
    def chunks():
        yield 1
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        pipelined(chunks(), lambda c: c, lambda c: None)

    def write(c: int) -> None:
        raise OSError("no space left")

    with pytest.raises(OSError, match="no space left"):
        pipelined(iter(range(5)), lambda c: c, write)
