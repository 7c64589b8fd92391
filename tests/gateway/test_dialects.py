"""One gateway, two dialects: each request is answered as the manager of its version would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process
from support.signed import SignedClient

from bai_lsp.wire.versions import V7, V9

from .conftest import assert_problem, unique_name


@pytest.fixture(scope="module")
def v9_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayInfo]:
    info = start_gateway(tmp_path_factory.mktemp("gw-v9"), args=["--api-version", "v9"])
    try:
        yield info
    finally:
        stop_gateway_process(info.process)


@pytest.fixture
async def c9(v9_gateway: GatewayInfo) -> AsyncIterator[SignedClient]:
    async with SignedClient(v9_gateway.endpoint, v9_gateway.access_key, v9_gateway.secret_key) as c:
        yield c


async def call(c: SignedClient, version: str, method: str, path: str, **kw: Any) -> Any:
    return await c.call(method, path, sign={"version": version}, **kw)


async def make(c: SignedClient, version: str) -> dict[str, Any]:
    status, body = await call(
        c, version, "POST", "/session", json_body={"name": unique_name(), "image": "bash"}
    )
    assert status == 201 and body["status"] == "RUNNING", body
    return body


async def test_advertised_version_follows_the_option(
    v9_gateway: GatewayInfo, gateway: GatewayInfo
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(v9_gateway.endpoint + "/") as r9:
            assert await r9.json() == {"version": V9, "manager": "26.8.0"}
        async with http.get(gateway.endpoint + "/") as r7:
            assert await r7.json() == {"version": V7, "manager": "23.09.10"}


@pytest.mark.parametrize("version", ["v8.20240315", "v8.20240915", V9, V7, "v6.20210815"])
async def test_both_allow_lists_are_accepted(c9: SignedClient, version: str) -> None:
    status, body = await call(c9, version, "GET", "/session/no-such-session")
    newest = version.startswith(("v8", "v9"))
    # the newest manager calls an unknown session an entity, 23.09 an object
    assert_problem(status, body, 404, "entity-not-found" if newest else "object-not-found")
    assert ("error_code" in body) == newest, body


async def test_newest_errors_carry_error_code_and_old_ones_do_not(c9: SignedClient) -> None:
    status, body = await call(c9, V9, "GET", "/session/nope-nope")
    assert body["error_code"] == "session_read_not-found"
    status, body = await call(c9, "v10.20300101", "GET", "/session/nope-nope")
    assert_problem(status, body, 400, "generic-bad-request")
    assert body["msg"] == "Unsupported API version."


async def test_restart_is_refused_with_501_for_v9_and_works_for_v7(c9: SignedClient) -> None:
    session = await make(c9, V9)
    status, body = await call(c9, V9, "PATCH", f"/session/{session['sessionId']}")
    assert_problem(status, body, 501, "not-implemented")
    assert "destroy it and create it again" in body["msg"]
    assert body["error_code"] == "session_update_not-implemented"
    status, _ = await call(c9, V7, "PATCH", f"/session/{session['sessionName']}")
    assert status == 204
    await call(c9, V7, "DELETE", f"/session/{session['sessionId']}")


async def test_v9_destroy_is_asynchronous_and_the_session_then_disappears(
    c9: SignedClient,
) -> None:
    session = await make(c9, V9)
    status, body = await call(
        c9, V9, "DELETE", f"/session/{session['sessionId']}", params={"recursive": "true"}
    )
    assert status == 200 and isinstance(body, dict) and "stats" in body, body
    seen: list[str] = []
    for _ in range(200):
        status, info = await call(c9, V9, "GET", f"/session/{session['sessionId']}")
        if status == 404:
            break
        seen.append(info["status"])
        await asyncio.sleep(0.05)
    assert status == 404, seen
    assert set(seen) <= {"TERMINATING"}, seen


async def test_v7_destroy_stays_synchronous_with_the_recursive_list(c9: SignedClient) -> None:
    session = await make(c9, V7)
    status, body = await call(
        c9, V7, "DELETE", f"/session/{session['sessionName']}", params={"recursive": "true"}
    )
    assert status == 200 and body == [{"status": "terminated"}], body
    status, _ = await call(c9, V7, "GET", f"/session/{session['sessionName']}")
    assert status == 404


async def test_info_times_are_iso_for_v9_and_str_for_v7(c9: SignedClient) -> None:
    session = await make(c9, V9)
    _, new = await call(c9, V9, "GET", f"/session/{session['sessionId']}")
    _, old = await call(c9, V7, "GET", f"/session/{session['sessionName']}")
    assert "T" in new["creationTime"] and " " not in new["creationTime"], new["creationTime"]
    assert " " in old["creationTime"], old["creationTime"]
    assert datetime.fromisoformat(new["creationTime"]) == datetime.fromisoformat(
        old["creationTime"]
    )
    await call(c9, V7, "DELETE", f"/session/{session['sessionName']}")


async def test_run_id_in_either_spelling_and_reuse_reports_both_port_keys(
    c9: SignedClient,
) -> None:
    session = await make(c9, V9)
    ref = session["sessionId"]
    status, body = await call(
        c9,
        V9,
        "POST",
        f"/session/{ref}",
        json_body={"mode": "query", "code": "echo hi", "run_id": None},
    )
    assert status == 200, body
    run_id = body["result"]["runId"]
    status, body = await call(
        c9,
        V9,
        "POST",
        f"/session/{ref}",
        json_body={"mode": "continue", "code": "", "run_id": run_id},
    )
    assert status == 200 and body["result"]["runId"] == run_id, body
    status, again = await call(
        c9, V9, "POST", "/session", json_body={"name": session["sessionName"], "image": "bash"}
    )
    assert again["created"] is False
    assert again["servicePorts"] == again["service_ports"]
    await call(c9, V7, "DELETE", f"/session/{ref}")


async def test_v9_download_by_post_with_files_in_query_and_listing_with_path_in_query(
    c9: SignedClient, tmp_path: Path
) -> None:
    session = await make(c9, V9)
    ref = session["sessionId"]
    await call(
        c9, V9, "POST", f"/session/{ref}",
        json_body={"mode": "query", "code": "mkdir -p d && echo x > d/a.txt", "run_id": None},
    )  # fmt: skip
    async with c9.request(
        "POST", f"/session/{ref}/download", params=[("files", "d/a.txt")], sign={"version": V9}
    ) as response:
        assert response.status == 200
        assert response.content_type == "multipart/mixed"
    status, listing = await call(c9, V9, "GET", f"/session/{ref}/files", params={"path": "d"})
    assert status == 200 and '"a.txt"' in listing["files"], listing
    await call(c9, V7, "DELETE", f"/session/{ref}")


async def test_event_params_unknown_keys_ignored_for_v9_rejected_for_v7(c9: SignedClient) -> None:
    params = {"sessionName": "x-none", "owner_access_key": c9.access_key, "extra": "1"}
    url = c9.url("/events/session", params)
    h9 = c9.headers("GET", url, "application/octet-stream", version=V9)
    async with c9.http.get(url, headers=h9) as r9:
        assert r9.status == 200
        assert r9.content_type == "text/event-stream"
    h7 = c9.headers("GET", url, "application/octet-stream", version=V7)
    async with c9.http.get(url, headers=h7) as r7:
        body = await r7.json()
        assert_problem(r7.status, body, 400, "invalid-api-params")
        assert "extra" in body["data"]
