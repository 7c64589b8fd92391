"""What goes on the wire: headers, signatures, version negotiation, redirects, retries.

The signature vectors are the shared reference's (computed by the SDK 23.9.10); the rest
runs against small real aiohttp servers that record what they receive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from bai_lsp.backendai import (
    APIConfig,
    BackendAIClient,
    BackendRedirectError,
    BackendUnreachableError,
    ServerError,
    auth,
)
from bai_lsp.wire import signing

from .recorder import ACCESS, SECRET, Server, hello

WHEN = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
VECTOR_ENDPOINT = "http://127.0.0.1:8081"


def vector_config(**kw: Any) -> APIConfig:
    return APIConfig(
        endpoint=VECTOR_ENDPOINT,
        access_key=ACCESS,
        secret_key=SECRET,
        clock=lambda: WHEN,
        environ={},
        **kw,
    )


@pytest.mark.parametrize(
    ("method", "path", "params", "content_type", "signature"),
    [
        (
            "POST",
            "/session",
            None,
            auth.JSON,
            "e03ce050dc314d6df15be37d853509382afbb82ca5270ebbe346a92c79017a9a",
        ),
        (
            "GET",
            "/session/mysess",
            {"owner_access_key": ACCESS},
            auth.TEXT,
            "715f46bf814f511809f173d8eb9ff2a13523ecb660f0076626f01d73b04b772e",
        ),
        (
            "GET",
            "/stream/session/mysess/execute",
            None,
            auth.STREAM,
            "1a4343b55fb401217eabc4c33520300664746c588a8c14fcfd96ac23088eaaf9",
        ),
    ],
)
def test_headers_match_the_sdk_vectors(
    method: str, path: str, params: dict[str, str] | None, content_type: str, signature: str
) -> None:
    url = URL(VECTOR_ENDPOINT).with_path(path)
    if params:
        url = url.with_query(params)
    headers = auth.request_headers(
        vector_config(),
        method=method,
        url=url,
        endpoint=VECTOR_ENDPOINT,
        api_version="v7.20230615",
        content_type=content_type,
        send_content_type=content_type != auth.STREAM,
    )
    assert headers["Authorization"] == (
        f"BackendAI signMethod=HMAC-SHA256, credential={ACCESS}:{signature}"
    )
    assert headers["Date"] == "2024-01-02T03:04:05.678901+00:00"
    assert headers["X-BackendAI-Version"] == "v7.20230615"
    assert headers["X-BackendAI-Domain"] == "default"
    assert headers["User-Agent"].startswith("Backend.AI Client for Python")
    assert ("Content-Type" in headers) == (content_type != auth.STREAM)


def test_signing_host_keeps_the_authority_as_written() -> None:
    assert auth.signing_host("http://127.0.0.1:8081") == "127.0.0.1:8081"
    assert auth.signing_host("https://api.example:443/prefix") == "api.example:443"
    assert auth.signing_host("https://api.example") == "api.example"


def test_anonymous_and_session_mode_send_no_authorization() -> None:
    url = URL(VECTOR_ENDPOINT) / "session"
    anonymous = APIConfig(endpoint=VECTOR_ENDPOINT, environ={})
    web_mode = APIConfig(
        endpoint=VECTOR_ENDPOINT, endpoint_type="session", username="u", password="p", environ={}
    )
    for config in (anonymous, web_mode):
        headers = auth.request_headers(
            config,
            method="GET",
            url=url,
            endpoint=VECTOR_ENDPOINT,
            api_version="v7.20230615",
            content_type=auth.TEXT,
        )
        assert "Authorization" not in headers
        assert "Date" in headers


# --- a recording server --------------------------------------------------------------------


def config_for(url: str, **kw: Any) -> APIConfig:
    values: dict[str, Any] = {
        "access_key": ACCESS,
        "secret_key": SECRET,
        "environ": {},
        "retry_backoff": 0.01,
    }
    values.update(kw)
    return APIConfig(endpoint=url, **values)


async def manager(request: web.Request) -> web.StreamResponse:
    """Enough of a manager for header checks."""
    if request.path == "/":
        return hello("v6.20220615")
    if request.path.endswith("/execute"):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str(json.dumps({"status": "finished", "console": [], "exitCode": 0}))
        await ws.close()
        return ws
    if request.path == "/events/session":
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: server_close\r\ndata: {}\r\n\r\n")
        return response
    if request.path.endswith("/upload") or request.method == "PATCH":
        return web.Response(status=204)
    if request.method == "POST" and request.path.startswith("/session/"):
        return web.json_response(
            {"result": {"status": "finished", "console": [], "runId": "r1", "exitCode": 0}}
        )
    return web.json_response({"status": "RUNNING"})


async def test_each_kind_of_request_has_the_sdks_headers(server: Server) -> None:
    srv = await server(manager)
    async with BackendAIClient(config_for(srv.url, domain="research")) as client:
        # negotiation: unsigned GET / with only a User-Agent; min(v6.20220615, v7) wins
        assert client.api_version == "v6.20220615"
        hello_req = srv.seen[0]
        assert (hello_req["method"], hello_req["raw_path"]) == ("GET", "/")
        assert "Authorization" not in hello_req["headers"]
        assert "Date" not in hello_req["headers"]
        assert hello_req["headers"]["User-Agent"].startswith("Backend.AI Client for Python")

        await client.session_info("my sess")  # GET, no body → text/plain, empty body
        await client.execute("mysess", mode="query", code="1")  # JSON
        await client.upload("mysess", [("a/b.txt", b"x")])  # multipart
        await client.restart("mysess")  # PATCH, no body
        async with client.stream_execute("mysess", mode="query", code="1") as stream:
            assert [r.status async for r in stream] == ["finished"]
        assert [e async for e in client.session_events("mysess")] == []

    info, execute, upload, restart, ws, sse = srv.seen[1:]
    for record in srv.seen[1:]:
        headers = record["headers"]
        assert headers["X-BackendAI-Version"] == "v6.20220615"
        assert headers["X-BackendAI-Domain"] == "research"
        assert signing.parse_date(headers["Date"]) is not None
        assert headers["Date"].endswith("+00:00") and "T" in headers["Date"]

    assert info["raw_path"] == "/session/my%20sess"
    assert info["headers"]["Content-Type"] == "text/plain" and info["body"] == b""
    assert srv.signed_ok(info, "text/plain")

    assert execute["headers"]["Content-Type"] == "application/json"
    assert json.loads(execute["body"]) == {"mode": "query", "code": "1", "runId": None}
    assert srv.signed_ok(execute, "application/json")

    assert upload["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="src"; filename="a%2Fb.txt"' in upload["body"]  # quoted, as the SDK
    assert b"Content-Type: application/octet-stream" in upload["body"]
    assert srv.signed_ok(upload, "multipart/form-data")

    assert restart["method"] == "PATCH" and srv.signed_ok(restart, "text/plain")

    for stream_req in (ws, sse):
        assert "Content-Type" not in stream_req["headers"]
        assert srv.signed_ok(stream_req, "application/octet-stream")
    assert ws["raw_path"] == "/stream/session/mysess/execute"
    assert sse["raw_path"] == "/events/session?sessionName=mysess&scope=*"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("v9.20250722", "v9.20250722"),  # the newest manager: its (and our) version
        ("v10.20300101", "v9.20250722"),  # a newer server: we stay on ours
        ("v5.20191215", "v5.20191215"),  # an older one: we step down
        ("garbage", "v7.20230615"),  # unusable: fall back to v7, which every manager takes
        (None, "v7.20230615"),  # not JSON: fall back
    ],
)
async def test_version_negotiation(server: Server, answer: str | None, expected: str) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        if answer is None:
            return web.Response(text="hello")
        return hello(answer)

    srv = await server(respond)
    async with BackendAIClient(config_for(srv.url)) as client:
        assert client.api_version == expected


async def test_endpoint_path_prefix_is_kept(server: Server) -> None:
    srv = await server(manager)
    async with BackendAIClient(config_for(srv.url + "/prefix/")) as client:
        await client.session_info("s1")
    assert [r["raw_path"] for r in srv.seen] == ["/prefix/", "/prefix/session/s1"]
    assert srv.signed_ok(srv.seen[1], "text/plain")


async def test_session_mode_puts_func_before_api_paths(server: Server) -> None:
    async def web_server(request: web.Request) -> web.StreamResponse:
        if request.path == "/server/login":
            response = web.json_response({"authenticated": True, "data": {"access_key": "AK"}})
            response.set_cookie("AIOHTTP_SESSION", "tok")
            return response
        if request.path == "/func/":
            return hello()
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
        await client.session_info("s1")
    paths = [(r["method"], r["raw_path"]) for r in srv.seen]
    assert paths == [("GET", "/func/"), ("POST", "/server/login"), ("GET", "/func/session/s1")]
    assert json.loads(srv.seen[1]["body"]) == {"username": "me", "password": "pw"}
    assert "Authorization" not in srv.seen[2]["headers"]
    assert "AIOHTTP_SESSION=tok" in srv.seen[2]["headers"]["Cookie"]


# --- redirects: never a signed request to another host -------------------------------------


async def test_redirects_are_refused_and_nothing_reaches_the_target(server: Server) -> None:
    elsewhere = await server(lambda request: _ok())
    status_of = {"GET": 302, "POST": 307, "DELETE": 301}

    async def redirecting(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        status = status_of.get(request.method, 308)
        return web.Response(status=status, headers={"Location": elsewhere.url + request.path_qs})

    srv = await server(redirecting)
    async with BackendAIClient(config_for(srv.url)) as client:
        with pytest.raises(BackendRedirectError) as caught:
            await client.session_info("s1")
        assert caught.value.location == f"{elsewhere.url}/session/s1"
        assert caught.value.user_message == (
            f"Backend.AI at {srv.url} answered with a redirect (HTTP 302) to "
            f"{elsewhere.url}/session/s1. Credentials are only ever sent to the configured "
            "endpoint, so the redirect was not followed; if that address is the right server, "
            "set BACKEND_ENDPOINT to it."
        )
        with pytest.raises(BackendRedirectError):
            await client.execute("s1", mode="query", code="1")
        with pytest.raises(BackendRedirectError):
            await client.destroy("s1")
        with pytest.raises(BackendRedirectError) as ws_caught:
            async with client.stream_execute("s1", mode="query", code="1"):
                pass
        assert ws_caught.value.location == f"{elsewhere.url}/stream/session/s1/execute"
        with pytest.raises(BackendRedirectError):
            async for _ in client.session_events("s1"):
                pass
    assert len(srv.seen) == 6
    assert elsewhere.seen == []


async def test_a_redirecting_hello_is_not_followed_either(server: Server) -> None:
    elsewhere = await server(lambda request: _ok())

    async def redirecting(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": elsewhere.url + "/"})

    srv = await server(redirecting)
    async with BackendAIClient(config_for(srv.url)) as client:
        assert client.api_version == "v7.20230615"
    assert elsewhere.seen == [] and len(srv.seen) == 1


async def _ok() -> web.Response:
    return web.json_response({"status": "RUNNING"})


# --- retries ----------------------------------------------------------------------------


async def test_idempotent_calls_retry_on_503_others_do_not(server: Server) -> None:
    failures = {"left": 2}

    async def flaky(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello()
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.json_response(
                {"type": "https://api.backend.ai/probs/service-unavailable", "title": "Busy"},
                status=503,
            )
        return web.json_response({"status": "RUNNING", "result": {"status": "finished"}})

    srv = await server(flaky)
    async with BackendAIClient(config_for(srv.url)) as client:
        assert (await client.session_info("s1"))["status"] == "RUNNING"
        assert [r["method"] for r in srv.seen[1:]] == ["GET", "GET", "GET"]
        failures["left"] = 1
        with pytest.raises(ServerError) as caught:
            await client.execute("s1", mode="query", code="1")
        assert caught.value.user_message == "Backend.AI server error (HTTP 503): Busy."
        assert [r["method"] for r in srv.seen[4:]] == ["POST"]
        failures["left"] = 10
        with pytest.raises(ServerError):
            await client.session_info("s1")
        assert len(srv.seen) == 5 + 4  # one try and max_retries=3 more


async def test_a_dead_endpoint_is_rotated_away(server: Server) -> None:
    srv = await server(manager)
    dead = "http://127.0.0.1:9"
    config = config_for(f"{dead},{srv.url}")
    async with BackendAIClient(config) as client:
        # a non-idempotent call may move on too: nothing was sent to the dead endpoint
        result = await client.execute("s1", mode="query", code="1")
        assert result.status == "finished"
        assert client.endpoint == srv.url


async def test_unreachable_lists_every_endpoint() -> None:
    config = config_for(
        "http://127.0.0.1:9,http://127.0.0.1:7", shuffle_endpoints=False, max_retries=1
    )
    async with BackendAIClient(config) as client:
        assert client.api_version == "v7.20230615"  # negotiation failed silently
        with pytest.raises(BackendUnreachableError) as caught:
            await client.session_info("s1")
        assert caught.value.user_message == (
            "Cannot reach Backend.AI at http://127.0.0.1:9 and http://127.0.0.1:7: "
            "connection refused"
        )
        with pytest.raises(BackendUnreachableError):
            async with client.stream_execute("s1", mode="query", code="1"):
                pass


async def test_old_managers_get_the_old_graphql_path(server: Server) -> None:
    from bai_lsp.backendai import InvalidRequestError

    async def old(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return hello("v6.20200815")
        body = await request.json()
        assert "filter" not in body["variables"] and "$filter" not in body["query"]
        return web.json_response(
            {"data": {"compute_session_list": {"items": [{"id": "x"}], "total_count": 1}}}
        )

    srv = await server(old)
    async with BackendAIClient(config_for(srv.url)) as client:
        page = await client.list_sessions(fields=("id",))
        assert (page.total_count, page.items) == (1, [{"id": "x"}])
        with pytest.raises(InvalidRequestError) as caught:
            await client.list_sessions(order="name")
    assert caught.value.user_message == (
        "Filtering and ordering sessions needs API v6.20210815 or later; the server speaks "
        "v6.20200815."
    )
    assert srv.seen[1]["raw_path"] == "/admin/graphql"
