"""The ``Runtime`` of one session: a query runner and a batch runner behind one run board.

Runs are serialised across both modes (Backend.AI has one kernel per session). ``interrupt``
goes to whichever runner owns the current run; ``shutdown`` kills every process tree the
session started: kernel, batch steps, terminals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from bai_lsp.gateway.runtimes.base import ExecutionRequestError, Pty, Runtime
from bai_lsp.gateway.runtimes.batch import BatchEngine, BatchSteps
from bai_lsp.gateway.runtimes.images import ImageSpec
from bai_lsp.gateway.runtimes.procs import ProcessTracker, clean_environ
from bai_lsp.gateway.runtimes.pty import PtyShell
from bai_lsp.gateway.runtimes.runs import Run, RunBoard
from bai_lsp.wire.execute import ExecutionResult

log = logging.getLogger(__name__)


class QueryEngine(Protocol):
    """A REPL-like runner: ``run`` executes one snippet and ends with a ``finished`` record."""

    async def start(self) -> None: ...

    async def run(self, run: Run, code: str) -> None: ...

    async def interrupt(self) -> None: ...

    async def restart(self) -> None: ...

    async def shutdown(self) -> None: ...


def make_query_engine(
    image: ImageSpec, workdir: Path, env: dict[str, str], state_dir: Path, tracker: ProcessTracker
) -> QueryEngine | None:
    if image.query == "jupyter":
        from bai_lsp.gateway.runtimes.jupyter import JupyterEngine

        return JupyterEngine(workdir, env, state_dir, tracker)
    if image.query == "bash":
        from bai_lsp.gateway.runtimes.shell import ShellEngine

        return ShellEngine(workdir, env, tracker)
    if image.query == "node":
        from bai_lsp.gateway.runtimes.node import NodeEngine

        return NodeEngine(workdir, env, tracker)
    if image.query == "c":
        from bai_lsp.gateway.runtimes.csnippet import CSnippetEngine

        return CSnippetEngine(workdir, env, state_dir, tracker)
    return None


def shared_cache_dir(name: str) -> Path:
    """A cache shared by all sessions of this user (outside every session folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bai-lsp" / name


def runner_environ() -> dict[str, str]:
    """What every session process gets on top of the clean environment.

    matplotlib builds a font cache under ``$HOME`` on first import (seconds); HOME is the
    session folder, so without a shared ``MPLCONFIGDIR`` every new session would pay that
    again and find ``.cache``/``.config`` litter in its folder.
    """
    mpl = shared_cache_dir("matplotlib")
    with contextlib.suppress(OSError):
        mpl.mkdir(parents=True, exist_ok=True)
    return {"PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": str(mpl)}


class SessionRuntime:
    def __init__(self, image: ImageSpec, workdir: Path, environ: Mapping[str, str]) -> None:
        self.image = image
        self.workdir = Path(workdir)
        requested = {**image.environ, **environ}
        self.env = clean_environ(self.workdir, requested, extra=runner_environ())
        self.state_dir = Path(tempfile.mkdtemp(prefix="bai-lsp-runtime-"))
        self.board = RunBoard()
        self.tracker = ProcessTracker()
        self.query = make_query_engine(image, self.workdir, self.env, self.state_dir, self.tracker)
        self.batch = BatchEngine(image, self.workdir, self.env, self.tracker)
        self.ptys: set[PtyShell] = set()
        self._closed = False

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.query is not None:
            await self.query.start()

    async def execute(
        self,
        mode: str,
        run_id: str | None,
        code: str,
        options: dict[str, Any] | None,
        flush_timeout: float,
    ) -> ExecutionResult:
        if self._closed:
            raise ExecutionRequestError("the session has been shut down")
        if not isinstance(code, str):
            raise ExecutionRequestError("code must be a string")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise ExecutionRequestError("runId must be a non-empty string or null")
        if mode == "query":
            query = self.query
            if query is None:
                raise ExecutionRequestError(
                    f"image {self.image.name!r} has no query (REPL) runner; use mode 'batch' "
                    "with build/exec commands (see docs/images.md)"
                )

            async def drive_query(run: Run) -> None:
                await query.run(run, code)

            run = await self.board.start(mode, run_id, drive_query)
        elif mode == "batch":
            steps = BatchSteps.from_options(options)

            async def drive_batch(run: Run) -> None:
                await self.batch.run(run, steps)

            run = await self.board.start(mode, run_id, drive_batch)
        elif mode == "continue":
            run = self.board.lookup(mode, run_id)
        elif mode == "input":
            run = self.board.lookup(mode, run_id)
            run.deliver_input(code)
        else:
            raise ExecutionRequestError(
                f"unknown execution mode {mode!r}; use one of query, continue, input, batch"
            )
        return await run.poll(flush_timeout)

    @property
    def query_busy(self) -> bool:
        """A query run holds the REPL: a completion would wait behind the whole cell."""
        current = self.board.current
        return current is not None and current.mode == "query"

    async def complete(self, code: str, options: dict[str, Any] | None = None) -> list[str]:
        """Completions for ``code`` (``/complete``): the kernel's for python images, else ``[]``.

        ``options`` may carry Backend.AI's ``row``/``col`` (0-based) of the cursor; without
        them the cursor is at the end of ``code``. While a query run executes, the answer is
        ``[]`` at once instead of waiting behind the cell (the editor asks again later).
        """
        complete = getattr(self.query, "complete", None)
        if complete is None or self._closed or self.query_busy:
            return []
        return list(await complete(code, cursor_offset(code, options)))

    async def interrupt(self) -> None:
        current = self.board.current
        if current is not None and current.mode == "batch":
            await self.batch.interrupt()
        elif self.query is not None:
            await self.query.interrupt()

    async def restart(self) -> None:
        """A fresh query runner; batch steps and whatever they left behind are killed too.
        Terminals stay open."""
        await self.batch.kill()
        if self.query is not None:
            await self.query.restart()
        terminals = frozenset(pty.pid for pty in self.ptys)
        protected = terminals | frozenset(self._query_pids())
        await self.tracker.kill_all(exclude=protected)

    def _query_pids(self) -> list[int]:
        pids = [
            getattr(self.query, "kernel_pid", None),
            getattr(getattr(self.query, "proc", None), "pid", None),
        ]
        return [pid for pid in pids if isinstance(pid, int)]

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.board.cancel_all()  # runs end with 130 before their runners go away
        for pty in list(self.ptys):
            await pty.close()
        self.ptys.clear()
        await self.batch.kill()
        if self.query is not None:
            try:
                await self.query.shutdown()
            except Exception:
                log.exception("stopping the query runner of %s failed", self.workdir)
        await self.tracker.kill_all()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(shutil.rmtree, self.state_dir, True)

    async def open_pty(self, rows: int, cols: int) -> Pty:
        if self._closed:
            raise ExecutionRequestError("the session has been shut down")
        pty = await PtyShell.open(self.workdir, self.env, rows, cols, self.tracker)
        self.ptys.add(pty)
        return _TrackedPty(pty, self.ptys)


class _TrackedPty:
    """A pty that leaves the session's list when closed."""

    def __init__(self, pty: PtyShell, registry: set[PtyShell]) -> None:
        self._pty = pty
        self._registry = registry

    @property
    def returncode(self) -> int | None:
        return self._pty.returncode

    async def read(self) -> bytes:
        return await self._pty.read()

    async def write(self, data: bytes) -> None:
        await self._pty.write(data)

    def resize(self, rows: int, cols: int) -> None:
        self._pty.resize(rows, cols)

    async def close(self) -> None:
        self._registry.discard(self._pty)
        await self._pty.close()


def cursor_offset(code: str, options: dict[str, Any] | None) -> int:
    """Where the cursor is in ``code``: at ``options.row``/``col`` (0-based), else at the end.

    The SDK's ``complete(code)`` always sends ``row: 0, col: 0`` ("as if the user pressed
    tab just after the code"), so (0, 0) means the end too; ``line``/``post`` are only
    informational here (``code`` is the text the kernel completes in).
    """
    row = (options or {}).get("row")
    col = (options or {}).get("col")
    if not isinstance(row, int) or not isinstance(col, int) or row < 0 or col < 0:
        return len(code)
    if row == 0 and col == 0:
        return len(code)
    lines = code.split("\n")
    if row >= len(lines):
        return len(code)
    return sum(len(line) + 1 for line in lines[:row]) + min(col, len(lines[row]))


def create_runtime(image: ImageSpec, workdir: Path, environ: Mapping[str, str]) -> SessionRuntime:
    return SessionRuntime(image, workdir, environ)


def _conforms(runtime: SessionRuntime, pty: _TrackedPty) -> tuple[Runtime, Pty]:
    """Checked by mypy: the classes implement the seam's protocols."""
    return runtime, pty
