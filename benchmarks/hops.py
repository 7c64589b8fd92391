"""``python -m benchmarks.hops [--runs N] [--json FILE]``: where a run's first output spends
its time, hop by hop, next to the floor of each hop.

Stack (c) as in ``python -m benchmarks`` (the lean client, ``bai-lsp`` over stdio, the
embedded gateway, ipykernel), but ``bai-lsp`` and the gateway are started through
``benchmarks.hop_marks``, which timestamps each hop of a run. ``print(1)`` runs one after
another; each run's marks are the first of each kind after the client sent the command.
The raw engine (stack (a): jupyter_client in this process, the gateway's kernel flags) runs
the same ``print(1)`` in the same process for the kernel's share.

Floors are those measured for each hop on this machine in
``../shared/docs/performance-baseline.md`` (§1.1, §2.2): half the executeCommand round trip
of a no-op pygls server, half a WebSocket round trip, the raw kernel's first output, a
notification's serialize + pipe + parse. Hops inside one process have no separate floor:
their floor is what that process must do and no more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.e2e import LspStack
from benchmarks.gateway import start_gateway, stop_gateway
from benchmarks.raw_kernel import RawStack, gateway_flush_interval
from benchmarks.stats import fmt, percentile

LAUNCHER = ("-m", "benchmarks.hop_marks")
WARMUP = 20

#: (label, from mark, to mark, floor in ms or None, what the hop is)
HOPS: tuple[tuple[str, str, str, float | None, str], ...] = (
    (
        "editor → server",
        "client.sent",
        "server.request-parsed",
        0.19,
        "stdio pipe, framing, JSON parse (floor: half a no-op executeCommand RTT)",
    ),
    (
        "server: dispatch",
        "server.request-parsed",
        "server.command",
        None,
        "pygls dispatch, argument parsing, document lookup",
    ),
    (
        "server: run start",
        "server.command",
        "server.stream-open",
        None,
        "session lookup, run log, runStarted + sessionStatus notifications, output set-up",
    ),
    (
        "server → request frame",
        "server.stream-open",
        "server.request-writing",
        None,
        "warm socket taken, request encoded",
    ),
    (
        "server → gateway",
        "server.request-writing",
        "gateway.request-parsed",
        0.04,
        "frame encoded, loopback WebSocket, read (floor: half a WebSocket RTT)",
    ),
    (
        "gateway: run start",
        "gateway.request-parsed",
        "gateway.kernel-execute",
        None,
        "journal, run board, runtime",
    ),
    (
        "gateway → kernel busy",
        "gateway.kernel-execute",
        "kernel.busy-sent",
        None,
        "execute_request signed and sent over ZeroMQ, kernel wakes, publishes busy",
    ),
    (
        "kernel: print(1)",
        "kernel.busy-sent",
        "kernel.stream-sent",
        None,
        "IPython runs the cell; the stream message leaves after the 2 ms flush",
    ),
    (
        "kernel → gateway",
        "kernel.stream-sent",
        "gateway.stream-received",
        None,
        "iopub over ZeroMQ, deserialised (kernel's wall clock, 1 µs resolution)",
    ),
    (
        "gateway: frame",
        "gateway.stream-received",
        "gateway.frame-writing",
        None,
        "run buffer, poll, answer built",
    ),
    (
        "gateway → server",
        "gateway.frame-writing",
        "server.frame-received",
        0.04,
        "frame encoded, loopback WebSocket, read (floor: half a WebSocket RTT)",
    ),
    (
        "server: output",
        "server.frame-received",
        "server.output-writing",
        None,
        "frame decoded, run state, output queue",
    ),
    (
        "server → editor",
        "server.output-writing",
        "client.first-output",
        0.03,
        "stdio pipe, framing, JSON parse (floor: serialize + pipe + parse of a notification)",
    ),
)
#: The raw engine's kernel part (execute → first stream) is the floor of the kernel hops.
KERNEL_HOPS = ("gateway → kernel busy", "kernel: print(1)", "kernel → gateway")


def _load_marks(folder: Path) -> list[tuple[int, str]]:
    marks: list[tuple[int, str]] = []
    for path in folder.glob("*.marks"):
        for line in path.read_text().splitlines():
            at, _, tag = line.partition(" ")
            marks.append((int(at), tag))
    marks.sort()
    return marks


def _per_run(marks: list[tuple[int, str]], runs: list[tuple[int, int]]) -> dict[str, list[float]]:
    """Milliseconds of each hop, one sample per run that has both of its marks."""
    hops: dict[str, list[float]] = {label: [] for label, *_ in HOPS}
    index = 0
    for sent, first in runs:
        seen = {"client.sent": sent, "client.first-output": first}
        while index < len(marks) and marks[index][0] < sent:
            index += 1
        j = index
        while j < len(marks) and marks[j][0] <= first:
            seen.setdefault(marks[j][1], marks[j][0])
            j += 1
        for label, start, end, _, _ in HOPS:
            if start in seen and end in seen and seen[end] >= seen[start]:
                hops[label].append((seen[end] - seen[start]) / 1e6)
    return hops


async def _measure(runs: int, root: Path) -> dict[str, object]:
    folder = root / "marks"
    folder.mkdir(parents=True)
    os.environ["BAI_HOP_MARKS"] = str(folder)  # inherited by bai-lsp and the gateway
    gateway = await start_gateway(root / "gateway", LAUNCHER)
    stack = LspStack(gateway, root / "c", 1, LAUNCHER)
    timed: list[tuple[int, int]] = []
    totals: list[float] = []
    try:
        await stack.start()
        ws = await stack.new_workspace("hops")
        for i in range(WARMUP + runs):
            sent = time.perf_counter()
            timing = await ws.run("print(1)")
            if i >= WARMUP and timing.first_output is not None:
                timed.append((int(sent * 1e9), int((sent + timing.first_output) * 1e9)))
                totals.append(timing.first_output * 1e3)
        await ws.close()
    finally:
        await stack.stop()
        await stop_gateway(gateway.process)
    raw = RawStack("a", gateway_flush_interval(), root / "a")
    kernel = await raw.new_workspace("hops")
    raw_first: list[float] = []
    try:
        for i in range(WARMUP + runs):
            timing = await kernel.run("print(1)")
            if i >= WARMUP and timing.first_output is not None:
                raw_first.append(timing.first_output * 1e3)
    finally:
        await kernel.close()
    return {
        "hops": _per_run(_load_marks(folder), timed),
        "total": totals,
        "raw": raw_first,
    }


def report(result: dict[str, object]) -> str:
    hops = result["hops"]
    assert isinstance(hops, dict)
    total, raw = result["total"], result["raw"]
    assert isinstance(total, list) and isinstance(raw, list)
    lines = [
        "| hop | p50 (ms) | p90 (ms) | floor (ms) | what it is |",
        "|---|---:|---:|---:|---|",
    ]
    kernel_p50 = 0.0
    for label, _, _, floor, what in HOPS:
        samples = hops[label]
        p50 = percentile(samples, 50)
        if label in KERNEL_HOPS:
            kernel_p50 += p50
        lines.append(
            f"| {label} | {fmt(p50)} | {fmt(percentile(samples, 90))} | "
            f"{fmt(floor) if floor is not None else '—'} | {what} |"
        )
    lines.append(
        f"| **first output, end to end** | **{fmt(percentile(total, 50))}** | "
        f"{fmt(percentile(total, 90))} | {fmt(percentile(raw, 50))} (a) | "
        f"the raw engine's first output in the same run; the kernel hops above sum to "
        f"{fmt(kernel_p50)} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bai-hops-") as tmp:
        result = asyncio.run(_measure(args.runs, Path(tmp)))
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
