"""The embedded gateway: a local Backend.AI-compatible manager started as a child process.

It gets a fresh random keypair through *its* environment only (never argv, never ours),
stdin/stdout from /dev/null and stderr into a log file, so nothing of it can reach the LSP
channel. Two lifetimes:

* **private** (``onExit: "destroy"``, and ``bai-lsp run``): started with ``--parent-pid``
  so it dies with us even if we crash; stopped on exit.
* **shared** (``onExit: "keep"``, the default): started in its own process group without
  ``--parent-pid`` and recorded in ``<state dir>/embedded-gateway.json`` (mode 0600:
  endpoint, pid, keypair). The next bai-lsp process of the same user finds it there,
  checks it still answers, and reuses it, which is how a restarted editor finds its
  sessions (and their kernel state) again. A ``flock`` makes concurrent starts agree on
  one gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.errors import BackendUnreachableError

log = logging.getLogger(__name__)

STATE_FILE = "embedded-gateway.json"
LOCK_FILE = "embedded-gateway.lock"
#: The gateway reads its keypair from these (in its own environment only).
ACCESS_KEY_ENV = "BACKEND_ACCESS_KEY"
SECRET_KEY_ENV = "BACKEND_SECRET_KEY"  # noqa: S105 (a variable name)
READY_TIMEOUT_S = 60.0
#: A shared gateway outlives editors, so its sessions end after this long without a run
#: (a real cluster's idle checker does the same, usually far sooner).
SHARED_IDLE_TIMEOUT_S = 8 * 3600


def default_state_dir() -> Path:
    """``$BAI_LSP_STATE_DIR``, else ``$XDG_STATE_HOME/bai-lsp``, else ``~/.local/state/bai-lsp``."""
    explicit = os.environ.get("BAI_LSP_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bai-lsp"


@attrs.define
class GatewayHandle:
    endpoint: str
    access_key: str
    secret_key: str = attrs.field(repr=False)
    pid: int
    shared: bool
    process: subprocess.Popen[bytes] | None = attrs.field(default=None, repr=False)

    def to_state(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "accessKey": self.access_key,
            "secretKey": self.secret_key,
            "pid": self.pid,
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_env(access_key: str, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env[ACCESS_KEY_ENV] = access_key
    env[SECRET_KEY_ENV] = secret_key
    env["PYTHONUNBUFFERED"] = "1"
    return env


def new_keypair() -> tuple[str, str]:
    return "AKBAILSP" + secrets.token_hex(6).upper(), secrets.token_urlsafe(30)


def _spawn(state_dir: Path, *, shared: bool) -> GatewayHandle:
    """Start a gateway and wait for its ready file (runs in a worker thread)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    access_key, secret_key = new_keypair()
    ready = state_dir / f"gateway-ready-{os.getpid()}-{secrets.token_hex(4)}.json"
    ready.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "bai_lsp",
        "gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ready-file",
        str(ready),
        "--data-dir",
        str(state_dir / "gateway-data"),
    ]
    if shared:
        argv += ["--idle-timeout", str(SHARED_IDLE_TIMEOUT_S)]
    else:
        argv += ["--parent-pid", str(os.getpid())]
    log_path = state_dir / "gateway.log"
    with open(log_path, "ab") as log_file:
        os.chmod(log_path, 0o600)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=_clean_env(access_key, secret_key),
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            if ready.exists():
                try:
                    info = json.loads(ready.read_text())
                    break
                except ValueError:
                    pass  # written but not complete yet
            if process.poll() is not None:
                raise BackendUnreachableError(
                    f"The embedded gateway exited at start (code {process.returncode}); "
                    f"see {log_path}."
                )
            if time.monotonic() > deadline:
                process.kill()
                raise BackendUnreachableError(
                    f"The embedded gateway did not start within {READY_TIMEOUT_S:.0f} s; "
                    f"see {log_path}."
                )
            time.sleep(0.05)
    finally:
        ready.unlink(missing_ok=True)
    return GatewayHandle(
        endpoint=str(info["endpoint"]),
        access_key=access_key,
        secret_key=secret_key,
        pid=process.pid,
        shared=shared,
        process=process,
    )


def read_state(state_dir: Path) -> GatewayHandle | None:
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
        handle = GatewayHandle(
            endpoint=str(data["endpoint"]),
            access_key=str(data["accessKey"]),
            secret_key=str(data["secretKey"]),
            pid=int(data["pid"]),
            shared=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return handle if _pid_alive(handle.pid) else None


def _write_state(state_dir: Path, handle: GatewayHandle) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(handle.to_state(), out)
    os.replace(tmp, path)


def _acquire_shared(state_dir: Path, alive: Any) -> GatewayHandle:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(state_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            existing = read_state(state_dir)
            if existing is not None and alive(existing):
                log.info(
                    "reusing the embedded gateway at %s (pid %d)", existing.endpoint, existing.pid
                )
                return existing
            handle = _spawn(state_dir, shared=True)
            _write_state(state_dir, handle)
            log.info(
                "started a shared embedded gateway at %s (pid %d)", handle.endpoint, handle.pid
            )
            return handle
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _answers(handle: GatewayHandle) -> bool:
    """A cheap liveness probe: the gateway's port accepts a connection."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(handle.endpoint)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 2):
            return True
    except OSError:
        return False


async def start_gateway(state_dir: Path, *, shared: bool) -> GatewayHandle:
    """A running gateway: reused (shared) or freshly started."""
    if shared:
        return await asyncio.to_thread(_acquire_shared, state_dir, _answers)
    return await asyncio.to_thread(_spawn, state_dir, shared=False)


def _stop(handle: GatewayHandle, state_dir: Path | None) -> None:
    try:
        os.killpg(handle.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(handle.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if handle.process is not None:
            if handle.process.poll() is not None:
                break
        elif not _pid_alive(handle.pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(handle.pid, signal.SIGKILL)
    if handle.process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.process.wait(1)
    if state_dir is not None:
        current = read_state(state_dir)
        if current is None or current.pid == handle.pid:
            (state_dir / STATE_FILE).unlink(missing_ok=True)


async def stop_gateway(handle: GatewayHandle, state_dir: Path | None = None) -> None:
    """Stop the gateway (and so its kernels); forget it in the state file if recorded."""
    await asyncio.to_thread(_stop, handle, state_dir)
