"""Threads that can be waited for through Ctrl-C.

Python 3.11's Thread.join is not safe to interrupt: a KeyboardInterrupt raised while the main thread
waits in join() can leave the thread marked as stopped while it still runs, so a second join() returns
at once (tests/test_faults.py shows it). A run that then exits kills its workers mid-write: their partial
outputs stay, and a C++ library still working in one aborts the process ("terminate called without an
active exception", exit 134). So every thread here sets an Event when it ends, and waiting is done on that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


class Worker(threading.Thread):
    """A daemon thread with a `finished` Event set however it ends."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.target = target
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self.target()
        finally:
            self.finished.set()


def wait_all(workers: Iterable[Worker], on_interrupt: Callable[[KeyboardInterrupt], None]) -> bool:
    """Wait until every worker has ended, even through Ctrl-C: each KeyboardInterrupt goes to
    `on_interrupt` (which should tell the workers to stop) and the waiting goes on. True if interrupted."""
    interrupted = False
    for w in workers:
        while True:
            try:
                if w.finished.wait(0.2):
                    break
            except KeyboardInterrupt as e:
                interrupted = True
                on_interrupt(e)
    return interrupted
