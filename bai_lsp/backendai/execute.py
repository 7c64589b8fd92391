"""Execution calls: one REST poll, the WebSocket run and pty, completion, service ports
(apps) and their tunnels, and the session events stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bai_lsp.backendai import dialect
from bai_lsp.backendai.connection import BaseClient, check_ref
from bai_lsp.backendai.errors import InvalidRequestError, ProtocolError
from bai_lsp.backendai.events import session_events
from bai_lsp.backendai.streams import ExecutionStream, PtyStream
from bai_lsp.backendai.transport import Reply
from bai_lsp.backendai.types import SessionEvent
from bai_lsp.wire.execute import BatchOptions, ExecutionResult

EXEC_MODES = ("query", "continue", "input", "batch")


class ExecuteCalls(BaseClient):
    """The execution and stream calls of ``BackendAIClient``."""

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
        """One REST poll: ``POST /session/{ref}`` with ``mode``, ``code`` and ``runId``.

        Keep the returned ``run_id`` and call again with ``mode="continue"`` (or
        ``"input"`` after ``waiting-input``) until the status is ``finished``.

        ``ack`` (our gateway's resumable-runs extension; a real manager ignores it): the
        highest ``seq`` received for this run. The gateway then numbers its answers and
        sends again whatever came after ``ack`` (an answer lost in transit), so a poll may
        simply be repeated after a network failure.
        """
        if mode not in EXEC_MODES:
            raise InvalidRequestError(
                f"Invalid execution mode {mode!r}: use one of {', '.join(EXEC_MODES)}."
            )
        if mode in ("continue", "input") and not run_id:
            raise InvalidRequestError(f"Execution mode {mode!r} needs the run_id of the run.")
        body = dialect.execute_body(self.api_version, mode, code, run_id)
        if mode == "batch":
            body["options"] = (options or BatchOptions()).to_json()
        if ack is not None:
            if isinstance(ack, bool) or not isinstance(ack, int) or ack < 0:
                raise InvalidRequestError(f"ack must be a non-negative integer, not {ack!r}.")
            body["ack"] = ack
        reply = await self._transport.request("POST", f"/session/{check_ref(ref)}", json_body=body)
        return _result_of(reply)

    async def complete(self, ref: str, code: str, options: dict[str, Any] | None = None) -> Any:
        """``POST /session/{ref}/complete``: code completion candidates (often empty)."""
        body = (
            await self._transport.request(
                "POST",
                f"/session/{check_ref(ref)}/complete",
                json_body={"code": code, "options": options or {}},
            )
        ).json()
        result = body.get("result") if isinstance(body, dict) else None
        return result.get("completions", []) if isinstance(result, dict) else []

    def stream_execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> ExecutionStream:
        """The WebSocket run: ``async with client.stream_execute(...) as s: async for r in s``.

        ``run_id`` + ``resumable=True`` ask a backend that can (our gateway) to number the
        frames and keep the run if the socket drops (``ExecutionStream``)."""
        return ExecutionStream(
            self._transport,
            check_ref(ref),
            mode=mode,
            code=code,
            options=options,
            run_id=run_id,
            resumable=resumable,
        )

    def stream_pty(self, ref: str) -> PtyStream:
        """The session's terminal: ``write``, ``resize``, and ``async for chunk in pty``."""
        return PtyStream(self._transport, check_ref(ref))

    async def list_apps(self, ref: str) -> list[dict[str, Any]]:
        """``GET /stream/session/{ref}/apps``: the service ports ``[{name, protocol, ports}]``."""
        body = (
            await self._transport.request(
                "GET", f"/stream/session/{check_ref(ref)}/apps", idempotent=True
            )
        ).json()
        if not isinstance(body, list):
            raise ProtocolError(f"GET /stream/session/{ref}/apps answered {body!r:.200}.")
        return [item for item in body if isinstance(item, dict)]

    async def app_socket(
        self, ref: str, app: str, *, protocol: str = "tcp", port: int | None = None
    ) -> aiohttp.ClientWebSocketResponse:
        """One tunnel to a service port (``/stream/session/{ref}/tcpproxy?app=…``, or
        ``httpproxy``), as ``backend.ai app`` opens per local connection: binary frames
        carry the TCP bytes both ways. The caller closes it."""
        kind = "httpproxy" if protocol == "http" else "tcpproxy"
        params = {"app": app}
        if port is not None:
            params["port"] = str(port)
        return await self._transport.ws_connect(f"/stream/session/{check_ref(ref)}/{kind}", params)

    def session_events(
        self, name: str = "*", *, session_id: str | None = None, scope: str = "*"
    ) -> AsyncIterator[SessionEvent]:
        """Lifecycle events (``session_started``, ``session_terminated``, …) as they happen.

        ``scope`` is ``*``, ``session`` or ``kernel`` (which events of the session).
        """
        return session_events(self._transport, name, session_id=session_id, scope=scope)


def _result_of(reply: Reply) -> ExecutionResult:
    body = reply.json()
    result = body.get("result") if isinstance(body, dict) else None
    try:
        return ExecutionResult.from_json(result)
    except ValueError:
        raise ProtocolError(f"the execute answer has no valid result: {body!r}") from None
