"""Backend failures: an unreachable endpoint and refused credentials read clearly, and the
server keeps serving."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from bai_lsp.domain.embedded import start_gateway, stop_gateway
from lsp.harness import needs_backend, open_doc, start_server

pytestmark = needs_backend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_backend(tmp_path: Path, state_dir: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    options = {"endpoint": endpoint, "accessKey": "AKIATEST", "secretKey": "not-a-real-one"}
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        doc = open_doc(h, tmp_path / "a.py", "print(1)\n")
        for _ in range(2):  # and again: the server survived the first failure
            with pytest.raises(JsonRpcException) as caught:
                await h.command("backendai.runFile", {"uri": doc})
            assert caught.value.code == -32053
            assert endpoint in caught.value.message
            assert caught.value.data == {"kind": "backendUnreachable"}
            assert "not-a-real-one" not in caught.value.message
        statuses = h.of("backendai/sessionStatus")
        assert statuses[-1]["status"] == "error" and endpoint in statuses[-1]["message"]
        assert statuses[-1]["reason"] == "failed-to-start"


async def test_refused_credentials(tmp_path: Path, state_dir: Path) -> None:
    gateway = await start_gateway(tmp_path / "gw", shared=False)
    try:
        options = {
            "endpoint": gateway.endpoint,
            "accessKey": gateway.access_key,
            "secretKey": "wrong-secret-key",
        }
        async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
            doc = open_doc(h, tmp_path / "a.py", "print(1)\n")
            with pytest.raises(JsonRpcException) as caught:
                await h.command("backendai.runFile", {"uri": doc})
            assert caught.value.code == -32054
            assert "refused the credentials" in caught.value.message
            assert "wrong-secret-key" not in caught.value.message
            # fixing the key in the settings makes the next command work
            h.client.set_configuration({"secretKey": gateway.secret_key}, section="backendai")
            h.client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=None)
            )
            result = None
            for _ in range(20):  # the server pulls the new settings asynchronously
                try:
                    result = await h.command("backendai.runFile", {"uri": doc})
                    break
                except JsonRpcException as exc:
                    assert exc.code == -32054
                    await asyncio.sleep(0.1)
            assert result is not None
            assert h.output_text(result["runId"]) == "1\n"
    finally:
        await stop_gateway(gateway)


async def test_bad_new_settings_keep_the_last_good_ones(tmp_path: Path, state_dir: Path) -> None:
    options = {"onExit": "destroy", "output": {"maxBytesPerRun": 100000}}
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        doc = open_doc(h, tmp_path / "a.py", "print('works')\n")
        first = await h.command("backendai.runFile", {"uri": doc})
        assert h.output_text(first["runId"]) == "works\n"
        h.client.set_configuration({"output": {"maxBytesPerRun": -5}}, section="backendai")
        h.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        shown = await h.wait_for(lambda: [m for m in h.messages() if "maxBytesPerRun" in m])
        assert "expected a positive integer, got -5" in shown[0]
        assert "Keeping the previous settings" in shown[0]
        second = await h.command("backendai.runFile", {"uri": doc})
        assert second["status"] == "finished"
        assert h.output_text(second["runId"]) == "works\n"
