"""Edges of the transport: SSE parsing and reconnects, re-login, timeouts, dropped
connections, TLS, malformed answers — against small real servers."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bai_lsp.backendai import (
    APIConfig,
    AuthenticationError,
    BackendAIClient,
    BackendUnreachableError,
    ProtocolError,
)
from bai_lsp.backendai.events import SSEParser

from .recorder import ACCESS, SECRET, Server, hello


def config_for(url: str, **kw: Any) -> APIConfig:
    values: dict[str, Any] = {
        "access_key": ACCESS,
        "secret_key": SECRET,
        "environ": {},
        "retry_backoff": 0.01,
        "sse_reconnect_delay": 0.05,
    }
    values.update(kw)
    return APIConfig(endpoint=url, **values)


# --- SSE parsing ------------------------------------------------------------------------


def test_sse_parser_handles_every_line_ending_and_field() -> None:
    parser = SSEParser()
    stream = (
        ": ping\r\n"
        "event: session_started\r\n"
        'data: {"sessionName": "a"}\r\n\r\n'
        "id: 7\nretry: 250\nevent: multi\ndata: one\ndata:two\n\n"
        "data: plain\r\r"
        "bogus line\nretry: soon\n\n"
    )
    messages = []
    for i in range(0, len(stream), 3):  # fed in small pieces, splitting \r\n pairs
        messages += parser.feed(stream[i : i + 3])
    assert [(m.event, m.data) for m in messages] == [
        ("session_started", '{"sessionName": "a"}'),
        ("multi", "one\ntwo"),
        ("message", "plain"),
    ]
    assert messages[1].id == "7" and messages[1].retry == 0.25
    assert parser.feed("data: x") == []  # an unfinished event waits for its blank line


async def test_sse_reconnects_on_eof_with_a_fresh_signature(server: Server) -> None:
    connections: list[dict[str, str]] = []

    async def events(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        connections.append(dict(request.headers))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        n = len(connections)
        body = {"sessionName": "s1", "sessionId": f"id-{n}", "reason": "", "exitCode": n}
        await response.write(
            f"retry: 50\r\nevent: kernel_started\r\ndata: {json.dumps(body)}\r\n\r\n".encode()
        )
        if n == 2:
            await response.write(b"event: server_close\r\ndata: \r\n\r\n")
        return response  # EOF: the client reconnects

    srv = await server(events)
    ticks = itertools.count()
    base = datetime.now(UTC)

    def clock() -> datetime:
        return base + timedelta(seconds=next(ticks))

    async with BackendAIClient(config_for(srv.url, clock=clock)) as client:
        got = [e async for e in client.session_events("s1")]
    assert [(e.name, e.session_id, e.exit_code, e.status) for e in got] == [
        ("kernel_started", "id-1", 1, None),
        ("kernel_started", "id-2", 2, None),
    ]
    assert len(connections) == 2
    assert connections[0]["Date"] != connections[1]["Date"]
    assert connections[0]["Authorization"] != connections[1]["Authorization"]
    for headers in connections:
        assert srv.signed_ok(
            {
                "method": "GET",
                "raw_path": "/events/session?sessionName=s1&scope=*",
                "headers": headers,
            },
            "application/octet-stream",
        )


async def test_sse_gives_up_when_the_server_is_gone(server: Server) -> None:
    async def once(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: session_enqueued\ndata: not json\n\n")
        return response

    srv = await server(once)
    async with BackendAIClient(config_for(srv.url, max_retries=1)) as client:
        events = client.session_events(session_id="abc")
        first = await events.__anext__()
        assert first.name == "session_enqueued" and first.data == {"raw": "not json"}
        assert first.status == "PENDING"
        await srv.stop()
        with pytest.raises(BackendUnreachableError, match="connection refused"):
            await events.__anext__()
    assert srv.seen[-1]["raw_path"] == "/events/session?sessionId=abc&scope=*"


# --- session mode: a login that expires ---------------------------------------------------


async def test_session_mode_logs_in_again_after_401(server: Server) -> None:
    state = {"logins": 0, "valid": ""}

    async def web_server(request: web.Request) -> web.StreamResponse:
        if request.path == "/server/login":
            state["logins"] += 1
            state["valid"] = f"tok{state['logins']}"
            response = web.json_response({"authenticated": True, "data": {}})
            response.set_cookie("AIOHTTP_SESSION", state["valid"])
            return response
        if request.path == "/func/":
            return hello()
        if state["logins"] == 1:  # the first login "expires" before the first call
            state["valid"] = "expired"
        if request.cookies.get("AIOHTTP_SESSION") != state["valid"]:
            return web.json_response(
                {
                    "type": "https://api.backend.ai/probs/auth-failed",
                    "title": "Unauthorized access",
                },
                status=401,
            )
        return web.json_response({"status": "RUNNING"})

    srv = await server(web_server)
    config = config_for(
        srv.url,
        endpoint_type="session",
        username="me",
        password="pw",
        access_key=None,
        secret_key=None,
    )
    async with BackendAIClient(config) as client:
        assert (await client.session_info("s1"))["status"] == "RUNNING"
    assert state["logins"] == 2
    assert [r["raw_path"] for r in srv.seen] == [
        "/func/",
        "/server/login",
        "/func/session/s1",
        "/server/login",
        "/func/session/s1",
    ]


async def test_login_answer_that_is_not_an_object(server: Server) -> None:
    async def web_server(request: web.Request) -> web.StreamResponse:
        if request.path == "/server/login":
            return web.json_response(["yes"])
        return hello()

    srv = await server(web_server)
    config = config_for(
        srv.url,
        endpoint_type="session",
        username="me",
        password="pw",
        access_key=None,
        secret_key=None,
    )
    with pytest.raises(ProtocolError, match="web login answered"):
        async with BackendAIClient(config):
            pass


async def test_a_refused_login_without_details(server: Server) -> None:
    async def web_server(request: web.Request) -> web.StreamResponse:
        if request.path == "/server/login":
            return web.json_response({"authenticated": False, "data": None})
        return hello()

    srv = await server(web_server)
    config = config_for(
        srv.url,
        endpoint_type="session",
        username="me",
        password="pw",
        access_key=None,
        secret_key=None,
    )
    with pytest.raises(AuthenticationError) as caught:
        async with BackendAIClient(config):
            pass
    assert caught.value.user_message == (
        f"Backend.AI refused user 'me' at {srv.url}: Login failed. Check the user name and "
        "password (BACKEND_USERNAME / BACKEND_PASSWORD)."
    )


# --- timeouts and dropped connections -------------------------------------------------------


async def test_read_timeout_retries_idempotent_calls_then_names_the_setting(server: Server) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        await asyncio.sleep(2)
        return web.json_response({})

    srv = await server(slow)
    async with BackendAIClient(config_for(srv.url, read_timeout=0.2, max_retries=1)) as client:
        with pytest.raises(BackendUnreachableError) as caught:
            await client.session_info("s1")
        assert caught.value.user_message == (
            f"Cannot reach Backend.AI at {srv.url}: no answer within 0.2 s (BACKEND_READ_TIMEOUT)"
        )
        assert len(srv.seen) == 1 + 2
        with pytest.raises(BackendUnreachableError):
            await client.execute("s1", mode="query", code="1")
        assert len(srv.seen) == 1 + 2 + 1  # a run is never sent twice


async def test_a_dropped_connection_is_retried_only_when_idempotent(server: Server) -> None:
    drops = {"left": 1}

    async def dropping(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        if drops["left"] > 0:
            drops["left"] -= 1
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.1)
        return web.json_response({"status": "RUNNING", "result": {"status": "finished"}})

    srv = await server(dropping)
    async with BackendAIClient(config_for(srv.url)) as client:
        assert (await client.session_info("s1"))["status"] == "RUNNING"
        assert len(srv.seen) == 3
        drops["left"] = 1
        with pytest.raises(BackendUnreachableError) as caught:
            await client.execute("s1", mode="query", code="1")
        assert caught.value.reason == "the server closed the connection before answering"
        assert len(srv.seen) == 4


# --- malformed answers ----------------------------------------------------------------------


async def test_answers_of_the_wrong_shape(server: Server) -> None:
    async def odd(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return web.json_response(["not", "a", "dict"])
        if request.path.endswith("/execute"):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.receive()
            await ws.send_bytes(
                json.dumps({"status": "continued", "console": [["stdout", "b"]]}).encode()
            )
            await ws.send_str(json.dumps({"status": "error", "msg": "BackendError: boom"}))
            await ws.send_str("not json")
            return ws
        if request.path.endswith("/pty"):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str(json.dumps({"type": "pong"}))
            await ws.send_str(json.dumps({"type": "out", "data": base64.b64encode(b"$ ").decode()}))
            await ws.send_str("{broken")
            return ws
        if request.path.endswith("/files"):
            return web.json_response({"files": '[{"nofilename": 1}]'})
        if request.path.endswith("/download"):
            return web.Response(body=b"x", content_type="application/octet-stream")
        if request.path.endswith("/logs"):
            return web.json_response({"result": None})
        if request.path == "/admin/gql":
            return web.json_response({"data": {"compute_session_list": None}})
        if request.method == "POST":
            return web.json_response({"result": {"no": "status"}})
        return web.Response(text="plain text, not JSON")

    srv = await server(odd)
    async with BackendAIClient(config_for(srv.url)) as client:
        assert client.api_version == "v7.20230615"
        with pytest.raises(ProtocolError, match="GET / answered"):
            await client.versions()
        with pytest.raises(ProtocolError, match="with a body that is not JSON"):
            await client.session_info("s1")
        with pytest.raises(ProtocolError, match="has no valid result"):
            await client.execute("s1", mode="query", code="1")
        with pytest.raises(ProtocolError, match="file list is malformed"):
            await client.list_files("s1")
        with pytest.raises(ProtocolError, match="expected a multipart answer"):
            await client.download("s1", ["a"])
        with pytest.raises(ProtocolError, match="compute_session_list answered None"):
            await client.list_sessions()
        assert await client.logs("s1") == ""
        frames = []
        with pytest.raises(ProtocolError, match="not an execution result"):
            async with client.stream_execute("s1", mode="query", code="1") as stream:
                async for frame in stream:
                    frames.append(frame)
        assert [(f.status, f.msg) for f in frames] == [
            ("continued", None),
            ("error", "BackendError: boom"),
        ]
        out = b""
        with pytest.raises(ProtocolError, match="bad terminal frame"):
            async with client.stream_pty("s1") as pty:
                async for chunk in pty:
                    out += chunk
        assert out == b"$ "


def test_multipart_and_tar_parsing() -> None:
    from bai_lsp.backendai.client import parse_multipart, untar

    body = b"--b1\r\nContent-Type: x\r\n\r\nfirst\r\n--b1\r\n\r\nsecond\r\n--b1--\r\n"
    assert parse_multipart('multipart/mixed; boundary="b1"', body) == [b"first", b"second"]
    with pytest.raises(ProtocolError, match="no header/body separator"):
        parse_multipart("multipart/mixed; boundary=b1", b"--b1\r\nbroken--b1--")
    with pytest.raises(ProtocolError, match="not a tar archive"):
        untar(b"definitely not tar" * 100)


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    yield context


async def test_self_signed_certificate(self_signed: ssl.SSLContext) -> None:
    app = web.Application()

    async def answer(request: web.Request) -> web.Response:
        return hello() if request.path == "/" else web.json_response({"status": "RUNNING"})

    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}"
    try:
        async with BackendAIClient(config_for(url, max_retries=0)) as client:
            with pytest.raises(BackendUnreachableError) as caught:
                await client.session_info("s1")
        assert caught.value.user_message.startswith(
            f"Cannot reach Backend.AI at {url}: the TLS certificate could not be verified ("
        )
        assert caught.value.user_message.endswith(
            "); set BACKEND_SKIP_SSLCERT_VALIDATION=yes only if you trust this server"
        )
        insecure = config_for(url, skip_sslcert_validation=True)
        async with BackendAIClient(insecure) as client:
            assert (await client.session_info("s1"))["status"] == "RUNNING"
    finally:
        await runner.cleanup()


async def test_a_closed_client_says_so() -> None:
    client = BackendAIClient(config_for("http://127.0.0.1:9"))
    with pytest.raises(RuntimeError, match="not open; use 'async with'"):
        await client.session_info("s1")


async def test_streams_log_in_again_too(server: Server) -> None:
    state = {"logins": 0, "valid": "", "expire": True}

    async def web_server(request: web.Request) -> web.StreamResponse:
        if request.path == "/server/login":
            state["logins"] += 1
            state["valid"] = f"tok{state['logins']}"
            response = web.json_response({"authenticated": True, "data": {}})
            response.set_cookie("AIOHTTP_SESSION", str(state["valid"]))
            return response
        if request.path == "/func/":
            return hello()
        if state["expire"]:  # every stream finds its login expired once
            state["expire"], state["valid"] = False, "expired"
        if request.cookies.get("AIOHTTP_SESSION") != state["valid"]:
            return web.json_response(
                {"type": "https://api.backend.ai/probs/auth-failed", "title": "Unauthorized"},
                status=401,
            )
        state["expire"] = True
        if request.path.endswith("/execute"):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.receive()
            await ws.send_str(json.dumps({"status": "finished", "console": [], "exitCode": 0}))
            await ws.close()
            return ws
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: server_close\ndata:\n\n")
        return response

    srv = await server(web_server)
    config = config_for(
        srv.url,
        endpoint_type="session",
        username="me",
        password="pw",
        access_key=None,
        secret_key=None,
    )
    async with BackendAIClient(config) as client:
        async with client.stream_execute("sess1", mode="query", code="1") as stream:
            assert [f.status async for f in stream] == ["finished"]
        assert [e async for e in client.session_events("sess1")] == []
    assert state["logins"] == 3
    assert [r["raw_path"].split("?")[0] for r in srv.seen] == [
        "/func/",
        "/server/login",
        "/func/stream/session/sess1/execute",
        "/server/login",
        "/func/stream/session/sess1/execute",
        "/func/events/session",
        "/server/login",
        "/func/events/session",
    ]
