"""Session lifecycle events: the hub sessions publish to, and ``GET /events/session`` (§5.3).

Each SSE connection subscribes with its filters and gets its own bounded queue; a consumer
that stops reading loses its oldest events rather than holding the gateway's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import attrs
from aiohttp import web

import bai_lsp.gateway.state as state
from bai_lsp.gateway.auth import access_key_of
from bai_lsp.gateway.dialects import request_is_newest
from bai_lsp.gateway.errors import invalid_params

log = logging.getLogger(__name__)

QUEUE_SIZE = 1024

#: 23.09's query keys, plus the newest manager's spellings (the SDK sends
#: ``owner_access_key``, which 23.09 wrongly rejects).
_PARAM_ALIASES = {
    "name": "name",
    "sessionName": "name",
    "session_name": "name",
    "ownerAccessKey": "owner",
    "owner_access_key": "owner",
    "sessionId": "session_id",
    "session_id": "session_id",
    "group": "group",
    "groupName": "group",
    "group_name": "group",
    "scope": "scope",
}
_SCOPES = {"*", "session", "kernel"}


@attrs.frozen
class SessionEvent:
    name: str
    session_id: str
    session_name: str
    owner: str
    group: str
    reason: str
    exit_code: int | None
    kernel_id: str

    @property
    def scope(self) -> str:
        return "kernel" if self.name.startswith("kernel_") else "session"

    def payload(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "sessionName": self.session_name,
            "ownerAccessKey": self.owner,
            "sessionId": self.session_id,
            "exitCode": self.exit_code,
            "kernelId": self.kernel_id,
            "clusterRole": "main",
            "clusterIdx": 0,
        }


@attrs.frozen
class EventFilter:
    access_key: str
    name: str = "*"
    session_id: str | None = None
    group: str = "*"
    scopes: frozenset[str] = frozenset({"session", "kernel"})

    def accepts(self, event: SessionEvent) -> bool:
        if event.owner != self.access_key or event.scope not in self.scopes:
            return False
        if self.session_id is not None:
            return event.session_id == self.session_id
        if self.group != "*" and event.group != self.group:
            return False
        return self.name == "*" or event.session_name == self.name


class EventHub:
    def __init__(self) -> None:
        self._subscribers: dict[asyncio.Queue[SessionEvent | None], EventFilter] = {}

    def subscribe(self, flt: EventFilter) -> asyncio.Queue[SessionEvent | None]:
        queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[queue] = flt
        return queue

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent | None]) -> None:
        self._subscribers.pop(queue, None)

    def publish(self, event: SessionEvent) -> None:
        log.debug("event %s for %s (%s)", event.name, event.session_name, event.reason)
        for queue, flt in list(self._subscribers.items()):
            if not flt.accepts(event):
                continue
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(None)
        self._subscribers.clear()


def parse_filter(request: web.Request, access_key: str) -> EventFilter:
    values: dict[str, str] = {}
    for key, value in request.query.items():
        canonical = _PARAM_ALIASES.get(key)
        if canonical is None and request_is_newest(request):
            continue  # the newest manager's DTO ignores unknown keys
        if canonical is None:
            raise invalid_params(
                "Input validation error",
                {key: f"unknown parameter; accepted: {sorted(_PARAM_ALIASES)}"},
            )
        values[canonical] = value
    owner = values.get("owner")
    if owner is not None and owner != access_key:
        raise invalid_params(
            "Input validation error",
            {"ownerAccessKey": "only your own sessions' events can be followed"},
        )
    scope = values.get("scope", "*")
    scopes = {s.strip() for s in scope.split(",") if s.strip()}
    if not scopes or not scopes <= _SCOPES:
        raise invalid_params(
            "Input validation error", {"scope": f"must be one of {sorted(_SCOPES)} (or a list)"}
        )
    return EventFilter(
        access_key=access_key,
        name=values.get("name", "*") or "*",
        session_id=values.get("session_id") or None,
        group=values.get("group", "*") or "*",
        scopes=frozenset({"session", "kernel"} if "*" in scopes else scopes),
    )


async def session_events(request: web.Request) -> web.StreamResponse:
    """``GET /events/session``: server-sent events until the client or the server goes."""
    access_key = access_key_of(request)
    flt = parse_filter(request, access_key)
    hub = request.app[state.EVENTS]
    config = request.app[state.CONFIG]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    queue = hub.subscribe(flt)
    try:
        await response.prepare(request)
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), config.sse_ping_interval)
            except TimeoutError:
                await response.write(b": ping\r\n\r\n")
                continue
            if event is None:
                break
            data = json.dumps(event.payload())
            await response.write(f"event: {event.name}\r\ndata: {data}\r\n\r\n".encode())
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(queue)
    return response
