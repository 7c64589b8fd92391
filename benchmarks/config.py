"""Sizes of every scenario: the full benchmark and the seconds-long ``--smoke`` version.

Standard library only: the official SDK's driver imports it from the SDK's own venv.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    #: Sessions created (and destroyed) one after another to time creation (the main
    #: workspace's creation is one more sample).
    session_creations: int
    #: Warm-up runs before timing ``print(1)``.
    warmup: int
    #: ``print(1)`` runs: run → first output and run → finished.
    latency_runs: int
    #: ``print(1); time.sleep(RUNNING_SLEEP)`` runs: first output of a cell still running.
    running_runs: int
    #: Bytes of each stdout flood (80-character lines, and one block).
    flood_bytes: int
    #: Workspaces running loops at once.
    workspace_counts: tuple[int, ...]
    #: Seconds of probing once every loop is printing (the loops then stop).
    loop_seconds: float
    #: ``print(1)`` probes taken in one more workspace while the loops are busy.
    probes: int


FULL = Sizes(
    session_creations=3,
    warmup=10,
    latency_runs=200,
    running_runs=20,
    flood_bytes=100_000_000,
    workspace_counts=(1, 10, 50),
    loop_seconds=10.0,
    probes=30,
)

SMOKE = Sizes(
    session_creations=0,
    warmup=2,
    latency_runs=5,
    running_runs=2,
    flood_bytes=400_000,
    workspace_counts=(1, 2),
    loop_seconds=1.0,
    probes=3,
)


@dataclass(frozen=True)
class RealSizes:
    """The real-manager scenario (``--phases realmgr``, benchmarks/realmgr.py)."""

    #: Sessions created one after another (request → first ``pass`` run done), each then
    #: destroyed; the main session's creation is one more sample.
    creations: int
    #: ``GET /session/{id}`` round trips (status requests) on the main session.
    status_probes: int
    #: Warm-up runs before timing ``print(1)``.
    warmup: int
    #: ``print(1)`` runs through the manager.
    latency_runs: int
    #: The status requests and the runs are taken in this many rounds, each round on every
    #: stack in turn, so that a shared machine's changing load falls on every stack alike.
    rounds: int


REAL_FULL = RealSizes(creations=4, status_probes=100, warmup=5, latency_runs=100, rounds=10)
REAL_SMOKE = RealSizes(creations=0, status_probes=3, warmup=1, latency_runs=3, rounds=2)

#: How long the "running cell" keeps running after its first print (longer than ipykernel's
#: default 0.2 s flush interval, so that the default shows).
RUNNING_SLEEP = 0.3
LINE = 80  # bytes per printed line, newline included

PRINT_1 = "print(1)"
RUNNING = f"import time\nprint(1)\ntime.sleep({RUNNING_SLEEP})"
PROBE = PRINT_1


def line_flood(total: int) -> str:
    lines = total // LINE
    return f"for _ in range({lines}):\n    print({'x' * (LINE - 1)!r})"


def block_flood(total: int) -> str:
    return f"import sys\nsys.stdout.write('x' * {total})\nsys.stdout.flush()"


#: A loop ends on its own after this long even if nobody stops it (a benchmark killed midway).
LOOP_SAFETY_SECONDS = 900


def loop(stop_file: str) -> str:
    """A workspace kept busy: prints 80-character lines as fast as it can until ``stop_file``
    exists (all kernels run on this machine, whichever stack drives them)."""
    return (
        "import os, time\n"
        f"_end = time.monotonic() + {LOOP_SAFETY_SECONDS}\n"
        f"while not os.path.exists({stop_file!r}) and time.monotonic() < _end:\n"
        "    for _ in range(100):\n"
        f"        print({'x' * (LINE - 1)!r})"
    )


def line_flood_bytes(total: int) -> int:
    return (total // LINE) * LINE
