"""Done-when of issue 20: on a machine with only Python 3.11, an editor and the release
artifacts (no clone, no network, no bai-lsp anywhere), each editor's install steps lead to
``print(1)`` running on the embedded gateway.

* VS Code: install the .vsix into code-server, open hello.py, Ctrl+Shift+Enter: the
  extension creates its venv from the bundled wheels (progress notification) and runs it.
* Neovim: the plugin archive unpacked into the packpath, ``:BackendAI install``,
  ``:BackendAI run``; ``:checkhealth backendai`` shows the server's version.
* Emacs: ``package-install-file`` of the package tar, ``M-x backendai-install-server``,
  ``M-x backendai-run-line``.

Neovim and Emacs also show that a plugin speaking another protocol version warns.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from install_env import ARTIFACTS, REPO, Release, keep, run, stop_gateway, user_env

pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(900)]

HELLO = "print(1)\n"
NVIM = REPO / ".tools" / "nvim-venv" / "bin" / "nvim"
HARNESS = REPO / "tests" / "editors" / "vscode_harness"
CODE_SERVER = HARNESS / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent


def _workspace(base: Path) -> Path:
    folder = base / "proj"
    folder.mkdir(parents=True)
    (folder / "hello.py").write_text(HELLO)
    return folder


def _no_server_outside(env: dict[str, str]) -> None:
    """The machine has no bai-lsp of its own: what runs must be what the editor installed."""
    assert shutil.which("bai-lsp", path=env["PATH"]) is None


def _nvim_binary() -> Path:
    """The real Neovim binary inside the binwheels package (the venv's bin/nvim is a Python
    launcher, and that venv's Python must not be on the user's PATH)."""
    found = sorted(
        (REPO / ".tools" / "nvim-venv").glob("lib/python*/site-packages/*/install/bin/nvim")
    )
    if not found:
        pytest.fail("Neovim not found: run scripts/setup/40-neovim-emacs.sh")
    return found[0]


def test_neovim_install_then_run(release: Release, tmp_path: Path) -> None:
    env = user_env(tmp_path, {"nvim": str(_nvim_binary())})
    _no_server_outside(env)
    pack = Path(env["XDG_DATA_HOME"]) / "nvim" / "site" / "pack" / "bai" / "start"
    pack.mkdir(parents=True)
    with tarfile.open(release.nvim) as tar:
        tar.extractall(pack, filter="data")
    folder = _workspace(tmp_path)
    result_file = tmp_path / "result.json"
    env.update(BAI_FILE=str(folder / "hello.py"), BAI_RESULT=str(result_file))
    started = time.monotonic()
    try:
        done = run(
            ["nvim", "--headless", "-c", f"luafile {HERE / 'nvim_first_run.lua'}"],
            env=env,
            cwd=folder,
            timeout=400,
        )
    finally:
        stop_gateway(env)
    keep("neovim.log", f"exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    assert result_file.exists(), done.stderr[-4000:]
    result: dict[str, Any] = json.loads(result_file.read_text())
    keep("neovim-result.json", json.dumps(result, indent=2))
    print(
        f"\n[install] Neovim: install + first run + mismatch in {time.monotonic() - started:.1f} s"
    )
    assert result.get("error") is None, result.get("error")
    assert result["command_defined"]
    venv = Path(env["XDG_DATA_HOME"]) / "nvim" / "backendai" / "venv"
    assert result["installed"] == str(venv / "bin" / "bai-lsp")
    installed = [n["msg"] for n in result["notifications"] if "installed bai-lsp" in n["msg"]]
    assert installed == [f"BackendAI: installed bai-lsp {release.version} ({venv}/bin/bai-lsp)"]
    assert result["finished"], result["notifications"]
    assert result["run"]["status"] == "finished", result["run"]
    assert "1" in result["output"], result["output"]
    health = "\n".join(result["health"])
    assert f"version: bai-lsp {release.version}" in health, health
    assert f"installed by :BackendAI install: {venv}/bin/bai-lsp" in health, health
    warnings = [
        n["msg"]
        for n in result["notifications"][result["notifications_before_mismatch"] :]
        if "protocol version" in n["msg"]
    ]
    assert warnings == [
        f"BackendAI: bai-lsp {release.version} speaks protocol version 1, backendai.nvim "
        f"{release.version} speaks 99: install the matching server (:BackendAI install) "
        "or update the plugin"
    ], result["notifications"]


def test_emacs_install_then_run(release: Release, tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.fail("emacs not found: run scripts/setup/40-neovim-emacs.sh")
    env = user_env(tmp_path, {})
    _no_server_outside(env)
    folder = _workspace(tmp_path)
    result_file = tmp_path / "result.json"
    env.update(
        BAI_PACKAGE=str(release.emacs),
        BAI_FILE=str(folder / "hello.py"),
        BAI_FILE2=str(_workspace(tmp_path / "other") / "hello.py"),
        BAI_RESULT=str(result_file),
    )
    started = time.monotonic()
    try:
        done = run(
            [emacs, "--batch", "-l", str(HERE / "emacs_first_run.el")],
            env=env,
            cwd=folder,
            timeout=400,
        )
    finally:
        stop_gateway(env)
    keep("emacs.log", f"exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    assert result_file.exists(), done.stderr[-4000:]
    result: dict[str, Any] = json.loads(result_file.read_text())
    keep("emacs-result.json", json.dumps(result, indent=2))
    print(
        f"\n[install] Emacs: install + first run + mismatch in {time.monotonic() - started:.1f} s"
    )
    assert "error" not in result, result["error"] + "\n" + done.stderr[-3000:]
    home = Path(env["HOME"])
    assert result["package"].startswith(
        str(home / ".emacs.d" / "elpa" / f"backendai-{release.version}")
    )
    server = home / ".emacs.d" / "backendai" / "venv" / "bin" / "bai-lsp"
    assert result["installed"] == str(server)
    assert f"BackendAI: installed bai-lsp {release.version} ({server})" in done.stderr
    assert result["run"]["status"] == "finished", result
    assert re.search(r"^1$", result["output"], re.M), result["output"]
    assert result["warning_before"] is None
    assert result["warning"] == (
        f"bai-lsp {release.version} speaks protocol version 1, backendai.el {release.version} "
        "speaks 99: install the matching server (M-x backendai-install-server) or update the "
        "package"
    )


def _start_code_server(
    base: Path, env: dict[str, str], vsix: Path
) -> tuple[subprocess.Popen[bytes], str]:
    config = base / "code-server.yaml"
    config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n")
    args = [
        str(CODE_SERVER),
        "--config",
        str(config),
        "--user-data-dir",
        str(base / "user-data"),
        "--extensions-dir",
        str(base / "extensions"),
    ]
    subprocess.run(
        [*args, "--install-extension", str(vsix)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    # the server's own log for the artifacts (a remote window's machine-scoped setting);
    # it changes nothing else a user would do
    machine = base / "user-data" / "Machine" / "settings.json"
    machine.parent.mkdir(parents=True, exist_ok=True)
    server_log = ARTIFACTS / "vscode" / "bai-lsp.log"
    server_log.unlink(missing_ok=True)
    machine.write_text(json.dumps({"backendai.server.args": ["-v", "--log-file", str(server_log)]}))
    settings = base / "user-data" / "User" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        json.dumps(
            {
                "workbench.startupEditor": "none",
                "telemetry.telemetryLevel": "off",
                "extensions.autoCheckUpdates": False,
                "update.mode": "none",
                "remote.autoForwardPorts": False,
            }
        )
    )
    log_path = base / "code-server.log"
    proc = subprocess.Popen(
        [
            *args,
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            str(base / "proj"),
        ],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = re.search(
            r"HTTP server listening on (http://127\.0\.0\.1:\d+)",
            log_path.read_text(errors="replace"),
        )
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _stop(proc)
    raise RuntimeError("code-server did not start:\n" + log_path.read_text(errors="replace"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_vscode_vsix_then_run(release: Release, tmp_path: Path) -> None:
    missing = [str(p) for p in (CODE_SERVER, CHROMIUM) if not p.exists()]
    if missing:
        pytest.fail(f"missing {missing}: run scripts/setup/30-vscode.sh")
    env = user_env(tmp_path, {})
    _no_server_outside(env)
    _workspace(tmp_path)
    artifacts = ARTIFACTS / "vscode"
    artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc, url = _start_code_server(tmp_path, env, release.vsix)
    results = tmp_path / "results.json"
    config = {
        "url": url,
        "folder": str(tmp_path / "proj"),
        "file": "hello.py",
        "chromium": str(CHROMIUM),
        "artifacts": str(artifacts),
        "results": str(results),
        "playwright": str(HARNESS / "node_modules" / "playwright-core"),
        "timeoutMs": 300000,
    }
    (tmp_path / "drive.json").write_text(json.dumps(config))
    try:
        driver = subprocess.run(
            ["node", str(HERE / "vscode_first_run.js"), str(tmp_path / "drive.json")],
            env={**os.environ, "HOME": env["HOME"]},
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )
    finally:
        _stop(proc)
        stop_gateway(env)
        shutil.copy(tmp_path / "code-server.log", artifacts / "code-server.log")
        for exthost in (tmp_path / "user-data" / "logs").glob("*/exthost*"):
            if exthost.is_dir():
                shutil.copytree(exthost, artifacts / exthost.name, dirs_exist_ok=True)
    keep("vscode/driver.log", driver.stdout + driver.stderr)
    assert results.exists(), driver.stdout + driver.stderr
    result: dict[str, Any] = json.loads(results.read_text())
    print(f"\n[install] VS Code: .vsix install + first run in {time.monotonic() - started:.1f} s")
    client_log = next(artifacts.glob("exthost*/bai-lsp.bai-lsp-vscode/*.log"), None)
    seen = f"toasts: {result['toasts']}\n--- extension log ---\n" + (
        client_log.read_text()[-3000:] if client_log else "(none)"
    )
    assert "error" not in result, f"{result['error']}\n{seen}"
    assert result["runs"], seen
    run_ = result["runs"][0]
    assert run_["status"] == "finished" and run_["lines"] == ["1"], result
    assert any("Backend.AI: setting up the language server" in t for t in result["toasts"]), result
    storage = (
        tmp_path / "user-data" / "User" / "globalStorage" / "bai-lsp.bai-lsp-vscode" / "server"
    )
    venvs = [p.name for p in storage.iterdir()]
    assert venvs == [f"bai-lsp-{release.version}-py3.11"]
