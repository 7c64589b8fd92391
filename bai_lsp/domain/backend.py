"""The part of the Backend.AI client the domain uses, and how its failures read to a user.

``bai_lsp.backendai.BackendAIClient`` satisfies ``Backend``; the Protocol keeps the domain's
needs explicit (docs/architecture.md, seam 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bai_lsp.domain.errors import (
    BackendError,
    BackendUnreachableError,
    CredentialsRefusedError,
    DomainError,
    NoSessionError,
)
from bai_lsp.wire.execute import BatchOptions, ExecutionResult


class ExecutionStream(Protocol):
    def __aiter__(self) -> AsyncIterator[ExecutionResult]: ...

    async def send_input(self, text: str) -> None: ...


class Backend(Protocol):
    async def get_or_create(
        self, spec: Any, on_status: Callable[[str], None] | None = None
    ) -> Any: ...

    async def session_info(self, ref: str) -> dict[str, Any]: ...

    async def destroy(self, ref: str, *, forced: bool = False) -> dict[str, Any]: ...

    async def restart(self, ref: str) -> None: ...

    async def interrupt(self, ref: str) -> None: ...

    async def list_sessions(self, *, status: str | None = None, limit: int = 20) -> Any: ...

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None: ...

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


def _client_module(name: str) -> Any:
    """The client package's modules, imported lazily (the LSP starts without aiohttp work)."""
    import importlib

    return importlib.import_module(f"bai_lsp.backendai{'.' + name if name else ''}")


def is_not_found(exc: BaseException) -> bool:
    errors = _client_module("errors")
    return isinstance(exc, errors.NotFoundError)


def translate(exc: BaseException, endpoint: str) -> DomainError:
    """A client failure as the sentence the user reads (never the secret, never a trace)."""
    if isinstance(exc, DomainError):
        return exc
    errors = _client_module("errors")

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
