"""``POST /admin/gql``: the listing the SDK paginates and ``backend.ai ps`` reads (§6)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name

LIST_QUERY = (
    "query($limit:Int!, $offset:Int!, $status: String, $access_key: String, $filter: String, "
    "$order: String) { compute_session_list(limit:$limit, offset:$offset, status:$status, "
    "access_key:$access_key, filter:$filter, order:$order) { items { %s } total_count } }"
)
DEFAULT_FIELDS = "id image type status status_info status_changed result abusing_reports"


async def gql(client: SignedClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    status, body = await client.call(
        "POST", "/admin/gql", json_body={"query": query, "variables": variables or {}}
    )
    assert status == 200, body
    return body


async def page(
    client: SignedClient, limit: int, offset: int, fields: str = DEFAULT_FIELDS, **variables: Any
) -> dict[str, Any]:
    body = await gql(
        client,
        LIST_QUERY % fields,
        {"limit": limit, "offset": offset, "status": None, "access_key": None,
         "filter": None, "order": None, **variables},
    )  # fmt: skip
    assert "errors" not in body, body
    return body["data"]["compute_session_list"]


async def test_paginated_listing_over_45_sessions(fresh_client: SignedClient) -> None:
    names = [f"page-{i:02d}" for i in range(47)]
    for chunk in range(0, len(names), 8):
        await asyncio.gather(
            *(create_session(fresh_client, "c", n) for n in names[chunk : chunk + 8])
        )
    seen: list[dict[str, Any]] = []
    sizes = []
    for offset in range(0, 60, 20):
        result = await page(fresh_client, 20, offset, "id name status type result status_data")
        assert result["total_count"] == 47
        sizes.append(len(result["items"]))
        seen += result["items"]
    assert sizes == [20, 20, 7]
    assert sorted(item["name"] for item in seen) == names
    assert len({item["id"] for item in seen}) == 47
    item = seen[0]
    assert item["status"] == "RUNNING" and item["type"] == "INTERACTIVE"
    assert item["result"] == "UNDEFINED"
    assert item["status_data"] == "{}"  # a JSONString is a JSON-encoded string

    await fresh_client.call("DELETE", "/session/page-00")
    running = await page(fresh_client, 100, 0, "name", status="RUNNING")
    assert running["total_count"] == 46
    dead = await page(
        fresh_client, 100, 0, "name status status_info", status="TERMINATED,CANCELLED"
    )
    assert dead["items"] == [
        {"name": "page-00", "status": "TERMINATED", "status_info": "user-requested"}
    ]
    both = await page(fresh_client, 5, 0, "name", status="RUNNING, TERMINATED")
    assert both["total_count"] == 47 and len(both["items"]) == 5


async def test_filter_and_order(client: SignedClient) -> None:
    tag = unique_name("tag")
    for n in ("zeta", "alpha", "mid"):
        await create_session(client, "c", f"{tag}-{n}", tag=tag)
    result = await page(client, 10, 0, "name tag", filter=f'tag == "{tag}"', order="name")
    assert [i["name"] for i in result["items"]] == [f"{tag}-alpha", f"{tag}-mid", f"{tag}-zeta"]
    result = await page(
        client,
        10,
        0,
        "name",
        filter=f'tag == "{tag}" & (name ilike "%ALPHA" | name like "%zeta")',
        order="-name",
    )
    assert [i["name"] for i in result["items"]] == [f"{tag}-zeta", f"{tag}-alpha"]


async def test_fields_json_strings_and_containers(client: SignedClient) -> None:
    name = unique_name()
    created = await create_session(client, "c", name, config={"resources": {"cpu": 1}})
    result = await page(
        client,
        100,
        0,
        "name main_kernel_id occupying_slots service_ports resource_opts idle_checks "
        "status_history "
        "created_at containers { id status agent } dependencies { name id }",
        filter=f'name == "{name}"',
    )
    (item,) = result["items"]
    assert json.loads(item["occupying_slots"]) == {"cpu": "1"}
    assert json.loads(item["service_ports"]) == []
    assert isinstance(item["idle_checks"], str)
    history = json.loads(item["status_history"])
    assert list(history) == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]
    assert item["created_at"].endswith("+00:00")
    assert item["containers"][0]["status"] == "RUNNING"
    assert item["dependencies"] == []
    detail = await gql(
        client,
        "query($id: UUID!) { compute_session(id: $id) { name } }",
        {"id": created["sessionId"]},
    )
    assert detail["data"]["compute_session"] == {"name": name}


async def test_keypair_query_masks_the_secret(client: SignedClient) -> None:
    body = await gql(
        client, "query { keypair { user_id access_key secret_key is_active is_admin } }"
    )
    keypair = body["data"]["keypair"]
    assert keypair["access_key"] == client.access_key
    assert keypair["secret_key"] != client.secret_key and set(keypair["secret_key"]) == {"*"}
    assert keypair["is_active"] is True and keypair["is_admin"] is False


def _list_with(args: str, selection: str = "total_count") -> str:
    return f"query {{ compute_session_list(limit: 5, offset: 0{args}) {{ {selection} }} }}"


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        (_list_with("").replace("limit: 5", "limit: 0"), None, "limit"),
        (_list_with("").replace("limit: 5", "limit: 101"), None, "limit"),
        (_list_with("").replace("offset: 0", "offset: -1"), None, "offset"),
        (_list_with(', status: "SLEEPING"'), None, "SLEEPING"),
        (_list_with(', filter: "name ~~ 3"'), None, "filter"),
        (_list_with(', filter: "secret == 1"'), None, "unknown field"),
        (_list_with(', order: "-nope"'), None, "order"),
        (_list_with("", "items { no_such_field }"), None, "no_such_field"),
        ("query { compute_session_list(", None, "Syntax Error"),
        (
            "query($n: Int!) { compute_session_list(limit: $n, offset: 0) { total_count } }",
            {"n": "ten"},
            "$n",
        ),
        ('query { keypair(access_key: "AKIAOTHER") { access_key } }', None, "privilege"),
    ],
)
async def test_graphql_errors_come_back_as_200_with_errors(
    client: SignedClient, query: str, variables: dict[str, Any] | None, fragment: str
) -> None:
    body = await gql(client, query, variables)
    assert body.get("errors"), body
    assert any(fragment in error["message"] for error in body["errors"]), body


@pytest.mark.parametrize(
    "payload",
    [{"variables": {}}, {"query": 12}, {"query": "{ keypair { access_key } }", "variables": []}],
)
async def test_malformed_gql_requests_are_400(
    client: SignedClient, payload: dict[str, Any]
) -> None:
    status, body = await client.call("POST", "/admin/gql", json_body=payload)
    assert_problem(status, body, 400, "invalid-api-params")


async def test_sessions_are_scoped_per_access_key(client: SignedClient) -> None:
    """Listing with someone else's access_key still shows only one's own sessions."""
    name = unique_name()
    await create_session(client, "c", name)
    result = await page(client, 100, 0, "name access_key", access_key="AKIASOMEONEELSE00000")
    assert all(item["access_key"] == client.access_key for item in result["items"])
    assert name in [item["name"] for item in result["items"]]
