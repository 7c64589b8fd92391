"""Query mode for python images: a real ipykernel, driven through jupyter_client.

The kernel runs in its own session (so interrupt and shutdown reach user code's children),
in the session folder, with a clean environment, and with stdout/stderr going to a log file
in a private state directory, never to the gateway's. ipykernel batches output every 0.2 s;
the kernel starts with a 2 ms flush interval instead, so a ``print`` in a long cell shows up
within milliseconds, and with large writes sliced into 1 MiB messages
(``kernel_output.py``), so one huge ``write`` never becomes one huge iopub message that the
gateway must decode whole. A kernel that dies before answering ``kernel_info`` (seen when
many start at once on a loaded machine) is started once more before the session fails.

Mapping to Backend.AI records (docs/images.md): streams → stdout/stderr; an error's
traceback → stderr, exit code 1 (0 on success); PNG/JPEG → media data URI; SVG → media text;
HTML → ``["media", ["text/html", html]]``; other results → their ``text/plain`` on stdout;
``input()``/``getpass()`` → the prompt on stdout, then ``waiting-input`` with
``{"is_password": bool}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from bai_lsp.gateway.runtimes import kernel_output
from bai_lsp.gateway.runtimes.base import RuntimeFailure
from bai_lsp.gateway.runtimes.procs import ProcessTracker, kill_tree
from bai_lsp.gateway.runtimes.runs import Run
from bai_lsp.wire.execute import ConsoleRecord, RunStatus
from bai_lsp.wire.helper import is_helper

log = logging.getLogger(__name__)

#: ipykernel's output flush interval inside our kernels (its default is 0.2 s).
KERNEL_FLUSH_INTERVAL = 0.002
#: After SIGINT, a cell still running this long gets a second SIGINT ...
SECOND_INTERRUPT_AFTER = 1.0
#: ... and one still running this long gets its kernel restarted (state lost).
RESTART_AFTER = 5.0
#: How often a running cell checks that its kernel is still alive.
LIVENESS_INTERVAL = 0.5
KERNEL_READY_TIMEOUT = 60.0
#: A completion request waits this long for a busy kernel.
COMPLETE_TIMEOUT = 10.0

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")

_FLUSH_SNIPPET = (
    "__import__('sys').stdout.flush_interval = {0}; __import__('sys').stderr.flush_interval = {0}"
)
#: Characters per iopub message when user code writes a large block at once.
KERNEL_WRITE_CHUNK = kernel_output.DEFAULT_CHUNK
_CHUNK_SNIPPET = (
    "__import__('bai_lsp.gateway.runtimes.kernel_output', fromlist=['install']).install({0})"
)
#: Starts of a kernel that died before answering ``kernel_info`` before the session fails.
START_ATTEMPTS = 2


def kernel_startup_lines(
    flush_interval: float = KERNEL_FLUSH_INTERVAL, chunk: int = KERNEL_WRITE_CHUNK
) -> list[str]:
    """The ``exec_lines`` our kernels start with (the benchmark's raw stack uses them too)."""
    return [_FLUSH_SNIPPET.format(flush_interval), _CHUNK_SNIPPET.format(chunk)]


def _stream_chars(msg: dict[str, Any]) -> int:
    """Characters of a stream message (what the kernel counts against its credits)."""
    if msg.get("header", {}).get("msg_type") != "stream":
        return 0
    return len(msg.get("content", {}).get("text", ""))


class _KernelDied(RuntimeFailure):
    """The kernel process exited before it answered ``kernel_info``."""


KERNEL_NAME = "bai-lsp-python"


def _own_kernel_spec(state_dir: Path) -> KernelSpecManager:
    """A kernel spec of our own (the gateway's interpreter), so that a ``python3`` spec the
    user installed elsewhere never decides which Python runs the session."""
    spec_dir = state_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (bai-lsp)",
        "language": "python",
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(state_dir / "kernels")], ensure_native_kernel=False)


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


