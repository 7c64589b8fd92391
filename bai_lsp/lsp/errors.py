"""Domain failures → JSON-RPC errors with the stable codes of docs/protocol.md.

Anything unexpected becomes ``backendError`` with a generic sentence (the details go to the
log), so no traceback and no secret ever reaches the editor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from pygls.exceptions import JsonRpcException

from bai_lsp.domain.errors import DomainError

log = logging.getLogger(__name__)

#: kind → JSON-RPC error code (docs/protocol.md, "Errors").
CODES: dict[str, int] = {
    "invalidParams": -32602,
    "unknownDocument": -32050,
    "rangeOutOfBounds": -32051,
    "noSession": -32052,
    "backendUnreachable": -32053,
    "credentialsRefused": -32054,
    "backendError": -32055,
    "unknownRun": -32056,
    "invalidSettings": -32057,
    "unknownTerminal": -32060,
    "unknownApp": -32061,
    "sessionBusy": -32062,
    "unknownVfolder": -32063,
    "cancelled": -32800,
}


class BaiRpcError(JsonRpcException):
    """A command failure as the editor sees it: code, user message, ``data: {kind}``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(
            message=message, code=CODES.get(kind, CODES["backendError"]), data={"kind": kind}
        )


def to_rpc_error(exc: BaseException) -> JsonRpcException:
    if isinstance(exc, DomainError):
        return BaiRpcError(exc.kind, exc.message)
    log.error("unexpected failure", exc_info=exc)
    return BaiRpcError(
        "backendError",
        f"bai-lsp hit an unexpected problem ({type(exc).__name__}); details are in its log.",
    )


P = ParamSpec("P")
R = TypeVar("R")


def rpc_errors(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an async command handler so every failure leaves as a documented RPC error."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        protocol = getattr(args[0], "protocol", None) if args else None
        tasks = getattr(protocol, "command_tasks", None)
        request_id = getattr(protocol, "msg_id", None)
        task = asyncio.current_task()
        if isinstance(tasks, dict) and request_id is not None and task is not None:
            tasks[request_id] = task  # so $/cancelRequest reaches this task
        try:
            return await handler(*args, **kwargs)
        except (JsonRpcException, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise to_rpc_error(exc) from None
        finally:
            if isinstance(tasks, dict):
                tasks.pop(request_id, None)

    return wrapper
