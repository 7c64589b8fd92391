"""(a) The engine's own limit: jupyter_client talking straight to ipykernel, nothing between.

Kernels start as the gateway's Jupyter runtime starts them (the same startup lines:
``bai_lsp.gateway.runtimes.jupyter.kernel_startup_lines`` — a 2 ms output flush interval and
large writes sliced into 1 MiB messages), or as plain ipykernel (0.2 s flush, one message
per flush whatever its size) for context. A run's first output is the first ``stream``
message on iopub; it is finished when the kernel reports ``idle`` for it (both replies
have then been sent).

iopub is PUB/SUB: a reader that falls behind (50 busy kernels, nothing paces them) has
messages dropped once ZeroMQ's queues are full, the ``idle`` one too. So the shell's
``execute_reply`` (never dropped) is read as well: once it came, a run whose iopub has been
silent for ``IOPUB_QUIET_AFTER_REPLY`` without ``idle`` fails as a finding (the engine lost
output) instead of waiting for ever (the 50-workspace phase hung that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from bai_lsp.gateway.runtimes.jupyter import KERNEL_FLUSH_INTERVAL, kernel_startup_lines
from benchmarks.scenarios import BenchmarkBroken, FirstOutput, RunTiming

READY_TIMEOUT = 120.0
#: After the execute reply, a run whose iopub stays silent this long without ``idle``
#: has lost messages.
IOPUB_QUIET_AFTER_REPLY = 20.0
START_ATTEMPTS = 3


def flush_arguments(interval: float | None) -> list[str]:
    """The ``extra_arguments`` of a kernel started as the gateway starts it with this flush
    interval (``None``: plain ipykernel)."""
    if interval is None:
        return []
    return [f"--IPKernelApp.exec_lines={kernel_startup_lines(interval)!r}"]


class _Pending:
    def __init__(self, start: float, on_first_output: FirstOutput | None) -> None:
        self.start = start
        self.first: float | None = None
        self.bytes = 0
        self.messages = 0
        self.idle = asyncio.Event()
        self.replied = asyncio.Event()
        self.last_iopub = time.perf_counter()
        self.on_first_output = on_first_output


class RawKernel:
    """One ipykernel and the client reading all of its iopub messages."""

    def __init__(self, flush_interval: float | None, workdir: Path) -> None:
        self.flush_interval = flush_interval
        self.workdir = workdir
        self.km = AsyncKernelManager(kernel_name="python3")
        self.kc: AsyncKernelClient | None = None
        self._pending: dict[str, _Pending] = {}
        self._reader: asyncio.Task[None] | None = None
        self._shell_reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            IPYTHONDIR=str(self.workdir / "ipython"),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
            PYTHONUNBUFFERED="1",
        )
        self.km.connection_file = str(self.workdir / "kernel.json")
        with (self.workdir / "kernel.log").open("ab") as log:
            await self.km.start_kernel(
                env=env,
                cwd=str(self.workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                extra_arguments=flush_arguments(self.flush_interval),
            )
        kc = self.km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=READY_TIMEOUT)
        self.kc = kc
        self._reader = asyncio.create_task(self._read_iopub(kc))
        self._shell_reader = asyncio.create_task(self._read_shell(kc))

    async def _read_shell(self, kc: AsyncKernelClient) -> None:
        while True:
            msg: dict[str, Any] = await kc.get_shell_msg()
            pending = self._pending.get(msg.get("parent_header", {}).get("msg_id", ""))
            if pending is not None:
                pending.replied.set()

    async def _read_iopub(self, kc: AsyncKernelClient) -> None:
        while True:
            msg: dict[str, Any] = await kc.get_iopub_msg()
            pending = self._pending.get(msg.get("parent_header", {}).get("msg_id", ""))
            if pending is None:
                continue
            pending.last_iopub = time.perf_counter()
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                now = time.perf_counter()
                text = msg["content"].get("text", "")
                if msg["content"].get("name") == "stdout":
                    pending.bytes += len(text.encode())
                pending.messages += 1
                if pending.first is None:
                    pending.first = now - pending.start
                    if pending.on_first_output is not None:
                        pending.on_first_output()
            elif kind == "status" and msg["content"].get("execution_state") == "idle":
                pending.idle.set()

    async def run(self, code: str, on_first_output: FirstOutput | None = None) -> RunTiming:
        assert self.kc is not None
        start = time.perf_counter()
        msg_id = self.kc.execute(code, store_history=False)
        pending = _Pending(start, on_first_output)
        self._pending[msg_id] = pending
        try:
            while not pending.idle.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pending.idle.wait(), 1.0)
                quiet = time.perf_counter() - pending.last_iopub
                if pending.replied.is_set() and quiet > IOPUB_QUIET_AFTER_REPLY:
                    raise BenchmarkBroken(
                        f"the kernel replied but its iopub went silent for {quiet:.0f} s "
                        "without 'idle': ZeroMQ dropped messages of a reader that fell behind"
                    )
        finally:
            del self._pending[msg_id]
        return RunTiming(
            pending.first, time.perf_counter() - start, pending.bytes, pending.messages
        )

    async def close(self) -> None:
        for reader in (self._reader, self._shell_reader):
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if self.kc is not None:
            self.kc.stop_channels()
        with contextlib.suppress(Exception):
            await self.km.shutdown_kernel(now=True)


class RawStack:
    """Stack (a): every workspace is a kernel of its own, driven from this process."""

    def __init__(self, name: str, flush_interval: float | None, root: Path) -> None:
        self.name = name
        self.flush_interval = flush_interval
        self._root = root
        self._count = 0

    def watched_pids(self) -> dict[str, int]:
        # jupyter_client runs in this process: it plays the gateway's part in (a).
        return {"gateway": os.getpid()}

    async def new_workspace(self, label: str) -> RawKernel:
        for attempt in range(START_ATTEMPTS):
            self._count += 1
            kernel = RawKernel(self.flush_interval, self._root / f"{self._count}-{label}")
            try:
                await kernel.start()
                await kernel.run("pass")
            except RuntimeError:
                # "Kernel died before replying to kernel_info": jupyter_client picks free
                # ports before the kernel binds them, and on a shared machine another
                # process can take one in between.
                await kernel.close()
                if attempt + 1 == START_ATTEMPTS:
                    raise
                continue
            except BaseException:
                await kernel.close()
                raise
            return kernel
        raise AssertionError("unreachable")


def gateway_flush_interval() -> float:
    return KERNEL_FLUSH_INTERVAL
