"""A config file: extra keypairs (sessions are scoped per access key) and image entries."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from support.gateway import GatewayInfo, running_gateway
from support.signed import SignedClient

from .conftest import assert_problem, create_session

OTHER_ACCESS = "AKIAOTHERUSER0000000"
OTHER_SECRET = "other-secret-key-for-the-second-keypair"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVICE_PORT = _free_port()

CONFIG = f"""
[gateway]
max_sessions = 3
sse_ping_interval = 0.2

[[gateway.keypairs]]
access_key = "{OTHER_ACCESS}"
secret_key = "{OTHER_SECRET}"
user = "other@example.com"

[images."lab/tools"]
runtime = "bash"
language = "bash"
environ = {{ TOOLS_FLAVOUR = "lab" }}
service_ports = [{{ name = "web", protocol = "http", port = {{port}} }}]
"""


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayInfo]:
    root = tmp_path_factory.mktemp("configured")
    config = root / "gateway.toml"
    config.write_text(CONFIG.replace("{port}", str(SERVICE_PORT)))
    with running_gateway(root / "gw", args=["--config", str(config)]) as info:
        yield info


async def test_sessions_are_invisible_to_other_keys(configured: GatewayInfo) -> None:
    async with (
        SignedClient(configured.endpoint, configured.access_key, configured.secret_key) as me,
        SignedClient(configured.endpoint, OTHER_ACCESS, OTHER_SECRET) as other,
    ):
        mine = await create_session(me, "c", "shared-name")
        theirs = await create_session(other, "c", "shared-name")
        assert mine["sessionId"] != theirs["sessionId"] and theirs["created"] is True
        for ref in ("shared-name", mine["sessionId"]):
            status, info = await other.call("GET", f"/session/{ref}")
            if ref == "shared-name":
                assert info["sessionId"] == theirs["sessionId"]
            else:
                assert_problem(status, info, 404, "object-not-found")
        status, body = await other.call("DELETE", f"/session/{mine['sessionId']}")
        assert_problem(status, body, 404, "object-not-found")
        _, listing = await other.call(
            "POST",
            "/admin/gql",
            json_body={"query": "{ compute_session_list(limit: 10, offset: 0) { items { id } } }"},
        )
        ids = [i["id"] for i in listing["data"]["compute_session_list"]["items"]]
        assert ids == [theirs["sessionId"]]
        _, keypair = await other.call(
            "POST", "/admin/gql", json_body={"query": "{ keypair { user_id access_key } }"}
        )
        assert keypair["data"]["keypair"] == {
            "user_id": "other@example.com",
            "access_key": OTHER_ACCESS,
        }
        await me.call("DELETE", "/session/shared-name")
        await other.call("DELETE", "/session/shared-name")


async def test_configured_image_and_its_service_ports(configured: GatewayInfo) -> None:
    async with SignedClient(
        configured.endpoint, configured.access_key, configured.secret_key
    ) as me:
        created = await create_session(me, "lab/tools", "tools-1")
        assert created["servicePorts"] == [
            {"name": "web", "protocol": "http", "ports": [SERVICE_PORT]}
        ]
        assert await me.call("GET", "/stream/session/tools-1/apps") == (
            200,
            created["servicePorts"],
        )
        _, body = await me.call(
            "POST",
            "/session/tools-1",
            json_body={"mode": "query", "code": "echo $TOOLS_FLAVOUR", "runId": None},
        )
        result = body["result"]
        out = "".join(t for k, t in result["console"] if k == "stdout")
        while result["status"] != "finished":
            _, body = await me.call(
                "POST",
                "/session/tools-1",
                json_body={"mode": "continue", "code": "", "runId": result["runId"]},
            )
            result = body["result"]
            out += "".join(t for k, t in result["console"] if k == "stdout")
        assert out == "lab\n"
        await me.call("DELETE", "/session/tools-1")


async def test_live_session_quota(configured: GatewayInfo) -> None:
    async with SignedClient(
        configured.endpoint, configured.access_key, configured.secret_key
    ) as me:
        for i in range(3):
            await create_session(me, "c", f"quota-{i}")
        status, body = await me.call(
            "POST", "/session", json_body={"name": "quota-3", "image": "c"}
        )
        assert_problem(status, body, 412, "quota-exceeded")
        assert "at most 3" in body["msg"]
        await me.call("DELETE", "/session/quota-0")
        await create_session(me, "c", "quota-3")
        for i in range(1, 4):
            await me.call("DELETE", f"/session/quota-{i}")


def test_default_images_file_in_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "gw" / "data"
    data.mkdir(parents=True)
    (data / "images.toml").write_text('[images."mybash"]\nruntime = "bash"\n')
    with running_gateway(tmp_path / "gw") as info:

        async def check() -> None:
            async with SignedClient(info.endpoint, info.access_key, info.secret_key) as me:
                assert (await create_session(me, "mybash", "from-data-dir"))["status"] == "RUNNING"

        asyncio.run(check())


async def test_event_stream_sends_ping_comments(configured: GatewayInfo) -> None:
    async with (
        SignedClient(configured.endpoint, configured.access_key, configured.secret_key) as me,
        me.get_stream("/events/session") as response,
    ):
        assert response.status == 200
        first = await asyncio.wait_for(response.content.readline(), 10)
        assert first == b": ping\r\n"


async def test_tcpproxy_tunnels_to_a_declared_service(configured: GatewayInfo) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read(100))
        await writer.drain()
        writer.close()

    async with SignedClient(
        configured.endpoint, configured.access_key, configured.secret_key
    ) as me:
        await create_session(me, "lab/tools", "tools-proxy")
        try:
            async with me.ws("/stream/session/tools-proxy/tcpproxy", {"app": "web"}) as ws:
                msg = await ws.receive()  # nothing listens yet: try again later
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1013
            server = await asyncio.start_server(echo, "127.0.0.1", SERVICE_PORT)
            async with (
                server,
                me.ws("/stream/session/tools-proxy/tcpproxy", {"app": "web"}) as ws,
            ):
                await ws.send_bytes(b"ping")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == b"echo:ping"
            try:
                async with me.ws("/stream/session/tools-proxy/tcpproxy", {"app": "ssh"}):
                    raise AssertionError("tunnel to an undeclared app")
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 404
        finally:
            await me.call("DELETE", "/session/tools-proxy")
