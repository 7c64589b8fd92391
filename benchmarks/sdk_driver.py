"""(b) The official SDK (backend.ai-client 23.9.10) ``stream_execute`` against the gateway.

Runs inside the SDK's own venv (``.venv-sdk/bin/python benchmarks/sdk_driver.py SIZES_JSON
[REAL_SIZES_JSON]``) with ``BACKEND_ENDPOINT``/``BACKEND_ACCESS_KEY``/``BACKEND_SECRET_KEY``
and ``BENCH_GATEWAY_PID`` in its environment (``BENCH_STACK``: the stack's name in the
results, "b" unless told). The real-manager phases (``real-*``, benchmarks/real_scenarios.py)
run the same way, from this venv or from the 26.9.6 SDK's (``.venv-sdk-26``), against the
manager the environment points at. It reads one phase name per line on stdin and
answers each with the results so far as one JSON line on stdout (progress goes to stderr),
so that the orchestrator can run every phase on every stack before the next phase. It
imports only the standard-library modules of ``benchmarks`` (config, scenarios, procmon),
so the scenarios are the very same code as for stacks (a) and (c).

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

from benchmarks import config, real_scenarios, scenarios

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

    async def status(self) -> str:
        """``GET /session/{name}`` (``get_info``), the SDK's own status request."""
        info = await self.session.get_info()
        return str(info.get("status", ""))

    async def close(self) -> None:
        await self.session.destroy()


class SdkStack:
    def __init__(self, api: AsyncSession, gateway_pid: int, tag: str, name: str = "b") -> None:
        self.name = name
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
    real_sizes = config.RealSizes(**json.loads(sys.argv[2])) if len(sys.argv) > 2 else None
    gateway_pid = int(os.environ["BENCH_GATEWAY_PID"])
    loop = asyncio.get_running_loop()
    async with AsyncSession() as api:
        stack = SdkStack(api, gateway_pid, secrets.token_hex(3), os.environ.get("BENCH_STACK", "b"))
        run = scenarios.StackRun(stack, sizes, log=log)
        real = real_scenarios.RealRun(stack, real_sizes, log) if real_sizes else None
        current: scenarios.StackRun | real_scenarios.RealRun = run
        try:
            # One phase name per line on stdin, answered by the results so far on stdout;
            # "close" (or the end of stdin) destroys the main session and ends the driver.
            while True:
                line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
                if not line or line == "close":
                    break
                current = real if real is not None and line.startswith("real-") else run
                await current.run_phase(line)
                print(json.dumps(current.result), flush=True)
        finally:
            await run.close()
            if real is not None:
                await real.close()
    print(json.dumps(current.result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
