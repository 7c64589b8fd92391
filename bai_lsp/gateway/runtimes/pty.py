"""A real interactive shell on a pseudo-terminal in the session folder (§5.2's pty stream).

The shell is a session leader with the pty as its controlling terminal, so job control,
Ctrl-C and ``stty size`` behave as in a local terminal. The master side is non-blocking and
read through the event loop's reader callbacks; reading pauses while the consumer lags (the
shell then blocks on a full pty, as with a slow terminal).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import os
import shutil
import struct
import termios
from collections.abc import Mapping
from pathlib import Path

from bai_lsp.gateway.runtimes.procs import ProcessTracker, kill_tree

READ_CHUNK = 65536
#: Chunks buffered before reading from the pty pauses.
MAX_BUFFERED_CHUNKS = 256

SETSID = shutil.which("setsid")


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def shell_argv() -> list[str]:
    if Path("/bin/bash").exists():
        return ["/bin/bash", "-i"]
    return ["/bin/sh", "-i"]


def _become_terminal_owner() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyShell:
    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self._proc = proc
        self._master = master
        self._loop = asyncio.get_running_loop()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._readable = asyncio.Event()
        self._eof = False
        self._reading = False
        self._closed = False
        os.set_blocking(master, False)
        self._start_reading()
        self._reaper = asyncio.create_task(self._reap(), name=f"pty-{proc.pid}-reaper")

    async def _reap(self) -> None:
        """When the shell exits, the terminal hangs up: its leftover jobs go too (EOF follows)."""
        await self._proc.wait()
        await kill_tree([self._proc.pid])

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @classmethod
    async def open(
        cls,
        workdir: Path,
        env: Mapping[str, str],
        rows: int,
        cols: int,
        tracker: ProcessTracker | None = None,
    ) -> PtyShell:
        master, slave = os.openpty()
        try:
            _set_winsize(slave, max(rows, 1), max(cols, 1))
            argv = shell_argv()
            if SETSID:
                # setsid(1) -c: a new session whose controlling terminal is stdin (the pty).
                proc = await asyncio.create_subprocess_exec(
                    SETSID, "-c", *argv,
                    stdin=slave, stdout=slave, stderr=slave,
                    cwd=str(workdir), env=dict(env), close_fds=True,
                )  # fmt: skip
            else:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=slave, stdout=slave, stderr=slave,
                    cwd=str(workdir), env=dict(env), close_fds=True,
                    preexec_fn=_become_terminal_owner,
                )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        if tracker is not None:
            tracker.add(proc.pid)
        return cls(proc, master)

    # -- reading -------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and not self._eof and not self._closed:
            self._loop.add_reader(self._master, self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._master)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every holder of the slave side is gone
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if not data:
            self._eof = True
            self._stop_reading()
        else:
            self._chunks.append(data)
            if len(self._chunks) >= MAX_BUFFERED_CHUNKS:
                self._stop_reading()
        self._readable.set()

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof or self._closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._start_reading()
        return data

    # -- writing -------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise
            view = view[written:]
            if view:
                await self._writable()

    async def _writable(self) -> None:
        ready = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(self._master, wake)
        try:
            await asyncio.wait_for(ready, 1.0)
        except TimeoutError:
            pass
        finally:
            self._loop.remove_writer(self._master)

    def resize(self, rows: int, cols: int) -> None:
        if not self._closed:
            _set_winsize(self._master, max(rows, 1), max(cols, 1))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        self._readable.set()
        self._reaper.cancel()
        await kill_tree([self._proc.pid])
        with contextlib.suppress(OSError):
            os.close(self._master)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(self._proc.wait(), 5)
