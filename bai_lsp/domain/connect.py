"""``connect(settings) -> Backend``: our Backend.AI client behind the domain's ``Backend``.

``Connector`` is the factory the composition root (``compose.py``) injects into
``Workspaces``: for the embedded default it starts (or reuses) the loopback gateway first.
``ClientBackend`` adapts ``BackendAIClient`` to the protocol: domain-shaped arguments in,
domain-shaped answers out (a session ref, plain dicts, byte tunnels), so nothing in the
domain reaches around the seam.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp

from bai_lsp.backendai import APIConfig, BackendAIClient, SessionSpec
from bai_lsp.backendai import streams as client_streams
from bai_lsp.backendai.dialect import RestartUnsupportedError as ClientRestartUnsupported
from bai_lsp.backendai.launcher import LauncherCalls
from bai_lsp.domain.backend import (
    AppTunnel,
    Backend,
    Completions,
    ExecutionStream,
    LaunchCalls,
    PtyStream,
    RestartUnsupportedError,
    SessionRequest,
)
from bai_lsp.domain.embedded import GatewayHandle, start_gateway, stop_gateway
from bai_lsp.domain.settings import Settings
from bai_lsp.wire.execute import BatchOptions, ExecutionResult


class _Pty:
    """The client's pty stream with the close code the domain explains to the user."""

    def __init__(self, stream: client_streams.PtyStream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def resize(self, rows: int, cols: int) -> None:
        await self._stream.resize(rows, cols)

    async def close(self) -> None:
        await self._stream.close()

    @property
    def close_code(self) -> int | None:
        try:
            return self._stream.ws.close_code
        except Exception:
            return None


class _Tunnel:
    """One app-proxy WebSocket as a byte tunnel (text frames are passed on as UTF-8)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                yield msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:
                yield str(msg.data).encode()

    async def send(self, data: bytes) -> None:
        await self._ws.send_bytes(data)

    async def close(self) -> None:
        await self._ws.close()


class ClientBackend:
    """``Backend`` over an open ``BackendAIClient`` (and the gateway it talks to, if ours)."""

    def __init__(
        self, client: BackendAIClient, endpoint: str, gateway: GatewayHandle | None = None
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self.gateway = gateway

    @property
    def endpoint(self) -> str:
        """As configured (a run log entry and the user's messages name it this way)."""
        return self._endpoint

    @property
    def access_key(self) -> str:
        return self._client.config.access_key or ""

    @property
    def api_version(self) -> str:
        return self._client.api_version

    async def close(self) -> None:
        try:
            await self._client.close()
        finally:
            if self.gateway is not None and not self.gateway.shared:
                await stop_gateway(self.gateway)

    async def get_or_create(
        self, request: SessionRequest, on_status: Callable[[str], None] | None = None
    ) -> str:
        spec = SessionSpec(
            image=request.image,
            name=request.name,
            resources=dict(request.resources),
            mounts=list(request.mounts),
            environ=dict(request.environ),
            preopen_ports=list(request.preopen_ports) or None,
            domain=request.domain,
            group=request.group,
            scaling_group=request.scaling_group,
            cluster_size=request.cluster_size,
        )
        ref = await self._client.get_or_create(spec, on_status=on_status)
        return str(ref.id or ref.name or request.name)

    async def session_info(self, ref: str) -> dict[str, Any]:
        return await self._client.session_info(ref)

    async def destroy(self, ref: str, *, forced: bool = False) -> dict[str, Any]:
        return await self._client.destroy(ref, forced=forced)

    async def restart(self, ref: str) -> None:
        try:
            await self._client.restart(ref)
        except ClientRestartUnsupported as exc:
            raise RestartUnsupportedError(str(exc)) from exc

    async def interrupt(self, ref: str) -> None:
        await self._client.interrupt(ref)

    async def list_sessions(
        self, *, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        page = await self._client.list_sessions(status=status, limit=limit)
        return list(page.items)

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None:
        await self._client.upload(ref, files)

    async def execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str = "",
        run_id: str | None = None,
        options: BatchOptions | None = None,
        ack: int | None = None,
    ) -> ExecutionResult:
        return await self._client.execute(
            ref, mode=mode, code=code, run_id=run_id, options=options, ack=ack
        )

    def stream_execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> AbstractAsyncContextManager[ExecutionStream]:
        return self._client.stream_execute(
            ref, mode=mode, code=code, options=options, run_id=run_id, resumable=resumable
        )

    async def open_pty(self, ref: str) -> PtyStream:
        stream = self._client.stream_pty(ref)
        await stream.__aenter__()
        return _Pty(stream)

    async def list_apps(self, ref: str) -> list[dict[str, Any]]:
        return await self._client.list_apps(ref)

    async def open_app_tunnel(self, ref: str, app: str) -> AppTunnel:
        return _Tunnel(await self._client.app_socket(ref, app))

    async def completions(
        self, ref: str, code: str, options: dict[str, Any] | None = None
    ) -> Completions:
        answer = await self._client.completions(ref, code, options)
        return Completions(list(answer.matches), answer.busy)

    def launcher(self) -> LaunchCalls:
        return LauncherCalls(self._client)


class Connector:
    """``connect(settings) -> Backend``: the configured endpoint, or the embedded gateway
    (started, or a shared one reused) under ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir

    async def __call__(self, settings: Settings) -> Backend:
        gateway: GatewayHandle | None = None
        if settings.embedded:
            gateway = await start_gateway(self._state_dir, shared=settings.on_exit == "keep")
            endpoint, access_key, secret_key = (
                gateway.endpoint,
                gateway.access_key,
                gateway.secret_key,
            )
            endpoint_type = "api"
        else:
            endpoint = settings.endpoint or ""
            access_key, secret_key = settings.access_key or "", settings.secret_key or ""
            endpoint_type = settings.endpoint_type
        config = APIConfig(
            endpoint=endpoint,
            endpoint_type=endpoint_type,
            access_key=access_key,
            secret_key=secret_key,
            domain=settings.domain,
            group=settings.group,
            vfolder_mounts=(),  # settings.mounts already holds BACKEND_VFOLDER_MOUNTS
        )
        client = BackendAIClient(config)
        await client.__aenter__()
        return ClientBackend(client, endpoint, gateway)
