"""What the race tests share: a barrier crossed once per process."""

from __future__ import annotations

import threading


class OncePerProcess:
    """One thread per process meets the other processes at the shared barrier."""

    def __init__(self, barrier) -> None:
        self.barrier = barrier
        self.lock = threading.Lock()
        self.done = threading.Event()

    def wait(self, timeout: float) -> None:
        with self.lock:
            if not self.done.is_set():
                self.barrier.wait(timeout)
                self.done.set()
