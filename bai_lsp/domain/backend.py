"""The Backend.AI operations the domain uses (``Backend``), and how their failures read to a
user.

``Backend`` is everything the domain calls on a backend: sessions, one REST poll, the
WebSocket run, the pty, service ports (apps) and their tunnels, files. The one production
implementation is ``connect.ClientBackend`` over our own client; ``connect.Connector`` is the
``connect(settings) -> Backend`` factory the composition root (``compose.py``) injects. Tests
of pure domain logic put a scripted backend behind the same protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from bai_lsp.backendai import errors as client_errors
from bai_lsp.domain.errors import (
    BackendError,
    BackendUnreachableError,
    CredentialsRefusedError,
    DomainError,
    NoSessionError,
)
from bai_lsp.wire.execute import BatchOptions, ExecutionResult

if TYPE_CHECKING:
    from bai_lsp.domain.settings import Settings


@attrs.frozen
class SessionRequest:
    """What a workspace's session is created with (get-or-create by ``name``)."""

    image: str
    name: str
    resources: Mapping[str, Any] = attrs.field(factory=dict)
    mounts: Sequence[str] = ()
    environ: Mapping[str, str] = attrs.field(factory=dict)
    #: Container ports to expose as service ports (the ``apps`` setting).
    preopen_ports: Sequence[int] = ()
    domain: str | None = None
    group: str | None = None
    #: The resource group (Backend.AI's scaling group); ``None``: the manager's default.
    scaling_group: str | None = None
    cluster_size: int = 1


@attrs.frozen
class Completions:
    """What the kernel offers at a position (``busy``: not asked, a cell was running)."""

    matches: list[str]
    busy: bool = False


class RestartUnsupportedError(Exception):
    """The manager refuses to restart sessions (the newest answer 501): recreate instead."""


class ExecutionStream(Protocol):
    """An open WebSocket run: its result frames, and a way to answer an input request."""

    def __aiter__(self) -> AsyncIterator[ExecutionResult]: ...

    async def send_input(self, text: str) -> None: ...


class PtyStream(Protocol):
    """An open terminal of the session: bytes out, keystrokes and sizes in."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, rows: int, cols: int) -> None: ...

    async def close(self) -> None: ...

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code once closed (1000: the shell exited, 1001: session gone)."""
        ...


class AppTunnel(Protocol):
    """One tunnel to a service port: the TCP bytes both ways."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class LaunchCalls(Protocol):
    """What the session launcher and the vfolder browser ask of the backend."""

    async def check_presets(
        self, group: str, scaling_group: str | None = None
    ) -> dict[str, Any]: ...

    async def scaling_groups(self, group: str) -> list[str]: ...

    async def images(self) -> list[dict[str, Any]]: ...

    async def list_vfolders(self) -> list[dict[str, Any]]: ...

    async def create_vfolder(self, name: str) -> dict[str, Any]: ...

    async def vfolder_files(self, name: str, path: str = "") -> list[Any]: ...

    async def upload(
        self,
        name: str,
        path: str,
        local: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> int: ...

    async def download(
        self,
        name: str,
        path: str,
        local: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> int: ...

    async def read(self, name: str, path: str, limit: int) -> bytes: ...


class Backend(Protocol):
    """One connection to a Backend.AI endpoint for one keypair."""

    @property
    def endpoint(self) -> str:
        """The endpoint in use (named in the user's error messages)."""
        ...

    @property
    def access_key(self) -> str:
        """Whose sessions these are (a run log entry belongs to one endpoint and key)."""
        ...

    @property
    def api_version(self) -> str: ...

    async def close(self) -> None:
        """Close the connection (and stop an embedded gateway nobody else uses)."""

    async def get_or_create(
        self, request: SessionRequest, on_status: Callable[[str], None] | None = None
    ) -> str:
        """The session's ref (id or name), once it runs; ``on_status`` hears each status."""
        ...

    async def session_info(self, ref: str) -> dict[str, Any]: ...

    async def destroy(self, ref: str, *, forced: bool = False) -> dict[str, Any]: ...

    async def restart(self, ref: str) -> None:
        """Restart the kernel; ``RestartUnsupportedError`` when the manager refuses."""

    async def interrupt(self, ref: str) -> None: ...

    async def list_sessions(
        self, *, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]: ...

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None: ...

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
        """One REST poll (``query``/``batch`` first, then ``continue``/``input``)."""
        ...

    def stream_execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> AbstractAsyncContextManager[ExecutionStream]: ...

    async def open_pty(self, ref: str) -> PtyStream: ...

    async def list_apps(self, ref: str) -> list[dict[str, Any]]:
        """The service ports ``[{name, protocol, ports}]``."""
        ...

    async def open_app_tunnel(self, ref: str, app: str) -> AppTunnel: ...

    async def completions(
        self, ref: str, code: str, options: dict[str, Any] | None = None
    ) -> Completions:
        """Code completion candidates from the session's kernel (often empty)."""
        ...

    def launcher(self) -> LaunchCalls:
        """Presets, resource groups, images and vfolders of this backend."""
        ...


#: The factory the composition root injects: settings → an open backend.
Connect = Callable[["Settings"], Awaitable[Backend]]


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, client_errors.NotFoundError)


def translate(exc: BaseException, endpoint: str) -> DomainError:
    """A client failure as the sentence the user reads (never the secret, never a trace)."""
    if isinstance(exc, DomainError):
        return exc
    errors = client_errors

    # The client's user_message is already a whole sentence naming the endpoint (see
    # docs/client.md); only the editor-side setting names are added here.
    if isinstance(exc, errors.BackendUnreachableError):
        return BackendUnreachableError(
            f"{exc.user_message}. Check the endpoint setting (backendai.endpoint / "
            "BACKEND_ENDPOINT) and your network."
        )
    if isinstance(exc, errors.AuthenticationError):
        return CredentialsRefusedError(
            f"{exc.user_message} (editor settings: backendai.accessKey / backendai.secretKey)"
        )
    if isinstance(exc, errors.NotFoundError):
        return NoSessionError(exc.user_message)
    if isinstance(exc, errors.BackendAIError):
        return BackendError(exc.user_message)
    if isinstance(exc, OSError | TimeoutError):
        return BackendUnreachableError(f"Cannot reach Backend.AI at {endpoint}: {exc}.")
    return BackendError(f"Backend.AI request failed ({type(exc).__name__}).")
