"""Persistent interpreter processes (bash, node) as query runners, with a sentinel protocol.

Code goes to the interpreter on a private pipe (not its stdin, which stays the user
program's, with ``waiting-input`` detection as in batch mode). After each snippet the driver
prints an end marker carrying a random token and the exit status on stdout, and another on
stderr; a run ends when both markers have come through, so all of its output precedes
``finished``. Output while no run is attached (a background job printing later) is
dropped, as Backend.AI does. If the interpreter dies (``exit`` in user code), the run ends
with its exit status and the next run starts a fresh one.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import secrets
import signal
from pathlib import Path

from bai_lsp.gateway.runtimes.base import RuntimeFailure
from bai_lsp.gateway.runtimes.procs import (
    ProcessTracker,
    kill_tree,
    signal_tree,
    spawn,
    wait_exit,
)
from bai_lsp.gateway.runtimes.runs import Run
from bai_lsp.gateway.runtimes.steps import exit_status, serve_stdin, stdin_fd
from bai_lsp.wire.execute import RunStatus

log = logging.getLogger(__name__)

READ_CHUNK = 65536
#: After SIGINT, a snippet still running this long gets its interpreter restarted.
INTERRUPT_GRACE = 2.0


class MarkerScanner:
    """Splits a byte stream into user output and end markers ``\\x1eBAI-END-<token>-<rc>\\x1e``."""

    def __init__(self, token: str) -> None:
        self._prefix = f"\x1eBAI-END-{token}-".encode()
        self._pattern = re.compile(re.escape(self._prefix) + rb"(-?\d*)\x1e")
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes | int]:
        """Output bytes and exit statuses (ints) in stream order."""
        self._buffer += data
        parts: list[bytes | int] = []
        while (match := self._pattern.search(self._buffer)) is not None:
            if match.start():
                parts.append(self._buffer[: match.start()])
            parts.append(int(match.group(1) or 0))
            self._buffer = self._buffer[match.end() :]
        hold = self._hold_from()
        if hold < 0:
            hold = len(self._buffer)
        if hold:
            parts.append(self._buffer[:hold])
        self._buffer = self._buffer[hold:]
        return parts

    def _hold_from(self) -> int:
        """Index of the first byte that may still begin a marker, -1 if none may."""
        start = self._buffer.find(b"\x1e")
        while start != -1:
            tail = self._buffer[start:]
            head, rest = tail[: len(self._prefix)], tail[len(self._prefix) :]
            if self._prefix.startswith(head) and re.fullmatch(rb"-?\d*", rest):
                return start
            start = self._buffer.find(b"\x1e", start + 1)
        return -1

    def flush(self) -> bytes:
        data, self._buffer = self._buffer, b""
        return data


class PersistentRepl:
    """Base of the bash and node query runners; subclasses say how to start and feed."""

    language = "repl"

    def __init__(
        self, workdir: Path, env: dict[str, str], tracker: ProcessTracker | None = None
    ) -> None:
        self.tracker = tracker
        self.workdir = workdir
        self.env = dict(env)
        self.proc: asyncio.subprocess.Process | None = None
        self._token = secrets.token_hex(8)
        self._control_w: int | None = None
        self._run: Run | None = None
        self._ends: asyncio.Queue[int] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._escalation: asyncio.Task[None] | None = None

    # -- subclass hooks ------------------------------------------------------------------

    def argv(self, control_fd: int, token: str) -> list[str]:
        raise NotImplementedError

    def frame(self, code: str) -> bytes:
        raise NotImplementedError

    # -- process -------------------------------------------------------------------------

    async def start(self) -> None:
        control_r, control_w = os.pipe()
        os.set_inheritable(control_r, True)
        try:
            self.proc = await spawn(
                self.argv(control_r, self._token),
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(control_r,),
            )
        except OSError as exc:
            os.close(control_w)
            raise RuntimeFailure(f"cannot start the {self.language} runner: {exc}") from exc
        finally:
            os.close(control_r)
        if self.tracker is not None:
            self.tracker.add(self.proc.pid)
        self._control_w = control_w
        self._ends = asyncio.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, "stdout")),
            asyncio.create_task(self._read(self.proc.stderr, "stderr")),
            asyncio.create_task(self._watch_exit(self.proc, self._ends)),
        ]

    @staticmethod
    async def _watch_exit(proc: asyncio.subprocess.Process, ends: asyncio.Queue[int]) -> None:
        # Output pipes may outlive the interpreter (a background job holds them).
        await wait_exit(proc)
        await asyncio.sleep(0.05)  # let the readers pass on what is still in the pipes
        await ends.put(-2000)

    async def _read(self, stream: asyncio.StreamReader, kind: str) -> None:
        scanner = MarkerScanner(self._token)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        ends = self._ends
        assert ends is not None
        while True:
            chunk = await stream.read(READ_CHUNK)
            parts: list[bytes | int] = scanner.feed(chunk) if chunk else [scanner.flush()]
            for part in parts:
                if isinstance(part, int):
                    text = decoder.decode(b"", final=True)
                    await self._emit(kind, text)
                    decoder.reset()
                    await ends.put(part if kind == "stdout" else -1000)
                else:
                    await self._emit(kind, decoder.decode(part))
            if not chunk:
                await self._emit(kind, decoder.decode(b"", final=True))
                await ends.put(-2000)  # EOF
                return

    async def _emit(self, kind: str, text: str) -> None:
        run = self._run
        if run is None or not text:
            return
        await (run.stderr(text) if kind == "stderr" else run.stdout(text))

    async def _stop(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._readers = []
        if self.proc is not None:
            await kill_tree([self.proc.pid])
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                await asyncio.wait_for(wait_exit(self.proc), 5)
            self.proc = None
        if self._control_w is not None:
            with contextlib.suppress(OSError):
                os.close(self._control_w)
            self._control_w = None

    # -- runs ----------------------------------------------------------------------------

    async def run(self, run: Run, code: str) -> None:
        async with self._lock:
            if self.proc is None or self.proc.returncode is not None:
                await self._stop()
                await self.start()
            assert self.proc is not None and self._ends is not None
            self._run = run
            feeder = asyncio.create_task(self._serve_stdin(run))
            try:
                await asyncio.to_thread(self._send, self.frame(code))
                status = await self._wait_end()
            finally:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
                self._run = None
        if status is None:
            returncode = None
            if self.proc is not None:
                with contextlib.suppress(TimeoutError):
                    returncode = await asyncio.wait_for(wait_exit(self.proc), 2.0)
            code_ = exit_status(returncode) if returncode is not None else 130
            await run.stderr(f"\n[bai-lsp: the {self.language} runner exited; state was reset]\n")
            await self._stop()
            await run.control(RunStatus.FINISHED, code_)
            return
        await run.control(RunStatus.FINISHED, status)

    def _send(self, data: bytes) -> None:
        fd = self._control_w
        if fd is None:
            raise RuntimeFailure(f"the {self.language} runner is not running")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    async def _wait_end(self) -> int | None:
        """The snippet's exit status once both markers are in; ``None`` if the process died."""
        assert self._ends is not None
        status: int | None = None
        seen = 0
        while seen < 2:
            value = await self._ends.get()
            if value == -2000:
                return None
            if value != -1000:
                status = value
            seen += 1
        return status

    async def _serve_stdin(self, run: Run) -> None:
        proc = self.proc
        if proc is not None:
            await serve_stdin(proc, stdin_fd(proc), run)

    # -- control -------------------------------------------------------------------------

    async def interrupt(self) -> None:
        proc = self.proc
        if proc is None or self._run is None:
            return
        await asyncio.to_thread(signal_tree, [proc.pid], signal.SIGINT)
        self._escalation = asyncio.create_task(self._escalate(self._run))

    async def _escalate(self, run: Run) -> None:
        await asyncio.sleep(INTERRUPT_GRACE)
        if self._run is run and self.proc is not None:
            log.warning("%s runner ignored SIGINT; restarting it", self.language)
            await kill_tree([self.proc.pid])

    async def restart(self) -> None:
        if self.proc is not None:
            await kill_tree([self.proc.pid])
        async with self._lock:
            await self._stop()
            await self.start()

    async def shutdown(self) -> None:
        await self._stop()
