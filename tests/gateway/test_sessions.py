"""Session lifecycle over HTTP: get-or-create, info, destroy, restart, rename, logs (§3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name

# "c" sessions start without a process, so these tests stay cheap.
LIGHT = "c"


async def test_create_returns_201_running_with_created_flag(client: SignedClient) -> None:
    name = unique_name()
    body = await create_session(client, LIGHT, name)
    assert body["sessionName"] == name
    assert body["status"] == "RUNNING"
    assert body["created"] is True
    assert body["servicePorts"] == []
    uuid.UUID(body["sessionId"])


async def test_same_name_same_image_is_reused(client: SignedClient) -> None:
    name = unique_name()
    first = await create_session(client, LIGHT, name)
    status, second = await client.call("POST", "/session", json_body={"name": name, "image": LIGHT})
    assert status == 201
    assert second["created"] is False
    assert second["sessionId"] == first["sessionId"]
    assert second["status"] == "RUNNING"


async def test_create_alias_route(client: SignedClient) -> None:
    status, body = await client.call(
        "POST", "/session/_/create", json_body={"name": unique_name(), "image": LIGHT}
    )
    assert status == 201 and body["created"] is True


async def test_same_name_other_image_is_session_already_exists(client: SignedClient) -> None:
    name = unique_name()
    first = await create_session(client, LIGHT, name)
    status, body = await client.call("POST", "/session", json_body={"name": name, "image": "bash"})
    assert_problem(status, body, 400, "session-already-exists")
    assert body["data"]["existingSessionId"] == first["sessionId"]
    assert LIGHT in body["msg"] and "bash" in body["msg"]


async def test_reuse_if_exists_false_is_refused(client: SignedClient) -> None:
    name = unique_name()
    first = await create_session(client, LIGHT, name)
    status, body = await client.call(
        "POST", "/session", json_body={"name": name, "image": LIGHT, "reuseIfExists": False}
    )
    assert_problem(status, body, 400, "session-already-exists")
    assert body["data"]["existingSessionId"] == first["sessionId"]


async def test_unknown_image_names_the_available_ones(client: SignedClient) -> None:
    status, body = await client.call(
        "POST", "/session", json_body={"name": unique_name(), "image": "cobol:85"}
    )
    assert_problem(status, body, 404, "object-not-found")
    assert body["title"] == "No such environment image."
    assert "cobol:85" in body["msg"]
    assert "python" in body["msg"] and "bash" in body["msg"]
    assert "python*" in body["data"]["available"]


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "x" * 65,
        "-starts-with-dash",
        "ends-with-dot.",
        "has space",
        "ünïcode",
        "from-template",
    ],
)
async def test_bad_session_names_are_invalid_api_params(client: SignedClient, name: str) -> None:
    status, body = await client.call("POST", "/session", json_body={"name": name, "image": LIGHT})
    assert_problem(status, body, 400, "invalid-api-params")
    assert body["msg"] == "Input validation error"
    assert "name" in body["data"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": LIGHT}, "name"),
        ({"name": "valid-name"}, "image"),
        ({"name": "valid-name", "image": 42}, "image"),
        ({"name": 1234, "image": LIGHT}, "name"),
        ({"name": "valid-name", "image": LIGHT, "enqueueOnly": "perhaps"}, "enqueueOnly"),
        ({"name": "valid-name", "image": LIGHT, "config": []}, "config"),
        ({"name": "valid-name", "image": LIGHT, "config": {"environ": {"A": 1}}}, "config.environ"),
        ({"name": "valid-name", "image": LIGHT, "config": {"mounts": "data"}}, "config.mounts"),
        (
            {"name": "valid-name", "image": LIGHT, "config": {"resources": {"cpu": [1]}}},
            "config.resources.cpu",
        ),
        ({"name": "valid-name", "image": LIGHT, "maxWaitSeconds": -1}, "maxWaitSeconds"),
        ({"name": "valid-name", "image": LIGHT, "type": "gpu-party"}, "type"),
        ({"name": "valid-name", "image": LIGHT, "type": "batch"}, "startupCommand"),
        ({"name": "valid-name", "image": LIGHT, "clusterMode": "mesh"}, "clusterMode"),
    ],
)
async def test_wrong_types_and_missing_fields(
    client: SignedClient, body: dict[str, Any], field: str
) -> None:
    status, answer = await client.call("POST", "/session", json_body=body)
    assert_problem(status, answer, 400, "invalid-api-params")
    assert field in answer["data"], answer


async def test_malformed_json_body(client: SignedClient) -> None:
    status, body = await client.call(
        "POST", "/session", data=b"{not json", content_type="application/json"
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert "Malformed body" in body["msg"]


async def test_json_body_that_is_not_an_object(client: SignedClient) -> None:
    status, body = await client.call("POST", "/session", json_body=["name", "image"])
    assert_problem(status, body, 400, "invalid-api-params")


async def test_cluster_size_over_one_is_quota_exceeded(client: SignedClient) -> None:
    status, body = await client.call(
        "POST", "/session", json_body={"name": unique_name(), "image": LIGHT, "clusterSize": 2}
    )
    assert_problem(status, body, 412, "quota-exceeded")


async def test_info_by_name_and_uuid_reports_advisory_resources(client: SignedClient) -> None:
    name = unique_name()
    created = await create_session(
        client,
        LIGHT,
        name,
        config={"resources": {"cpu": 2, "mem": "4g", "cuda.shares": 0.5}, "environ": {"X": "1"}},
        tag="mytag",
    )
    for ref in (name, created["sessionId"]):
        status, info = await client.call("GET", f"/session/{ref}")
        assert status == 200, info
        assert info["status"] == "RUNNING"
        assert info["image"] == info["lang"] == LIGHT
        assert info["tag"] == "mytag"
        assert info["requestedSlots"] == repr(
            {"cpu": "2", "mem": str(4 * 2**30), "cuda.shares": "0.5"}
        )
        assert info["environ"] == repr({"X": "1"})
        assert info["resourcesAdvisory"] is True
        assert "advisory" in info["resourceNote"]
        assert info["statusInfo"] == "None"
        assert isinstance(info["age"], int)
        assert " " in info["creationTime"]  # str(datetime), as 23.09 renders it
        assert info["terminationTime"] is None
        for key in (
            "domainName", "groupId", "userId", "architecture", "registry", "containerId",
            "occupiedSlots", "occupyingSlots", "occupiedShares", "resourceOpts", "statusData",
            "numQueriesExecuted", "lastStat", "idleChecks",
        ):  # fmt: skip
            assert key in info


async def test_destroy_then_404_and_name_reusable(client: SignedClient) -> None:
    name = unique_name()
    first = await create_session(client, LIGHT, name)
    status, body = await client.call("DELETE", f"/session/{name}")
    assert (status, body) == (200, {"stats": {"status": "terminated"}})
    for ref in (name, first["sessionId"]):
        status, body = await client.call("GET", f"/session/{ref}")
        assert_problem(status, body, 404, "object-not-found")
        assert body["title"] == "No such session."
    status, body = await client.call("DELETE", f"/session/{name}")
    assert_problem(status, body, 404, "object-not-found")
    second = await create_session(client, LIGHT, name)
    assert second["created"] is True and second["sessionId"] != first["sessionId"]


async def test_destroy_recursive_returns_a_list(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, LIGHT, name)
    status, body = await client.call(
        "DELETE", f"/session/{name}", params={"forced": "true", "recursive": "true"}
    )
    assert (status, body) == (200, [{"status": "terminated"}])


async def test_destroy_with_bad_flag_is_400(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, LIGHT, name)
    status, body = await client.call("DELETE", f"/session/{name}", params={"forced": "sure"})
    assert_problem(status, body, 400, "invalid-api-params")
    status, _ = await client.call("GET", f"/session/{name}")
    assert status == 200


async def test_enqueue_only_returns_pending_then_runs(client: SignedClient) -> None:
    name = unique_name()
    status, body = await client.call(
        "POST", "/session", json_body={"name": name, "image": "bash", "enqueueOnly": True}
    )
    assert status == 201 and body["status"] == "PENDING" and body["created"] is True
    for _ in range(200):
        _, info = await client.call("GET", f"/session/{name}")
        if info["status"] == "RUNNING":
            break
        assert info["status"] in ("PENDING", "SCHEDULED", "PREPARING")
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"never RUNNING: {info}")


async def test_restart_interrupt_complete_logs(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    assert (await client.call("PATCH", f"/session/{name}"))[0] == 204
    assert (await client.call("POST", f"/session/{name}/interrupt"))[0] == 204
    status, body = await client.call(
        "POST", f"/session/{name}/complete", json_body={"code": "pri", "options": {}}
    )
    assert status == 200 and body["result"]["status"] == "finished"
    assert isinstance(body["result"]["completions"], list)
    status, body = await client.call("GET", f"/session/{name}/logs")
    assert status == 200
    assert "created" in body["result"]["logs"] and "restarting" in body["result"]["logs"]
    _, info = await client.call("GET", f"/session/{name}")
    assert info["status"] == "RUNNING"


async def test_logs_of_a_dead_session_remain(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, LIGHT, name)
    await client.call("DELETE", f"/session/{name}")
    status, body = await client.call("GET", f"/session/{name}/logs")
    assert status == 200 and "terminated" in body["result"]["logs"]


async def test_status_history(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, LIGHT, name)
    status, body = await client.call("GET", f"/session/{name}/status-history")
    assert status == 200
    assert list(body["result"]) == ["PENDING", "SCHEDULED", "PREPARING", "RUNNING"]


async def test_rename(client: SignedClient) -> None:
    name, new = unique_name(), unique_name("renamed")
    created = await create_session(client, LIGHT, name)
    assert (await client.call("POST", f"/session/{name}/rename", params={"name": new}))[0] == 204
    _, info = await client.call("GET", f"/session/{new}")
    assert info["sessionId"] == created["sessionId"]
    status, body = await client.call("GET", f"/session/{name}")
    assert_problem(status, body, 404, "object-not-found")
    status, body = await client.call("POST", f"/session/{new}/rename", params={"name": "x"})
    assert_problem(status, body, 400, "invalid-api-params")


async def test_other_owner_access_key_is_refused(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, LIGHT, name)
    status, body = await client.call(
        "DELETE", f"/session/{name}", params={"owner_access_key": "AKIASOMEONEELSE00000"}
    )
    assert_problem(status, body, 403, "insufficient-privilege")


async def test_match_by_prefix(client: SignedClient) -> None:
    created = await create_session(client, LIGHT)
    status, body = await client.call(
        "GET", "/session/_/match", params={"id": created["sessionId"][:8]}
    )
    assert status == 200
    assert [m["id"] for m in body["matches"]] == [created["sessionId"]]


async def test_requests_for_unknown_sessions_are_404(client: SignedClient) -> None:
    for method, path in [
        ("GET", "/session/no-such-session"),
        ("PATCH", "/session/no-such-session"),
        ("DELETE", "/session/no-such-session"),
        ("POST", "/session/no-such-session/interrupt"),
        ("GET", "/session/no-such-session/files"),
        ("GET", f"/session/{uuid.uuid4()}"),
    ]:
        status, body = await client.call(method, path)
        assert_problem(status, body, 404, "object-not-found")
