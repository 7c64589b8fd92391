"""The LSP channel's input side, hardened against frames pygls would die on.

pygls reads ``Content-Length`` bytes in one ``read(n)``: a header announcing a terabyte
makes Python allocate it and the server dies with ``MemoryError`` (a crash the editor sees
as "server exited"). A wrong header also leaves pygls out of step for good when the next
``Content-Length:`` does not start a line. This wrapper sits between stdin and pygls:

* a ``Content-Length`` above :data:`MAX_MESSAGE_BYTES` is refused (logged, header dropped),
  so the stream resynchronises on the next header instead of waiting for the impossible;
* a ``Content-Length:`` in the middle of a line starts a new line, so junk before a header
  never swallows the message after it;
* header lines are read in bounded pieces and bodies in chunks.

:class:`AsyncGuardedStdin` reads the same way on the event loop (a pipe or socket through
``connect_read_pipe``): pygls' own reader hands every ``readline``/``read`` to a worker
thread, three thread hand-offs per message, about 1 ms of each run's first output at p50
on this machine (docs/performance.md §14). :class:`GuardedStdin` stays for input the
event loop cannot watch (a regular file).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pygls.server import JsonRPCServer

log = logging.getLogger(__name__)

#: Far above any real LSP message (the largest are whole documents), far below RAM.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
HEADER = b"Content-Length:"
_LENGTH = re.compile(rb"^Content-Length:\s*(\d+)\s*$", re.IGNORECASE)
REFUSED_LINE = b"X-Bai-Lsp-Refused: oversized\r\n"


class GuardedStdin:
    """``readline``/``read`` as pygls' ``StdinAsyncReader`` calls them (in a worker thread)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._pending = b""

    def readline(self) -> bytes:
        if self._pending:
            line, self._pending = self._pending, b""
            if not line.endswith(b"\n"):
                line += self.raw.readline(MAX_LINE_BYTES)
        else:
            line = self.raw.readline(MAX_LINE_BYTES)
        line, self._pending = _guard(line)
        return line

    def read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        left = size
        if self._pending and left > 0:
            chunk, self._pending = self._pending[:left], self._pending[left:]
            chunks.append(chunk)
            left -= len(chunk)
        while left > 0:
            chunk = self.raw.read(min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _guard(line: bytes) -> tuple[bytes, bytes]:
    """``(line to hand pygls, rest kept for the next readline)``."""
    cut = line.find(HEADER, 1)
    if cut > 0:
        return line[:cut], line[cut:]
    match = _LENGTH.match(line)
    if match and int(match.group(1)) > MAX_MESSAGE_BYTES:
        log.error(
            "refused a message of %s bytes (more than %d): skipping to the next header",
            match.group(1).decode(),
            MAX_MESSAGE_BYTES,
        )
        return REFUSED_LINE, b""
    return line, b""


class AsyncGuardedStdin:
    """pygls' ``AsyncReader`` (``readline``/``readexactly``) on the event loop, guarded as
    :class:`GuardedStdin`."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._pending = b""

    @classmethod
    async def open(cls, raw: BinaryIO) -> AsyncGuardedStdin:
        """Watch ``raw`` on the running loop; ``ValueError``/``OSError`` if it cannot be
        watched (a regular file)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), raw)
        return cls(reader)

    async def readline(self) -> bytes:
        if self._pending:
            line, self._pending = self._pending, b""
            if not line.endswith(b"\n"):
                line += await self._bounded_line()
        else:
            line = await self._bounded_line()
        line, self._pending = _guard(line)
        return line

    async def _bounded_line(self) -> bytes:
        """Up to and including the next newline, or a piece of at most ``MAX_LINE_BYTES``
        without one (as ``readline(MAX_LINE_BYTES)``), or what is left at the end."""
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            return end.partial
        except asyncio.LimitOverrunError:
            # No newline within the limit: the data stays buffered; hand over one piece.
            return await self._reader.readexactly(MAX_LINE_BYTES)

    async def readexactly(self, n: int) -> bytes:
        head = b""
        if self._pending and n > 0:
            head, self._pending = self._pending[:n], self._pending[n:]
            n -= len(head)
        if n <= 0:
            return head
        try:
            return head + await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as end:
            return head + end.partial


class _ThreadedStdin:
    """The fallback: :class:`GuardedStdin`'s blocking calls in a worker thread."""

    def __init__(self, raw: BinaryIO, executor: ThreadPoolExecutor) -> None:
        self._guarded = GuardedStdin(raw)
        self._executor = executor

    def readline(self) -> Awaitable[bytes]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._guarded.readline)

    def readexactly(self, n: int) -> Awaitable[bytes]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._guarded.read, n)


def serve_stdio(server: JsonRPCServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """pygls' ``start_io`` with the input read on the event loop (see the module's doc)."""
    from pygls.io_ import StdoutWriter, run_async

    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout))

    async def serve() -> None:
        try:
            reader: AsyncGuardedStdin | _ThreadedStdin = await AsyncGuardedStdin.open(stdin)
        except (ValueError, OSError) as exc:
            log.info("reading the LSP channel in a thread (%s)", exc)
            reader = _ThreadedStdin(stdin, server.thread_pool)
        await run_async(
            stop_event=stop,
            reader=reader,
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )

    try:
        asyncio.run(serve())
    except BrokenPipeError:
        log.error("the connection to the editor is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
