"""What the Neovim and Emacs tests share: where things are, a clean environment, and
running an editor with a timeout while keeping its logs as CI artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(os.environ.get("BAI_EDITOR_SERVER", REPO / ".venv" / "bin" / "bai-lsp"))
NVIM = REPO / ".tools" / "nvim-venv" / "bin" / "nvim"
EMACS = shutil.which("emacs")
NEOVIM_PLUGIN = REPO / "editor-clients" / "neovim"
EMACS_PACKAGE = REPO / "editor-clients" / "emacs"
ARTIFACTS = REPO / "test-artifacts"
SETUP_HINT = "run scripts/setup/40-neovim-emacs.sh"


@dataclass
class Completed:
    """An editor run: exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment an editor gets: a private HOME/XDG tree and state dir, no endpoint.

    BACKEND_* variables of the developer's shell are dropped so the embedded gateway is
    used, and the server's gateway record goes into the test's own folder.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "XDG_"))}
    for sub in ("config", "data", "state", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        BAI_LSP_STATE_DIR=str(home / "bai-lsp-state"),
        PATH=f"{SERVER.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra or {})
    return env


def run_editor(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    stdin: str | None = None,
) -> Completed:
    """Run an editor in its own process group; on timeout kill the whole group (the
    editor, bai-lsp and the gateway it started) and report what was printed so far."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[test] killed after {timeout} s"
        return Completed(-9, out, err)
    finally:
        # whatever the editor left behind in its group (a server that did not exit)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return Completed(proc.returncode, out, err)


def keep_artifact(name: str, text: str) -> Path:
    """Write a log under test-artifacts/ (CI keeps it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def new_project(base: Path) -> Path:
    """``<base>/proj``, a git root, so the editor takes it as the workspace folder."""
    project = base / "proj"
    project.mkdir()
    (project / ".git").mkdir()
    return project


def drive_editor(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    *,
    artifact: str,
    result_file: Path,
) -> dict[str, Any]:
    """Run an editor driver that writes its findings to ``result_file``; keep the editor's
    output and the result as ``<artifact>.log``/``.json``; fail with the driver's error
    unless it reports ``ok``."""
    done = run_editor(args, env=env, cwd=cwd, timeout=timeout)
    keep_artifact(
        f"{artifact}.log",
        f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}",
    )
    assert result_file.exists(), f"the driver wrote no result:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    keep_artifact(f"{artifact}.json", json.dumps(result, indent=2, ensure_ascii=False))
    assert result["ok"] is True, result.get("error")
    return result


#: The live-session demo (issue 17): completion after ``xs.`` and ``json.du``, a DataFrame
#: to inspect.
LIVE_DEMO = (
    "import json; xs = [3, 1, 2]\n"
    "xs.\n"
    "json.du\n"
    "import pandas as pd; df = pd.DataFrame({'n': range(120), 'sq': [i * i for i in range(120)]})\n"
)


def live_run(base: Path, editor: str, args: list[str], plugin: dict[str, str]) -> dict[str, Any]:
    """One run of ``<editor>``'s live-session driver (issue 17) on ``LIVE_DEMO``, next to a
    second language server (``emacs/other_server.py``); ``export_path`` is where its
    ``export`` wrote the notebook."""
    project = new_project(base)
    demo = project / "live.py"
    demo.write_text(LIVE_DEMO)
    result_file = base / "result.json"
    export = base / "runs.ipynb"
    env = clean_env(
        base / "home",
        {
            **plugin,
            "BAI_LSP": str(SERVER),
            "BAI_DEMO": str(demo),
            "BAI_RESULT": str(result_file),
            "BAI_PYTHON": sys.executable,
            "BAI_OTHER_SERVER": str(Path(__file__).resolve().parent / "emacs" / "other_server.py"),
            "BAI_EXPORT": str(export),
        },
    )
    result = drive_editor(
        args, env=env, cwd=project, timeout=240, artifact=f"{editor}/live", result_file=result_file
    )
    result["export_path"] = str(export)
    return result


def launcher_run(
    base: Path, editor: str, args: list[str], plugin: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """One run of ``<editor>``'s launcher driver (issue 18) against a gateway with a 200 s
    idle timeout (so countdowns show and the 5-minute warning fires) holding the vfolder
    ``launcher-data``; the result also says what was downloaded and uploaded."""
    from support.gateway import start_gateway, stop_gateway_process

    gateway = start_gateway(base / "gateway", args=["--idle-timeout", "200"])
    try:
        data = gateway.data_dir / "vfolders" / "launcher-data"
        data.mkdir(parents=True)
        (data / "hello.txt").write_text("hello from the vfolder\n")
        project = new_project(base)
        demo = project / "read.py"
        demo.write_text("print(open('launcher-data/hello.txt').read().strip())\n")
        upload = base / "up.txt"
        upload.write_text(f"uploaded by {editor}\n")
        result_file = base / "result.json"
        env = clean_env(
            base / "home",
            {
                **plugin,
                "BAI_LSP": str(SERVER),
                "BAI_DEMO": str(demo),
                "BAI_RESULT": str(result_file),
                "BAI_ENDPOINT": gateway.endpoint,
                "BAI_AK": gateway.access_key,
                "BAI_SK": gateway.secret_key,
                "BAI_UPLOAD": str(upload),
                "BAI_DOWNLOAD": str(base / "downloaded.txt"),
            },
        )
        result = drive_editor(
            args,
            env=env,
            cwd=project,
            timeout=240,
            artifact=f"{editor}/launcher",
            result_file=result_file,
        )
        result["downloaded"] = (base / "downloaded.txt").read_text()
        result["uploaded"] = (data / "up.txt").read_text()
        yield result
    finally:
        stop_gateway_process(gateway.process)
