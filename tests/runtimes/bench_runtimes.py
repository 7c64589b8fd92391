"""Benchmark of the runtimes, not a test: ``python tests/runtimes/bench_runtimes.py [N]``.

Latency, per query runner: the time from ``execute`` to the first poll that carries output
of a cell that keeps running (``print('x'); sleep``), a whole trivial run, and the time from
``interrupt`` to ``finished`` of a busy loop (medians and p90 over N rounds). Throughput:
20 MB of 80-byte lines printed by a python cell and by a batch step, polled with the REST
window until ``finished`` (MB/s).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bai_lsp.gateway.runtimes import ImageTable, SessionRuntime, create_runtime

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20

CASES = {
    "python": ("import time\nprint('x')\ntime.sleep(0.3)", "1+1", "while True: pass"),
    "bash": ("echo x; sleep 0.3", "echo 2", "while :; do :; done"),
    "node": (
        "console.log('x'); const t = Date.now(); while (Date.now() - t < 300) {}",
        "1+1",
        "while (true) {}",
    ),
}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 2),
    }


async def finish(rt: SessionRuntime, run_id: str | None) -> None:
    while True:
        result = await rt.execute("continue", run_id, "", None, 2.0)
        if result.status == "finished":
            return


async def bench(image: str) -> dict[str, dict[str, float]]:
    first_code, trivial, busy = CASES[image]
    spec = ImageTable.load(None).resolve(image)
    assert spec is not None
    rt = create_runtime(spec, Path(tempfile.mkdtemp()), {})
    await rt.start()
    first, whole, interrupt = [], [], []
    try:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            result = await rt.execute("query", None, first_code, None, 2.0)
            first.append(time.perf_counter() - start)
            assert result.console, result
            await finish(rt, result.run_id)

            start = time.perf_counter()
            result = await rt.execute("query", None, trivial, None, 2.0)
            if result.status != "finished":
                await finish(rt, result.run_id)
            whole.append(time.perf_counter() - start)

            result = await rt.execute("query", None, busy, None, 0.05)
            start = time.perf_counter()
            await rt.interrupt()
            await finish(rt, result.run_id)
            interrupt.append(time.perf_counter() - start)
    finally:
        await rt.shutdown()
    return {
        "first_output": summary(first),
        "trivial_run": summary(whole),
        "interrupt_to_finished": summary(interrupt),
    }


FLOOD_MB = 20
FLOOD = f"for _ in range({FLOOD_MB * 1000 * 1000 // 80}):\n    print('x' * 79)\n"


async def throughput() -> dict[str, float]:
    spec = ImageTable.load(None).resolve("python")
    assert spec is not None
    workdir = Path(tempfile.mkdtemp())
    (workdir / "flood.py").write_text(FLOOD)
    rt = create_runtime(spec, workdir, {})
    await rt.start()
    out: dict[str, float] = {}
    try:
        for label, mode, code, options in (
            ("python_query_mb_s", "query", FLOOD, None),
            ("python_batch_mb_s", "batch", "", {"exec": "python flood.py"}),
        ):
            start = time.perf_counter()
            result = await rt.execute(mode, None, code, options, 2.0)
            chars = sum(len(r.text) for r in result.console)
            while result.status != "finished":
                result = await rt.execute("continue", result.run_id, "", None, 2.0)
                chars += sum(len(r.text) for r in result.console)
            elapsed = time.perf_counter() - start
            assert chars == FLOOD_MB * 1000 * 1000, chars
            out[label] = round(FLOOD_MB / elapsed, 1)
    finally:
        await rt.shutdown()
    return out


async def main() -> None:
    results: dict[str, object] = {image: await bench(image) for image in CASES}
    results["throughput"] = await throughput()
    print(json.dumps({"rounds": ROUNDS, "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
