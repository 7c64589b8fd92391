"""What the install tests share: the release artifacts (built once per session by
scripts/release.sh, see conftest.py) and a user's machine that has only Python 3.11, an
editor and those artifacts: a private HOME and XDG tree, a PATH of /usr/bin:/bin (no
clone, no .venv, no bai-lsp), pip with no configuration and no index (PIP_NO_INDEX=1)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "install"


@dataclass
class Release:
    """scripts/release.sh's output folder and the version it built."""

    out: Path
    version: str
    seconds: float

    @property
    def vsix(self) -> Path:
        return next(self.out.glob(f"bai-lsp-vscode-{self.version}*.vsix"))

    @property
    def nvim(self) -> Path:
        return self.out / f"backendai-nvim-{self.version}.tar.gz"

    @property
    def emacs(self) -> Path:
        return self.out / f"backendai-{self.version}.tar"


def keep(name: str, text: str) -> Path:
    """A log under test-artifacts/install/ (CI keeps it)."""
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def build_release(out: Path) -> Release:
    """Run scripts/release.sh into ``out`` (or reuse $BAI_RELEASE_DIST while iterating)."""
    version = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_versions.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    reuse = os.environ.get("BAI_RELEASE_DIST")  # a folder release.sh filled, while iterating
    if reuse:
        return Release(out=Path(reuse), version=version, seconds=0.0)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "release.sh"), "--allow-dirty", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    keep("release.log", f"exit {done.returncode} in {seconds:.1f} s\n{done.stdout}\n{done.stderr}")
    assert done.returncode == 0, f"scripts/release.sh failed:\n{done.stderr[-4000:]}"
    print(f"\n[install] scripts/release.sh built the artifacts in {seconds:.1f} s")
    return Release(out=out, version=version, seconds=seconds)


def user_env(base: Path, tools: dict[str, str]) -> dict[str, str]:
    """The environment of a user who has Python 3.11 and the editor, nothing else: the
    editor's executables are linked into base/bin, the only other PATH entries are
    /usr/bin and /bin. ``tools`` maps a command name to the executable it runs."""
    bin_dir = base / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in tools.items():
        (bin_dir / name).symlink_to(target)
    home = base / "home"
    for sub in ("config", "data", "state", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    keep_vars = ("LANG", "LC_ALL", "TERM", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep_vars}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        PATH=f"{bin_dir}:/usr/bin:/bin",
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
    )
    return env


def stop_gateway(env: dict[str, str]) -> None:
    """The embedded gateway outlives the editor by default (onExit "keep"): stop it."""
    state = Path(env["XDG_STATE_HOME"]) / "bai-lsp" / "embedded-gateway.json"
    with contextlib.suppress(ValueError, OSError, KeyError):
        pid = int(json.loads(state.read_text())["pid"])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run an editor in its own process group; kill the group when done or on timeout."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[test] killed after {timeout} s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
