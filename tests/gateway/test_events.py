"""``GET /events/session``: lifecycle events as server-sent events (§5.3)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name


async def read_events(response: Any, until: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    while True:
        raw = await asyncio.wait_for(response.content.readline(), 30)
        assert raw, "stream ended"
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line[len("data: ") :])))
            if name == until:
                return events
            name = None


async def test_lifecycle_events_in_order(client: SignedClient) -> None:
    name = unique_name("ev")
    async with client.get_stream("/events/session", {"sessionName": name}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        created = await create_session(client, "c", name)
        started = await read_events(response, "session_started")
        await client.call("DELETE", f"/session/{name}")
        ended = await read_events(response, "session_terminated")
    assert [n for n, _ in started] == [
        "session_enqueued",
        "session_scheduled",
        "kernel_preparing",
        "kernel_creating",
        "kernel_started",
        "session_started",
    ]
    assert [n for n, _ in ended] == [
        "session_terminating",
        "kernel_terminating",
        "kernel_terminated",
        "session_terminated",
    ]
    data = ended[-1][1]
    assert data["sessionId"] == created["sessionId"]
    assert data["sessionName"] == name
    assert data["ownerAccessKey"] == client.access_key
    assert data["reason"] == "user-requested"
    assert data["exitCode"] is None


async def test_filter_by_session_id_and_scope(client: SignedClient) -> None:
    other, mine = unique_name("ev"), unique_name("ev")
    created = await create_session(client, "c", mine)
    async with client.get_stream(
        "/events/session", {"sessionId": created["sessionId"], "scope": "session"}
    ) as response:
        await create_session(client, "c", other)
        await client.call("PATCH", f"/session/{mine}")
        events = await read_events(response, "session_started")
    assert events == [("session_started", events[0][1])]
    assert events[0][1]["sessionName"] == mine and events[0][1]["reason"] == "restarted"


@pytest.mark.parametrize(
    "params", [{"bogus": "1"}, {"scope": "galaxy"}, {"ownerAccessKey": "AKIAOTHER"}]
)
async def test_bad_event_parameters_are_400(client: SignedClient, params: dict[str, str]) -> None:
    async with client.get_stream("/events/session", params) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 400, "invalid-api-params")
