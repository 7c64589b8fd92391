"""Authentication and version checks exactly as the manager does them (§2.2, §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from support.gateway import GatewayInfo
from support.signed import SignedClient

from .conftest import assert_problem


async def test_hello_is_public_and_carries_manager_headers(gateway: GatewayInfo) -> None:
    async with aiohttp.ClientSession() as http, http.get(gateway.endpoint + "/") as response:
        assert response.status == 200
        assert await response.json() == {"version": "v7.20230615", "manager": "23.09.10"}
        assert response.headers["Server"] == "BackendAI"
        assert response.headers["X-RateLimit-Window"] == "900"
        assert response.headers["X-RateLimit-Limit"] == "1000"


async def test_signed_hello_also_answers(client: SignedClient) -> None:
    assert await client.call("GET", "/") == (
        200,
        {"version": "v7.20230615", "manager": "23.09.10"},
    )


async def test_signed_request_passes_and_counts_rate(client: SignedClient) -> None:
    async with client.request("GET", "/session/nonexistent-session") as response:
        assert response.status == 404
        limit = int(response.headers["X-RateLimit-Limit"])
        assert int(response.headers["X-RateLimit-Remaining"]) < limit
        body = await response.json()
    assert_problem(404, body, 404, "object-not-found")
    assert body["title"] == "No such session."


async def test_missing_authorization_is_401(gateway: GatewayInfo) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            gateway.endpoint + "/session/abcd",
            headers={
                "Date": datetime.now(UTC).isoformat(),
                "X-BackendAI-Version": "v7.20230615",
            },
        ) as response,
    ):
        body = await response.json(content_type=None)
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert_problem(response.status, body, 401, "auth-failed")
    assert body["msg"] == "Unauthorized access"


async def test_wrong_secret_is_401_signature_mismatch(client: SignedClient) -> None:
    status, body = await client.call("GET", "/session/abcd", sign={"secret_key": "wrong" * 8})
    assert_problem(status, body, 401, "auth-failed")
    assert body["msg"] == "Signature mismatch"


async def test_unknown_access_key_is_401(client: SignedClient) -> None:
    status, body = await client.call(
        "GET", "/session/abcd", sign={"access_key": "AKIANOSUCHKEY0000000"}
    )
    assert_problem(status, body, 401, "auth-failed")
    assert body["msg"] == "Access key not found"


async def test_signature_covers_the_query_string(
    gateway: GatewayInfo, client: SignedClient
) -> None:
    url = client.url("/session/abcd", {"owner_access_key": gateway.access_key})
    headers = client.headers("GET", url, "text/plain")
    tampered = client.url("/session/abcd", {"owner_access_key": "someone-else"})
    async with client.http.get(
        tampered, headers={**headers, "Content-Type": "text/plain"}
    ) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 401, "auth-failed")


async def test_date_outside_15_minutes_is_400(client: SignedClient) -> None:
    for skew in (timedelta(minutes=16), timedelta(minutes=-16)):
        status, body = await client.call(
            "GET", "/session/abcd", sign={"date": datetime.now(UTC) + skew}
        )
        assert_problem(status, body, 400, "invalid-auth-params")
        assert body["msg"] == "Date/time sync error"


async def test_date_within_window_passes(client: SignedClient) -> None:
    status, body = await client.call(
        "GET", "/session/abcd", sign={"date": datetime.now(UTC) - timedelta(minutes=14)}
    )
    assert_problem(status, body, 404, "object-not-found")


async def test_unparseable_date_is_400(client: SignedClient) -> None:
    url = client.url("/session/abcd")
    headers = client.headers("GET", url, "text/plain")
    headers["Date"] = "yesterday-ish"
    async with client.http.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 400, "invalid-auth-params")


async def test_unsupported_version_is_400(client: SignedClient) -> None:
    # v9.20250722 is accepted since the gateway speaks both dialects (test_dialects.py).
    status, body = await client.call("GET", "/session/abcd", sign={"version": "v10.20300101"})
    assert_problem(status, body, 400, "generic-bad-request")
    assert body["msg"] == "Unsupported API version."


async def test_unsupported_version_refused_even_on_hello(gateway: GatewayInfo) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            gateway.endpoint + "/", headers={"X-BackendAI-Version": "v3.20170615"}
        ) as response,
    ):
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 400, "generic-bad-request")


async def test_older_accepted_version_is_fine(client: SignedClient) -> None:
    status, body = await client.call("GET", "/session/abcd", sign={"version": "v4.20190615"})
    assert_problem(status, body, 404, "object-not-found")


async def test_signed_without_version_header_is_400(client: SignedClient) -> None:
    url = client.url("/session/abcd")
    headers = client.headers("GET", url, "text/plain")
    del headers["X-BackendAI-Version"]
    async with client.http.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 400, "invalid-auth-params")
    assert body["msg"] == "API version missing in request headers"


async def test_malformed_authorization_is_400(client: SignedClient) -> None:
    url = client.url("/session/abcd")
    headers = client.headers("GET", url, "text/plain")
    headers["Authorization"] = "Bearer something"
    async with client.http.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 400, "invalid-auth-params")


async def test_non_local_host_header_is_refused(client: SignedClient) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 with its own name in Host: refused."""
    url = client.url("/")
    async with client.http.get(url, headers={"Host": "evil.example.com"}) as response:
        body = await response.json(content_type=None)
    assert_problem(response.status, body, 403, "generic-forbidden")
    assert "evil.example.com" in body["msg"]


async def test_localhost_host_header_is_accepted(
    gateway: GatewayInfo, client: SignedClient
) -> None:
    port = gateway.endpoint.rsplit(":", 1)[1]
    url = client.url("/")
    async with client.http.get(url, headers={"Host": f"localhost:{port}"}) as response:
        assert response.status == 200


async def test_unknown_path_is_url_not_found(client: SignedClient) -> None:
    status, body = await client.call("GET", "/no/such/route")
    assert_problem(status, body, 404, "url-not-found")
    assert body["data"] == "/no/such/route"


async def test_wrong_method_is_405_problem(client: SignedClient) -> None:
    status, body = await client.call("PUT", "/session")
    assert_problem(status, body, 405, "method-not-allowed")
