"""``python -m benchmarks [--smoke] [--write-docs] [--json FILE]``: the whole comparison.

Runs, one after another on this machine: (a) jupyter_client straight against ipykernel (with
the gateway's flush interval, and with ipykernel's default for context), (b) the official SDK
from its own venv against one embedded gateway, (c) bai-lsp over stdio against the same
gateway. With ``--phases realmgr`` (or ``--real-manager``, which brings one up) it also runs
the real-manager scenario (benchmarks/realmgr.py): the official SDKs 23.9.10 and 26.9.6,
bai-lsp's client and bai-lsp over stdio against a real Backend.AI manager. Prints the tables
and the PASS/FAIL targets. Exit status: 0 whatever the verdicts
(a stack that misbehaves is listed as "not measured"), 1 when the benchmark itself could not
run a scenario (a stack did not start, an unexpected exception), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from benchmarks import config, docs, real_report, realmgr, scenarios
from benchmarks.client_stack import ClientStack
from benchmarks.e2e import LspStack
from benchmarks.gateway import Gateway, start_gateway, stop_gateway
from benchmarks.raw_kernel import RawStack, gateway_flush_interval
from benchmarks.report import render
from benchmarks.sdk_run import SDK26_PYTHON, SDK_PYTHON, SdkRun, log, sdk_version

ALL_PHASES = (*scenarios.PHASES, "realmgr")

REPO = Path(__file__).resolve().parents[1]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


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
            "backend.ai-client": sdk_version(),
        },
    }


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
        default="a,a-default,b,b26,c0,c",
        help="comma-separated stacks to run (a, a-default, b, b26, c0, c); default all; b26 "
        "(the official SDK 26.9.6) runs in the realmgr phase only",
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
        help=f"comma-separated phases to run ({', '.join(ALL_PHASES)}); default "
        f"{', '.join(scenarios.PHASES)}; realmgr runs against the real manager that BACKEND_* "
        "in the environment point at, or the one --real-manager brings up",
    )
    parser.add_argument(
        "--real-manager",
        action="store_true",
        help="bring the real manager up (scripts/real-backendai.sh up; down after, unless it "
        "was up already) and run the realmgr phase against it",
    )
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {"a", "a-default", "b", "b26", "c0", "c"}
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
    real_sizes = config.REAL_SMOKE if args.smoke else config.REAL_FULL
    if args.runs is not None:
        real_sizes = dataclasses.replace(real_sizes, latency_runs=args.runs)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if not phases or set(phases) - set(ALL_PHASES):
        parser.error(f"--phases takes some of {', '.join(ALL_PHASES)}: {args.phases}")
    if args.real_manager and "realmgr" not in phases:
        phases = (*phases, "realmgr")
    manager = realmgr.RealManager.from_environment()
    if "realmgr" in phases and not args.real_manager and manager is None:
        parser.error(
            "the realmgr phase needs a real manager: pass --real-manager (brings one up with "
            "scripts/real-backendai.sh), or export BACKEND_ENDPOINT, BACKEND_ACCESS_KEY and "
            'BACKEND_SECRET_KEY of a running one (eval "$(bash scripts/real-backendai.sh up)")'
        )
    gateway_phases = tuple(p for p in phases if p != "realmgr")
    info = machine()
    log(
        f"benchmark ({'smoke' if args.smoke else 'full'}) on {info['nproc']} CPUs, load "
        f"{info['load_before'][0]:.2f}"
    )
    began = time.perf_counter()
    results = asyncio.run(benchmark(sizes, only, gateway_phases)) if gateway_phases else {}
    real_results: dict[str, Any] = {}
    if "realmgr" in phases:
        try:
            real_results = _real(args.real_manager, manager, sizes, real_sizes, only, info)
        except Exception as exc:
            print(f"\nERROR: the real-manager phase could not run: {exc}", file=sys.stderr)
            return 1
    info["load_after"] = os.getloadavg()
    info["minutes"] = (time.perf_counter() - began) / 60
    table = render(results, sizes.workspace_counts) if gateway_phases else ""
    real_table = real_report.render(real_results, info.get("real_versions", {}))
    if gateway_phases:
        print(docs.machine_block(info, sizes, smoke=args.smoke))
        print()
        print(table)
    if "realmgr" in phases:
        print()
        print(docs.real_block(info, real_sizes, smoke=args.smoke))
        print()
        print(real_table)
    everything = [*results.items(), *((f"real {n}", r) for n, r in real_results.items())]
    errors = [(name, e) for name, r in everything for e in r.get("errors", [])]
    for name, error in errors:
        print(f"\nERROR in ({name}): {error}", file=sys.stderr)
    for name, finding in ((n, f) for n, r in everything for f in r.get("findings", [])):
        print(f"\nnot measured ({name}): {finding}", file=sys.stderr)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "results": results, "realmgr": real_results}, indent=1)
        )
    if args.write_docs:
        path = REPO / "docs" / "performance.md"
        if gateway_phases:
            docs.write(path, info, sizes, table, smoke=args.smoke)
        if "realmgr" in phases:
            docs.write_real(path, info, real_sizes, real_table, smoke=args.smoke)
        log("wrote docs/performance.md")
    return 1 if errors or not (results or real_results) else 0


def _real(
    bring_up: bool,
    manager: realmgr.RealManager | None,
    sizes: config.Sizes,
    real_sizes: config.RealSizes,
    only: set[str],
    info: dict[str, Any],
) -> dict[str, Any]:
    info["real_versions"] = {"b": sdk_version(SDK_PYTHON), "b26": sdk_version(SDK26_PYTHON)}
    with (
        tempfile.TemporaryDirectory(prefix="bai-lsp-bench-real-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        if bring_up:
            manager = stack.enter_context(realmgr.cluster())
        assert manager is not None
        info["real_manager"] = manager.version()
        info["real_load_before"] = os.getloadavg()
        began = time.perf_counter()
        results = realmgr.run(manager, sizes, real_sizes, only, Path(tmp))
        info["real_minutes"] = (time.perf_counter() - began) / 60
        info["real_load_after"] = os.getloadavg()
        return results


if __name__ == "__main__":
    sys.exit(main())
