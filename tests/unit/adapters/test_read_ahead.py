"""ReadAhead: a producer thread a bounded number of items ahead of its consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from breast_cancer_ml.adapters import read_ahead
from breast_cancer_ml.adapters.read_ahead import ReadAhead


class Source:
    """Counts how many items were produced; optionally fails at one position."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.produced = 0
        self.finished = threading.Event()

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise ValueError(f"bad item {i}")
                self.produced += 1
                yield i
        finally:
            self.finished.set()


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_items_arrive_in_order() -> None:
    with ReadAhead(Source(100), depth=3) as items:
        assert list(items) == list(range(100))


def test_the_producer_stays_within_depth_of_the_consumer() -> None:
    source = Source(1000)
    with ReadAhead(source, depth=2) as items:
        it = iter(items)
        assert next(it) == 0
        wait_until(lambda: source.produced >= 4)
        time.sleep(0.2)  # time to run further ahead, if it could
        # one taken, two queued, one produced and waiting for room
        assert source.produced == 4
        assert next(it) == 1
        wait_until(lambda: source.produced >= 5)
        time.sleep(0.1)
        assert source.produced == 5


def test_a_producer_error_reaches_the_consumer_after_the_items_before_it() -> None:
    seen: list[int] = []

    def consume() -> None:
        with ReadAhead(Source(10, fail_at=6), depth=2) as items:
            seen.extend(items)

    with pytest.raises(ValueError, match="bad item 6"):
        consume()
    assert seen == [0, 1, 2, 3, 4, 5]


def test_leaving_early_stops_the_producer() -> None:
    source = Source(10**9)
    ahead = ReadAhead(source, depth=2)
    with ahead as items:
        for item in items:
            if item == 3:
                break
    assert source.finished.wait(5)  # the generator was closed, not left running
    assert not ahead._thread.is_alive()
    assert source.produced < 10


def test_an_error_in_the_consumer_stops_the_producer() -> None:
    source = Source(10**9)
    ahead = ReadAhead(source, depth=1)

    def consume() -> None:
        with ahead as items:
            for _ in items:
                raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        consume()
    assert not ahead._thread.is_alive()


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        ReadAhead([], depth=0)


def test_a_producer_blocked_on_a_silent_source_is_left_behind_and_reported() -> None:
    release = threading.Event()

    def silent() -> Iterator[int]:
        release.wait(30)  # a source that does not answer (an idle stdin)
        yield 1

    ahead = ReadAhead(silent(), depth=1)
    with ahead:
        pass
    ahead.close(timeout=0.1)  # already closed on exit; a second close is harmless
    assert read_ahead.left_behind()
    release.set()
    ahead._thread.join(5)
    assert not read_ahead.left_behind()
