"""`backendai-terminal` and `backendai-open-app` in a real Emacs 28 with eglot (batch).

One run of ``emacs/terminal.el`` against a real ``bai-lsp`` (embedded gateway): lines typed
at the terminal buffer's prompt reach the session's shell, a resize reaches ``stty size``,
``exit`` closes the terminal with the reason in the buffer, and a web server started by a
run is fetched through the URL ``backendai-open-app`` opened. Logs: ``test-artifacts/emacs/``.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from editor_env import EMACS_PACKAGE, SERVER, SETUP_HINT, clean_env, drive_editor, new_project

pytestmark = [pytest.mark.editor]

SERVE = """\
import functools, http.server, os, threading
os.makedirs('site', exist_ok=True)
with open('site/index.html', 'w') as f:
    f.write('<p>served from the session by emacs</p>')
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
    emacs = shutil.which("emacs")
    if not emacs:
        pytest.fail(f"emacs is not installed: {SETUP_HINT}")
    base = tmp_path_factory.mktemp("emacs-terminal")
    project = new_project(base)
    port = free_port()
    serve = project / "serve.py"
    serve.write_text(SERVE.format(port=port))
    result_file = base / "result.json"
    env = clean_env(
        base / "home",
        {
            "BAI_PACKAGE": str(EMACS_PACKAGE),
            "BAI_LSP": str(SERVER),
            "BAI_DEMO": str(serve),
            "BAI_RESULT": str(result_file),
            "BAI_APP_PORT": str(port),
        },
    )
    result = drive_editor(
        [emacs, "--batch", "-l", str(Path(__file__).parent / "emacs" / "terminal.el")],
        env=env,
        cwd=project,
        timeout=180,
        artifact="emacs/terminal",
        result_file=result_file,
    )
    result["port"] = port
    return result


def test_lines_typed_in_the_terminal_buffer_reach_the_session_shell(run: dict[str, Any]) -> None:
    assert run["mode"] == "backendai-terminal-mode"
    assert run["buffer"].startswith("*backendai-terminal bai-proj-")
    assert run["echo"] == "42"


def test_a_resize_reaches_stty(run: dict[str, Any]) -> None:
    assert run["stty"] == "30 100"


def test_exit_closes_the_terminal_with_the_reason(run: dict[str, Any]) -> None:
    assert run["closed"] == "The shell exited."
    assert "[BackendAI: terminal closed: The shell exited.]" in run["text"]
    assert "\x1b" not in run["text"]  # no raw control sequences on screen
    assert "BackendAI: terminal closed: The shell exited." in run["messages"]


def test_open_app_fetches_a_web_server_of_the_session(run: dict[str, Any]) -> None:
    assert run["serveRun"] == "finished"
    assert run["offered"] == ["web"]
    assert run["url"].startswith("http://127.0.0.1:")
    assert "served from the session by emacs" in run["page"]
