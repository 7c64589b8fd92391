"""Our own typed async Backend.AI client (aiohttp), wire-compatible with the SDK 23.9.10.

See docs/client.md for the configuration, the operations and how each maps onto the wire,
and docs/architecture.md (seam 2) for how the domain uses it. No pygls here.
"""

from bai_lsp.backendai.client import BackendAIClient
from bai_lsp.backendai.config import APIConfig
from bai_lsp.backendai.errors import (
    AlreadyExistsError,
    AuthenticationError,
    BackendAIError,
    BackendAPIError,
    BackendRedirectError,
    BackendUnreachableError,
    BadRequestError,
    ClockSkewError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    QuotaError,
    ServerError,
    SessionPendingError,
    SessionStartError,
)
from bai_lsp.backendai.streams import ExecutionStream, PtyStream
from bai_lsp.backendai.types import (
    FileEntry,
    SessionEvent,
    SessionPage,
    SessionRef,
    SessionSpec,
    SessionStatus,
)

__all__ = [
    "APIConfig",
    "AlreadyExistsError",
    "AuthenticationError",
    "BackendAIClient",
    "BackendAIError",
    "BackendAPIError",
    "BackendRedirectError",
    "BackendUnreachableError",
    "BadRequestError",
    "ClockSkewError",
    "ConfigError",
    "ExecutionStream",
    "FileEntry",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "PtyStream",
    "QuotaError",
    "ServerError",
    "SessionEvent",
    "SessionPage",
    "SessionPendingError",
    "SessionRef",
    "SessionSpec",
    "SessionStartError",
    "SessionStatus",
]
