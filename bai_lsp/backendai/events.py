"""Server-sent events (``GET /events/session``, §5.3) with the SDK's reconnect behaviour.

The manager's session stream never ends by itself; when the connection drops (EOF) the
client reconnects after ``retry`` (the server's, or the configured delay) with a freshly
signed request, so a long watch survives the ±15 minute signature window. An event named
``server_close`` ends the iteration, as in the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import aiohttp
import attrs

from bai_lsp.backendai.errors import BackendUnreachableError
from bai_lsp.backendai.transport import Transport
from bai_lsp.backendai.types import SessionEvent

log = logging.getLogger(__name__)


@attrs.define
class SSEMessage:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: float | None = None


class SSEParser:
    """Incremental ``text/event-stream`` parser (LF, CRLF or CR line endings)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: float | None = None
        self._buffer = ""

    def feed(self, chunk: str) -> list[SSEMessage]:
        self._buffer += chunk
        out: list[SSEMessage] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return out
            end, after = cut
            line, self._buffer = self._buffer[:end], self._buffer[after:]
            message = self._line(line)
            if message is not None:
                out.append(message)

    def _line(self, line: str) -> SSEMessage | None:
        if not line:
            if not self._data and not self._event:
                return None
            message = SSEMessage(
                self._event or "message", "\n".join(self._data), self._id, self._retry
            )
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            self._id = value
        elif field == "retry":
            with contextlib.suppress(ValueError):
                self._retry = int(value) / 1000
        return None


def _line_end(text: str) -> tuple[int, int] | None:
    for i, char in enumerate(text):
        if char == "\n":
            return i, i + 1
        if char == "\r":
            if i + 1 == len(text):
                return None  # a "\n" may follow in the next chunk
            return i, i + (2 if text[i + 1] == "\n" else 1)
    return None


async def stream_events(
    transport: Transport, path: str, params: Mapping[str, str]
) -> AsyncIterator[SSEMessage]:
    """Every message of an SSE endpoint, reconnecting on EOF and on dropped connections."""
    config = transport.config
    failures = 0
    retry = config.sse_reconnect_delay
    while True:
        try:
            response = await transport.open_stream(path, params)
        except BackendUnreachableError:
            failures += 1
            if failures > config.max_retries:
                raise
            await asyncio.sleep(retry)
            continue
        failures = 0
        parser = SSEParser()
        try:
            async for chunk in response.content.iter_any():
                for message in parser.feed(chunk.decode("utf-8", "replace")):
                    if message.retry is not None:
                        retry = message.retry
                    if message.event == "server_close":
                        return
                    yield message
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("the event stream %s broke (%s); reconnecting", path, exc)
        finally:
            response.release()
        log.debug("the event stream %s ended; reconnecting in %.1f s", path, retry)
        await asyncio.sleep(retry)


async def session_events(
    transport: Transport,
    name: str = "*",
    *,
    session_id: str | None = None,
    group: str = "*",
    scope: str = "*",
) -> AsyncIterator[SessionEvent]:
    """Lifecycle events of one session (by name or id) or of all the caller's (``*``)."""
    # The SDK's listen_events(): the id when known, else the name; then the scope.
    params: dict[str, str] = {}
    if session_id:
        params["sessionId"] = session_id
    else:
        params["sessionName"] = name
    if group != "*":
        params["group"] = group
    params["scope"] = scope
    async for message in stream_events(transport, "/events/session", params):
        yield SessionEvent.from_sse(message.event, message.data)
