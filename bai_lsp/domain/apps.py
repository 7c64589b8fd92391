"""Container apps of a workspace's session, reachable from this machine.

A session lists its service ports (the image's, and the ``apps`` setting's ports, which
are opened as Backend.AI preopen ports when the session is created). Opening one starts a
loopback listener (``127.0.0.1``, a free port); every connection to it gets its own
WebSocket tunnel through the manager's app proxy stream (``/stream/session/{ref}/tcpproxy``),
as ``backend.ai app`` does. The same path serves a cluster and the embedded gateway. A
forward lives until the server exits or the session ends; opening the same app again
returns the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import attrs

from bai_lsp.domain.backend import Backend, is_not_found, translate
from bai_lsp.domain.errors import DomainError
from bai_lsp.domain.settings import Settings
from bai_lsp.domain.workspaces import ComputeSession, Workspaces

log = logging.getLogger(__name__)

CHUNK = 65536


class UnknownAppError(DomainError):
    kind = "unknownApp"


@attrs.frozen
class AppInfo:
    """One service port of the session."""

    name: str
    protocol: str
    ports: list[int]


@attrs.frozen
class AppList:
    """What ``backendai.session.apps`` answers."""

    session_name: str
    apps: list[AppInfo]


@attrs.frozen
class OpenedApp:
    """What ``backendai.session.openApp`` answers: a local URL that reaches the app."""

    url: str
    app: str
    local_port: int
    session_name: str


@attrs.define(eq=False)
class _Forward:
    server: asyncio.Server
    session: ComputeSession
    ref: str
    app: str
    url: str
    port: int
    tasks: set[asyncio.Task[None]] = attrs.field(factory=set)


def _ports(item: dict[str, Any]) -> list[int]:
    raw = item.get("ports", item.get("container_ports")) or []
    return [p for p in raw if isinstance(p, int) and not isinstance(p, bool)]


class Apps:
    """The local forwards of one server, by (session name, app)."""

    def __init__(self, workspaces: Workspaces) -> None:
        self._workspaces = workspaces
        self._forwards: dict[tuple[str, str], _Forward] = {}

    async def _raw(
        self, session: ComputeSession, settings: Settings
    ) -> tuple[Backend, str, list[dict[str, Any]]]:
        conn = await self._workspaces.connection(settings)
        for attempt in (1, 2):
            client, ref = await self._workspaces.ensure(session, settings)
            try:
                return client, ref, await client.list_apps(ref)
            except Exception as exc:
                if attempt == 1 and is_not_found(exc):
                    await self._workspaces.lost(session, settings)
                    continue
                raise translate(exc, conn.endpoint) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _named(settings: Settings, raw: list[dict[str, Any]]) -> list[tuple[AppInfo, str]]:
        """(what the user sees, the backend's app name): preopen ports get the user's name."""
        declared = {app.port: app for app in settings.apps}
        out: list[tuple[AppInfo, str]] = []
        for item in raw:
            name, protocol, ports = (
                str(item.get("name", "")),
                str(item.get("protocol", "")),
                _ports(item),
            )
            if not name:
                continue
            mine = declared.get(ports[0]) if protocol == "preopen" and ports else None
            if mine is not None:
                out.append((AppInfo(mine.name, mine.protocol, ports), name))
            else:
                out.append((AppInfo(name, protocol, ports), name))
        return out

    async def list(self, session: ComputeSession, settings: Settings) -> AppList:
        _, _, raw = await self._raw(session, settings)
        return AppList(session.name, [info for info, _ in self._named(settings, raw)])

    async def open(self, session: ComputeSession, settings: Settings, app: str) -> OpenedApp:
        client, ref, raw = await self._raw(session, settings)
        named = self._named(settings, raw)
        match = next(((i, b) for i, b in named if i.name == app), None)
        if match is None:
            offered = ", ".join(i.name for i, _ in named) or "none"
            raise UnknownAppError(
                f"Session {session.name} offers no app named {app!r} (offered: {offered}). "
                "Declare a port in the 'apps' setting (e.g. "
                '[{"name": "web", "port": 8000}]) and restart the session to add one.'
            )
        info, backend_name = match
        key = (session.name, info.name)
        forward = self._forwards.get(key)
        if forward is not None and forward.ref == ref and forward.server.is_serving():
            return OpenedApp(forward.url, info.name, forward.port, session.name)
        if forward is not None:
            await self._stop(forward)
        forward = await self._start(client, session, ref, info, backend_name)
        self._forwards[key] = forward
        return OpenedApp(forward.url, info.name, forward.port, session.name)

    async def _start(
        self, client: Backend, session: ComputeSession, ref: str, info: AppInfo, backend_name: str
    ) -> _Forward:
        holder: dict[str, _Forward] = {}

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            forward = holder["forward"]
            if task is not None:
                forward.tasks.add(task)
            try:
                await self._tunnel(client, ref, backend_name, reader, writer)
            finally:
                if task is not None:
                    forward.tasks.discard(task)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        scheme = "tcp" if info.protocol == "tcp" else "http"
        url = f"{scheme}://127.0.0.1:{port}/" if scheme == "http" else f"tcp://127.0.0.1:{port}"
        holder["forward"] = _Forward(server, session, ref, info.name, url, port)
        log.info("app %s of %s forwarded at %s", info.name, session.name, url)
        return holder["forward"]

    async def _tunnel(
        self,
        client: Backend,
        ref: str,
        app: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """One local connection ⇄ one WebSocket through the app proxy."""
        try:
            tunnel = await client.open_app_tunnel(ref, app)
        except Exception as exc:
            log.info("app %s: cannot open a tunnel: %s", app, exc)
            writer.close()
            return

        async def up() -> None:
            while chunk := await reader.read(CHUNK):
                await tunnel.send(chunk)
            await tunnel.close()

        sender = asyncio.ensure_future(up())
        try:
            async for data in tunnel:
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("app %s: tunnel ended: %s", app, exc)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            with contextlib.suppress(Exception):
                await tunnel.close()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _stop(self, forward: _Forward) -> None:
        forward.server.close()
        for task in list(forward.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await forward.server.wait_closed()

    async def close_all(self) -> None:
        for forward in list(self._forwards.values()):
            await self._stop(forward)
        self._forwards.clear()
