"""Latency benchmark of the runtimes, not a test: run ``python tests/runtimes/bench_latency.py``.

Measures, per query runner, the time from ``execute`` to the first poll that carries output
of a cell that keeps running (``print('x'); sleep``), a whole trivial run, and the time from
``interrupt`` to ``finished`` of a busy loop. Prints medians and p90 over N rounds as JSON.
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


async def main() -> None:
    results = {image: await bench(image) for image in CASES}
    print(json.dumps({"rounds": ROUNDS, "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
