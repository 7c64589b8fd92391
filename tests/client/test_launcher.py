"""The launcher's calls (presets, groups, images, vfolders and transfers) in both dialects:
against v7 vfolders are addressed by name, against v9 by the id ``/folders/_/id`` gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web
from support.gateway import GatewayInfo

from bai_lsp.backendai import BackendAIClient
from bai_lsp.backendai.errors import InvalidRequestError, NotFoundError, ProtocolError
from bai_lsp.backendai.launcher import LauncherCalls

from .conftest import GATEWAY_API, unique_name
from .recorder import Server, hello
from .test_transport import config_for


async def test_presets_groups_and_images(client: BackendAIClient) -> None:
    calls = LauncherCalls(client)
    checked = await calls.check_presets("default")
    assert {p["name"] for p in checked["presets"]} >= {"cpu01-small", "cpu02-medium"}
    assert await calls.scaling_groups("default") == ["default"]
    images = await calls.images()
    assert "python" in [i["name"] for i in images]


async def test_vfolder_round_trip_with_progress(
    client: BackendAIClient, gateway: GatewayInfo, tmp_path: Path
) -> None:
    calls = LauncherCalls(client)
    name = unique_name("vf")
    await calls.create_vfolder(name)
    payload = os.urandom(9 * 1024 * 1024 + 3)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    seen: list[tuple[int, int]] = []
    sent = await calls.upload(name, "d/blob.bin", local, lambda d, t: seen.append((d, t)))
    assert sent == len(payload)
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    assert len(seen) == 4  # 0, then three 4 MiB chunks
    assert [f.name for f in await calls.vfolder_files(name, "d")] == ["blob.bin"]
    back = tmp_path / "back.bin"
    assert await calls.download(name, "d/blob.bin", back) == len(payload)
    assert back.read_bytes() == payload
    assert await calls.read(name, "d/blob.bin", 20 * 1024 * 1024) == payload
    with pytest.raises(InvalidRequestError, match="only files up to 1024 bytes"):
        await calls.read(name, "d/blob.bin", 1024)
    with pytest.raises(InvalidRequestError, match="stay inside the vfolder"):
        await calls.upload(name, "../x", local)
    # v9 addresses vfolders by the id /folders/_/id gives (as the newest SDK does), v7 by name.
    assert (name in calls._ids) is (GATEWAY_API[gateway.endpoint] == "v9")
    await calls.delete_vfolder(name)
    assert name not in [f["name"] for f in await calls.list_vfolders()]
    with pytest.raises(NotFoundError):
        await calls.vfolder_files(name)


async def test_a_transfer_answer_without_url_names_what_is_missing_not_the_token(
    server: Server,
) -> None:
    async def storage(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/request-download"):
            return web.json_response({"token": "tok-SECRET-1234", "url": ""})
        return hello()

    srv = await server(storage)
    async with BackendAIClient(config_for(srv.url)) as client:
        with pytest.raises(ProtocolError) as refused:
            await LauncherCalls(client).read("data", "a.txt", 1024)
    assert "request-download answered without a transfer url" in str(refused.value)
    assert "tok-SECRET" not in str(refused.value)
