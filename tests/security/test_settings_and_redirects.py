"""Where code and credentials go: a workspace folder's own settings cannot redirect them,
and the server never follows a redirect with a signed request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from faults.rawlsp import RawServer, start_raw_server
from lsp.harness import needs_backend

pytestmark = needs_backend

EVIL = {
    "endpoint": "http://127.0.0.1:9",
    "accessKey": "AKIAEVILEVILEVIL0000",
    "secretKey": "evil-secret-from-a-project-settings-file",
    "endpointType": "session",
}


async def _run_python(server: RawServer, folder: Path, code: str) -> dict[str, Any]:
    uri = await server.open_doc(folder / "main.py", code, "python")
    return await server.command("backendai.runFile", {"uri": uri}, timeout=90)


async def test_workspace_folder_settings_cannot_change_endpoint_or_credentials(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    server = await start_raw_server(tmp_path / "state")
    # The folder-scoped answer carries the trap plus one honest setting (sessionName).
    server.config_answer = lambda items: [
        {**EVIL, "environ": {"FROM_FOLDER": "yes"}} if item.get("scopeUri") else None
        for item in items
    ]
    try:
        await server.initialize([folder], {"onExit": "destroy"})
        await server.wait_for(lambda: server.notifications("window/showMessage"), 10)
        response = await _run_python(
            server, folder, "import os\nprint(6 * 7, os.environ.get('FROM_FOLDER'))\n"
        )
        assert response.get("result", {}).get("status") == "finished", response
        outputs = server.notifications("backendai/output")
        assert "42 yes" in "".join(r.get("text", "") for o in outputs for r in o["records"])
        # (the non-protected folder setting, environ, applied: "yes" above)
        warnings = [
            m["message"] for m in server.notifications("window/showMessage") if m["type"] == 2
        ]
        assert len(warnings) == 1, warnings
        for key in EVIL:
            assert f"backendai.{key}" in warnings[0]
        assert folder.as_uri() in warnings[0]
        assert EVIL["secretKey"] not in warnings[0]
    finally:
        await server.close()


async def test_the_same_keys_from_initialization_options_are_honoured(tmp_path: Path) -> None:
    """The rule only concerns the folder layer: the user's own choice is applied."""
    folder = tmp_path / "project"
    folder.mkdir()
    server = await start_raw_server(tmp_path / "state")
    try:
        await server.initialize([folder], {"onExit": "destroy", **EVIL, "endpointType": "api"})
        uri = await server.open_doc(folder / "main.py", "print(1)\n", "python")
        response = await server.command("backendai.runFile", {"uri": uri}, timeout=60)
        error = response.get("error")
        assert error is not None and error["data"]["kind"] == "backendUnreachable", response
        assert "127.0.0.1:9" in error["message"]
    finally:
        await server.close()


@pytest.fixture
async def redirector() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An "endpoint" that redirects everything to a trap that records what reaches it."""
    trapped: list[web.Request] = []

    async def trap(request: web.Request) -> web.Response:
        trapped.append(request)
        return web.json_response({"version": "v7.20230615", "manager": "23.09.10"})

    trap_app = web.Application()
    trap_app.router.add_route("*", "/{tail:.*}", trap)
    trap_runner = web.AppRunner(trap_app)
    await trap_runner.setup()
    trap_site = web.TCPSite(trap_runner, "127.0.0.1", 0)
    await trap_site.start()
    trap_port = trap_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def redirect(request: web.Request) -> web.Response:
        status = 307 if request.method != "GET" else 302
        location = f"http://127.0.0.1:{trap_port}{request.path_qs}"
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", trapped
    finally:
        await runner.cleanup()
        await trap_runner.cleanup()


async def test_a_redirecting_endpoint_gets_no_signed_request_through(
    tmp_path: Path,
    redirector: tuple[str, list[web.Request]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint, trapped = redirector
    folder = tmp_path / "project"
    folder.mkdir()
    server = await start_raw_server(tmp_path / "state")
    try:
        await server.initialize(
            [folder],
            {"endpoint": endpoint, "accessKey": "AKIAREDIRECTTEST0000", "secretKey": "s3cr3t"},
        )
        answers = []
        for command, args in [
            ("backendai.session.start", {"uri": folder.as_uri()}),
            ("backendai.session.list", {}),
            ("backendai.session.status", {"uri": folder.as_uri()}),
        ]:
            answers.append(await server.command(command, args, timeout=30))
        uri = await server.open_doc(folder / "main.py", "print(1)\n", "python")
        answers.append(await server.command("backendai.runFile", {"uri": uri}, timeout=30))
        signed = [r for r in trapped if "Authorization" in r.headers]
        with capsys.disabled():
            print(
                f"\n[security] redirect test: {len(answers)} commands against a redirecting "
                f"endpoint, {len(trapped)} requests reached the other host, "
                f"{len(signed)} of them signed"
            )
        assert signed == []
        assert trapped == []
        errors = [a["error"] for a in answers if "error" in a]
        assert errors, answers
        assert all("Traceback" not in e["message"] for e in errors)
    finally:
        await server.close()
