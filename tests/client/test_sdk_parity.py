"""Our client and the official SDK 23.9.10 send the same requests (same server, same calls).

A recording server plays the manager; the SDK (in .venv-sdk, as a user runs it) and our
client each perform the same sequence of operations, and every request's method, path and
query, content type, header names, signature validity and JSON body are compared.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bai_lsp.backendai import APIConfig, BackendAIClient, SessionSpec
from bai_lsp.wire.execute import BatchOptions

from .recorder import ACCESS, SECRET, Recorder, Server, hello

REPO = Path(__file__).resolve().parents[2]
SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"

pytestmark = [
    pytest.mark.sdk,
    pytest.mark.skipif(not SDK_PYTHON.exists(), reason="the SDK venv (.venv-sdk) is not set up"),
]

SESSION_ID = str(uuid.UUID(int=7))
NAME = "parity-1"

SDK_SCRIPT = textwrap.dedent(
    f"""
    import asyncio
    from ai.backend.client.session import AsyncSession

    async def main():
        async with AsyncSession() as api:
            cs = await api.ComputeSession.get_or_create(
                "python:3.11", name="{NAME}", mounts=["data"], envs={{"A": "1"}},
                resources={{"cpu": 1, "mem": "1g"}}, tag="t", enqueue_only=True, max_wait=5,
            )
            await cs.get_info()
            await cs.execute(run_id="run1", code="print(1)", mode="query")
            await cs.execute(run_id="run1", code="", mode="continue")
            await cs.execute(run_id="run1", code="answer", mode="input")
            await cs.execute(run_id="run2", code="", mode="batch",
                             opts={{"clean": "", "build": "make", "exec": "./a.out"}})
            await cs.upload(["a.txt", "sub/b.txt"])
            await cs.list_files("sub")
            await cs.restart()
            await cs.interrupt()
            async with cs.stream_execute("print(1)", mode="query") as ws:
                await ws.receive_json()
            async with cs.listen_events() as events:
                async for _ in events:
                    pass
            await api.ComputeSession.paginated_list(status="RUNNING", page_size=10)
            await cs.destroy(forced=True)

    asyncio.run(main())
    """
)


async def fake_manager(request: web.Request) -> web.StreamResponse:
    if request.path in ("/", ""):
        return hello()
    if request.path.endswith("/execute"):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str(json.dumps({"status": "finished", "console": [], "exitCode": 0}))
        await ws.close()
        return ws
    if request.path == "/session":
        return web.json_response(
            {
                "sessionId": SESSION_ID,
                "sessionName": NAME,
                "status": "RUNNING",
                "servicePorts": [],
                "created": True,
            },
            status=201,
        )
    if request.path == "/events/session":
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: server_close\r\ndata: \r\n\r\n")
        return response
    if request.path == "/admin/gql":
        return web.json_response(
            {"data": {"compute_session_list": {"items": [], "total_count": 0}}}
        )
    if request.method in ("PATCH",) or request.path.endswith(("/upload", "/interrupt")):
        return web.Response(status=204)
    if request.path.endswith("/files"):
        return web.json_response({"files": "[]", "errors": "", "abspath": "/home/work"})
    if request.method == "DELETE":
        return web.json_response({"stats": {"status": "terminated"}})
    if request.method == "POST":
        status = "finished"
        return web.json_response(
            {"result": {"status": status, "runId": "run1", "console": [], "exitCode": 0}}
        )
    return web.json_response({"status": "RUNNING"})


SDK_DEFAULT_FIELDS = (
    "id",
    "image",
    "type",
    "status",
    "status_info",
    "status_changed",
    "result",
    "abusing_reports",
)


def shape(recorder: Recorder) -> list[dict[str, Any]]:
    """What must match: everything but the date, the signature and the multipart boundary."""
    out = []
    for record in recorder.seen:
        headers = record["headers"]
        content_type = headers.get("Content-Type")
        body: Any = record["body"]
        if content_type == "application/json":
            body = json.loads(body)
        elif content_type and content_type.startswith("multipart/"):
            boundary = content_type.split("boundary=", 1)[1].strip('"')
            body = body.replace(boundary.encode(), b"BOUNDARY")
            # aiohttp 3.8 (the SDK's) adds a Content-Length to each part; 3.12+ does not
            body = re.sub(rb"Content-Length: \d+\r\n", b"", body)
            content_type = "multipart/form-data"
        signed = "Authorization" in headers
        if signed:
            assert recorder.signed_ok(record, record["content_type"]), record
        out.append(
            {
                "method": record["method"],
                "path": record["raw_path"],
                "content_type": content_type,
                "headers": sorted(
                    h.lower()
                    for h in headers
                    if h.lower()
                    not in ("content-length", "user-agent", "host", "accept", "accept-encoding")
                ),
                "signed": signed,
                "body": body,
            }
        )
    return out


async def test_same_requests_as_the_sdk(server: Server, tmp_path: Path) -> None:
    sdk_server = await server(fake_manager)
    ours_server = await server(fake_manager)

    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "a.txt").write_bytes(b"A")
    (work / "sub" / "b.txt").write_bytes(b"B")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env.update(
        BACKEND_ENDPOINT=sdk_server.url,
        BACKEND_ACCESS_KEY=ACCESS,
        BACKEND_SECRET_KEY=SECRET,
        HOME=str(tmp_path),
    )
    # asynchronously: the recording server runs on this very event loop
    proc = await asyncio.create_subprocess_exec(
        str(SDK_PYTHON),
        "-c",
        SDK_SCRIPT,
        cwd=work,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()

    config = APIConfig(endpoint=ours_server.url, access_key=ACCESS, secret_key=SECRET, environ={})
    async with BackendAIClient(config) as client:
        ref = await client.get_or_create(
            SessionSpec(
                image="python:3.11",
                name=NAME,
                mounts=["data"],
                environ={"A": "1"},
                resources={"cpu": 1, "mem": "1g"},
                tag="t",
                enqueue_only=True,
                max_wait_seconds=5,
            ),
            wait=False,
        )
        await client.session_info(NAME)
        await client.execute(NAME, mode="query", code="print(1)", run_id="run1")
        await client.execute(NAME, mode="continue", run_id="run1")
        await client.execute(NAME, mode="input", code="answer", run_id="run1")
        await client.execute(
            NAME,
            mode="batch",
            run_id="run2",
            options=BatchOptions(clean="", build="make", exec="./a.out"),
        )
        await client.upload(NAME, [("a.txt", b"A"), ("sub/b.txt", b"B")])
        await client.list_files(NAME, "sub")
        await client.restart(NAME)
        await client.interrupt(NAME)
        async with client.stream_execute(ref.ref, mode="query", code="print(1)") as stream:
            assert [r.status async for r in stream] == ["finished"]
        assert [e async for e in client.session_events(session_id=ref.id)] == []
        await client.list_sessions(status="RUNNING", limit=10, fields=SDK_DEFAULT_FIELDS)
        await client.destroy(NAME, forced=True)

    sdk, ours = shape(sdk_server), shape(ours_server)
    assert [(r["method"], r["path"]) for r in ours] == [(r["method"], r["path"]) for r in sdk]
    for mine, theirs in zip(ours, sdk, strict=True):
        assert mine == theirs
