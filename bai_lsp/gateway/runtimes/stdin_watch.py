"""Telling that a program is blocked reading its (empty) stdin pipe, from ``/proc``.

Backend.AI's Python runner patches ``input()``; we want the same ``waiting-input`` for any
language (C ``scanf``, shell ``read``, Python ``input``), so we look at the kernel's view
instead: a process of the step's tree whose fd 0 is our pipe, sleeping in ``read``/``readv``/
``pread64`` on fd 0, while the pipe holds no unread bytes. Programs that wait on stdin
through ``poll``/``epoll`` (e.g. Node's async ``readline``) are not detected; see
docs/images.md.
"""

from __future__ import annotations

import array
import fcntl
import os
import platform
import termios
from pathlib import Path

from bai_lsp.gateway.runtimes.procs import tree_members

_READ_SYSCALLS: dict[str, frozenset[int]] = {
    "x86_64": frozenset({0, 17, 19}),  # read, pread64, readv
    "aarch64": frozenset({63, 65, 67}),  # read, readv, pread64
}
READ_SYSCALLS = _READ_SYSCALLS.get(platform.machine(), frozenset())


def pending_bytes(fd: int) -> int:
    """Unread bytes in a pipe (works on either end)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 0
    return buf[0]


def _reads_stdin(pid: int, pipe_link: str) -> bool:
    try:
        if os.readlink(f"/proc/{pid}/fd/0") != pipe_link:
            return False
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
        except OSError:
            continue
        if len(fields) < 2 or not fields[0].isdigit():
            continue  # "running" or "-1 ..." (not in a syscall)
        if int(fields[0]) in READ_SYSCALLS and int(fields[1], 16) == 0:
            return True
    return False


def blocked_on_stdin(leader: int, pipe_fd: int) -> bool:
    """Whether some process of ``leader``'s tree waits for input on the pipe ``pipe_fd``."""
    if not READ_SYSCALLS or pending_bytes(pipe_fd) > 0:
        return False
    try:
        pipe_link = f"pipe:[{os.fstat(pipe_fd).st_ino}]"
    except OSError:
        return False
    return any(_reads_stdin(pid, pipe_link) for pid in tree_members([leader]))
