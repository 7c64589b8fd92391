"""The scenarios every stack goes through, written once against a tiny ``Stack`` interface.

Standard library only: the official SDK's driver (``sdk_driver.py``) runs these same
scenarios inside the SDK's own venv, so (a), (b) and (c) are measured by identical code.
A stack only has to create workspaces and run code in them, reporting when the first stdout
arrived, when the run finished, how many stdout bytes and how many messages it received.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks import config
from benchmarks.procmon import PeakRss

#: Upper bounds so that a broken stack fails the benchmark instead of hanging it.
SMALL_RUN_TIMEOUT = 120.0
FLOOD_TIMEOUT = 1200.0
#: A workspace (its session) must be closed within this many seconds.
CLOSE_TIMEOUT = 120.0
#: At most this many workspaces are being created at the same time.
CREATE_PARALLELISM = 4
#: Every loop must have printed within this many seconds of being started.
LOAD_START_TIMEOUT = 300.0
#: The probe window ends at ``loop_seconds`` times this even if fewer probes were taken.
PROBE_WINDOW_LIMIT = 3


@dataclass
class RunTiming:
    """One run, seen from the client. Times are seconds after the run was requested."""

    first_output: float | None
    finished: float
    stdout_bytes: int
    messages: int


#: Called once, as soon as a run's first stdout arrives.
FirstOutput = Callable[[], None]


class Workspace(Protocol):
    async def run(self, code: str, on_first_output: FirstOutput | None = None) -> RunTiming: ...

    async def close(self) -> None: ...


class Stack(Protocol):
    name: str

    def watched_pids(self) -> dict[str, int]:
        """Processes whose peak RSS is reported during floods (each process alone)."""
        ...

    async def new_workspace(self, label: str) -> Workspace:
        """A workspace whose session exists and has run at least one (empty) command."""
        ...


class BenchmarkBroken(RuntimeError):
    """A stack could not do what a scenario asked (wrong output, no output, a crash)."""


def _check_output(timing: RunTiming, expected: int, what: str) -> None:
    if timing.stdout_bytes != expected:
        raise BenchmarkBroken(
            f"{what}: received {timing.stdout_bytes} stdout bytes, expected {expected}"
        )


async def _closed(ws: Workspace) -> None:
    """Close ``ws``, or report (not hang) when its stack cannot within ``CLOSE_TIMEOUT``."""
    try:
        await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT)
    except TimeoutError:
        raise BenchmarkBroken(f"not closed within {CLOSE_TIMEOUT:.0f} s") from None


async def _timed(awaitable: Awaitable[RunTiming], limit: float, what: str) -> RunTiming:
    try:
        return await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        raise BenchmarkBroken(f"{what}: no end after {limit:.0f} s") from None


async def session_creation(stack: Stack, sizes: config.Sizes) -> list[float]:
    """Request a session → its first run (``pass``) done, for fresh sessions in a row."""
    samples = []
    for i in range(sizes.session_creations):
        start = time.perf_counter()
        ws = await new_workspace(stack, f"create{i}")
        samples.append(time.perf_counter() - start)
        await ws.close()
    return samples


async def latency(ws: Workspace, code: str, runs: int, warmup: int) -> list[RunTiming]:
    for _ in range(warmup):
        await _timed(ws.run(code), SMALL_RUN_TIMEOUT, "warm-up")
    timings = []
    for _ in range(runs):
        timing = await _timed(ws.run(code), SMALL_RUN_TIMEOUT, repr(code))
        if timing.first_output is None:
            raise BenchmarkBroken(f"{code!r} printed nothing")
        timings.append(timing)
    return timings


async def flood(stack: Stack, ws: Workspace, code: str, expected: int) -> dict[str, Any]:
    async with PeakRss(stack.watched_pids()) as peaks:
        timing = await _timed(ws.run(code), FLOOD_TIMEOUT, "flood")
    _check_output(timing, expected, "flood")
    return {
        "bytes": timing.stdout_bytes,
        "seconds": timing.finished,
        "messages": timing.messages,
        "peak_rss_mb": peaks.mb,
        "cpu_cores": peaks.cpu,
    }


#: Session starts that failed and were retried, per stack name (reported, not fatal).
RETRIED: dict[str, list[str]] = {}


async def new_workspace(stack: Stack, label: str) -> Workspace:
    """A workspace; one failed session start is retried (with a fresh name) and recorded."""
    try:
        return await stack.new_workspace(label)
    except (BenchmarkBroken, TimeoutError):
        raise
    except Exception as exc:
        RETRIED.setdefault(stack.name, []).append(f"{label}: {exc!r}")
        return await stack.new_workspace(f"{label}-retry")


async def _create_many(stack: Stack, labels: list[str]) -> list[Workspace]:
    gate = asyncio.Semaphore(CREATE_PARALLELISM)

    async def one(label: str) -> Workspace:
        async with gate:
            return await new_workspace(stack, label)

    return list(await asyncio.gather(*(one(label) for label in labels)))


async def load(
    stack: Stack, n: int, sizes: config.Sizes, probe: Workspace, created: list[Workspace]
) -> dict[str, Any]:
    """``n`` workspaces run ``config.loop`` at once; ``probe`` runs ``print(1)`` meanwhile.

    The probe starts once every loop has printed and goes on for ``sizes.loop_seconds`` (and
    at least ``sizes.probes`` probes, within ``PROBE_WINDOW_LIMIT`` times that); then the
    loops are told to stop. ``created`` holds workspaces of earlier (smaller) rounds, reused
    so that 1, 10 and 50 do not create 61 sessions.
    """
    if len(created) < n:
        created.extend(await _create_many(stack, [f"load{i}" for i in range(len(created), n)]))
    workspaces = created[:n]
    stop_dir = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    stop_file = stop_dir / "stop"
    code = config.loop(str(stop_file))
    probes: list[float] = []
    try:
        async with PeakRss(stack.watched_pids()) as watch:
            busy = [asyncio.Event() for _ in workspaces]
            start = time.perf_counter()
            tasks = [
                asyncio.ensure_future(
                    _timed(ws.run(code, busy[i].set), FLOOD_TIMEOUT, f"loop {i}"),
                )
                for i, ws in enumerate(workspaces)
            ]
            all_busy = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in busy)))
            waiters: list[asyncio.Future[Any]] = [all_busy, *tasks]
            await asyncio.wait(
                waiters, timeout=LOAD_START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            if not all_busy.done():
                all_busy.cancel()
                early = [t for t in tasks if t.done()]
                stop_file.touch()
                await asyncio.gather(*tasks, return_exceptions=True)
                why = f"within {LOAD_START_TIMEOUT:.0f} s"
                if early:
                    exc = early[0].exception()
                    why = f"before loop {tasks.index(early[0])} ended early ({exc!r:.300})"
                raise BenchmarkBroken(
                    f"only {sum(e.is_set() for e in busy)} of {n} loops printed {why}"
                )
            window = time.perf_counter()
            try:
                while not any(task.done() for task in tasks):
                    elapsed = time.perf_counter() - window
                    if elapsed >= sizes.loop_seconds * PROBE_WINDOW_LIMIT:
                        break
                    if elapsed >= sizes.loop_seconds and len(probes) >= sizes.probes:
                        break
                    timing = await _timed(probe.run(config.PROBE), SMALL_RUN_TIMEOUT, "probe")
                    if timing.first_output is None:
                        raise BenchmarkBroken("the probe's print(1) printed nothing")
                    probes.append(timing.first_output)
            finally:
                # Whatever ended the window (a probe that failed too), the loops are stopped
                # and waited for (each within FLOOD_TIMEOUT): none is left running behind.
                stop_file.touch()
                ended = await asyncio.gather(*tasks, return_exceptions=True)
            elapsed = time.perf_counter() - start
            failed = [(i, t) for i, t in enumerate(ended) if isinstance(t, BaseException)]
            if failed:
                i, exc = failed[0]
                raise BenchmarkBroken(f"{len(failed)} of {n} loops failed; loop {i}: {exc!r:.300}")
            timings = [t for t in ended if isinstance(t, RunTiming)]
    finally:
        stop_file.touch()
        shutil.rmtree(stop_dir, ignore_errors=True)
    for i, timing in enumerate(timings):
        if timing.first_output is None:
            raise BenchmarkBroken(f"loop {i} printed nothing")
    return {
        "workspaces": n,
        "seconds": elapsed,
        "per_workspace_bytes": [t.stdout_bytes for t in timings],
        "per_workspace_seconds": [t.finished for t in timings],
        "loop_first_output_s": [t.first_output for t in timings],
        "messages": sum(t.messages for t in timings),
        "probe_s": probes,
        "peak_rss_mb": watch.mb,
        "cpu_cores": watch.cpu,
    }


#: The phases in the order they run; the orchestrator runs each phase on every stack before
#: the next phase, so that the stacks compared are measured minutes, not a quarter-hour, apart.
PHASES = ("create", "latency", "floods", "load")


class StackRun:
    """One stack's results, filled phase by phase; a failing scenario is recorded and the
    others still run."""

    def __init__(
        self,
        stack: Stack,
        sizes: config.Sizes,
        *,
        floods: tuple[str, ...] = ("lines", "block"),
        concurrency: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        self.stack = stack
        self.sizes = sizes
        self.floods = floods
        self.concurrency = concurrency
        self.log = log
        #: "errors": the benchmark could not run a scenario (exit status 1); "findings": the
        #: stack under test misbehaved (wrong byte count, an error frame): reported, exit 0.
        self.result: dict[str, Any] = {"stack": stack.name, "errors": [], "findings": []}
        self._main: Workspace | None = None
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
                trace = traceback.format_exc(limit=4)
                self.result["errors"].append(f"{name}: {exc!r}\n{trace}")
            return None
        self.log(f"[{self.stack.name}] {name} done in {time.perf_counter() - began:.1f} s")
        return value

    async def main(self) -> Workspace | None:
        if not self._main_tried:
            self._main_tried = True
            began = time.perf_counter()
            self._main = await self.attempt(
                "main workspace", lambda: new_workspace(self.stack, "main")
            )
            if self._main is not None:  # one more session-creation sample
                creations = self.result.get("create_s") or []
                self.result["create_s"] = [*creations, time.perf_counter() - began]
        return self._main

    async def run_phase(self, phase: str) -> None:
        stack, sizes, result = self.stack, self.sizes, self.result
        if phase == "create":
            result["create_s"] = await self.attempt(
                "session creation", lambda: session_creation(stack, sizes)
            )
        elif phase == "latency":
            main = await self.main()
            if main is None:
                return
            ws: Workspace = main
            timings = await self.attempt(
                "print(1) latency",
                lambda: latency(ws, config.PRINT_1, sizes.latency_runs, sizes.warmup),
            )
            if timings:
                result["first_output_s"] = [t.first_output for t in timings]
                result["finished_s"] = [t.finished for t in timings]
            running = await self.attempt(
                "running-cell latency", lambda: latency(ws, config.RUNNING, sizes.running_runs, 0)
            )
            if running:
                result["running_first_output_s"] = [t.first_output for t in running]
        elif phase == "floods":
            main = await self.main()
            if main is None or not self.floods:
                return
            target: Workspace = main
            result["floods"] = {}
            codes = {
                "lines": (
                    config.line_flood(sizes.flood_bytes),
                    config.line_flood_bytes(sizes.flood_bytes),
                ),
                "block": (config.block_flood(sizes.flood_bytes), sizes.flood_bytes),
            }
            for kind in self.floods:
                code, expected = codes[kind]
                value = await self.attempt(
                    f"{kind} flood",
                    lambda code=code, expected=expected: flood(  # type: ignore[misc]
                        stack, target, code, expected
                    ),
                )
                if value is not None:
                    result["floods"][kind] = value
        elif phase == "load":
            if self.concurrency:
                await self._load()
        else:
            raise ValueError(f"unknown phase {phase!r}")
        result["retried"] = list(RETRIED.get(stack.name, []))

    async def _load(self) -> None:
        stack, sizes = self.stack, self.sizes
        self.result["load"] = {}
        probe = await self.attempt("probe workspace", lambda: new_workspace(stack, "probe"))
        created: list[Workspace] = []
        try:
            if probe is not None:
                for n in sizes.workspace_counts:
                    value = await self.attempt(
                        f"{n} workspaces busy",
                        lambda n=n: load(stack, n, sizes, probe, created),  # type: ignore[misc]
                    )
                    if value is not None:
                        self.result["load"][str(n)] = value
        finally:
            if probe is not None:
                await self.attempt("closing the probe", lambda: _closed(probe))
            for ws in created:
                await self.attempt("closing a loop workspace", lambda ws=ws: _closed(ws))  # type: ignore[misc]

    async def close(self) -> None:
        if self._main is not None:
            await self.attempt("closing the main workspace", self._main.close)
            self._main = None


async def run_all(
    stack: Stack,
    sizes: config.Sizes,
    *,
    floods: tuple[str, ...] = ("lines", "block"),
    concurrency: bool = True,
    log: Callable[[str], None] = print,
    phases: tuple[str, ...] = PHASES,
) -> dict[str, Any]:
    """``phases`` of one stack in a row (what the SDK driver runs per invocation)."""
    run = StackRun(stack, sizes, floods=floods, concurrency=concurrency, log=log)
    try:
        for phase in phases:
            await run.run_phase(phase)
    finally:
        await run.close()
    return run.result
