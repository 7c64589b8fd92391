"""Against a newest (v9) manager: restart is refused (501), so the server recreates the
session and says so; destroy finishes asynchronously there, yet "destroyed" means gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process

from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend


@pytest.fixture
def v9_gateway(tmp_path: Path) -> Iterator[GatewayInfo]:
    info = start_gateway(tmp_path / "gw-v9", args=["--api-version", "v9"])
    try:
        yield info
    finally:
        stop_gateway_process(info.process)


async def test_restart_on_a_v9_manager_recreates_the_session_and_says_so(
    tmp_path: Path, state_dir: Path, v9_gateway: GatewayInfo
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    options = {
        **PRIVATE,
        "endpoint": v9_gateway.endpoint,
        "accessKey": v9_gateway.access_key,
        "secretKey": v9_gateway.secret_key,
    }
    async with start_server([project], state_dir=state_dir, init_options=options) as h:
        folder = uri(project)
        started = await h.command("backendai.session.start", {"uri": folder})
        assert started["status"] == "idle"
        doc = open_doc(h, project / "a.py", "n = 1\n")
        await h.command("backendai.runFile", {"uri": doc})

        restarted = await h.command("backendai.session.restart", {"uri": folder})
        assert restarted["status"] == "idle", restarted
        assert "does not restart sessions" in restarted["message"]
        assert "destroyed and created again" in restarted["message"]
        assert any("does not restart sessions" in m for m in h.messages()), h.messages()
        probe = open_doc(h, project / "b.py", "print('n' in globals())\n")
        after = await h.command("backendai.runFile", {"uri": probe})
        assert h.output_text(after["runId"]) == "False\n"
        assert (
            h.of("backendai/runStarted", after["runId"])[0]["sessionName"]
            == (started["sessionName"])
        )

        destroyed = await h.command("backendai.session.destroy", {"uri": folder})
        assert destroyed["status"] == "terminated"
        listed = await h.command("backendai.session.list", {})
        live = {s["name"]: s["status"] for s in listed["sessions"]}
        # asynchronous on the manager, but the command returned only once it was gone
        assert live.get(started["sessionName"]) in (None, "TERMINATED"), live
        again = await h.command("backendai.runFile", {"uri": probe})
        assert again["status"] == "finished"
        assert h.output_text(again["runId"]) == "False\n"
