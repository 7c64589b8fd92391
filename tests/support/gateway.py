"""Start a real ``bai-lsp gateway`` subprocess for tests (docs/architecture.md, Seam 3)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs

#: The sample keypair of lablup/backend.ai's fixtures (also the signing test vectors').
TEST_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
TEST_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
READY_TIMEOUT = 60.0


@attrs.frozen
class GatewayInfo:
    endpoint: str
    access_key: str
    secret_key: str = attrs.field(repr=False)
    data_dir: Path
    process: subprocess.Popen[bytes] = attrs.field(repr=False, eq=False)
    log_path: Path = attrs.field(eq=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as the signature's host line needs it."""
        return self.endpoint.split("://", 1)[1]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def gateway_env(
    access_key: str, secret_key: str, extra: Mapping[str, str] | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env.update(BACKEND_ACCESS_KEY=access_key, BACKEND_SECRET_KEY=secret_key)
    env.update(extra or {})
    return env


def start_gateway(
    workdir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    access_key: str = TEST_ACCESS_KEY,
    secret_key: str = TEST_SECRET_KEY,
) -> GatewayInfo:
    """Start a gateway on a free port and wait until its ready file appears."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    ready = workdir / "ready.json"
    log_path = workdir / "gateway.log"
    with contextlib.suppress(FileNotFoundError):
        ready.unlink()
    argv = [
        sys.executable,
        "-m",
        "bai_lsp",
        "gateway",
        "--port",
        "0",
        "--ready-file",
        str(ready),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=gateway_env(access_key, secret_key, env),
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists():
            info = json.loads(ready.read_text())
            return GatewayInfo(
                info["endpoint"], access_key, secret_key, data_dir, process, log_path
            )
        if process.poll() is not None:
            raise RuntimeError(
                f"gateway exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        time.sleep(0.05)
    stop_gateway_process(process)
    raise RuntimeError(f"gateway not ready in {READY_TIMEOUT} s:\n{log_path.read_text()}")


def stop_gateway_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM (the gateway stops its sessions), then SIGKILL of its group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    return process.returncode


@contextlib.contextmanager
def running_gateway(workdir: Path, **kwargs: object) -> Iterator[GatewayInfo]:
    info = start_gateway(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield info
    finally:
        stop_gateway_process(info.process)
