"""``bai-lsp --tcp`` and ``--ws`` serve the same server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"processId": None, "rootUri": None, "capabilities": {}},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(flag: str, probe: bool = True) -> int:
        port = free_port()
        env = {**os.environ, "BAI_LSP_STATE_DIR": str(tmp_path)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bai_lsp", flag, "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if not probe:  # a TCP server serves its first connection: let the test make it
            return port
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"bai-lsp {flag} did not listen on {port}")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def commands_of(response: dict[str, object]) -> set[str]:
    caps = response["result"]["capabilities"]  # type: ignore[index]
    return set(caps["executeCommandProvider"]["commands"])  # type: ignore[index]


async def test_tcp(serve: object) -> None:
    port = serve("--tcp", probe=False)  # type: ignore[operator]
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.05)
    body = json.dumps(INITIALIZE).encode()
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    response = json.loads(await reader.readexactly(length))
    assert "backendai.runSelection" in commands_of(response)
    writer.close()


async def test_websocket(serve: object) -> None:
    from websockets.asyncio.client import connect

    port = serve("--ws")  # type: ignore[operator]
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps(INITIALIZE))
        response = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert "backendai.session.list" in commands_of(response)
