"""WebSocket routes: streamed execute (§5.1), pty (§5.2), apps, and their failures."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
from support.gateway import GatewayInfo
from support.signed import SignedClient

from .conftest import create_session, unique_name

PY_SESSION = "gw-stream-python"


async def frames_until_close(ws: Any, on_waiting: Any = None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frame = json.loads(msg.data)
        frames.append(frame)
        if frame.get("status") == "waiting-input" and on_waiting is not None:
            await ws.send_str(on_waiting(frame))
    return frames


async def test_streamed_query_with_input_then_close(client: SignedClient) -> None:
    created = await create_session(client, "python:3.11", PY_SESSION, keep=True)
    async with client.ws(f"/stream/session/{created['sessionId']}/execute") as ws:
        await ws.send_str(
            json.dumps(
                {"mode": "query", "code": "x = input('Who? ')\nprint('hello', x)", "options": {}}
            )
        )
        frames = await frames_until_close(ws, lambda frame: "stream")
        assert ws.closed
    statuses = [f["status"] for f in frames]
    assert "waiting-input" in statuses and statuses[-1] == "finished"
    assert all("runId" not in f for f in frames)
    waiting = frames[statuses.index("waiting-input")]
    assert waiting["options"] == {"is_password": False}
    out = "".join(t for f in frames for kind, t in f["console"] if kind == "stdout")
    assert "Who? " in out and "hello stream" in out


async def test_streamed_batch(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    async with client.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps(
                {
                    "mode": "batch",
                    "code": "",
                    "options": {
                        "clean": "",
                        "build": "echo b",
                        "exec": "echo e",
                        "buildLog": False,
                    },
                }
            )
        )
        frames = await frames_until_close(ws)
    statuses = [f["status"] for f in frames if f["status"] != "continued"]
    assert statuses == ["clean-finished", "build-finished", "finished"]


async def test_invalid_first_frame_gets_an_in_band_error(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    for first in ('{"mode": "continue", "code": ""}', "not json", '{"mode": "query", "code": 5}'):
        async with client.ws(f"/stream/session/{name}/execute") as ws:
            await ws.send_str(first)
            frames = await frames_until_close(ws)
        assert len(frames) == 1 and frames[0]["status"] == "error", frames
        assert frames[0]["msg"].startswith("Invalid API parameters: ")


async def test_disconnect_mid_run_interrupts_the_kernel(client: SignedClient) -> None:
    await create_session(client, "python:3.11", PY_SESSION, keep=True)
    async with client.ws(f"/stream/session/{PY_SESSION}/execute") as ws:
        await ws.send_str(
            json.dumps({"mode": "query", "code": "import time\nwhile True: time.sleep(0.01)"})
        )
        msg = await ws.receive()
        assert json.loads(msg.data)["status"] == "continued"
    # The next run only starts once the abandoned one was interrupted and drained.
    _status, body = await client.call(
        "POST",
        f"/session/{PY_SESSION}",
        json_body={"mode": "query", "code": "print(6*7)", "runId": None},
    )
    result = body["result"]
    console = list(result["console"])
    while result["status"] != "finished":
        _, body = await client.call(
            "POST",
            f"/session/{PY_SESSION}",
            json_body={"mode": "continue", "code": "", "runId": result["runId"]},
        )
        result = body["result"]
        console += result["console"]
    assert ["stdout", "42\n"] in console


async def test_stream_handshake_errors(gateway: GatewayInfo, client: SignedClient) -> None:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(
                gateway.endpoint + "/stream/session/abcd/execute",
                headers={
                    "Date": datetime.now(UTC).isoformat(),
                    "X-BackendAI-Version": "v7.20230615",
                },
            ):
                raise AssertionError("opened without a signature")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401
    try:
        async with client.ws("/stream/session/no-such-session/execute"):
            raise AssertionError("opened for an unknown session")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 404


async def test_pty_runs_a_shell_in_the_session_folder(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    async with client.ws(f"/stream/session/{name}/pty") as ws:
        await ws.send_str(json.dumps({"type": "resize", "rows": 30, "cols": 100}))
        command = b"stty size; pwd; echo pty-$((6*7)); exit\n"
        await ws.send_str(
            json.dumps({"type": "stdin", "chars": base64.b64encode(command).decode()})
        )
        await ws.send_str("garbage that is ignored")
        output = b""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            assert frame["type"] == "out"
            output += base64.b64decode(frame["data"])
    text = output.decode(errors="replace")
    assert "pty-42" in text
    assert "30 100" in text
    _, info = await client.call("GET", f"/session/{name}")
    assert info["sessionId"] in text  # the shell starts in <data-dir>/sessions/<id>


async def test_apps_lists_service_ports(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    assert await client.call("GET", f"/stream/session/{name}/apps") == (200, [])


async def test_session_destroy_closes_open_streams(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    async with client.ws(f"/stream/session/{name}/pty") as ws:
        await client.call("DELETE", f"/session/{name}")
        closed = await asyncio.wait_for(_drain(ws), 10)
    assert closed


async def _drain(ws: Any) -> bool:
    async for _msg in ws:
        pass
    return True


async def test_destroy_during_a_streamed_run_ends_it_with_an_error_frame(
    client: SignedClient,
) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    async with client.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(json.dumps({"mode": "query", "code": "sleep 60"}))
        assert json.loads((await ws.receive()).data)["status"] == "continued"
        await client.call("DELETE", f"/session/{name}")
        frames = await asyncio.wait_for(frames_until_close(ws), 15)
    assert frames[-1] == {
        "status": "error",
        "msg": "BackendError: session terminated (user-requested)",
    }


async def test_gateway_shutdown_sends_server_restarting(tmp_path: Any) -> None:
    from support.gateway import running_gateway

    with running_gateway(tmp_path) as info:
        async with SignedClient(info.endpoint, info.access_key, info.secret_key) as own:
            await create_session(own, "bash", "until-shutdown")
            async with own.ws("/stream/session/until-shutdown/execute") as ws:
                await ws.send_str(json.dumps({"mode": "query", "code": "sleep 60"}))
                assert json.loads((await ws.receive()).data)["status"] == "continued"
                info.process.terminate()
                frames = await asyncio.wait_for(frames_until_close(ws), 15)
    assert frames[-1]["status"] == "server-restarting"


async def test_pty_restart_frame_gives_a_fresh_shell(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)

    def stdin(text: bytes) -> str:
        return json.dumps({"type": "stdin", "chars": base64.b64encode(text).decode()})

    async def read_until(ws: Any, marker: bytes) -> bytes:
        seen = b""
        while marker not in seen:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            seen += base64.b64decode(json.loads(msg.data)["data"])
        return seen

    async with client.ws(f"/stream/session/{name}/pty") as ws:
        await ws.send_str(stdin(b"export MARK=first; echo set-$MARK\n"))
        await read_until(ws, b"set-first")
        await ws.send_str(json.dumps({"type": "restart"}))
        await ws.send_str(stdin(b"echo after-${MARK:-fresh}\n"))
        await read_until(ws, b"after-fresh")
