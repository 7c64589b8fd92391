"""Gateway tests talk HTTP to a live gateway with a minimal signing client (support.signed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.gateway import GatewayInfo
from support.signed import SignedClient

PROBLEM = "https://api.backend.ai/probs/"


@pytest.fixture
async def client(gateway: GatewayInfo) -> AsyncIterator[SignedClient]:
    """A client of the shared gateway; sessions made with ``create_session`` are destroyed
    afterwards (unless ``keep=True``), so the shared gateway does not fill up."""
    async with SignedClient(gateway.endpoint, gateway.access_key, gateway.secret_key) as c:
        yield c
        for ref in _CREATED.pop(id(c), []):
            await c.call("DELETE", f"/session/{ref}", params={"forced": "true"})


@pytest.fixture
async def fresh_client(fresh_gateway: GatewayInfo) -> AsyncIterator[SignedClient]:
    async with SignedClient(
        fresh_gateway.endpoint, fresh_gateway.access_key, fresh_gateway.secret_key
    ) as c:
        yield c


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_problem(status: int, body: Any, expected_status: int, slug: str) -> None:
    assert status == expected_status, body
    assert isinstance(body, dict) and body.get("type") == PROBLEM + slug, body
    assert isinstance(body.get("title"), str) and body["title"], body


_CREATED: dict[int, list[str]] = {}


async def create_session(
    client: SignedClient,
    image: str = "bash",
    name: str | None = None,
    *,
    keep: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    status, body = await client.call(
        "POST", "/session", json_body={"name": name or unique_name(), "image": image, **extra}
    )
    assert status == 201, body
    if body["created"] and not keep:
        _CREATED.setdefault(id(client), []).append(body["sessionId"])
    return body
