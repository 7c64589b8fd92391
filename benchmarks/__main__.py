"""``python -m benchmarks [--smoke] [--write-docs] [--json FILE]``: the whole comparison.

Runs, one after another on this machine: (a) jupyter_client straight against ipykernel (with
the gateway's flush interval, and with ipykernel's default for context), (b) the official SDK
from its own venv against one embedded gateway, (c) bai-lsp over stdio against the same
gateway. Prints the tables and the PASS/FAIL targets. Exit status: 0 whatever the verdicts
(a stack that misbehaves is listed as "not measured"), 1 when the benchmark itself could not
run a scenario (a stack did not start, an unexpected exception), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks import config, docs, scenarios
from benchmarks.client_stack import ClientStack
from benchmarks.e2e import LspStack
from benchmarks.gateway import Gateway, clean_env, start_gateway, stop_gateway
from benchmarks.raw_kernel import RawStack, gateway_flush_interval
from benchmarks.report import render

REPO = Path(__file__).resolve().parents[1]
SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"
SDK_DRIVER = Path(__file__).with_name("sdk_driver.py")


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _sdk_version() -> str:
    if not SDK_PYTHON.exists():
        return "missing (.venv-sdk)"
    done = subprocess.run(
        [
            str(SDK_PYTHON),
            "-c",
            "from importlib.metadata import version; print(version('backend.ai-client'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "commit": commit or "unknown",
        "versions": {
            "ipykernel": _version("ipykernel"),
            "jupyter_client": _version("jupyter_client"),
            "pyzmq": _version("pyzmq"),
            "pygls": _version("pygls"),
            "aiohttp": _version("aiohttp"),
            "backend.ai-client": _sdk_version(),
        },
    }


class SdkRun:
    """Stack (b): one SDK driver process, told which phase to run next over its stdin."""

    def __init__(self, gateway: Gateway, sizes: config.Sizes, home: Path) -> None:
        self.gateway = gateway
        self.sizes = sizes
        self.home = home
        self.result: dict[str, Any] = {"stack": "b", "errors": []}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if not SDK_PYTHON.exists():
            raise RuntimeError(f"{SDK_PYTHON} is missing: run scripts/setup/20-sdk.sh")
        env = clean_env()
        for name in list(env):
            if name.startswith(("VIRTUAL_ENV", "PYTHON")):
                del env[name]
        env.update(
            BACKEND_ENDPOINT=self.gateway.endpoint,
            BACKEND_ACCESS_KEY=self.gateway.access_key,
            BACKEND_SECRET_KEY=self.gateway.secret_key,
            BENCH_GATEWAY_PID=str(self.gateway.pid),
            HOME=str(self.home),  # the SDK keeps state under HOME
        )
        await asyncio.to_thread(self.home.mkdir, parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            str(SDK_PYTHON),
            str(SDK_DRIVER),
            json.dumps(dataclasses.asdict(self.sizes)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the driver's progress lines go straight to ours
            env=env,
            cwd=str(REPO),
            start_new_session=True,
            limit=64 * 1024 * 1024,
        )

    async def _ask(self, command: str) -> None:
        process = self.process
        if process is None or process.stdin is None or process.stdout is None:
            raise RuntimeError("the SDK driver is not running")
        process.stdin.write(command.encode() + b"\n")
        await process.stdin.drain()
        line = await process.stdout.readline()
        if not line:
            code = await process.wait()
            raise RuntimeError(f"the SDK driver exited with {code}")
        self.result = json.loads(line)

    async def run_phase(self, phase: str) -> None:
        try:
            await self._ask(phase)
        except Exception as exc:
            log(f"[b] {phase} FAILED: {exc!r}")
            self.result["errors"].append(f"{phase}: {exc!r}")

    async def close(self) -> None:
        """Let the driver destroy its main session and exit."""
        if self.process is None:
            return
        try:
            await asyncio.wait_for(self._ask("close"), 300)
        except Exception as exc:
            self.result["errors"].append(f"close: {exc!r}")
        try:
            await asyncio.wait_for(self.process.wait(), 60)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.process = None


async def _phase_all(runs: list[Any], phase: str) -> None:
    for run in runs:
        await run.run_phase(phase)


async def benchmark(
    sizes: config.Sizes, only: set[str], phases: tuple[str, ...] = scenarios.PHASES
) -> dict[str, Any]:
    """Each phase on every stack (a, a-default, b, c0, c) before the next phase."""
    with tempfile.TemporaryDirectory(prefix="bai-lsp-bench-") as tmp:
        root = Path(tmp)
        runs: list[Any] = []
        if "a" in only:
            raw = RawStack("a", gateway_flush_interval(), root / "a")
            runs.append(scenarios.StackRun(raw, sizes, log=log))
        if "a-default" in only:
            default = RawStack("a-default", None, root / "a-default")
            runs.append(
                scenarios.StackRun(default, sizes, floods=("lines",), concurrency=False, log=log)
            )
        # One gateway per stack: a gateway's RSS (Python keeps what it once allocated) then
        # belongs to the stack measured, not to whatever ran through it before.
        gateways: dict[str, Gateway] = {}
        lsp: LspStack | None = None
        client_stack: ClientStack | None = None
        try:
            for name in ("b", "c0", "c"):
                if name in only:
                    gateway = await start_gateway(root / f"gateway-{name}")
                    gateways[name] = gateway
                    log(f"gateway for ({name}) at {gateway.endpoint}, pid {gateway.pid}")
            if "b" in only:
                sdk = SdkRun(gateways["b"], sizes, root / "sdk-home")
                try:
                    await sdk.start()
                    runs.append(sdk)
                except Exception as exc:
                    log(f"[b] the SDK driver did not start: {exc!r}")
                    sdk.result["errors"].append(f"start: {exc!r}")
                    runs.append(_Broken(sdk.result))
            if "c0" in only:
                client_stack = ClientStack(gateways["c0"])
                await client_stack.start()
                runs.append(scenarios.StackRun(client_stack, sizes, concurrency=False, log=log))
            if "c" in only:
                # + spare folders for session starts retried under a fresh name
                folders = sizes.session_creations + 2 + max(sizes.workspace_counts) + 10

                lsp = LspStack(gateways["c"], root / "c", folders)
                c_run = scenarios.StackRun(lsp, sizes, log=log)
                try:
                    c_run.result["initialize_s"] = await lsp.start()
                    runs.append(c_run)
                except Exception as exc:
                    log(f"[c] bai-lsp did not start: {exc!r}")
                    c_run.result["errors"].append(f"start: {exc!r}")
                    runs.append(_Broken(c_run.result))
            for phase in phases:
                log(f"=== phase: {phase}")
                await _phase_all(runs, phase)
            for run in runs:
                await run.close()
        finally:
            if lsp is not None:
                await lsp.stop()
            if client_stack is not None:
                await client_stack.stop()
            for name, gateway in gateways.items():
                if any(run.result.get("errors") for run in runs):
                    log(f"gateway ({name}) log tail:\n" + gateway.log_tail())
                await stop_gateway(gateway.process)
        return {run.result["stack"]: run.result for run in runs}


class _Broken:
    """A stack that could not start: its result holds the error; phases do nothing."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    async def run_phase(self, phase: str) -> None:
        return None

    async def close(self) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it all works")
    parser.add_argument(
        "--write-docs", action="store_true", help="write the results into docs/performance.md"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--only",
        default="a,a-default,b,c0,c",
        help="comma-separated stacks to run (a, a-default, b, c0, c); default all",
    )
    parser.add_argument(
        "--workspaces",
        help="override the workspace counts, e.g. 1,10 (smaller runs while developing)",
    )
    parser.add_argument("--flood-mb", type=float, help="override the flood size in MB")
    parser.add_argument("--runs", type=int, help="override the number of print(1) runs")
    parser.add_argument("--loop-seconds", type=float, help="override how long each loop runs")
    parser.add_argument(
        "--phases",
        default=",".join(scenarios.PHASES),
        help=f"comma-separated phases to run ({', '.join(scenarios.PHASES)}); default all",
    )
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {"a", "a-default", "b", "c0", "c"}
    if unknown:
        parser.error(f"unknown stacks: {', '.join(sorted(unknown))}")
    sizes = config.SMOKE if args.smoke else config.FULL
    try:
        if args.workspaces:
            counts = tuple(int(n) for n in args.workspaces.split(","))
            if not counts or min(counts) < 1:
                raise ValueError(args.workspaces)
            sizes = dataclasses.replace(sizes, workspace_counts=counts)
    except ValueError:
        parser.error(f"--workspaces takes positive integers separated by commas: {args.workspaces}")
    if args.flood_mb is not None:
        sizes = dataclasses.replace(sizes, flood_bytes=int(args.flood_mb * 1_000_000))
    if args.runs is not None:
        sizes = dataclasses.replace(sizes, latency_runs=args.runs)
    if args.loop_seconds is not None:
        sizes = dataclasses.replace(sizes, loop_seconds=args.loop_seconds)
    info = machine()
    log(
        f"benchmark ({'smoke' if args.smoke else 'full'}) on {info['nproc']} CPUs, load "
        f"{info['load_before'][0]:.2f}"
    )
    began = time.perf_counter()
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if not phases or set(phases) - set(scenarios.PHASES):
        parser.error(f"--phases takes some of {', '.join(scenarios.PHASES)}: {args.phases}")
    results = asyncio.run(benchmark(sizes, only, phases))
    info["load_after"] = os.getloadavg()
    info["minutes"] = (time.perf_counter() - began) / 60
    table = render(results, sizes.workspace_counts)
    print(docs.machine_block(info, sizes, smoke=args.smoke))
    print()
    print(table)
    errors = [(name, e) for name, r in results.items() for e in r.get("errors", [])]
    for name, error in errors:
        print(f"\nERROR in ({name}): {error}", file=sys.stderr)
    for name, finding in ((n, f) for n, r in results.items() for f in r.get("findings", [])):
        print(f"\nnot measured ({name}): {finding}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1))
    if args.write_docs:
        docs.write(REPO / "docs" / "performance.md", info, sizes, table, smoke=args.smoke)
        log("wrote docs/performance.md")
    return 1 if errors or not results else 0


if __name__ == "__main__":
    sys.exit(main())
