"""Waiting for a session to start, against a scripted manager: every status the scheduler
can report (pending on quotas, queued past maxWaitSeconds, cancelled, gone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bai_lsp.backendai import (
    APIConfig,
    BackendAIClient,
    QuotaError,
    SessionPendingError,
    SessionSpec,
    SessionStartError,
)

from .recorder import ACCESS, SECRET, Server, hello

PREDICATES = {
    "scheduler": {
        "retries": 3,
        "failed_predicates": [
            {"name": "concurrency", "msg": "You cannot run more than 1 concurrent session"},
            {"name": "reserved_time"},
        ],
        "passed_predicates": [{"name": "dependencies"}],
    }
}


def scripted(
    created: dict[str, Any], infos: list[dict[str, Any] | None]
) -> Callable[[web.Request], Any]:
    """POST /session answers ``created``; each GET /session/x the next of ``infos``
    (``None`` = 404); the last one repeats."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        if request.path == "/session":
            return web.json_response(
                {"sessionId": "sid", "sessionName": "sess1", "servicePorts": [], **created},
                status=201,
            )
        if request.path == "/events/session":
            return web.json_response(
                {"type": "https://api.backend.ai/probs/url-not-found", "title": "no events"},
                status=404,
            )
        info = infos.pop(0) if len(infos) > 1 else infos[0]
        if info is None:
            return web.json_response(
                {
                    "type": "https://api.backend.ai/probs/object-not-found",
                    "title": "No such session.",
                },
                status=404,
            )
        return web.json_response(info)

    return answer


def config_for(url: str, **kw: Any) -> APIConfig:
    values: dict[str, Any] = {
        "access_key": ACCESS,
        "secret_key": SECRET,
        "environ": {},
        "poll_interval": 0.05,
    }
    values.update(kw)
    return APIConfig(endpoint=url, **values)


async def test_polls_until_running_reporting_each_status(server: Server) -> None:
    infos: list[dict[str, Any] | None] = [
        {"status": "PENDING", "statusInfo": "None"},
        {"status": "SCHEDULED"},
        {"status": "PULLING"},
        {"status": "PULLING"},
        {"status": "PREPARING"},
        {"status": "RUNNING"},
    ]
    srv = await server(scripted({"status": "PENDING", "created": True}, infos))
    seen: list[str] = []
    async with BackendAIClient(config_for(srv.url)) as client:
        ref = await client.get_or_create(
            SessionSpec(image="python:3.11", name="sess1", enqueue_only=True), on_status=seen.append
        )
    assert (ref.status, ref.id, ref.ref) == ("RUNNING", "sid", "sid")
    assert seen == ["PENDING", "SCHEDULED", "PULLING", "PREPARING", "RUNNING"]
    polls = [r["raw_path"] for r in srv.seen if r["raw_path"] == "/session/sid"]
    assert len(polls) == 6


async def test_pending_on_quotas_is_a_quota_error(server: Server) -> None:
    pending = {
        "status": "PENDING",
        "statusInfo": "predicate-checks-failed",
        "statusData": PREDICATES,
    }
    srv = await server(scripted({"status": "PENDING", "created": True}, [pending]))
    async with BackendAIClient(config_for(srv.url, start_timeout=0.3)) as client:
        with pytest.raises(SessionPendingError) as caught:
            await client.get_or_create(
                SessionSpec(image="python:3.11", name="sess1", enqueue_only=True)
            )
    assert isinstance(caught.value, QuotaError)
    assert caught.value.status == 412 and caught.value.slug == "quota-exceeded"
    assert caught.value.user_message == (
        "Session 'sess1' did not start within 0.3 s: the scheduler keeps it pending "
        "(predicate-checks-failed: concurrency: You cannot run more than 1 concurrent session; "
        "reserved_time). A quota or the cluster's capacity is exhausted: destroy another "
        "session, ask for fewer resources, or try again later."
    )


async def test_max_wait_seconds_timeout_from_the_manager(server: Server) -> None:
    srv = await server(scripted({"status": "TIMEOUT", "created": True}, [{"status": "PENDING"}]))
    async with BackendAIClient(config_for(srv.url)) as client:
        with pytest.raises(SessionStartError) as caught:
            await client.get_or_create(
                SessionSpec(image="python:3.11", name="sess1", max_wait_seconds=3)
            )
    assert caught.value.user_message == (
        "Session 'sess1' did not start within 3 s; it is still queued. It keeps its place in the "
        "queue: wait and try again, or destroy it."
    )
    assert caught.value.status == "TIMEOUT"


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (
            {"status": "CANCELLED", "statusInfo": "pending-timeout"},
            "Session 'sess1' was cancelled before it started (pending-timeout).",
        ),
        (
            {"status": "TERMINATED", "statusInfo": "user-requested"},
            "Session 'sess1' terminated before it was ready (user-requested).",
        ),
        (
            {
                "status": "ERROR",
                "statusInfo": "agent-error",
                "statusData": {"error": {"repr": "OSError('disk full')"}},
            },
            "Session 'sess1' failed to start: its status is ERROR "
            "(agent-error: OSError('disk full')).",
        ),
        (None, "Session 'sess1' terminated before it was ready (it disappeared while starting)."),
    ],
)
async def test_a_start_that_ends_badly(
    server: Server, info: dict[str, Any] | None, message: str
) -> None:
    srv = await server(scripted({"status": "PREPARING", "created": False}, [info]))
    async with BackendAIClient(config_for(srv.url)) as client:
        with pytest.raises(SessionStartError) as caught:
            await client.get_or_create(SessionSpec(image="python:3.11", name="sess1"))
    assert caught.value.user_message == message


async def test_a_missing_status_means_running_as_in_the_sdk(server: Server) -> None:
    async def old_manager(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        return web.json_response({"sessionId": "sid"}, status=201)

    srv = await server(old_manager)
    async with BackendAIClient(config_for(srv.url)) as client:
        ref = await client.get_or_create(SessionSpec(image="python:3.11", name="sess1"))
    assert (ref.status, ref.created, ref.name) == ("RUNNING", True, "sess1")
