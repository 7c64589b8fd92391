"""A stdout that never blocks the event loop.

pygls writes every message with a blocking ``write`` + ``flush`` on the loop thread, so an
editor that reads slowly would stall every workspace, every WebSocket read and every
request. Messages are instead handed to one writer thread in order (so responses and
notifications keep their relative order); the loop only enqueues. The volume is bounded
upstream: output is coalesced to at most 60 notifications a second per run.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import BinaryIO

log = logging.getLogger(__name__)


class ThreadedStdout:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._broken = False
        self._thread = threading.Thread(target=self._pump, name="lsp-stdout", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        if not self._broken:
            self._queue.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Writes are flushed by the writer thread; nothing to do here."""

    def close(self) -> None:
        """Send what is queued (e.g. the ``shutdown`` answer), then close."""
        self._queue.put(None)
        self._thread.join(10)
        with contextlib.suppress(OSError):
            self._raw.close()

    def _pump(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._broken:
                continue
            try:
                self._raw.write(item)
                self._raw.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._broken = True  # the editor went away; drop the rest quietly
                log.info("stdout closed by the client")
