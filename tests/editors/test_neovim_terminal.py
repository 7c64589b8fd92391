"""`:BackendAI terminal` and `:BackendAI apps` in a real headless Neovim 0.11.

One run of ``nvim/terminal.lua`` against a real ``bai-lsp`` (embedded gateway): keys typed
in terminal mode reach the session's shell, the split's size reaches ``stty size``, ``exit``
closes the terminal with the reason written into the buffer, and a web server started by a
run is fetched through the URL ``:BackendAI apps`` opened. Logs: ``test-artifacts/neovim/``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from editor_env import NEOVIM_PLUGIN, NVIM, SERVER, SETUP_HINT, clean_env, drive_editor, new_project

pytestmark = [pytest.mark.editor]

SERVE = """\
import functools, http.server, os, threading
os.makedirs('site', exist_ok=True)
with open('site/index.html', 'w') as f:
    f.write('<p>served from the session by neovim</p>')
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='site')
httpd = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), handler)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not NVIM.exists():
        pytest.fail(f"Neovim is not installed at {NVIM}: {SETUP_HINT}")
    base = tmp_path_factory.mktemp("nvim-terminal")
    project = new_project(base)
    port = free_port()
    serve = project / "serve.py"
    serve.write_text(SERVE.format(port=port))
    result_file = base / "result.json"
    env = clean_env(
        base / "home",
        {
            "BAI_PLUGIN": str(NEOVIM_PLUGIN),
            "BAI_LSP": str(SERVER),
            "BAI_DEMO": str(serve),
            "BAI_RESULT": str(result_file),
            "BAI_APP_PORT": str(port),
        },
    )
    driver = Path(__file__).parent / "nvim" / "terminal.lua"
    result = drive_editor(
        [str(NVIM), "--headless", "-u", "NONE", "-c", f"luafile {driver}"],
        env=env,
        cwd=project,
        timeout=180,
        artifact="neovim/terminal",
        result_file=result_file,
    )
    result["port"] = port
    return result


def test_typing_in_the_terminal_buffer_reaches_the_session_shell(run: dict[str, Any]) -> None:
    assert run["buftype"] == "terminal" and run["windows"] == 2
    assert run["session"].startswith("bai-proj-")
    assert "echo $((6*7))" in run["echo_screen"] and "\n42\n" in run["echo_screen"]


def test_the_split_size_reaches_stty(run: dict[str, Any]) -> None:
    cols, rows = run["window"]
    assert rows == 9 and run["sent_size"] == [cols, rows]
    assert run["stty"] == f"9 {cols}"


def test_exit_closes_the_terminal_with_the_reason(run: dict[str, Any]) -> None:
    assert run["closed"] == "The shell exited." == run["closed_var"]
    assert "[BackendAI: terminal closed: The shell exited.]" in run["final_screen"]
    assert any("terminal closed: The shell exited." in n["msg"] for n in run["notifications"])


def test_apps_opens_a_web_server_of_the_session(run: dict[str, Any]) -> None:
    assert run["serve_run"] == "finished"
    assert run["offered"] == [f"web (http, port {run['port']})"]
    assert run["url"].startswith("http://127.0.0.1:")
    assert "served from the session by neovim" in run["page"], run["fetch_stderr"]
