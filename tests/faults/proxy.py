"""A TCP fault proxy for tests: sits between a client (the language server, our client)
and a gateway, and misbehaves on command.

Modes (``FaultProxy.mode``), applied to every byte from the moment they are set:

* ``pass`` — forward both ways;
* ``blackhole`` — accept connections, forward nothing either way (a half-open peer);
* latency — ``FaultProxy.latency`` seconds added before each forwarded chunk;
* ``reset_all()`` — abort every live connection with a TCP RST (mid-stream reset);
* ``inject(status, count)`` — the next ``count`` new connections get one HTTP answer with
  that status (problem+json, ``Connection: close``) instead of reaching the gateway;
* ``retarget(port)`` — later connections go to another gateway (killed and restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from typing import Literal

Mode = Literal["pass", "blackhole"]

REASONS = {429: "Too Many Requests", 503: "Service Unavailable", 502: "Bad Gateway"}


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.mode: Mode = "pass"
        self.latency = 0.0
        self.injections: deque[int] = deque()
        self.injected = 0
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.reset_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def retarget(self, port: int) -> None:
        self.target_port = port

    def inject(self, status: int, count: int) -> None:
        self.injections.extend([status] * count)

    def reset_all(self) -> int:
        """Abort every live connection with RST; how many were cut."""
        cut = 0
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            cut += 1
        self._writers.clear()
        return cut

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.injections:
                await self._answer(reader, writer, self.injections.popleft())
                return
            while self.mode == "blackhole":
                await asyncio.sleep(0.05)  # hold the connection, read nothing
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                self._abort(writer)
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.mode == "blackhole":
                    await asyncio.sleep(0.05)
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            self._abort(writer)
        finally:
            self._writers.discard(writer)

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            writer.transport.abort()

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if length:
            await reader.readexactly(length)
        slug = "too-many-requests" if status == 429 else "service-unavailable"
        body = json.dumps(
            {
                "type": f"https://api.backend.ai/probs/{slug}",
                "title": REASONS.get(status, "Injected fault"),
                "status": status,
            }
        ).encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Fault')}\r\n"
            "Content-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 0\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        self.injected += 1
