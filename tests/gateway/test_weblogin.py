"""Web-server login and the ``/func/`` prefix (endpoint type ``session``, §2.4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from support.gateway import GatewayInfo, running_gateway

from .conftest import PROBLEM, assert_problem, unique_name

HEADERS = {"X-BackendAI-Version": "v7.20230615"}


def headers() -> dict[str, str]:
    return {**HEADERS, "Date": datetime.now(UTC).isoformat()}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # Cookies for 127.0.0.1 need an unsafe jar (an IP address, not a domain).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def login(http: aiohttp.ClientSession, gw: GatewayInfo, user: str, password: str) -> dict:
    async with http.post(
        gw.endpoint + "/server/login", json={"username": user, "password": password}
    ) as response:
        assert response.status == 200
        return await response.json()


async def test_login_then_func_routes(http: aiohttp.ClientSession, gateway: GatewayInfo) -> None:
    async with http.get(gateway.endpoint + "/func/") as response:
        assert await response.json() == {"version": "v7.20230615", "manager": "23.09.10"}
    async with http.get(gateway.endpoint + "/func/session/whatever", headers=headers()) as r:
        assert_problem(r.status, await r.json(content_type=None), 401, "auth-failed")

    answer = await login(http, gateway, "user@bai-lsp.local", gateway.secret_key)
    assert answer["authenticated"] is True
    assert answer["data"]["access_key"] == gateway.access_key
    cookie = [c for c in http.cookie_jar if c.key == "AIOHTTP_SESSION"]
    assert cookie and cookie[0]["httponly"] and cookie[0]["samesite"] == "Strict"
    assert gateway.secret_key not in json.dumps(answer)

    name = unique_name("web")
    async with http.post(
        gateway.endpoint + "/func/session", json={"name": name, "image": "bash"}, headers=headers()
    ) as r:
        assert r.status == 201, await r.text()
    async with http.get(gateway.endpoint + f"/func/session/{name}", headers=headers()) as r:
        assert (await r.json())["sessionName"] == name
    async with http.ws_connect(
        gateway.endpoint + f"/func/stream/session/{name}/execute", headers=headers()
    ) as ws:
        await ws.send_str(json.dumps({"mode": "query", "code": "echo via-func"}))
        frames = [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
    assert frames[-1]["status"] == "finished"
    assert any("via-func" in t for f in frames for _, t in f["console"])
    async with http.post(gateway.endpoint + "/server/login-check") as r:
        check = await r.json()
    assert check["authenticated"] is True and check["session_id"]
    async with http.post(
        gateway.endpoint + "/server/login", json={"username": "x", "password": "y"}
    ) as r:
        assert_problem(r.status, await r.json(content_type=None), 400, "generic-bad-request")

    async with http.post(gateway.endpoint + "/server/logout") as r:
        assert r.status == 201
    async with http.delete(gateway.endpoint + f"/func/session/{name}", headers=headers()) as r:
        assert_problem(r.status, await r.json(content_type=None), 401, "auth-failed")


async def test_wrong_password_is_200_not_authenticated(
    http: aiohttp.ClientSession, gateway: GatewayInfo
) -> None:
    answer = await login(http, gateway, "user@bai-lsp.local", "wrong password")
    assert answer["authenticated"] is False
    assert answer["data"]["type"] == PROBLEM + "auth-failed"
    assert not [c for c in http.cookie_jar if c.key == "AIOHTTP_SESSION"]


@pytest.mark.parametrize(
    "body", [{"username": "user@bai-lsp.local"}, {"password": "x"}, {"username": 1, "password": 2}]
)
async def test_login_missing_fields_is_400(
    http: aiohttp.ClientSession, gateway: GatewayInfo, body: dict
) -> None:
    async with http.post(gateway.endpoint + "/server/login", json=body) as r:
        assert_problem(r.status, await r.json(content_type=None), 400, "invalid-api-params")


async def test_configured_user_and_throttling(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    env = {"BACKEND_GATEWAY_USER": "ada@example.com", "BACKEND_GATEWAY_PASSWORD": "pw-123456"}
    with running_gateway(tmp_path, env=env) as gw:
        assert (await login(http, gw, "user@bai-lsp.local", gw.secret_key))[
            "authenticated"
        ] is False
        for _ in range(9):
            assert (await login(http, gw, "ada@example.com", "nope"))["authenticated"] is False
        async with http.post(
            gw.endpoint + "/server/login",
            json={"username": "ada@example.com", "password": "pw-123456"},
        ) as r:
            assert_problem(r.status, await r.json(content_type=None), 429, "rate-limit-exceeded")
        assert "pw-123456" not in gw.log()
