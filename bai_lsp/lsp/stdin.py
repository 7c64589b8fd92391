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
"""

from __future__ import annotations

import logging
import re
from typing import BinaryIO

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
        cut = line.find(HEADER, 1)
        if cut > 0:
            line, self._pending = line[:cut], line[cut:]
            return line
        match = _LENGTH.match(line)
        if match and int(match.group(1)) > MAX_MESSAGE_BYTES:
            log.error(
                "refused a message of %s bytes (more than %d): skipping to the next header",
                match.group(1).decode(),
                MAX_MESSAGE_BYTES,
            )
            return REFUSED_LINE
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
