"""One shell command of a run: spawned isolated, output streamed, stdin served on request.

Used by batch steps and by the compile-and-run C query runner. stdout and stderr are read in
chunks and decoded incrementally (UTF-8, invalid bytes replaced), each chunk a record. When
the program blocks reading its empty stdin pipe, the run reports ``waiting-input`` and the
client's text (plus a newline if it has none) is written to the pipe.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import shutil
import signal
from pathlib import Path
from typing import Any

from bai_lsp.gateway.runtimes.procs import (
    ProcessTracker,
    kill_tree,
    signal_tree,
    spawn,
    wait_exit,
)
from bai_lsp.gateway.runtimes.runs import Run
from bai_lsp.gateway.runtimes.stdin_watch import blocked_on_stdin

READ_CHUNK = 65536
#: How often a running step checks whether it waits for input.
STDIN_CHECK_INTERVAL = 0.03
#: ... and at most this rarely once it has been quiet for STDIN_LIVELY_WINDOW seconds.
STDIN_CHECK_MAX = 0.25
STDIN_LIVELY_WINDOW = 1.0
#: After the step's shell exits, how long its output pipes are still drained (background
#: processes it left behind may hold them open).
DRAIN_AFTER_EXIT = 0.3
#: SIGINT first; SIGKILL for whatever still runs this much later.
INTERRUPT_GRACE = 2.0

STDBUF = shutil.which("stdbuf")


def shell_argv(command: str, *, line_buffered: bool) -> list[str]:
    """``/bin/sh -c command``; with ``line_buffered``, C stdio is line-buffered and stdin
    unbuffered (coreutils ``stdbuf``), so a ``printf`` prompt shows before ``scanf`` waits."""
    argv = ["/bin/sh", "-c", command]
    if line_buffered and STDBUF:
        return [STDBUF, "-i0", "-oL", "-eL", *argv]
    return argv


def exit_status(returncode: int) -> int:
    """Shell convention: killed by signal N → 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class Step:
    """The process currently running for a run (at most one per runner)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.interrupted = False
        self._killer: asyncio.Task[None] | None = None

    async def interrupt(self) -> None:
        self.interrupted = True
        pid = self.proc.pid
        await asyncio.to_thread(signal_tree, [pid], signal.SIGINT)
        self._killer = asyncio.create_task(self._kill_later(pid), name=f"step-{pid}-kill")

    async def _kill_later(self, pid: int) -> None:
        await asyncio.sleep(INTERRUPT_GRACE)
        if self.proc.returncode is None:
            await kill_tree([pid])

    async def kill(self) -> None:
        await kill_tree([self.proc.pid])


class _Pump:
    """Copies one output pipe into the run; once detached, reads and discards (so that
    background jobs a step left behind neither block on a full pipe nor die of SIGPIPE)."""

    def __init__(self, stream: asyncio.StreamReader, run: Run, kind: str) -> None:
        self.attached = True
        self._stream = stream
        self._emit = run.stderr if kind == "stderr" else run.stdout
        self.task = asyncio.create_task(self._copy())

    async def _copy(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = await self._stream.read(READ_CHUNK)
            if not self.attached:
                if not chunk:
                    return
                continue
            if not chunk:
                await self._emit(decoder.decode(b"", final=True))
                return
            await self._emit(decoder.decode(chunk))


#: Pumps of finished steps still draining pipes held by background jobs.
_DETACHED: set[asyncio.Task[None]] = set()


def stdin_fd(proc: asyncio.subprocess.Process) -> int | None:
    """The fd of our end of the child's stdin pipe (``None`` once closed)."""
    if proc.stdin is None:
        return None
    pipe: Any = proc.stdin.transport.get_extra_info("pipe")
    try:
        return int(pipe.fileno())
    except (ValueError, OSError, AttributeError):
        return None


async def serve_stdin(proc: asyncio.subprocess.Process, fd: int | None, run: Run) -> None:
    """Report ``waiting-input`` whenever ``proc``'s tree blocks reading the pipe ``fd``.

    A check scans ``/proc`` (about 2 ms), so it runs every 30 ms only while the program is
    lively (output or input within the last second) and backs off to 250 ms when it is not.
    """
    if fd is None or proc.stdin is None:
        return
    loop = asyncio.get_running_loop()
    interval = STDIN_CHECK_INTERVAL
    last_input = loop.time()
    while proc.returncode is None:
        await asyncio.sleep(interval)
        if not await asyncio.to_thread(blocked_on_stdin, proc.pid, fd):
            quiet = loop.time() - max(run.last_output, last_input)
            lively = quiet < STDIN_LIVELY_WINDOW
            interval = STDIN_CHECK_INTERVAL if lively else min(interval * 1.5, STDIN_CHECK_MAX)
            continue
        interval = STDIN_CHECK_INTERVAL
        text = await run.read_input({})
        last_input = loop.time()
        if not text.endswith("\n"):
            text += "\n"
        try:
            proc.stdin.write(text.encode())
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return


async def run_command(
    run: Run,
    command: str,
    *,
    cwd: Path,
    env: dict[str, str],
    on_start: Any = None,
    line_buffered: bool = False,
    tracker: ProcessTracker | None = None,
) -> int:
    """Run ``command`` to its end, streaming into ``run``; returns its exit status.

    ``on_start(step)`` receives the :class:`Step` so the owner can interrupt or kill it;
    ``tracker`` remembers the step's session for the runtime's shutdown.
    """
    proc = await spawn(
        shell_argv(command, line_buffered=line_buffered),
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if tracker is not None:
        tracker.add(proc.pid)
    step = Step(proc)
    if on_start is not None:
        on_start(step)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [_Pump(proc.stdout, run, "stdout"), _Pump(proc.stderr, run, "stderr")]
    feeder = asyncio.create_task(serve_stdin(proc, stdin_fd(proc), run))
    try:
        returncode = await wait_exit(proc)
        await asyncio.wait([pump.task for pump in pumps], timeout=DRAIN_AFTER_EXIT)
    except asyncio.CancelledError:
        await step.kill()
        raise
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        for pump in pumps:
            pump.attached = False
            if not pump.task.done():
                _DETACHED.add(pump.task)
                pump.task.add_done_callback(_DETACHED.discard)
        if proc.stdin is not None:
            proc.stdin.close()
    return exit_status(returncode)
