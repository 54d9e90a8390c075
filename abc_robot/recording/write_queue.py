"""WriteQueue: one thread that runs a recorder's writes (encode, append, close) in order.

The recorder's loop aligns rows on the tick clock and hands the writing here, so its
heartbeat never waits for the encoder: however long a frame takes to encode (a slow
preset, a starved machine), the loop keeps taking messages in and reporting. The
H.264 encoder (PyAV), OpenCV's resize and the file writes release the GIL, so the loop
runs while a frame encodes.

Jobs run one at a time, strictly in the order they were submitted: an episode's rows
land in order, its close comes after its last row, and episodes close in the order
they ended. Nothing is dropped: the queue is unbounded, and how far it runs behind is
reported (:attr:`pending`, :attr:`max_pending`). A job that raises does not stop the
queue; its error is kept in :attr:`error` (jobs that must react to their own failure
catch it themselves, see :class:`~abc_robot.recording.session.EpisodeSession`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WriteQueue"]


class WriteQueue:
    """A FIFO of callables run by one background thread.

    Args:
        name: the thread's name (shows in stack dumps).
    """

    def __init__(self, name: str = "writes") -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self.submitted = 0
        self.done = 0
        #: Most jobs waiting at once since the start.
        self.max_pending = 0
        #: The last error a job let escape (None: none did).
        self.error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished yet (the one running included)."""
        return self.submitted - self.done

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` after every job submitted before it."""
        if self._closed:
            raise RuntimeError("WriteQueue is closed")
        with self._cond:
            self.submitted += 1
            self.max_pending = max(self.max_pending, self.submitted - self.done)
        self._jobs.put((fn, args))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every job submitted so far has run; False on timeout [s]."""
        with self._cond:
            target = self.submitted
            return self._cond.wait_for(lambda: self.done >= target, timeout_s)

    def close(self, timeout_s: float | None = None) -> bool:
        """Run what is queued, then end the thread; False if it is still running after ``timeout_s``."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except Exception as exc:  # kept, never fatal to the queue: later jobs still run
                self.error = f"{getattr(fn, '__qualname__', fn)}: {type(exc).__name__}: {exc}"
            finally:
                with self._cond:
                    self.done += 1
                    self._cond.notify_all()
