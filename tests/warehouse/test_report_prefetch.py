"""The report reader's prefetch thread: order, errors in place, and no thread left behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from checkout_freshportal.warehouse.report_arrow import prefetched


def _threads() -> int:
    return sum(t.name == "report-reader" for t in threading.enumerate())


def test_items_arrive_in_order_and_the_error_after_them() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("line 6: 3 fields, the header has 4")

    got: list[int] = []
    with pytest.raises(ValueError, match="line 6"):
        got.extend(prefetched(items(), depth=2))
    assert got == [0, 1, 2, 3, 4]
    assert _threads() == 0


def test_closing_early_stops_the_producer() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    it = prefetched(endless(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # what a failing load does when it abandons the file
    assert _threads() == 0
    assert len(produced) <= 3 + 2 + 1  # at most the queue and the item in hand were read ahead


def test_a_consumer_failing_after_the_producer_finished_does_not_hang() -> None:
    # The producer reads a short file to its end and fills the queue while the consumer fails on
    # the first item: closing must neither wait forever for the producer nor leave it blocked.
    finished = threading.Event()

    def three() -> Iterator[int]:
        yield from range(3)
        finished.set()

    it = prefetched(three(), depth=2)
    assert next(it) == 0
    assert finished.wait(5)  # items 1 and 2 fill the queue; the end marker has no room
    closer = threading.Thread(target=it.close)
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "closing hung on a producer blocked on a full queue"
    assert _threads() == 0
