"""(c) bai-lsp end to end: lean LSP client ⇄ stdio ⇄ ``bai-lsp`` ⇄ HTTP/WS ⇄ gateway ⇄ kernel.

Every workspace is a folder of its own (so a session of its own). A run is
``backendai.runFile`` on an open document holding the code; its first output is the first
``backendai/output`` notification carrying stdout, and it is finished once both the command's
answer and ``backendai/runFinished`` have arrived (whichever is later).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.gateway import Backend, clean_env
from benchmarks.lspclient import LspClient
from benchmarks.scenarios import BenchmarkBroken, FirstOutput, RunTiming

#: Large enough that no flood reaches the per-run budget (which would spill to a file).
MAX_BYTES_PER_RUN = 1 << 40


class _Pending:
    def __init__(self, start: float, on_first_output: FirstOutput | None) -> None:
        self.start = start
        self.run_id: str | None = None
        self.first: float | None = None
        self.bytes = 0
        self.messages = 0
        self.finished_at: float | None = None
        self.finished = asyncio.Event()
        self.on_first_output = on_first_output


class LspWorkspace:
    def __init__(self, stack: LspStack, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self._documents: dict[str, str] = {}

    async def _document(self, code: str) -> str:
        uri = self._documents.get(code)
        if uri is None:
            name = "run_" + hashlib.sha1(code.encode(), usedforsecurity=False).hexdigest()[:10]
            uri = await self.stack.client.open_document(self.folder / f"{name}.py", code)
            self._documents[code] = uri
        return uri

    async def run(self, code: str, on_first_output: FirstOutput | None = None) -> RunTiming:
        uri = await self._document(code)
        pending = _Pending(time.perf_counter(), on_first_output)
        if uri in self.stack.by_uri:
            raise BenchmarkBroken(f"two runs of {uri} at once")
        self.stack.by_uri[uri] = pending
        try:
            result = await self.stack.client.execute_command("backendai.runFile", {"uri": uri})
            answered = time.perf_counter()
            await pending.finished.wait()
        finally:
            self.stack.by_uri.pop(uri, None)
            if pending.run_id is not None:
                self.stack.by_run.pop(pending.run_id, None)
        if not isinstance(result, dict) or result.get("status") != "finished":
            raise BenchmarkBroken(f"run of {code[:40]!r} ended with {result!r}")
        assert pending.finished_at is not None
        done = max(answered, pending.finished_at)
        return RunTiming(pending.first, done - pending.start, pending.bytes, pending.messages)

    async def status(self) -> str:
        """``backendai.session.status``: the server asks the backend (``GET /session/{id}``)."""
        answer = await self.stack.client.execute_command(
            "backendai.session.status", {"uri": self.folder.as_uri()}
        )
        if not isinstance(answer, dict):
            raise BenchmarkBroken(f"backendai.session.status answered {answer!r}")
        if answer.get("message"):
            # e.g. the backend did not answer within 3 s: the last known status is not a
            # round trip, so it must not count as one
            raise BenchmarkBroken(f"backendai.session.status: {answer['message']}")
        return str(answer.get("status", ""))

    async def close(self) -> None:
        """Destroy the workspace's session (frees its kernel)."""
        await self.stack.client.execute_command(
            "backendai.session.destroy", {"uri": self.folder.as_uri()}
        )


class LspStack:
    """Stack (c): one ``bai-lsp`` process (stdio) pointed at the benchmark's gateway."""

    name = "c"

    def __init__(
        self,
        gateway: Backend,
        root: Path,
        folders: int,
        launcher: Sequence[str] = ("-m", "bai_lsp"),
    ) -> None:
        self.gateway = gateway
        #: How Python starts ``bai-lsp`` (``benchmarks.hops``: through ``hop_marks``).
        self.launcher = tuple(launcher)
        self.root = root
        self.client = LspClient(self._notified)
        self.by_uri: dict[str, _Pending] = {}
        self.by_run: dict[str, _Pending] = {}
        self.notifications = 0
        self._folders = [root / f"ws{i:03d}" for i in range(folders)]
        self._next = 0

    def watched_pids(self) -> dict[str, int]:
        return {"bai-lsp": self.client.pid, "gateway": self.gateway.pid}

    async def start(self) -> float:
        """Start the server; seconds from spawn to the ``initialize`` answer."""
        for folder in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
        env = clean_env()
        env["BAI_LSP_STATE_DIR"] = str(self.root / "state")
        began = time.perf_counter()
        with (self.root / "bai-lsp.log").open("ab") as log:
            await self.client.start([sys.executable, *self.launcher], env, log)
        await self.client.initialize(
            self._folders,
            {
                "endpoint": self.gateway.endpoint,
                "accessKey": self.gateway.access_key,
                "secretKey": self.gateway.secret_key,
                "onExit": "destroy",
                "output": {"maxBytesPerRun": MAX_BYTES_PER_RUN},
            },
        )
        return time.perf_counter() - began

    async def stop(self) -> None:
        await self.client.stop()

    def _notified(self, method: str, params: Any, now: float) -> None:
        if method == "backendai/output":
            self.notifications += 1
            pending = self.by_run.get(params.get("runId", ""))
            if pending is None:
                return
            pending.messages += 1
            for record in params.get("records", ()):
                if record.get("type") == "stdout":
                    pending.bytes += len(record.get("text", "").encode())
                    if pending.first is None:
                        pending.first = now - pending.start
                        if pending.on_first_output is not None:
                            pending.on_first_output()
        elif method == "backendai/runStarted":
            pending = self.by_uri.get(params.get("uri", ""))
            if pending is not None:
                pending.run_id = params["runId"]
                self.by_run[params["runId"]] = pending
        elif method == "backendai/runFinished":
            pending = self.by_run.get(params.get("runId", ""))
            if pending is not None:
                pending.finished_at = now
                pending.finished.set()

    async def new_workspace(self, label: str) -> LspWorkspace:
        if self._next >= len(self._folders):
            raise BenchmarkBroken("more workspaces asked for than folders announced")
        ws = LspWorkspace(self, self._folders[self._next])
        self._next += 1
        await ws.run("pass")
        return ws
