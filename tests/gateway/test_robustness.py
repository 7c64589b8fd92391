"""Bad input never hurts the gateway or other sessions; batch sessions; start-up cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name


async def poll_to_end(client: SignedClient, ref: str, code: str) -> str:
    _, body = await client.call(
        "POST", f"/session/{ref}", json_body={"mode": "query", "code": code, "runId": None}
    )
    result, out = body["result"], ""
    while True:
        out += "".join(t for kind, t in result["console"] if kind == "stdout")
        if result["status"] == "finished":
            return out
        _, body = await client.call(
            "POST",
            f"/session/{ref}",
            json_body={"mode": "continue", "code": "", "runId": result["runId"]},
        )
        result = body["result"]


BARRAGE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/session", {"data": b"\xff\xfe", "content_type": "application/json"}),
    ("POST", "/session", {"json_body": {"name": None, "image": None, "config": "x"}}),
    ("POST", "/session/{ref}", {"json_body": {"mode": "query", "code": ["x"], "runId": None}}),
    ("POST", "/session/{ref}", {"json_body": {"mode": "input", "code": "x", "runId": "zzz"}}),
    (
        "POST",
        "/session/{ref}/upload",
        {"data": b"--x\r\nbroken", "content_type": "multipart/form-data; boundary=x"},
    ),
    ("GET", "/session/{ref}/download", {"json_body": {"files": ["../../../../etc/shadow"]}}),
    ("GET", "/session/{ref}/files", {"json_body": {"path": 12}}),
    ("POST", "/session/{ref}/rename", {"params": {"name": "?"}}),
    ("POST", "/session/{ref}/complete", {"json_body": {"code": 1}}),
    ("POST", "/admin/gql", {"json_body": {"query": None, "variables": "x"}}),
    ("DELETE", "/session/{ref}", {"params": {"forced": "maybe"}}),
    ("PATCH", "/session/other-unknown", {}),
]


async def test_barrage_of_bad_requests_leaves_sessions_intact(client: SignedClient) -> None:
    ref = unique_name("keep")
    await create_session(client, "python:3.11", ref)
    assert await poll_to_end(client, ref, "x = 41\nprint('set')") == "set\n"
    for method, path, kwargs in BARRAGE:
        status, body = await client.call(method, path.format(ref=ref), **kwargs)
        assert 400 <= status < 500, (method, path, status, body)
        assert isinstance(body, dict) and body["type"].startswith("https://api.backend.ai/probs/")
    assert await poll_to_end(client, ref, "print(x + 1)") == "42\n"
    _, info = await client.call("GET", f"/session/{ref}")
    assert info["status"] == "RUNNING"


async def test_batch_session_runs_its_startup_command_and_ends(client: SignedClient) -> None:
    for command, result in (("echo batch-ok", "SUCCESS"), ("exit 3", "FAILURE")):
        name = unique_name("batch")
        status, body = await client.call(
            "POST",
            "/session",
            json_body={"name": name, "image": "bash", "type": "batch", "startupCommand": command},
        )
        assert status == 201, body
        for _ in range(200):
            if (await client.call("GET", f"/session/{name}"))[0] == 404:
                break
            await asyncio.sleep(0.05)
        query = (
            '{ compute_session_list(limit: 100, offset: 0, status: "TERMINATED") '
            "{ items { name type result status_info } } }"
        )
        _, listing = await client.call("POST", "/admin/gql", json_body={"query": query})
        items = {i["name"]: i for i in listing["data"]["compute_session_list"]["items"]}
        assert items[name] == {
            "name": name, "type": "BATCH", "result": result, "status_info": "task-finished"
        }  # fmt: skip


async def test_destroy_while_preparing_needs_forced(client: SignedClient) -> None:
    name = unique_name("prep")
    status, body = await client.call(
        "POST", "/session", json_body={"name": name, "image": "python:3.11", "enqueueOnly": True}
    )
    assert status == 201 and body["status"] == "PENDING"
    status, body = await client.call("DELETE", f"/session/{name}")
    if status == 403:
        assert_problem(status, body, 403, "generic-forbidden")
        assert "forced" in body["msg"]
        status, body = await client.call("DELETE", f"/session/{name}", params={"forced": "true"})
    assert status == 200, body
    assert body["stats"]["status"] in ("cancelled", "terminated")
    status, body = await client.call("GET", f"/session/{name}")
    assert_problem(status, body, 404, "object-not-found")


async def test_bootstrap_script_runs_before_running(client: SignedClient) -> None:
    name = unique_name("boot")
    body = await create_session(
        client, "bash", name, bootstrap_script="echo prepared > ready.txt\necho boot-out"
    )
    assert body["status"] == "RUNNING"
    assert await poll_to_end(client, name, "cat ready.txt") == "prepared\n"
    _, logs = await client.call("GET", f"/session/{name}/logs")
    assert "bootstrap.sh exited with 0" in logs["result"]["logs"]
    assert "boot-out" in logs["result"]["logs"]


async def test_max_wait_seconds_reports_timeout_and_session_keeps_starting(
    client: SignedClient,
) -> None:
    name = unique_name("slow")
    status, body = await client.call(
        "POST",
        "/session",
        json_body={
            "name": name,
            "image": "bash",
            "maxWaitSeconds": 1,
            "bootstrap_script": "sleep 3",
        },
    )
    assert status == 201 and body["status"] == "TIMEOUT" and body["created"] is True
    _, info = await client.call("GET", f"/session/{name}")
    assert info["status"] == "PREPARING"
    for _ in range(100):
        _, info = await client.call("GET", f"/session/{name}")
        if info["status"] == "RUNNING":
            break
        await asyncio.sleep(0.1)
    assert info["status"] == "RUNNING"


async def test_callback_url_receives_lifecycle_webhooks(client: SignedClient) -> None:
    from aiohttp import web

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        name = unique_name("hook")
        created = await create_session(
            client, "c", name, callback_url=f"http://127.0.0.1:{port}/hook"
        )
        await client.call("DELETE", f"/session/{name}")
        for _ in range(100):
            if any(r["event"] == "terminated" for r in received):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert [r["event"] for r in received] == ["enqueued", "scheduled", "started", "terminated"]
    assert {r["session_id"] for r in received} == {created["sessionId"]}
    assert all(r["type"] == "session_lifecycle" for r in received)


async def test_bad_callback_url_is_refused(client: SignedClient) -> None:
    status, body = await client.call(
        "POST",
        "/session",
        json_body={"name": unique_name(), "image": "c", "callback_url": "file:///etc/passwd"},
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert "callback_url" in body["data"]
