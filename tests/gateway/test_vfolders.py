"""Vfolders over the manager's routes: every bad name, path and token gets a message.

The happy paths (create, upload, list, download, delete) run through the official SDKs in
tests/sdk/test_launcher_apis.py; here the refusals, the tus details and the confinement.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo, running_gateway
from support.signed import SignedClient

from .conftest import assert_problem, unique_name


async def _folder(client: SignedClient) -> str:
    name = unique_name("vf")
    status, body = await client.call("POST", "/folders", json_body={"name": name})
    assert status == 201, body
    return name


async def _patch(url: str, data: Any, offset: int, **headers: str) -> tuple[int, Any]:
    hdrs = {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        **headers,
    }
    async with aiohttp.ClientSession() as http, http.patch(url, data=data, headers=hdrs) as r:
        raw = await r.read()
        return r.status, (r.headers.get("Upload-Offset"), raw)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("../escape.txt", "climbs out with '..'"),
        ("/etc/passwd", "is an absolute path"),
        ("a/../../b", "climbs out with '..'"),
        ("nul\x00byte", "contains a NUL byte"),
    ],
)
async def test_traversal_is_refused_naming_the_path(
    client: SignedClient, path: str, says: str
) -> None:
    name = await _folder(client)
    for route, body in (
        ("request-upload", {"path": path, "size": 1}),
        ("request-download", {"path": path}),
    ):
        status, answer = await client.call("POST", f"/folders/{name}/{route}", json_body=body)
        assert_problem(status, answer, 400, "invalid-api-params")
        assert says in answer["msg"] and "inside the vfolder" in answer["msg"], answer
    status, answer = await client.call("GET", f"/folders/{name}/files", json_body={"path": path})
    assert_problem(status, answer, 400, "invalid-api-params")


async def test_a_symlink_out_of_the_vfolder_is_refused(
    client: SignedClient, gateway: GatewayInfo, tmp_path: Path
) -> None:
    name = await _folder(client)
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    os.symlink(secret, gateway.data_dir / "vfolders" / name / "link")
    status, answer = await client.call(
        "POST", f"/folders/{name}/request-download", json_body={"path": "link"}
    )
    assert_problem(status, answer, 400, "invalid-api-params")
    assert "leads outside the vfolder" in answer["msg"]


async def test_unknown_folder_bad_name_and_duplicate(client: SignedClient) -> None:
    status, answer = await client.call("GET", "/folders/no-such-vf/files", json_body={})
    assert_problem(status, answer, 404, "object-not-found")
    assert answer["title"] == "No such virtual folder." and "no-such-vf" in answer["msg"]
    status, answer = await client.call("POST", "/folders", json_body={"name": "bad/name"})
    assert_problem(status, answer, 400, "invalid-api-params")
    assert "not a valid vfolder name" in str(answer["data"])
    name = await _folder(client)
    status, answer = await client.call("POST", "/folders", json_body={"name": name})
    assert_problem(status, answer, 400, "vfolder-already-exists")
    status, answer = await client.call(
        "POST", f"/folders/{name}/request-upload", json_body={"path": "a", "size": -1}
    )
    assert_problem(status, answer, 400, "invalid-api-params")
    assert "non-negative integer" in str(answer["data"])


async def test_tus_upload_resumes_at_the_offset_and_refuses_a_wrong_one(
    client: SignedClient, gateway: GatewayInfo
) -> None:
    name = await _folder(client)
    payload = os.urandom(300_000)
    status, ticket = await client.call(
        "POST",
        f"/folders/{name}/request-upload",
        json_body={"path": "sub/dir/data.bin", "size": len(payload)},
    )
    assert status == 200, ticket
    url = f"{ticket['url']}?token={ticket['token']}"
    status, (offset, _) = await _patch(url, payload[:100_000], 0)
    assert (status, offset) == (204, "100000")
    target = gateway.data_dir / "vfolders" / name / "sub" / "dir" / "data.bin"
    assert not target.exists()  # nothing half-written is visible
    status, (_, raw) = await _patch(url, payload[100_000:], 5)
    assert status == 409 and b"does not match the 100000 bytes received" in raw
    status, (_, raw) = await _patch(
        url, payload[100_000:], 100_000, **{"Content-Type": "text/plain"}
    )
    assert status == 415
    async with aiohttp.ClientSession() as http, http.head(url) as r:
        assert r.headers["Upload-Offset"] == "100000"
    status, (offset, _) = await _patch(url, payload[100_000:] + b"extra", 100_000)
    assert status == 400
    status, (offset, _) = await _patch(url, payload[100_000:], 100_000)
    assert (status, offset) == (204, str(len(payload)))
    assert target.read_bytes() == payload
    # The token is spent: a late retry is told so.
    status, (_, raw) = await _patch(url, b"x", len(payload))
    assert status == 401 and b"unknown or has expired" in raw


async def test_a_second_chunk_while_one_arrives_is_refused_and_nothing_is_garbled(
    client: SignedClient, gateway: GatewayInfo
) -> None:
    name = await _folder(client)
    first = 1024 * 1024
    payload = os.urandom(3 * first)
    status, ticket = await client.call(
        "POST",
        f"/folders/{name}/request-upload",
        json_body={"path": "big.bin", "size": len(payload)},
    )
    assert status == 200, ticket
    url = f"{ticket['url']}?token={ticket['token']}"
    release = asyncio.Event()

    async def slow_body() -> Any:
        yield payload[:first]  # written at once: HEAD then shows the chunk arriving
        await release.wait()
        yield payload[first : 2 * first]

    slow = asyncio.ensure_future(_patch(url, slow_body(), 0))
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            async with http.head(url) as r:
                if r.headers["Upload-Offset"] == str(first):
                    break
            await asyncio.sleep(0.05)
    status, (_, raw) = await _patch(url, payload[first:], first)
    assert status == 409 and b"another chunk of this upload is still arriving" in raw
    release.set()
    status, (offset, _) = await slow
    assert (status, offset) == (204, str(2 * first))
    status, (offset, _) = await _patch(url, payload[2 * first :], 2 * first)
    assert (status, offset) == (204, str(len(payload)))
    assert (gateway.data_dir / "vfolders" / name / "big.bin").read_bytes() == payload


async def test_download_honours_range_and_a_bad_token_is_refused(client: SignedClient) -> None:
    name = await _folder(client)
    payload = b"0123456789" * 1000
    _, ticket = await client.call(
        "POST", f"/folders/{name}/request-upload", json_body={"path": "f.txt", "size": len(payload)}
    )
    status, _ = await _patch(f"{ticket['url']}?token={ticket['token']}", payload, 0)
    assert status == 204
    _, ticket = await client.call(
        "POST", f"/folders/{name}/request-download", json_body={"path": "f.txt"}
    )
    url = f"{ticket['url']}?token={ticket['token']}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Range": "bytes=9990-"}) as r:
            assert r.status == 206 and await r.read() == payload[9990:]
        async with http.get(url) as r:
            assert r.status == 200 and await r.read() == payload
        async with http.get(ticket["url"] + "?token=forged") as r:
            body = await r.json()
            assert r.status == 401 and "unknown or has expired" in body["msg"]
    status, answer = await client.call(
        "POST", f"/folders/{name}/request-download", json_body={"path": "missing.txt"}
    )
    assert_problem(status, answer, 404, "object-not-found")


async def test_delete_files_and_folder_by_id(client: SignedClient, gateway: GatewayInfo) -> None:
    name = await _folder(client)
    status, body = await client.call(
        "POST", f"/folders/{name}/mkdir", json_body={"path": "d/e", "parents": True}
    )
    assert status == 201, body
    status, answer = await client.call(
        "DELETE", f"/folders/{name}/delete-files", json_body={"files": ["d"]}
    )
    assert_problem(status, answer, 400, "invalid-api-params")
    assert "pass recursive" in answer["msg"]
    status, _ = await client.call(
        "DELETE", f"/folders/{name}/delete-files", json_body={"files": ["d"], "recursive": True}
    )
    assert status == 200
    status, found = await client.call("GET", "/folders/_/id", json_body={"name": name})
    assert status == 200
    status, _ = await client.call("DELETE", "/folders", json_body={"id": found["id"]})
    assert status == 204
    assert not (gateway.data_dir / "vfolders" / name).exists()


async def test_check_presets_in_the_newest_dialect_needs_the_project(client: SignedClient) -> None:
    """As the 26.09 manager: a v9 request without ``group`` is refused; 23.09 defaults it."""
    newest = {"version": "v9.20250722"}
    status, answer = await client.call("POST", "/resource/check-presets", json_body={}, sign=newest)
    assert_problem(status, answer, 400, "invalid-api-params")
    assert answer["data"] == {"group": "Field required"}
    status, answer = await client.call(
        "POST", "/resource/check-presets", json_body={"group": "default"}, sign=newest
    )
    assert status == 200 and answer["presets"], answer
    status, answer = await client.call("POST", "/resource/check-presets")
    assert status == 200 and answer["scaling_groups"].keys() == {"default"}, answer
    status, answer = await client.call(
        "POST", "/resource/check-presets", json_body={"group": "default", "scaling_group": "gpu"}
    )
    assert_problem(status, answer, 400, "invalid-api-params")
    assert "Unknown scaling group 'gpu'" in answer["msg"]


async def test_the_access_log_never_holds_a_transfer_token(tmp_path: Path) -> None:
    """``--access-log`` lines name the path only: a transfer URL's query is its credential."""
    with running_gateway(tmp_path / "gw", args=["--access-log"]) as gw:
        async with SignedClient(gw.endpoint, gw.access_key, gw.secret_key) as client:
            name = await _folder(client)
            status, ticket = await client.call(
                "POST", f"/folders/{name}/request-upload", json_body={"path": "a.bin", "size": 3}
            )
            assert status == 200, ticket
            status, _ = await _patch(f"{ticket['url']}?token={ticket['token']}", b"abc", 0)
            assert status == 204
    # Read once the gateway stopped: aiohttp writes the line after the answer went out.
    log = (tmp_path / "gw" / "gateway.log").read_text()
    assert '"PATCH /storage/upload" 204' in log  # the request was logged ...
    assert ticket["token"] not in log  # ... without its token
