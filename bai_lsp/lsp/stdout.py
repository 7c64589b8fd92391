"""A stdout that never blocks the event loop.

pygls writes every message with a blocking ``write`` + ``flush`` on the loop thread, so an
editor that reads slowly would stall every workspace, every WebSocket read and every
request. Here the pipe is non-blocking: a message is written at once when the pipe has
room (the common case: no thread hop, no added latency), and whatever does not fit waits
in a buffer that the event loop drains when the pipe becomes writable, in order. The
volume is bounded upstream: output is coalesced to at most 60 notifications a second per
run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import stat
import threading
from typing import BinaryIO

log = logging.getLogger(__name__)


class NonBlockingStdout:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._fd = raw.fileno()
        os.set_blocking(self._fd, False)
        _widen_pipe(self._fd)
        self._pending = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        self._broken = False

    def write(self, data: bytes) -> int:
        if self._broken:
            return len(data)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or threading.get_ident() != self._thread:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.write, bytes(data))
            else:
                self._write_blocking(bytes(data))
            return len(data)
        self._loop = loop
        if self._pending:
            self._pending += data
            return len(data)
        written = self._try_write(data)
        if written < len(data) and not self._broken:
            self._pending += data[written:]
            loop.add_writer(self._fd, self._drain)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: writes go straight to the pipe or to the drain buffer."""

    def close(self) -> None:
        """Send what is still buffered (e.g. the ``shutdown`` answer), then close."""
        if self._loop is not None and self._pending:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
        pending, self._pending = bytes(self._pending), bytearray()
        if pending and not self._broken:
            self._write_blocking(pending)
        with contextlib.suppress(OSError):
            self._raw.close()

    def _try_write(self, data: bytes | bytearray) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError:
            self._gone()
            return 0

    def _drain(self) -> None:
        written = self._try_write(self._pending)
        del self._pending[:written]
        if (not self._pending or self._broken) and self._loop is not None:
            self._loop.remove_writer(self._fd)

    def _write_blocking(self, data: bytes) -> None:
        try:
            os.set_blocking(self._fd, True)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            self._gone()
        finally:
            with contextlib.suppress(OSError):
                os.set_blocking(self._fd, False)

    def _gone(self) -> None:
        if not self._broken:
            self._broken = True  # the editor went away; drop the rest quietly
            self._pending.clear()
            log.info("stdout closed by the client")


#: ``F_SETPIPE_SZ`` (Linux): the pipe's capacity. The default 64 KiB is a quarter of one
#: full output notification, so a big write took a dozen wake-ups of writer and reader.
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1024 * 1024


def _widen_pipe(fd: int) -> None:
    """Give the LSP pipe room for several notifications (best effort: the limit is
    ``/proc/sys/fs/pipe-max-size``, 1 MiB by default; not a pipe or not Linux: unchanged)."""
    with contextlib.suppress(OSError, ValueError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)


class ThreadedStdout:
    """The fallback when stdout is not a pipe of its own: one writer thread, in order."""

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


def make_stdout(raw: BinaryIO) -> NonBlockingStdout | ThreadedStdout:
    """Non-blocking writes when stdout is a pipe of its own; a writer thread otherwise (a
    terminal or socket may share its file description with stdin, which must stay
    blocking for pygls' reader)."""
    try:
        out = os.fstat(raw.fileno())
    except (OSError, ValueError):
        return ThreadedStdout(raw)
    if stat.S_ISFIFO(out.st_mode):
        return NonBlockingStdout(raw)
    return ThreadedStdout(raw)
