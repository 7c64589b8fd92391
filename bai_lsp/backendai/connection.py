"""The connection every client call shares: transport, negotiated version, dialect.

The calls themselves live in modules named after what they touch (sessions, files,
execute); ``BackendAIClient`` (client.py) puts them together.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from bai_lsp.backendai import dialect
from bai_lsp.backendai.config import APIConfig
from bai_lsp.backendai.errors import InvalidRequestError, ProtocolError
from bai_lsp.backendai.transport import Transport


def check_ref(ref: str) -> str:
    """A session name or id that is safe in a URL path."""
    if not ref or "/" in ref or ref in (".", "..") or ref != ref.strip():
        raise InvalidRequestError(f"Invalid session reference {ref!r}: use the name or the id.")
    return ref


class BaseClient:
    """An open connection to one Backend.AI (manager or web server) for one user."""

    def __init__(self, config: APIConfig | None = None) -> None:
        self.config = config if config is not None else APIConfig()
        self._transport = Transport(self.config)

    async def __aenter__(self) -> Self:
        try:
            await self._transport.open()
        except BaseException:
            await self._transport.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    @property
    def api_version(self) -> str:
        """The negotiated ``X-BackendAI-Version``."""
        return self._transport.api_version

    @property
    def endpoint(self) -> str:
        """The endpoint in use (it changes when a dead endpoint is rotated away)."""
        return self._transport.endpoint

    # --- system ---------------------------------------------------------------------------

    async def versions(self) -> dict[str, str]:
        """``GET /`` (signed): ``{"version": "v7.…", "manager": "23.09.…"}``."""
        body = (await self._transport.request("GET", "/", idempotent=True)).json()
        if not isinstance(body, dict):
            raise ProtocolError(f"GET / answered {body!r} instead of the version object.")
        return {str(k): str(v) for k, v in body.items()}

    @property
    def newest(self) -> bool:
        """Whether the negotiated version gets the newest manager's dialect (v8+/v9)."""
        return dialect.is_newest(self.api_version)
