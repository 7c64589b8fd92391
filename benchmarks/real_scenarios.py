"""The real-manager scenarios, written once for every stack (SDK 23.9.10, SDK 26.9.6, bai-lsp).

Standard library only, like ``scenarios``: the SDK driver runs them inside the SDK's own venv.
A stack creates workspaces (a session that has run ``pass``), runs code in them and asks for
their status (one ``GET /session/{id}`` through whatever the stack uses for it).

The phases, each run on every stack before the next (so the stacks compared are measured
minutes apart on the same cluster):

* ``real-create``: request a new session → its first run (``pass``) done, in a row;
* ``real-status``: status round trips on the main session;
* ``real-latency``: ``print(1)``, run → first output and run → finished.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from benchmarks import config
from benchmarks.scenarios import BenchmarkBroken, Workspace, latency

#: A session create on the real manager (scheduling, a kernel runner, Jupyter) may take a
#: while on a loaded machine; longer than this is a finding.
CREATE_TIMEOUT = 300.0
#: One status request; bai-lsp itself answers with the last known status after 3 s.
STATUS_TIMEOUT = 30.0

PHASES = ("real-create", "real-status", "real-latency")


class RealWorkspace(Workspace, Protocol):
    async def status(self) -> str:
        """The session's status as the backend reports it now (one round trip)."""
        ...


class RealStack(Protocol):
    name: str

    async def new_workspace(self, label: str) -> RealWorkspace:
        """A workspace whose session exists and has run ``pass``."""
        ...


async def _create(stack: RealStack, label: str) -> tuple[RealWorkspace, float]:
    start = time.perf_counter()
    try:
        ws = await asyncio.wait_for(stack.new_workspace(label), CREATE_TIMEOUT)
    except TimeoutError:
        raise BenchmarkBroken(
            f"session {label}: not created within {CREATE_TIMEOUT:.0f} s"
        ) from None
    return ws, time.perf_counter() - start


async def status_latency(ws: RealWorkspace, probes: int) -> list[float]:
    samples = []
    for _ in range(probes):
        start = time.perf_counter()
        try:
            status = await asyncio.wait_for(ws.status(), STATUS_TIMEOUT)
        except TimeoutError:
            raise BenchmarkBroken(f"no status answer within {STATUS_TIMEOUT:.0f} s") from None
        samples.append(time.perf_counter() - start)
        if status.upper() not in ("RUNNING", "IDLE"):
            raise BenchmarkBroken(f"the live main session reported status {status!r}")
    return samples


class RealRun:
    """One stack's real-manager results, filled phase by phase (see ``scenarios.StackRun``)."""

    def __init__(
        self, stack: RealStack, sizes: config.RealSizes, log: Callable[[str], None] = print
    ) -> None:
        self.stack = stack
        self.sizes = sizes
        self.log = log
        self.result: dict[str, Any] = {"stack": stack.name, "errors": [], "findings": []}
        self._main: RealWorkspace | None = None
        self._main_tried = False

    async def attempt(self, name: str, body: Callable[[], Awaitable[Any]]) -> Any:
        self.log(f"[{self.stack.name}] {name} ...")
        began = time.perf_counter()
        try:
            value = await body()
        except Exception as exc:
            self.log(f"[{self.stack.name}] {name} FAILED: {exc!r}")
            if isinstance(exc, BenchmarkBroken):
                self.result["findings"].append(f"{name}: {exc}")
            else:
                # On the real manager a stack that cannot do what the scenario asks is a
                # finding about that stack, not a broken benchmark: keep the trace's head.
                trace = traceback.format_exc(limit=3).strip().splitlines()
                self.result["findings"].append(f"{name}: {exc!r} ({' / '.join(trace[-3:])})")
            return None
        self.log(f"[{self.stack.name}] {name} done in {time.perf_counter() - began:.1f} s")
        return value

    async def main(self) -> RealWorkspace | None:
        if not self._main_tried:
            self._main_tried = True
            made = await self.attempt("main session", lambda: _create(self.stack, "main"))
            if made is not None:
                self._main, seconds = made
                self.result["create_s"] = [*self.result.get("create_s", []), seconds]
        return self._main

    async def _creations(self) -> list[float]:
        samples = []
        for i in range(self.sizes.creations):
            ws, seconds = await _create(self.stack, f"create{i}")
            samples.append(seconds)
            await ws.close()
        return samples

    async def run_phase(self, phase: str) -> None:
        result = self.result
        if phase == "real-create":
            samples = await self.attempt("session creations", self._creations)
            result["create_s"] = [*result.get("create_s", []), *(samples or [])]
            await self.main()
        elif phase == "real-status":
            main = await self.main()
            if main is None:
                return
            ws = main
            samples = await self.attempt(
                "status latency", lambda: status_latency(ws, self.sizes.status_probes)
            )
            if samples:
                result["status_s"] = samples
        elif phase == "real-latency":
            main = await self.main()
            if main is None:
                return
            target: Workspace = main
            timings = await self.attempt(
                "print(1) latency",
                lambda: latency(target, config.PRINT_1, self.sizes.latency_runs, self.sizes.warmup),
            )
            if timings:
                result["first_output_s"] = [t.first_output for t in timings]
                result["finished_s"] = [t.finished for t in timings]
        else:
            raise ValueError(f"unknown phase {phase!r}")

    async def close(self) -> None:
        if self._main is not None:
            await self.attempt("closing the main session", self._main.close)
            self._main = None
