"""Child processes of the gateway: clean environments, isolated spawning, whole-tree kills.

Every kernel, batch step, shell and pty starts in its own session (``setsid``), so its session
id names the whole tree it grows (user code's ``sleep 1000 &`` included). Killing a tree
means killing every live process in that session and every descendant found through the
parent links, repeated until nothing is left: that is what makes "0 orphans" hold.
Children never get the gateway's stdin/stdout/stderr (stdout is the LSP channel when the
gateway is embedded) nor its secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Variables passed through from the gateway's environment (never anything secret).
PASSTHROUGH_VARS: tuple[str, ...] = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "USER",
    "LOGNAME",
    "TMPDIR",
)

#: Names that look like credentials are dropped even when they are on the pass-through list.
SECRET_NAME = re.compile(r"SECRET|KEY|TOKEN|PASSWORD|PASSWD|CREDENTIAL|COOKIE|AUTH", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def clean_environ(
    workdir: Path,
    requested: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a session's processes: minimal, secret-free, HOME = the session folder.

    ``requested`` is what the session asked for (``config.environ``): the user's own values,
    passed as given. ``extra`` is what a runner needs (e.g. ``PYTHONUNBUFFERED``). ``base``
    defaults to the gateway's environment and only the pass-through names are read from it.
    """
    source = os.environ if base is None else base
    env: dict[str, str] = {}
    for name in PASSTHROUGH_VARS:
        value = source.get(name)
        if value is not None and not is_secret_name(name):
            env[name] = value
    # The gateway's interpreter first, so `python` in a session is the one with ipykernel.
    interpreter_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", os.defpath)
    if interpreter_dir not in path.split(os.pathsep):
        path = interpreter_dir + os.pathsep + path
    env["PATH"] = path
    env.setdefault("LANG", "C.UTF-8")
    env["HOME"] = str(workdir)
    env["PWD"] = str(workdir)
    env["SHELL"] = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    env["TERM"] = "xterm-256color"
    env["BACKENDAI_LOCAL_GATEWAY"] = "1"
    if extra:
        env.update(extra)
    if requested:
        env.update({str(k): str(v) for k, v in requested.items()})
    return env


async def spawn(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: int | None = asyncio.subprocess.DEVNULL,
    stdout: int | None = asyncio.subprocess.DEVNULL,
    stderr: int | None = asyncio.subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session; standard streams default to ``/dev/null``, never ours."""
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
        stdout=asyncio.subprocess.DEVNULL if stdout is None else stdout,
        stderr=asyncio.subprocess.DEVNULL if stderr is None else stderr,
        start_new_session=True,
        close_fds=True,
    )


def _stat(pid: int) -> tuple[int, int, int, str] | None:
    """``(ppid, pgrp, session, state)`` of a process, ``None`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), int(fields[3]), fields[0]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def tree_members(leaders: Iterable[int]) -> set[int]:
    """Live (non-zombie) processes in the sessions of ``leaders`` or descending from them."""
    own = {os.getpid(), os.getpgrp(), os.getsid(0), 0, 1}
    roots = {pid for pid in leaders if pid not in own}
    table: dict[int, tuple[int, int, int, str]] = {}
    for pid in _all_pids():
        info = _stat(pid)
        if info is not None:
            table[pid] = info
    members = {pid for pid, (_, pgrp, sid, _) in table.items() if sid in roots or pgrp in roots}
    members |= roots & table.keys()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = list(members)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in members:
                members.add(child)
                stack.append(child)
    members.discard(os.getpid())
    return {pid for pid in members if table.get(pid, (0, 0, 0, "Z"))[3] not in ("Z", "X")}


def signal_tree(leaders: Iterable[int], signum: int) -> int:
    """Send ``signum`` to every member of the trees; returns how many were signalled."""
    count = 0
    for pid in tree_members(leaders):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
            count += 1
    return count


def signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_tree_sync(leaders: list[int], grace: float) -> None:
    if grace > 0 and signal_tree(leaders, signal.SIGTERM):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and tree_members(leaders):
            time.sleep(0.02)
    for _ in range(50):
        if not signal_tree(leaders, signal.SIGKILL):
            return
        time.sleep(0.01)


async def kill_tree(leaders: Iterable[int], *, grace: float = 0.0) -> None:
    """SIGTERM (if ``grace`` > 0), then SIGKILL every process of the trees until none is left.

    Runs in a thread: scanning ``/proc`` and waiting for the grace period must not hold up
    the event loop.
    """
    pids = [pid for pid in leaders if pid > 1]
    if pids:
        await asyncio.to_thread(_kill_tree_sync, pids, grace)
