"""The real-manager scenarios, written once for every stack (SDK 23.9.10, SDK 26.9.6, bai-lsp).

Standard library only, like ``scenarios``: the SDK driver runs them inside the SDK's own venv.
A stack creates workspaces (a session that has run ``pass``), runs code in them and asks for
their status (one ``GET /session/{id}`` through whatever the stack uses for it).

The steps (``schedule``), each run on every stack before the next, so that the stacks
compared share the cluster and the machine's load alike:

* ``real-create`` (once per creation): request a new session → its first run (``pass``)
  done, then destroy it;
* ``real-main``: the same for the session the next steps use (one more creation sample);
* ``real-status`` (once per round): status round trips on the main session;
* ``real-latency`` (once per round; warm-up in the first): ``print(1)``, run → first output
  and run → finished.
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

PHASES = ("real-create", "real-main", "real-status", "real-latency")


def schedule(sizes: config.RealSizes) -> list[str]:
    """The steps in order; each is sent to every stack before the next."""
    rounds = max(1, sizes.rounds)
    return [
        *["real-create"] * sizes.creations,
        "real-main",
        *["real-status"] * rounds,
        *["real-latency"] * rounds,
    ]


def _share(total: int, rounds: int, done_rounds: int) -> int:
    """How many of ``total`` samples round ``done_rounds`` (0-based) takes."""
    rounds = max(1, rounds)
    return total * (done_rounds + 1) // rounds - total * done_rounds // rounds


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
        #: Rounds of each step done so far, and the steps that failed (not retried).
        self._rounds: dict[str, int] = {}
        self._failed: set[str] = set()

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

    async def _creation(self, label: str) -> float:
        ws, seconds = await _create(self.stack, label)
        await ws.close()
        return seconds

    async def run_phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        if phase in self._failed:
            return
        done = self._rounds.get(phase, 0)
        self._rounds[phase] = done + 1
        result, sizes = self.result, self.sizes
        if phase == "real-create":
            value = await self.attempt(
                f"session creation {done + 1}", lambda: self._creation(f"create{done}")
            )
            if value is None:
                self._failed.add(phase)
            else:
                result["create_s"] = [*result.get("create_s", []), value]
            return
        main = await self.main()
        if main is None or phase == "real-main":
            return
        ws = main
        if phase == "real-status":
            count = _share(sizes.status_probes, sizes.rounds, done)
            samples = await self.attempt(
                f"status latency, round {done + 1}", lambda: status_latency(ws, count)
            )
            if samples is None:
                self._failed.add(phase)
            else:
                result["status_s"] = [*result.get("status_s", []), *samples]
        else:
            count = _share(sizes.latency_runs, sizes.rounds, done)
            warmup = sizes.warmup if done == 0 else 0
            timings = await self.attempt(
                f"print(1) latency, round {done + 1}",
                lambda: latency(ws, config.PRINT_1, count, warmup),
            )
            if timings is None:
                self._failed.add(phase)
            else:
                result["first_output_s"] = [
                    *result.get("first_output_s", []),
                    *(t.first_output for t in timings),
                ]
                result["finished_s"] = [
                    *result.get("finished_s", []),
                    *(t.finished for t in timings),
                ]

    async def close(self) -> None:
        if self._main is not None:
            await self.attempt("closing the main session", self._main.close)
            self._main = None
