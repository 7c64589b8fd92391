"""``python -m benchmarks.completion [--samples N] [--json FILE]``: completion latency.

On an idle session, after ``import json; xs = [3, 1, 2]``, the same completion (``xs.``)
asked ``N`` times, one after another, through three paths:

* (a) ``complete_request`` straight to an ipykernel started exactly as the gateway starts
  its kernels (startup lines, IPython's own completer, jedi off) — the engine's limit;
* (g) ``POST /session/{ref}/complete`` of bai-lsp's client against the embedded gateway —
  what the gateway hop adds;
* (c) ``textDocument/completion`` of a ``bai-lsp`` process over stdio against that gateway.

Prints p50/p99 per path, the ratios to (a) and the load average before and after (the
machine is shared: read the figures with it). A report, not a test: it exits 0 whatever the
figures and 1 only when a path could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from bai_lsp.backendai import APIConfig, BackendAIClient, SessionSpec
from bai_lsp.gateway.runtimes.jupyter import kernel_startup_lines
from benchmarks.gateway import Gateway, clean_env, start_gateway, stop_gateway
from benchmarks.lspclient import LspClient
from benchmarks.stats import fmt, percentile, ratio

SETUP = "import json; xs = [3, 1, 2]"
CODE = "xs."
WARMUP = 5
START = {"line": 0, "character": 0}


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


async def timed(samples: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    """Milliseconds of ``samples`` calls, one after another, after ``WARMUP`` unmeasured."""
    for _ in range(WARMUP):
        await call()
    out: list[float] = []
    for _ in range(samples):
        began = time.perf_counter()
        await call()
        out.append((time.perf_counter() - began) * 1000)
    return out


async def raw_kernel(samples: int, workdir: Path) -> list[float]:
    km = AsyncKernelManager(kernel_name="python3")
    km.connection_file = str(workdir / "kernel.json")
    env = dict(clean_env(), IPYTHONDIR=str(workdir / "ipython"), PYDEVD_DISABLE_FILE_VALIDATION="1")
    with (workdir / "kernel.log").open("ab") as kernel_log:
        await km.start_kernel(
            env=env,
            cwd=str(workdir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=kernel_log,
            stderr=kernel_log,
            extra_arguments=[
                f"--IPKernelApp.exec_lines={kernel_startup_lines()!r}",
                "--IPCompleter.use_jedi=False",
            ],
        )
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        await kc.execute_interactive(SETUP, timeout=60)

        async def complete() -> None:
            reply = await kc.complete(CODE, len(CODE), reply=True, timeout=30)
            assert "xs.append" in reply["content"]["matches"] or "append" in str(reply)

        return await timed(samples, complete)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def gateway_rest(samples: int, gateway: Gateway) -> list[float]:
    config = APIConfig(
        endpoint=gateway.endpoint,
        access_key=gateway.access_key,
        secret_key=gateway.secret_key,
    )
    async with BackendAIClient(config) as client:
        ref = await client.get_or_create(SessionSpec(image="python", name="bench-complete"))
        result = await client.execute(ref.ref, mode="query", code=SETUP)
        while result.status != "finished":
            result = await client.execute(ref.ref, mode="continue", run_id=result.run_id)

        async def complete() -> None:
            matches = await client.complete(ref.ref, CODE, {"row": 0, "col": len(CODE)})
            assert "xs.append" in matches, matches

        try:
            return await timed(samples, complete)
        finally:
            await client.destroy(ref.ref, forced=True)


async def language_server(samples: int, gateway: Gateway, root: Path) -> list[float]:
    folder = root / "ws"
    folder.mkdir(parents=True, exist_ok=True)
    client = LspClient(lambda method, params, now: None)
    env = clean_env()
    env["BAI_LSP_STATE_DIR"] = str(root / "state")
    with (root / "bai-lsp.log").open("ab") as server_log:
        await client.start([sys.executable, "-m", "bai_lsp"], env, server_log)
    try:
        await client.initialize(
            [folder],
            {
                "endpoint": gateway.endpoint,
                "accessKey": gateway.access_key,
                "secretKey": gateway.secret_key,
                "onExit": "destroy",
            },
        )
        uri = await client.open_document(folder / "live.py", f"{SETUP}\n{CODE}\n")
        ran = await client.execute_command(
            "backendai.runSelection",
            {
                "uri": uri,
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            },
        )
        assert ran["status"] == "finished", ran
        params = {"textDocument": {"uri": uri}, "position": {"line": 1, "character": len(CODE)}}

        async def complete() -> None:
            answer = await client.request("textDocument/completion", params)
            labels = [item["label"] for item in answer["items"]]
            assert "append" in labels and not answer["isIncomplete"], answer

        return await timed(samples, complete)
    finally:
        await client.stop()


def row(name: str, samples: list[float], base: list[float]) -> str:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    return (
        f"| {name} | {fmt(p50, ' ms')} | {fmt(p99, ' ms')} | "
        f"{fmt(ratio(p50, percentile(base, 50)))} | {fmt(ratio(p99, percentile(base, 99)))} |"
    )


async def main(samples: int, json_path: Path | None) -> int:
    load_before = os.getloadavg()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bai-bench-complete-") as tmp:
        root = Path(tmp)
        log("raw kernel")
        (root / "raw").mkdir()
        results["a"] = await raw_kernel(samples, root / "raw")
        log("gateway")
        gateway = await start_gateway(root / "gateway")
        try:
            log("gateway REST /complete")
            results["g"] = await gateway_rest(samples, gateway)
            log("bai-lsp textDocument/completion")
            results["c"] = await language_server(samples, gateway, root / "lsp")
        finally:
            await stop_gateway(gateway.process)
    load_after = os.getloadavg()
    print(f"completion of {CODE!r} after {SETUP!r}: {samples} samples per path (+{WARMUP} warm-up)")
    print(
        f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min), "
        f"{os.cpu_count()} CPUs"
    )
    print("| path | p50 | p99 | p50 / (a) | p99 / (a) |")
    print("|---|---|---|---|---|")
    print(row("(a) complete_request to ipykernel", results["a"], results["a"]))
    print(row("(g) client → gateway `/complete`", results["g"], results["a"]))
    print(row("(c) bai-lsp `textDocument/completion`", results["c"], results["a"]))
    if json_path is not None:
        report = json.dumps({"samples": results, "load": [load_before, load_after]}, indent=1)
        await asyncio.to_thread(json_path.write_text, report)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(main(args.samples, args.json)))
    except Exception as exc:  # a path could not be measured
        log(f"benchmark failed: {type(exc).__name__}: {exc}")
        sys.exit(1)
