"""The embedded gateway the benchmark starts once and points stacks (b) and (c) at.

One gateway process serves both, so its peak RSS during the floods is that of one process
(its kernels are separate processes and are not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

READY_TIMEOUT = 120.0


@dataclass
class Gateway:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    pid: int
    process: asyncio.subprocess.Process = field(repr=False)
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Backend(Protocol):
    """Where stacks (c0) and (c) point: the benchmark's gateway or a real manager."""

    @property
    def endpoint(self) -> str: ...

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def pid(self) -> int: ...


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}


async def start_gateway(workdir: Path, launcher: Sequence[str] = ("-m", "bai_lsp")) -> Gateway:
    """``launcher``: how Python starts the ``bai-lsp`` command line (``benchmarks.hops``
    starts it through ``benchmarks.hop_marks``)."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    ready = workdir / "ready.json"
    log_path = workdir / "gateway.log"
    access_key = "AKIA" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    env = clean_env()
    env.update(BACKEND_ACCESS_KEY=access_key, BACKEND_SECRET_KEY=secret_key)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *launcher,
            "gateway",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--data-dir",
            str(workdir / "data"),
            "--parent-pid",
            str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    while loop.time() < deadline:
        if ready.exists():
            with contextlib.suppress(ValueError):
                info = json.loads(ready.read_text())
                return Gateway(
                    info["endpoint"], access_key, secret_key, process.pid, process, log_path
                )
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    await stop_gateway(process)
    raise RuntimeError(
        f"the gateway did not start (log {log_path}):\n{log_path.read_text(errors='replace')}"
    )


async def stop_gateway(process: asyncio.subprocess.Process, grace: float = 60.0) -> None:
    """SIGTERM (the gateway stops its sessions and kernels), then SIGKILL of its group."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
