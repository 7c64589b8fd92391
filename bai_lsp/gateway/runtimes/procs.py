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
import weakref
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
    if guard_id := os.environ.get("BAI_LSP_GATEWAY_ID"):
        env["BAI_LSP_GATEWAY_ID"] = guard_id  # the gateway's guard finds orphans by it
    return env


class _ExitAwareProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's ``Process.wait()`` also waits for every pipe to close, so it hangs while a
    background job the program left behind (``sleep 1000 &``) still holds its stdout; this
    protocol tells the moment the process itself exits."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        self.exited.set()
        super().process_exited()


_EXIT_EVENTS: weakref.WeakKeyDictionary[asyncio.subprocess.Process, asyncio.Event] = (
    weakref.WeakKeyDictionary()
)


async def spawn(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: int | None = asyncio.subprocess.DEVNULL,
    stdout: int | None = asyncio.subprocess.DEVNULL,
    stderr: int | None = asyncio.subprocess.DEVNULL,
    pass_fds: tuple[int, ...] = (),
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session; standard streams default to ``/dev/null``, never ours.

    Wait for it with :func:`wait_exit`, not ``Process.wait()``. Cancelling the caller while
    the process is being set up does not interrupt the set-up (asyncio would then wait for
    pipes that a grandchild may hold forever); the new process tree is killed instead.
    """
    starting = asyncio.ensure_future(
        _spawn(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=pass_fds)
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            proc = await starting
            await kill_tree([proc.pid])
        raise


async def _spawn(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: int | None,
    stdout: int | None,
    stderr: int | None,
    pass_fds: tuple[int, ...],
) -> asyncio.subprocess.Process:
    loop = asyncio.get_running_loop()
    protocol_holder: list[_ExitAwareProtocol] = []

    def make_protocol() -> _ExitAwareProtocol:
        protocol = _ExitAwareProtocol(limit=2**16, loop=loop)
        protocol_holder.append(protocol)
        return protocol

    transport, protocol = await loop.subprocess_exec(
        make_protocol,
        *argv,
        cwd=str(cwd),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
        stdout=asyncio.subprocess.DEVNULL if stdout is None else stdout,
        stderr=asyncio.subprocess.DEVNULL if stderr is None else stderr,
        start_new_session=True,
        close_fds=True,
        pass_fds=pass_fds,
    )
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    _EXIT_EVENTS[proc] = protocol_holder[0].exited
    return proc


async def wait_exit(proc: asyncio.subprocess.Process) -> int:
    """The process's exit status as soon as it has exited, open pipes or not."""
    event = _EXIT_EVENTS.get(proc)
    if event is None:
        return await proc.wait()
    await event.wait()
    returncode = proc.returncode
    assert returncode is not None
    return returncode


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


def _start_time(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rfind(")") + 2 :].split()[19])


class ProcessTracker:
    """Every session leader a runtime started, so that shutdown also finds what finished
    steps left behind (``sleep 1000 &`` in a batch step that has ended).

    A leader is remembered with its start time: once its pid belongs to another process, it
    is forgotten, so a recycled pid never makes us kill a stranger. (While orphans of a
    dead leader still use its session id, Linux does not hand that pid out again.)
    """

    def __init__(self) -> None:
        self._leaders: dict[int, int | None] = {}

    def add(self, pid: int) -> None:
        self._leaders[pid] = _start_time(pid)

    def roots(self, exclude: frozenset[int] = frozenset()) -> list[int]:
        roots = []
        for pid, started in list(self._leaders.items()):
            now = _start_time(pid)
            if now is not None and now != started:
                del self._leaders[pid]  # the pid now names another process
            elif pid not in exclude:
                roots.append(pid)
        return roots

    async def kill_all(self, exclude: frozenset[int] = frozenset()) -> None:
        roots = self.roots(exclude)
        await kill_tree(roots)
        for pid in roots:
            if _start_time(pid) is None:
                self._leaders.pop(pid, None)
