"""The two WebSocket APIs: streaming execute (§5.1) and the terminal (§5.2).

Both are async context managers: the socket opens on ``__aenter__`` (where a refused
handshake raises the same typed error a REST call would) and closes on ``__aexit__``,
whatever happened in between, so an abandoned run is interrupted by the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType
from typing import Any

import aiohttp

from bai_lsp.backendai.errors import BackendUnreachableError, InvalidRequestError, ProtocolError
from bai_lsp.backendai.transport import Transport
from bai_lsp.wire.execute import BatchOptions, ExecutionResult

STREAM_MODES = ("query", "batch")
#: Execute streams ping after this many quiet seconds and give the pong half of it, so a
#: half-open socket is noticed within 21 s (runs often print nothing for minutes). A 5 s
#: pong window (10 s) was missed by a merely overloaded gateway (50 busy kernels on 2 cores).
EXECUTE_HEARTBEAT = 14.0


class _Socket:
    """Shared open/close of a signed WebSocket at ``path``."""

    def __init__(self, transport: Transport, path: str, heartbeat: float | None = None) -> None:
        self._transport = transport
        self._path = path
        self._heartbeat = heartbeat
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def ws(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise RuntimeError("the stream is not open; use 'async with'")
        return self._ws

    @property
    def closed(self) -> bool:
        return self._ws is None or self._ws.closed

    def _connect(self) -> Awaitable[aiohttp.ClientWebSocketResponse]:
        return self._transport.ws_connect(self._path, heartbeat=self._heartbeat)

    async def _open(self) -> None:
        self._ws = await self._connect()

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _next_text(self) -> str | None:
        """The next text frame, or ``None`` once the server closed the socket."""
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                return str(msg.data)
            if msg.type == aiohttp.WSMsgType.BINARY:
                return bytes(msg.data).decode("utf-8", "replace")
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return None
            if msg.type == aiohttp.WSMsgType.ERROR:
                raise BackendUnreachableError(self._transport.endpoint, self._why_broken())

    def _why_broken(self) -> str:
        exc = self.ws.exception()
        if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
            beat = self._heartbeat or self._transport.config.ws_heartbeat
            return (
                f"the stream got no answer to a ping within {beat / 2:g} s after {beat:g} s "
                "of silence (the connection is half-open)"
            )
        return f"the stream broke ({exc or 'connection lost'})"


class ExecutionStream(_Socket):
    """``GET /stream/session/{ref}/execute``: one run, one frame per 0.2 s poll.

    ``async for result in stream`` yields ``ExecutionResult`` and ends after ``finished``
    or when the server closes. A real manager's frames have no ``run_id`` (the socket is
    the run). With ``resumable=True`` the first frame also carries ``runId`` (``run_id``,
    32 hex characters) and ``resumable``; our gateway then numbers its frames (``run_id``
    and ``seq`` set) and keeps the run when the socket drops, so it can be followed on by
    REST ``continue`` with that runId and ``ack`` (docs/gateway.md). A backend that
    ignores the request sends frames without ``seq``: such a run cannot be resumed.
    """

    def __init__(
        self,
        transport: Transport,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> None:
        if mode not in STREAM_MODES:
            raise InvalidRequestError(
                f"Invalid streaming execution mode {mode!r}: the stream runs 'query' or "
                "'batch' (continue and input happen on the same socket)."
            )
        if resumable and not run_id:
            raise InvalidRequestError("A resumable stream needs the run_id chosen by the client.")
        super().__init__(
            transport,
            f"/stream/session/{ref}/execute",
            min(transport.config.ws_heartbeat or EXECUTE_HEARTBEAT, EXECUTE_HEARTBEAT),
        )
        self._first: dict[str, Any] = {
            "code": code,
            "mode": mode,
            "options": options.to_json() if (mode == "batch" and options) else {},
        }
        if resumable:
            self._first["runId"] = run_id
            self._first["resumable"] = True
        self._done = False
        #: The last frame said the socket takes the next run's request (``spare.py``).
        self._next = False
        #: The socket was a warm spare and no frame came on it yet (``spare.py``).
        self._warm = False
        self._answered = False

    async def __aenter__(self) -> ExecutionStream:
        spares = self._transport.spares
        self._ws = await spares.take(self._path)
        self._warm = self._ws is not None
        if self._ws is None:
            await self._open()
        try:
            await self.ws.send_str(json.dumps(self._first))
        except (ConnectionError, aiohttp.ClientConnectionError):
            if not self._warm:
                raise
            await self._reopen()  # the backend went away since (e.g. it restarted)
        return self

    async def _reopen(self) -> None:
        """A warm socket closed before answering (e.g. its session ended meanwhile): send
        the request again on a new socket, whose handshake reports what happened."""
        self._warm = False
        await self.close()
        await self._open()
        await self.ws.send_str(json.dumps(self._first))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._next and exc_type is None and self._ws is not None and not self._ws.closed:
            self._transport.spares.give_back(self._path, self._ws)  # the next run's socket
            self._ws = None
            return
        await self.close()

    def __aiter__(self) -> AsyncIterator[ExecutionResult]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[ExecutionResult]:
        while not self._done:
            try:
                text = await self._next_text()
            except BackendUnreachableError:
                if not self._warm:
                    raise
                text = None
            if text is None:
                if self._warm:
                    await self._reopen()
                    continue
                return
            self._warm = False
            try:
                body = json.loads(text)
                result = ExecutionResult.from_json(body)
            except ValueError:
                raise ProtocolError(
                    f"Backend.AI sent a stream frame that is not an execution result: "
                    f"{text[:200]!r}"
                ) from None
            if not self._answered:
                # The run's first answer is out: open the next run's socket meanwhile (only
                # for a backend that numbers its frames, i.e. our gateway; spare.py).
                self._answered = True
                spares = self._transport.spares
                spares.enabled = spares.enabled or isinstance(result.seq, int)
                spares.refill(self._path, self._connect)
            if result.status == "error":
                # The session failed or ended: its spare holds the same news, not a socket
                # the next run can use (spare.py).
                self._transport.spares.discard(self._path)
            if result.status == "finished":
                self._done = True
                self._next = body.get("next") is True
                self._transport.spares.reuse |= self._next
            yield result

    async def send_input(self, text: str) -> None:
        """Answer ``waiting-input``: one plain text frame, as the SDK's ``send_str``."""
        await self.ws.send_str(text)


class PtyStream(_Socket):
    """``GET /stream/session/{ref}/pty``: raw terminal bytes both ways (base64 in JSON)."""

    def __init__(self, transport: Transport, ref: str) -> None:
        super().__init__(transport, f"/stream/session/{ref}/pty")

    async def __aenter__(self) -> PtyStream:
        await self._open()
        return self

    async def write(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        await self._send({"type": "stdin", "chars": base64.b64encode(raw).decode("ascii")})

    async def resize(self, rows: int, cols: int) -> None:
        await self._send({"type": "resize", "rows": rows, "cols": cols})

    async def ping(self) -> None:
        await self._send({"type": "ping"})

    async def restart(self) -> None:
        await self._send({"type": "restart"})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._output()

    async def _output(self) -> AsyncIterator[bytes]:
        while True:
            text = await self._next_text()
            if text is None:
                return
            try:
                frame = json.loads(text)
                if not isinstance(frame, dict) or frame.get("type") != "out":
                    continue
                yield base64.b64decode(frame.get("data") or "")
            except ValueError:
                raise ProtocolError(
                    f"Backend.AI sent a bad terminal frame: {text[:200]!r}"
                ) from None
