"""Every gateway route (HTTP and WebSocket, manager and /func flavour) refuses unsigned and
wrongly signed requests; only the reviewed public routes answer without credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from support.gateway import GatewayInfo
from support.signed import SignedClient, signed_headers
from yarl import URL

from security.routes import PUBLIC, Route, gateway_routes

#: 401 (auth failed), 403 (Host/Origin), 400 only as "invalid auth parameters" (no or
#: skewed date, malformed header): Backend.AI's own codes for a refused credential.
REFUSED = {400, 401, 403}


def _attempts(client: SignedClient, route: Route) -> list[tuple[str, dict[str, str]]]:
    """Header sets that must all be refused for ``route``."""
    url = client.url(route.path())
    ctype = "application/json"
    good = {"method": route.method, "url": url, "content_type": ctype}
    other = client.url(route.path("other-name"))
    keys = {"access_key": client.access_key, "secret_key": client.secret_key}
    attempts: list[tuple[str, dict[str, str]]] = [
        ("unsigned", {"X-BackendAI-Version": "v7.20230615", "Date": datetime.now(UTC).isoformat()}),
        ("no headers", {}),
        (
            "wrong secret",
            signed_headers(**good, access_key=client.access_key, secret_key="wrong-secret"),
        ),
        (
            "unknown access key",
            signed_headers(**good, access_key="AKIANOTAKEY000000000", secret_key=client.secret_key),
        ),
        (
            "signature of another path",
            signed_headers(**{**good, "url": other}, **keys)
            if other != url
            else signed_headers(**{**good, "method": "PATCH"}, **keys),
        ),
        (
            "signature of another method",
            signed_headers(
                **{**good, "method": "DELETE" if route.method != "DELETE" else "GET"}, **keys
            ),
        ),
        (
            "date 20 minutes old",
            signed_headers(**good, **keys, date=datetime.now(UTC) - timedelta(minutes=20)),
        ),
        (
            "signed for another host",
            signed_headers(**good, **keys, host="127.0.0.1:1"),
        ),
    ]
    for _, headers in attempts:
        headers["Content-Type"] = ctype
    return attempts


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[Route]:
    return gateway_routes(tmp_path_factory.mktemp("routes"))


def test_the_public_routes_are_exactly_the_reviewed_ones(routes: list[Route]) -> None:
    assert {(r.method, r.template) for r in routes if r.public} == PUBLIC
    assert any(r.websocket for r in routes), "the stream routes are enumerated"


async def test_every_route_refuses_unsigned_and_wrongly_signed_requests(
    gateway: GatewayInfo, routes: list[Route], capsys: pytest.CaptureFixture[str]
) -> None:
    answered: list[str] = []
    checked = 0
    async with SignedClient(gateway.endpoint, gateway.access_key, gateway.secret_key) as client:
        for route in routes:
            if route.public:
                continue
            for label, headers in _attempts(client, route):
                url = client.url(route.path())
                checked += 1
                if route.websocket:
                    try:
                        ws = await client.http.ws_connect(url, headers=headers, method=route.method)
                    except aiohttp.WSServerHandshakeError as exc:
                        status = exc.status
                    else:
                        await ws.close()
                        status = 101
                else:
                    async with client.http.request(
                        route.method, url, data=b"{}", headers=headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        raw = await response.read()
                        if status == 400 and b"invalid-auth-params" not in raw:
                            status = -400  # a 400 from a handler: authentication was passed
                if status not in REFUSED:
                    answered.append(f"{route.method} {route.template} [{label}] -> {status}")
    with capsys.disabled():
        print(
            f"\n[security] gateway routes: {len(routes)} "
            f"({sum(r.websocket for r in routes)} WebSocket, "
            f"{sum(r.web_session for r in routes)} /func, {len(PUBLIC)} public); "
            f"{checked} unsigned/wrongly signed requests, {len(answered)} not refused"
        )
    assert answered == [], "\n".join(answered)


async def test_a_correct_signature_is_accepted_so_the_refusals_mean_something(
    gateway: GatewayInfo,
) -> None:
    async with SignedClient(gateway.endpoint, gateway.access_key, gateway.secret_key) as client:
        status, body = await client.call("GET", "/session/sec-nonexistent")
        assert status == 404, body  # past authentication: the session does not exist


async def test_public_routes_give_nothing_away(gateway: GatewayInfo) -> None:
    """``GET /`` tells versions only; the login routes refuse wrong credentials."""
    base = URL(gateway.endpoint)
    async with aiohttp.ClientSession() as http:
        async with http.get(base / "") as response:
            assert set(await response.json()) == {"version", "manager"}
        async with http.post(
            base.with_path("/server/login"),
            json={"username": "user@bai-lsp.local", "password": "wrong"},
        ) as response:
            body = await response.text()
            assert response.status in REFUSED or '"authenticated": false' in body.lower()
            assert gateway.secret_key not in body
        async with http.post(base.with_path("/server/login-check")) as response:
            body = await response.text()
            assert gateway.secret_key not in body and gateway.access_key not in body
        # Without a login cookie, every /func route is refused like an unsigned request.
        async with http.get(base.with_path("/func/session/x")) as response:
            assert response.status in REFUSED
        # The storage transfer URLs refuse a missing or forged token before touching a file.
        for method, path in (
            ("PATCH", "/storage/upload"),
            ("HEAD", "/storage/upload"),
            ("GET", "/storage/download"),
        ):
            for query in ({}, {"token": "forged"}):
                async with http.request(
                    method,
                    base.with_path(path).with_query(query),
                    data=b"x",
                    headers={
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Offset": "0",
                    },
                ) as response:
                    body = await response.text()
                    assert response.status == 401, (method, path, query, body)
                    assert gateway.secret_key not in body and gateway.access_key not in body
