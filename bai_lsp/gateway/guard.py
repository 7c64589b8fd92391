"""A watchdog that kills a gateway's kernels and runners when the gateway dies, even by SIGKILL.

Kernels and runners start in sessions of their own (``setsid``), so a SIGKILL of the
gateway (or of its process group) leaves them running, reparented to init: orphans that
hold memory, GPUs and the user's state. ``PR_SET_PDEATHSIG`` would only reach the direct
children and needs a pre-exec hook; instead the gateway starts one guard process per run:

* every process the gateway starts gets ``BAI_LSP_GATEWAY_ID=<token>`` in its environment
  (inherited by its own children; not a secret);
* the guard holds the read end of a pipe whose only write end is in the gateway; when the
  gateway exits, however it exits, the kernel closes that end and the guard reads EOF;
* the guard then SIGKILLs every process whose initial environment carries the token, and
  every process in the same session as one of them (which catches a grandchild started
  with an emptied environment), repeating until none is left.

The guard lives in its own session, so killing the gateway's process group spares it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ENV_NAME = "BAI_LSP_GATEWAY_ID"


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker in data.split(b"\0")


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[3])  # state ppid pgrp session


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def sweep(token: str, *, rounds: int = 20) -> int:
    """Kill every process tagged with ``token`` and their sessions; how many were signalled."""
    marker = f"{ENV_NAME}={token}".encode()
    me = os.getpid()
    killed = 0
    for _ in range(rounds):
        pids = [p for p in _pids() if p != me]
        tagged = {p for p in pids if _environ_has(p, marker)}
        sessions = {s for p in tagged if (s := _session_of(p)) is not None and s > 1}
        sessions.discard(_session_of(me))
        victims = tagged | {p for p in pids if _session_of(p) in sessions}
        victims.discard(me)
        if not victims:
            return killed
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.05)
    return killed


def start_guard() -> subprocess.Popen[bytes] | None:
    """Start this gateway's guard and tag the environment its children will inherit."""
    if not Path("/proc/self/environ").exists():
        return None  # not Linux: nothing to scan
    token = secrets.token_hex(16)  # never a parent gateway's: its guard would sweep ours
    os.environ[ENV_NAME] = token
    env = {k: v for k, v in os.environ.items() if k != ENV_NAME}
    # The pipe's write end stays in the gateway only (Python's pipes are not inheritable).
    return subprocess.Popen(
        [sys.executable, "-m", "bai_lsp.gateway.guard", token],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        close_fds=True,
    )


def main(argv: list[str]) -> int:
    token = argv[1]
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(4096):
            pass
    sweep(token)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.exit(main(sys.argv))
