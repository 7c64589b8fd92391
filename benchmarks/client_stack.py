"""(c0) bai-lsp's own Backend.AI client alone: ``BackendAIClient.stream_execute`` → gateway.

Not one of the three stacks the targets compare; it splits (c) in two: (c) minus (c0) is what
the language server (stdio, pygls, the domain's run queue and output coalescing) adds, and
(c0) minus (a) is what the gateway and the per-run WebSocket add.
"""

from __future__ import annotations

import secrets
import time

from bai_lsp.backendai.client import BackendAIClient
from bai_lsp.backendai.config import APIConfig
from bai_lsp.backendai.types import SessionSpec
from benchmarks.gateway import Backend
from benchmarks.scenarios import BenchmarkBroken, FirstOutput, RunTiming

IMAGE = "python"


class ClientWorkspace:
    def __init__(self, client: BackendAIClient, ref: str) -> None:
        self.client = client
        self.ref = ref

    async def run(self, code: str, on_first_output: FirstOutput | None = None) -> RunTiming:
        start = time.perf_counter()
        first: float | None = None
        received = 0
        frames = 0
        async with self.client.stream_execute(self.ref, mode="query", code=code) as stream:
            async for result in stream:
                frames += 1
                for record in result.console:
                    if record.type == "stdout":
                        received += len(record.text.encode())
                        if first is None:
                            first = time.perf_counter() - start
                            if on_first_output is not None:
                                on_first_output()
                if result.status == "finished":
                    break
                if result.status not in ("continued", "running"):
                    raise BenchmarkBroken(f"stream result with status {result.status!r}")
        return RunTiming(first, time.perf_counter() - start, received, frames)

    async def status(self) -> str:
        """``GET /session/{ref}`` through the client (what ``backendai.session.status`` sends)."""
        info = await self.client.session_info(self.ref)
        return str(info.get("status", ""))

    async def close(self) -> None:
        await self.client.destroy(self.ref)


class ClientStack:
    name = "c0"

    def __init__(self, gateway: Backend) -> None:
        self.gateway = gateway
        self.client = BackendAIClient(
            APIConfig(
                endpoint=gateway.endpoint,
                access_key=gateway.access_key,
                secret_key=gateway.secret_key,
            )
        )
        self.tag = secrets.token_hex(3)

    async def start(self) -> None:
        await self.client.__aenter__()

    async def stop(self) -> None:
        await self.client.close()

    def watched_pids(self) -> dict[str, int]:
        return {"gateway": self.gateway.pid}

    async def new_workspace(self, label: str) -> ClientWorkspace:
        ref = await self.client.get_or_create(
            SessionSpec(image=IMAGE, name=f"bench-c0-{self.tag}-{label}")
        )
        ws = ClientWorkspace(self.client, ref.ref)
        await ws.run("pass")
        return ws
