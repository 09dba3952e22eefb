"""Run an iterator in a background thread, a bounded number of items ahead of its consumer.

``bcml predict`` reads and parses the next block of input (pyarrow, which releases the GIL)
while the main thread loads the model, scores and writes the previous one, so both cores
work. The queue is bounded, so memory stays flat: at most ``depth`` items wait, plus the one
being produced. An exception in the producer is raised in the consumer, at the position of the
item it replaced; leaving the ``with`` block (also on an error or a signal) stops the producer
and waits for it, so the source can be closed safely afterwards.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds a blocked producer waits before it checks again whether it should stop.
_POLL = 0.05
THREAD_NAME = "bcml-read-ahead"


def left_behind() -> bool:
    """Whether a producer is still running after its ``ReadAhead`` was closed: one blocked on
    a source that never answered (an idle stdin). The CLI then exits without the
    interpreter's teardown, which could otherwise wait on, or abort over, that thread."""
    return any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _Done:
    pass


_DONE = _Done()


class ReadAhead(Generic[T]):
    """``with ReadAhead(source, depth) as items: for item in items: ...``"""

    def __init__(self, source: Iterable[T], depth: int = 2) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._source = source
        self._queue: queue.Queue[T | _Failed | _Done] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=THREAD_NAME, daemon=True)
        self._finished = False

    def _put(self, item: T | _Failed | _Done) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:
            self._put(_Failed(exc))
            return
        self._put(_DONE)

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[T]:
        while not self._finished:
            item = self._queue.get()
            if isinstance(item, _Done):
                self._finished = True
                return
            if isinstance(item, _Failed):
                self._finished = True
                raise item.error
            yield item

    def close(self, timeout: float = 2.0) -> None:
        """Stop the producer (after the item it is working on) and wait for it.

        A producer blocked on a source that never answers (a silent stdin) is left behind
        after ``timeout`` seconds: it is a daemon thread and ends with the process.
        """
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=_POLL)

    def __exit__(self, *exc: object) -> None:
        self.close()
