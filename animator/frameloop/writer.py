"""The frame loop's writer: PNG frames and the MP4 written beside the render, in a thread.

The frame loop (:mod:`.scheduler`) hands each finished frame, already 8-bit and on the host, to
:class:`BackgroundWriter`; its thread writes it (the PNG frame, published by rename, then the
MP4's pipe) while the loop renders the next frame. Encoding a 512 px PNG and pushing it down
ffmpeg's pipe release the GIL, so they run while the network runs.

- **Order**: frames are written one at a time, in the order they were given: the frames on disk
  stay a run 0 .. k-1, what a resume continues from.
- **Bounded**: at most ``depth`` frames wait; a writer slower than the render holds the render
  back instead of piling frames up in memory.
- **Errors**: the thread's first exception (a full disk, ffmpeg gone) is raised in the loop's own
  thread at its next :meth:`put` or at :meth:`close`; nothing after the failed frame is written,
  so the frames kept are those on disk.
- **Stopping**: :meth:`close` writes what waits; :meth:`drain` too, when the loop failed (its
  error, not the thread's, goes up); :meth:`abort` (Ctrl-C) drops the frames still waiting and
  returns once the frame being written is done. After any of them the thread has ended, and only
  then may the caller touch the MP4 writer again.
"""
from __future__ import annotations

import collections
import queue
import threading
from typing import Callable

_END = object()


class BackgroundWriter:
    """``write(*item)`` called in a thread for every :meth:`put` item, in order."""

    def __init__(self, write: Callable[..., None], depth: int = 2):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name="dreamreel-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None or self._dropping:
                continue  # after a failure or an abort: the rest is dropped, in order
            try:
                self._write(*item)
            except BaseException as e:  # raised again in the caller's thread
                self._error = e

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, *item) -> None:
        """Queue one item (waits while ``depth`` items wait); first raises the thread's error, if any."""
        self._check()
        self._queue.put(item)

    def close(self) -> None:
        """Write what is queued and stop; raises the thread's error, if any."""
        self._check()
        self._queue.put(_END)
        self._thread.join()
        self._check()

    def drain(self) -> None:
        """Write what is queued and stop, without raising the thread's error: for when the loop
        itself failed (memory ran out, a clip ended badly) and its own error is on its way up, so
        every finished frame is kept. A Ctrl-C while waiting stops the waiting (then :meth:`abort`)."""
        try:
            self._queue.put(_END)
            self._thread.join()
        except KeyboardInterrupt:
            pass

    def abort(self) -> None:
        """Drop what is queued, wait for the frame being written, stop. Never raises."""
        self._dropping = True
        while self._thread.is_alive():
            try:
                self._queue.put(_END)  # (does not block for long: the thread drops what waits)
                self._thread.join()
            except KeyboardInterrupt:  # one more Ctrl-C: the frame being written takes milliseconds
                continue


class PngWriters:
    """PNG frames compressed and published by ``threads`` threads at once (a 1080p PNG takes ~70 ms to compress:
    one thread alone caps a render at ~15 frames/s), called from the writer thread in frame order.

    With one thread each frame is written where it is handed over, as before. With more, at most
    ``2 x threads`` frames are in flight; a write's error is raised at a later :meth:`put` or at
    :meth:`finish`. Each frame is still published whole (a temporary name, then a rename); frames may
    land out of order, and :meth:`finish` / :meth:`settle` wait for all of them (a resume counts the
    frames from 0 up to the first gap, so none is lost or doubled)."""

    def __init__(self, write: Callable[[int, object], object], threads: int = 1):
        self._write = write
        self.threads = max(1, threads)
        self._pool = None
        self._pending: collections.deque = collections.deque()
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dreamreel-png")

    def put(self, t: int, png) -> None:
        if self._pool is None:
            self._write(t, png)
            return
        while self._pending and (self._pending[0].done() or len(self._pending) >= 2 * self.threads):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, t, png))

    def finish(self) -> None:
        """Wait for every frame handed over; raise the first write's error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self.settle()

    def settle(self) -> None:
        """Wait for every frame handed over, errors dropped (the render's own error is on its way); stop."""
        for f in list(self._pending):
            try:
                f.result()
            except BaseException:
                pass
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
