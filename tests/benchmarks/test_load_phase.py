"""The load phase of the benchmark ends cleanly whatever the stack does: a probe or a loop
that fails is a finding, and no loop is left running behind it (the 50-workspace phase once
hung that way). The stack here is a stand-in: the point is the phase's own bookkeeping when
a run fails, which a real stack produces only under a load nobody wants in a test."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from benchmarks import config
from benchmarks.scenarios import BenchmarkBroken, FirstOutput, RunTiming, load

SIZES = config.Sizes(
    session_creations=0,
    warmup=0,
    latency_runs=0,
    running_runs=0,
    flood_bytes=0,
    workspace_counts=(3,),
    loop_seconds=0.2,
    probes=3,
)


class _Workspace:
    def __init__(self, stack: _Stack, label: str) -> None:
        self.stack = stack
        self.label = label

    async def run(self, code: str, on_first_output: FirstOutput | None = None) -> RunTiming:
        found = re.search(r"'([^']*stop)'", code)
        if found is None:  # the probe
            if self.stack.probe_fails:
                raise BenchmarkBroken("probe: no end after 120 s")
            return RunTiming(0.001, 0.002, 2, 1)
        self.stack.running += 1
        try:
            if on_first_output is not None:
                on_first_output()
            stop = Path(found.group(1))
            for _ in range(1000):
                if self.label == self.stack.failing_loop:
                    raise ConnectionError("the stream got no answer to a ping within 7 s")
                if stop.exists():
                    return RunTiming(0.001, 0.5, 100, 10)
                await asyncio.sleep(0.01)
            raise AssertionError("the loop was never told to stop")
        finally:
            self.stack.running -= 1

    async def close(self) -> None:
        pass


class _Stack:
    name = "stand-in"

    def __init__(self, *, probe_fails: bool = False, failing_loop: str = "") -> None:
        self.probe_fails = probe_fails
        self.failing_loop = failing_loop
        self.running = 0

    def watched_pids(self) -> dict[str, int]:
        return {}

    async def new_workspace(self, label: str) -> _Workspace:
        return _Workspace(self, label)


async def test_a_probe_that_fails_stops_every_loop_and_is_reported() -> None:
    stack = _Stack(probe_fails=True)
    with pytest.raises(BenchmarkBroken, match="probe: no end"):
        await load(stack, 3, SIZES, _Workspace(stack, "probe"), [])
    assert stack.running == 0  # no loop left running behind the failure


async def test_a_loop_that_fails_is_a_finding_and_the_others_are_stopped() -> None:
    stack = _Stack(failing_loop="load1")
    with pytest.raises(BenchmarkBroken, match=r"1 of 3 loops failed; loop 1: .*ping"):
        await load(stack, 3, SIZES, _Workspace(stack, "probe"), [])
    assert stack.running == 0


async def test_loops_that_run_well_give_their_figures() -> None:
    stack = _Stack()
    result = await load(stack, 3, SIZES, _Workspace(stack, "probe"), [])
    assert result["per_workspace_bytes"] == [100, 100, 100] and len(result["probe_s"]) >= 3
