"""Find the processes of a bai-lsp tree from outside, by what the kernel says (/proc).

Independent of the product's own bookkeeping: a session process is any process whose
initial environment has ``HOME`` inside the gateway's data folder (every kernel and runner
is started with ``HOME`` = its session folder).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _environ(pid: int) -> dict[str, str]:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in data.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def children(pid: int) -> list[int]:
    return [p for p in _pids() if (s := _stat(p)) is not None and s[1] == pid and s[0] != "Z"]


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def session_processes(data_root: Path) -> list[int]:
    """Live processes whose HOME lies under ``data_root`` (kernels, shells, runners)."""
    root = str(data_root.resolve())
    found = []
    for pid in _pids():
        home = _environ(pid).get("HOME", "")
        if home.startswith(root + os.sep) and alive(pid):
            found.append(pid)
    return found


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def kill9(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