def display_record(data: dict[str, Any]) -> ConsoleRecord | None:
    """The one console record for a display_data/execute_result bundle (richest type wins)."""
    for mime in ("image/png", "image/jpeg"):
        if isinstance(data.get(mime), str):
            payload = "".join(data[mime].split())
            return ConsoleRecord.media(mime, f"data:{mime};base64,{payload}")
    svg = data.get("image/svg+xml")
    if isinstance(svg, str):
        return ConsoleRecord.media("image/svg+xml", svg)
    html = data.get("text/html")
    if isinstance(html, str):
        return ConsoleRecord.media("text/html", html)
    text = data.get("text/plain")
    if isinstance(text, str):
        return ConsoleRecord.stdout(text if text.endswith("\n") else text + "\n")
    return None


class _Cell:
    """One execute_request in flight."""

    def __init__(self, run: Run, msg_id: str) -> None:
        self.run = run
        self.msg_id = msg_id
        self.idle = asyncio.Event()
        self.replied = asyncio.Event()
        self.status = "ok"
        self.last_output = 0.0
        self.input_task: asyncio.Task[None] | None = None
        self.restarted: str | None = None


class JupyterEngine:
    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        state_dir: Path,
        tracker: ProcessTracker | None = None,
    ) -> None:
        self.tracker = tracker
        self.workdir = workdir
        self.env = dict(env)
        self.state_dir = state_dir
        self.km: AsyncKernelManager | None = None
        self.kc: AsyncKernelClient | None = None
        self._cell: _Cell | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._log_file: Any = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._restart_lock = asyncio.Lock()
        self._closed = False
        self._shell_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: Write end of the kernel's credit FIFO (kernel_output.py): one byte per slice taken.
        self._credits: int | None = None
        #: Stream characters taken but not yet credited (less than one credit's worth).
        self._uncredited = 0

    @property
    def kernel_pid(self) -> int | None:
        km = self.km
        provisioner = getattr(km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        pid = getattr(process, "pid", None)
        return pid if isinstance(pid, int) else None

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.env.setdefault("IPYTHONDIR", str(self.state_dir / "ipython"))
        self.env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        if self._log_file is None:
            self._log_file = await asyncio.to_thread(open, self.state_dir / "kernel.log", "ab")
        if self._credits is None:
            self._credits = self._open_credits()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                await self._start_once()
                return
            except _KernelDied as exc:
                await self._discard_failed_start()
                if attempt == START_ATTEMPTS:
                    raise RuntimeFailure(str(exc)) from exc
                log.warning(
                    "the python kernel died before it was ready (%s); starting it again", exc
                )

    def _open_credits(self) -> int | None:
        """The FIFO through which the kernel's large writes are paced (kernel_output.py)."""
        path = self.state_dir / "output-credits"
        try:
            if not path.exists():
                os.mkfifo(path, 0o600)
            # O_RDWR: never blocks, and the FIFO stays open whether the kernel reads or not.
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            log.warning("large kernel writes will not be paced: %s", exc)
            return None
        self.env[kernel_output.CREDITS_ENV] = str(path)
        return fd

    def _credit(self, chars: int) -> None:
        """Credit the kernel for ``chars`` characters of stream output taken."""
        if self._credits is None or not chars:
            return
        self._uncredited += chars
        units, self._uncredited = divmod(self._uncredited, kernel_output.CREDIT_CHARS)
        if units:
            with contextlib.suppress(OSError):  # a full FIFO: the kernel has credit enough
                os.write(self._credits, b"\x01" * units)

    async def _start_once(self) -> None:
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=await asyncio.to_thread(_own_kernel_spec, self.state_dir),
        )
        km.connection_file = str(self.state_dir / "kernel.json")
        try:
            await km.start_kernel(
                env=self.env,
                cwd=str(self.workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=self._log_file,
                extra_arguments=[
                    f"--IPKernelApp.exec_lines={kernel_startup_lines()!r}",
                    # jedi's first completion can take seconds; IPython's own is instant.
                    "--IPCompleter.use_jedi=False",
                ],
            )
        except Exception as exc:
            raise RuntimeFailure(f"the python kernel did not start: {exc}") from exc
        self.km = km
        await self._connect()

    async def _discard_failed_start(self) -> None:
        """Forget a kernel that died while starting (its ports and connection file too)."""
        km, self.km = self.km, None
        if km is None:
            return
        pid = getattr(getattr(getattr(km, "provisioner", None), "process", None), "pid", None)
        with contextlib.suppress(Exception):
            await km.shutdown_kernel(now=True)  # also removes its connection file
        if isinstance(pid, int):
            await kill_tree([pid])

    async def _connect(self) -> None:
        assert self.km is not None
        if self.tracker is not None and self.kernel_pid is not None:
            self.tracker.add(self.kernel_pid)
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=KERNEL_READY_TIMEOUT)
        except RuntimeError as exc:
            kc.stop_channels()
            if "died" in str(exc):
                raise _KernelDied(f"the python kernel did not become ready: {exc}") from exc
            raise RuntimeFailure(f"the python kernel did not become ready: {exc}") from exc
        self.kc = kc
        self._readers = [
            asyncio.create_task(self._read_iopub(kc), name="kernel-iopub"),
            asyncio.create_task(self._read_shell(kc), name="kernel-shell"),
            asyncio.create_task(self._read_stdin(kc), name="kernel-stdin"),
        ]

    async def _disconnect(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._readers = []
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None

    # -- readers: one per channel, dispatching to the cell in flight --------------------

    async def _read_iopub(self, kc: AsyncKernelClient) -> None:
        loop = asyncio.get_running_loop()
        while True:
            msg = await kc.get_iopub_msg()
            cell = self._cell
            if cell is None or msg.get("parent_header", {}).get("msg_id") != cell.msg_id:
                self._credit(_stream_chars(msg))
                continue
            cell.last_output = loop.time()
            kind = msg["header"]["msg_type"]
            content = msg.get("content", {})
            if kind == "stream":
                text = content.get("text", "")
                if content.get("name") == "stderr":
                    await cell.run.stderr(text)
                else:
                    await cell.run.stdout(text)
                self._credit(len(text))  # taken into the run's bounded buffer: more may come
            elif kind == "error":
                traceback = "\n".join(content.get("traceback") or [])
                if not traceback:
                    traceback = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
                await cell.run.stderr(strip_ansi(traceback) + "\n")
            elif kind in ("execute_result", "display_data", "update_display_data"):
                record = display_record(content.get("data") or {})
                if record is not None:
                    await cell.run.emit(record)
            elif kind == "status" and content.get("execution_state") == "idle":
                cell.idle.set()

    async def _read_shell(self, kc: AsyncKernelClient) -> None:
        while True:
            msg = await kc.get_shell_msg()
            waiter = self._shell_waiters.pop(msg.get("parent_header", {}).get("msg_id", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
                continue
            cell = self._cell
            if cell is not None and msg.get("parent_header", {}).get("msg_id") == cell.msg_id:
                cell.status = msg.get("content", {}).get("status", "ok")
                cell.replied.set()

    async def _read_stdin(self, kc: AsyncKernelClient) -> None:
        while True:
            msg = await kc.get_stdin_msg()
            cell = self._cell
            if msg["header"]["msg_type"] != "input_request" or cell is None:
                continue
            content = msg.get("content", {})
            cell.input_task = asyncio.create_task(
                self._answer_input(
                    kc, cell, str(content.get("prompt", "")), bool(content.get("password"))
                )
            )

    async def _answer_input(
        self, kc: AsyncKernelClient, cell: _Cell, prompt: str, password: bool
    ) -> None:
        # The prompt request and the output printed before it travel on different sockets:
        # let iopub go quiet first so that earlier output precedes the prompt.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.1
        while loop.time() < deadline and loop.time() - cell.last_output < 0.01:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await cell.run.stdout(prompt)
        text = await cell.run.read_input({"is_password": password})
        if self._cell is cell:
            kc.input(text)

    # -- running cells -------------------------------------------------------------------

    async def run(self, run: Run, code: str) -> None:
        async with self._lock:
            async with self._restart_lock:
                pass  # a restart in progress ends first
            if self.kc is None:
                await self._revive("the python kernel was not running")
            assert self.kc is not None
            # bai-lsp's introspection snippets (wire/helper.py) leave no trace: no history,
            # no ``_``/``Out``, no execution count.
            silent = is_helper(code)
            msg_id = self.kc.execute(
                code,
                silent=silent,
                store_history=not silent,
                allow_stdin=not silent,
                stop_on_error=False,
            )
            cell = _Cell(run, msg_id)
            self._cell = cell
            try:
                await self._wait_cell(cell)
            finally:
                self._cell = None
                if cell.input_task is not None:
                    cell.input_task.cancel()
        if cell.restarted is not None:
            await run.stderr(f"\n[bai-lsp: {cell.restarted}; the kernel was restarted]\n")
            await run.control(RunStatus.FINISHED, 130)
            return
        await run.control(RunStatus.FINISHED, 0 if cell.status == "ok" else 1)

    async def _wait_cell(self, cell: _Cell) -> None:
        done = asyncio.ensure_future(self._both(cell.replied, cell.idle))
        try:
            while True:
                finished, _ = await asyncio.wait({done}, timeout=LIVENESS_INTERVAL)
                if finished:
                    return
                if cell.restarted is not None:
                    continue
                if self.km is None or not await self.km.is_alive():
                    cell.restarted = "the kernel died while running this code"
                    await self._revive(cell.restarted)
                    return
        finally:
            done.cancel()

    @staticmethod
    async def _both(first: asyncio.Event, second: asyncio.Event) -> None:
        await first.wait()
        await second.wait()

    async def _revive(self, reason: str) -> None:
        if self._closed:
            raise RuntimeFailure("the session is shutting down")
        log.warning("restarting the python kernel: %s", reason)
        await self._restart_kernel()

    # -- control -------------------------------------------------------------------------

    async def interrupt(self) -> None:
        # Only a running cell is interrupted: SIGINT goes to the kernel's whole process
        # group, and an idle kernel's background children (a server started from a cell)
        # must not die of a stray interrupt.
        cell = self._cell
        if self.km is None or cell is None:
            return
        await self.km.interrupt_kernel()
        if cell is not None:
            task = asyncio.create_task(self._escalate(cell), name="kernel-interrupt-escalation")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _escalate(self, cell: _Cell) -> None:
        await asyncio.sleep(SECOND_INTERRUPT_AFTER)
        if self._cell is not cell or self.km is None:
            return
        await self.km.interrupt_kernel()
        await asyncio.sleep(RESTART_AFTER - SECOND_INTERRUPT_AFTER)
        if self._cell is not cell:
            return
        cell.restarted = f"the code ignored the interrupt for {RESTART_AFTER:g} s"
        await self._restart_kernel()
        cell.replied.set()
        cell.idle.set()

    async def restart(self) -> None:
        cell = self._cell
        if cell is not None:
            cell.restarted = "restart requested"
        await self._restart_kernel()
        if cell is not None:
            cell.replied.set()
            cell.idle.set()

    async def _restart_kernel(self) -> None:
        async with self._restart_lock:
            await self._restart_kernel_locked()

    async def _restart_kernel_locked(self) -> None:
        if self.km is None:
            await self.start()
            return
        old_pid = self.kernel_pid
        await self._disconnect()
        try:
            await self.km.restart_kernel(now=True)
        except Exception as exc:
            raise RuntimeFailure(f"the python kernel could not be restarted: {exc}") from exc
        finally:
            if old_pid is not None:
                await kill_tree([old_pid])
        await self._connect()

    async def complete(self, code: str, cursor: int) -> list[str]:
        """The kernel's completions at ``cursor`` (``[]`` if it stays busy for 10 s)."""
        kc = self.kc
        if kc is None:
            return []
        msg_id = kc.complete(code, cursor)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._shell_waiters[msg_id] = waiter
        try:
            reply = await asyncio.wait_for(waiter, COMPLETE_TIMEOUT)
        except TimeoutError:
            return []
        finally:
            self._shell_waiters.pop(msg_id, None)
        content = reply.get("content", {})
        matches = [str(m) for m in content.get("matches") or []]
        # The kernel replaces code[cursor_start:cursor]; a client of /complete only gets
        # strings, so give it whole dotted names ("os.path", not ".path" or "path").
        start = content.get("cursor_start", cursor)
        word_start = cursor
        while word_start > 0 and (code[word_start - 1].isalnum() or code[word_start - 1] in "_."):
            word_start -= 1
        if isinstance(start, int) and word_start <= start <= cursor:
            prefix = code[word_start:start]
            matches = [prefix + m for m in matches]
        return list(dict.fromkeys(matches))

    async def shutdown(self) -> None:
        self._closed = True
        pid = self.kernel_pid
        await self._disconnect()
        if self.km is not None:
            with contextlib.suppress(Exception):
                await self.km.shutdown_kernel(now=True)
            self.km = None
        if pid is not None:
            await kill_tree([pid])
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._credits is not None:
            os.close(self._credits)
            self._credits = None
