"""(b) The official SDK (backend.ai-client 23.9.10) ``stream_execute`` against the gateway.

Runs inside the SDK's own venv
(``.venv-sdk/bin/python benchmarks/sdk_driver.py SIZES_JSON PHASE[,PHASE...]``)
with ``BACKEND_ENDPOINT``/``BACKEND_ACCESS_KEY``/``BACKEND_SECRET_KEY`` and
``BENCH_GATEWAY_PID`` in its environment; prints the scenario results as one JSON line on
stdout (progress goes to stderr). It imports only the standard-library modules of
``benchmarks`` (config, scenarios, procmon), so the scenarios are the very same code as for
stacks (a) and (c).

Every workspace is a session of its own (``ComputeSession.get_or_create`` with a unique
name); every run opens the stream-execute WebSocket as the SDK does, sends the code and
reads frames until ``finished``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from ai.backend.client.session import AsyncSession

from benchmarks import config, scenarios

IMAGE = "python"


class SdkWorkspace:
    def __init__(self, session: Any) -> None:
        self.session = session

    async def run(
        self, code: str, on_first_output: scenarios.FirstOutput | None = None
    ) -> scenarios.RunTiming:
        start = time.perf_counter()
        first: float | None = None
        received = 0
        frames = 0
        async with self.session.stream_execute(code, mode="query") as stream:
            async for message in stream:
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise scenarios.BenchmarkBroken(f"unexpected WebSocket frame {message!r}")
                frames += 1
                result = json.loads(message.data)
                for record in result.get("console") or ():
                    if record[0] == "stdout":
                        received += len(record[1].encode())
                        if first is None:
                            first = time.perf_counter() - start
                            if on_first_output is not None:
                                on_first_output()
                status = result.get("status")
                if status == "finished":
                    break
                if status not in ("continued", "running", None):
                    raise scenarios.BenchmarkBroken(f"stream frame with status {status!r}")
        return scenarios.RunTiming(first, time.perf_counter() - start, received, frames)

    async def close(self) -> None:
        await self.session.destroy()


class SdkStack:
    name = "b"

    def __init__(self, api: AsyncSession, gateway_pid: int, tag: str) -> None:
        self.api = api
        self.gateway_pid = gateway_pid
        self.tag = tag

    def watched_pids(self) -> dict[str, int]:
        return {"gateway": self.gateway_pid}

    async def new_workspace(self, label: str) -> SdkWorkspace:
        session = await self.api.ComputeSession.get_or_create(
            IMAGE, name=f"bench-sdk-{self.tag}-{label}"
        )
        ws = SdkWorkspace(session)
        await ws.run("pass")
        return ws


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def main() -> None:
    sizes_json = json.loads(sys.argv[1])
    sizes_json["workspace_counts"] = tuple(sizes_json["workspace_counts"])
    sizes = config.Sizes(**sizes_json)
    gateway_pid = int(os.environ["BENCH_GATEWAY_PID"])
    async with AsyncSession() as api:
        phases = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else scenarios.PHASES
        stack = SdkStack(api, gateway_pid, os.environ.get("BENCH_SDK_TAG") or secrets.token_hex(3))
        result = await scenarios.run_all(stack, sizes, log=log, phases=phases)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
