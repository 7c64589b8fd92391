"""The client negotiates a dialect: the newest manager's forms against v9, 23.09's against v7."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from support.gateway import GatewayInfo

from bai_lsp.backendai import APIConfig, BackendAIClient
from bai_lsp.backendai.dialect import RestartUnsupportedError
from bai_lsp.backendai.errors import NotFoundError

from .conftest import GATEWAY_API, SessionFactory, run_rest
from .recorder import ACCESS, SECRET, Server

MULTIPART_EMPTY = b"--b--\r\n"


def manager(version: str) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return web.json_response({"version": version, "manager": "x"})
        if request.path.endswith("/download"):
            return web.Response(
                body=MULTIPART_EMPTY, content_type="multipart/mixed", headers={}, charset=None
            )
        if request.path.endswith("/files"):
            return web.json_response({"files": "[]", "errors": "", "abspath": "/home/work"})
        if request.method == "POST":
            return web.json_response(
                {"result": {"status": "finished", "console": [], "runId": "r1", "exitCode": 0}}
            )
        return web.json_response({"status": "RUNNING"})

    return answer


@pytest.mark.parametrize(("advertised", "newest"), [("v9.20250722", True), ("v7.20230615", False)])
async def test_wire_forms_follow_the_negotiated_version(
    server: Server, advertised: str, newest: bool
) -> None:
    srv = await server(manager(advertised))
    config = APIConfig(
        endpoint=srv.url, access_key=ACCESS, secret_key=SECRET, environ={}, retry_backoff=0.01
    )
    async with BackendAIClient(config) as client:
        assert client.api_version == advertised and client.newest is newest
        await client.execute("s1", mode="continue", run_id="r1")
        await client.list_files("s1", "sub dir")
        with pytest.raises(Exception):  # noqa: B017 (the fake answers no archives)
            await client.download("s1", ["a.txt", "b.txt"])
    execute, listing, download = srv.seen[1:4]
    body = json.loads(execute["body"])
    assert body["runId"] == "r1"
    assert (body.get("run_id") == "r1") is newest
    assert execute["headers"]["X-BackendAI-Version"] == advertised
    if newest:
        assert listing["raw_path"] == "/session/s1/files?path=sub+dir"
        assert (download["method"], download["raw_path"]) == (
            "POST",
            "/session/s1/download?files=a.txt&files=b.txt",
        )
    else:
        assert json.loads(listing["body"]) == {"path": "sub dir"}
        assert download["method"] == "GET" and json.loads(download["body"]) == {
            "files": ["a.txt", "b.txt"]
        }


async def test_restart_refused_by_the_newest_manager_says_what_to_do(
    client: BackendAIClient, gateway: GatewayInfo, new_session: SessionFactory
) -> None:
    ref = await new_session("python:3.11")
    if GATEWAY_API[gateway.endpoint] == "v7":
        await client.restart(ref.ref)
        assert (await client.session_info(ref.ref))["status"] == "RUNNING"
        return
    with pytest.raises(RestartUnsupportedError) as caught:
        await client.restart(ref.ref)
    assert "does not restart sessions" in str(caught.value)
    assert "destroy the session and create it again" in str(caught.value)


async def test_destroy_returns_once_the_session_is_gone_in_both_dialects(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("bash")
    stats = await client.destroy(ref.ref)
    assert stats["stats"]["status"] == "terminated"
    with pytest.raises(NotFoundError):
        await client.session_info(ref.ref)  # gone at once, though v9 destroys asynchronously


async def test_download_list_and_continue_work_against_both(
    client: BackendAIClient, gateway: GatewayInfo, new_session: SessionFactory
) -> None:
    ref = await new_session("bash")
    results = await run_rest(client, ref.ref, "mkdir -p d && printf hi > d/a.txt && echo ok")
    assert "".join(r.text for res in results for r in res.console) == "ok\n"
    entries = await client.list_files(ref.ref, "d")
    assert [e.filename for e in entries] == ["a.txt"]
    assert await client.download(ref.ref, ["d/a.txt"]) == {"d/a.txt": b"hi"}
    assert client.newest is (GATEWAY_API[gateway.endpoint] == "v9")
