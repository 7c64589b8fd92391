"""The gateway's HTTP API under garbage: signed requests with random bodies, query strings
and path values on every route, and unsigned ones. 0 answers ≥ 500, 0 bypasses."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from security.routes import Route, gateway_routes
from support.gateway import GatewayInfo
from support.signed import SignedClient

from fuzz.lsp_messages import Gen

SEED = int(os.environ.get("BAI_LSP_FUZZ_SEED", "20261126"))
#: A request on a local gateway that takes longer has hung (a long-poll route returns sooner).
REQUEST_TIMEOUT_S = 15.0
PER_ROUTE = int(os.environ.get("BAI_LSP_GATEWAY_FUZZ_PER_ROUTE", "40"))

PATH_VALUES = [
    "..",
    "../..",
    "%2e%2e",
    "x" * 300,
    "é",
    "a%00b",
    "-",
    "_",
    " ",
    "%ff",
    "..%2f..%2fetc",
    "\u202e",
    "1e9",
    "null",
]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
    "",
]


def _body(g: Gen, r: random.Random) -> bytes:
    kind = r.randrange(6)
    if kind == 0:
        return json.dumps(g.garbage()).encode()
    if kind == 1:  # a plausible object with wrong values
        keys = [
            "name",
            "image",
            "mode",
            "code",
            "runId",
            "options",
            "lang",
            "clientSessionToken",
            "query",
            "variables",
            "files",
            "path",
            "forced",
            "resources",
            "mounts",
            "config",
        ]
        return json.dumps({k: g.garbage() for k in r.sample(keys, r.randrange(1, 6))}).encode()
    if kind == 2:
        return bytes(r.randrange(256) for _ in range(r.randrange(200)))
    if kind == 3:
        return (
            b"--xyz\r\nContent-Disposition: form-data; "
            b'name="src"; filename="../../x"\r\n\r\nx\r\n--xyz--\r\n'
        )
    if kind == 4:
        return b'{"query": "{ ' + bytes(r.choice(b'{}()[]:!$@ "abc') for _ in range(40)) + b'"}'
    return b""


def _params(g: Gen, r: random.Random) -> list[tuple[str, str]]:
    names = [
        "forced",
        "files",
        "path",
        "owner_access_key",
        "limit",
        "offset",
        "status",
        "name",
        "sessionName",
        "type",
        "q",
        "fields",
        "mode",
    ]
    return [(r.choice(names), str(g.garbage())[:200]) for _ in range(r.randrange(4))]


@pytest.fixture
def routes(tmp_path: Path) -> list[Route]:
    return gateway_routes(tmp_path / "routes")


async def test_gateway_http_fuzz(
    fresh_gateway: GatewayInfo, routes: list[Route], capsys: pytest.CaptureFixture[str]
) -> None:
    r = random.Random(SEED)
    g = Gen(SEED)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    bypasses: list[str] = []
    hangs: list[str] = []
    signed_count = unsigned_count = 0
    async with SignedClient(
        fresh_gateway.endpoint, fresh_gateway.access_key, fresh_gateway.secret_key
    ) as client:
        status, body = await client.call(
            "POST", "/session", json_body={"name": "fuzz-live", "image": "bash"}
        )
        assert status == 201, body
        http_routes = [x for x in routes if not x.public and not x.websocket]
        for route in http_routes:
            for _ in range(PER_ROUTE):
                value = r.choice(["fuzz-live", "fuzz-live", r.choice(PATH_VALUES)])
                path = route.path(value)
                data = _body(g, r)
                ctype = r.choice(CONTENT_TYPES)
                params = _params(g, r)
                signed = not route.web_session and r.random() < 0.85
                if signed:
                    signed_count += 1
                    request = client.request(
                        route.method,
                        path,
                        data=data,
                        params=params or None,
                        content_type=ctype or "application/octet-stream",
                    )
                else:
                    unsigned_count += 1
                    url = client.url(path, params or None)
                    headers = {"Content-Type": ctype} if ctype else {}
                    request = client.http.request(
                        route.method, url, data=data, headers=headers, allow_redirects=False
                    )
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S), request as response:
                        status = response.status
                        if "/events/" in route.template and status == 200:
                            text = b"(an event stream: open, as it should be)"
                        else:
                            text = (await response.read())[:300]
                except TimeoutError:
                    hangs.append(f"{route.method} {route.template} ({value!r}, {ctype!r})")
                    continue
                except aiohttp.ClientError as exc:
                    server_errors.append(f"{route.method} {path}: connection failed: {exc!r}")
                    continue
                statuses[status] += 1
                label = (
                    f"{route.method} {route.template} ({value!r}, {ctype!r}) -> {status} {text!r}"
                )
                if status >= 500:
                    server_errors.append(label)
                # ("/x/../.." is normalised by the URL library to the public "GET /": fine.)
                hello = text.startswith(b'{"version": ')
                if not signed and status < 400 and not hello:
                    bypasses.append(label)
        alive_status, _ = await client.call("GET", "/")
    with capsys.disabled():
        print(
            f"\n[fuzz] gateway HTTP: {signed_count + unsigned_count} requests on "
            f"{len(http_routes)} routes ({signed_count} signed with garbage, {unsigned_count} "
            f"unsigned; seed {SEED}); statuses {dict(sorted(statuses.items()))}; "
            f"≥500: {len(server_errors)}, bypasses: {len(bypasses)}, hangs: {len(hangs)}"
        )
    assert alive_status == 200
    assert fresh_gateway.process.poll() is None, "the gateway died"
    assert server_errors == [], "\n".join(server_errors[:20])
    assert bypasses == [], "\n".join(bypasses[:20])
    assert hangs == [], "\n".join(hangs[:20])
    assert signed_count + unsigned_count >= 1000
