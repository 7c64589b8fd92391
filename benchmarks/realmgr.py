"""The real-manager scenario (``--phases realmgr``, ``--real-manager``): session create → first
run, status and ``print(1)`` latency through a real Backend.AI manager, side by side.

Stacks, all pointed at the same manager: (b) the official SDK 23.9.10 (``.venv-sdk``), (b26)
the official SDK 26.9.6 (``.venv-sdk-26``, the manager's own version), (c0) bai-lsp's client
alone and (c) bai-lsp over stdio. The manager is either one already running (``BACKEND_*`` in
the environment, e.g. after ``eval "$(bash scripts/real-backendai.sh up)"``) or brought up by
the benchmark (``--real-manager``) with ``scripts/real-backendai.sh up`` and taken down after,
if this run brought it up.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import config, real_scenarios
from benchmarks.client_stack import ClientStack
from benchmarks.e2e import LspStack
from benchmarks.sdk_run import SDK26_PYTHON, SDK_PYTHON, SdkRun, log

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "real-backendai.sh"
#: Every stack the scenario knows, in the order of the table's columns.
STACKS = ("b", "b26", "c0", "c")
UP_TIMEOUT = 900
DOWN_TIMEOUT = 300


@dataclass(frozen=True)
class RealManager:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    #: Nothing watches the manager's memory here; the field only satisfies ``Backend``.
    pid: int = 0

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> RealManager | None:
        env = dict(os.environ) if env is None else env
        names = ("BACKEND_ENDPOINT", "BACKEND_ACCESS_KEY", "BACKEND_SECRET_KEY")
        if not all(env.get(n) for n in names):
            return None
        return cls(env[names[0]], env[names[1]], env[names[2]])

    def version(self) -> str:
        """The manager's own answer to ``GET /`` (its version and API version)."""
        try:
            with urllib.request.urlopen(self.endpoint, timeout=5) as answer:  # noqa: S310
                body = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            return f"unknown ({exc})"
        return f"{body.get('manager', '?')} (API {body.get('version', '?')})"


def _exports(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            out[name] = shlex.split(value)[0] if value else ""
    return out


@contextmanager
def cluster() -> Iterator[RealManager]:
    """``scripts/real-backendai.sh up``, and ``down`` at the end if it was not up before."""
    status = subprocess.run(
        ["bash", str(SCRIPT), "status"], capture_output=True, text=True, check=False
    )
    was_up = "manager: running" in status.stdout
    log("real manager: " + ("already up" if was_up else "bringing it up (1-4 min)"))
    began = time.perf_counter()
    done = subprocess.run(
        ["bash", str(SCRIPT), "up"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"real-backendai.sh up failed ({done.returncode}):\n{done.stderr}")
    manager = RealManager.from_environment(_exports(done.stdout))
    if manager is None:
        raise RuntimeError(f"real-backendai.sh up printed no BACKEND_* settings:\n{done.stdout}")
    log(f"real manager at {manager.endpoint} ({time.perf_counter() - began:.0f} s)")
    try:
        yield manager
    finally:
        if not was_up:
            log("real manager: taking it down")
            subprocess.run(
                ["bash", str(SCRIPT), "down"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=DOWN_TIMEOUT,
                check=False,
            )


async def benchmark(
    manager: RealManager, sizes: config.Sizes, real: config.RealSizes, only: set[str], root: Path
) -> dict[str, Any]:
    """Each real-manager phase on every stack before the next phase."""
    runs: list[Any] = []
    broken: list[dict[str, Any]] = []
    lsp: LspStack | None = None
    client: ClientStack | None = None
    try:
        for name, python in (("b", SDK_PYTHON), ("b26", SDK26_PYTHON)):
            if name not in only:
                continue
            sdk = SdkRun(
                manager, sizes, root / f"home-{name}", python=python, name=name, real_sizes=real
            )
            try:
                await sdk.start()
                runs.append(sdk)
            except Exception as exc:
                log(f"[{name}] the SDK driver did not start: {exc!r}")
                broken.append({"stack": name, "errors": [], "findings": [f"start: {exc}"]})
        if "c0" in only:
            client = ClientStack(manager)
            await client.start()
            runs.append(real_scenarios.RealRun(client, real, log))
        if "c" in only:
            lsp = LspStack(manager, root / "c", real.creations + 4)
            run = real_scenarios.RealRun(lsp, real, log)
            try:
                run.result["initialize_s"] = await lsp.start()
                runs.append(run)
            except Exception as exc:
                log(f"[c] bai-lsp did not start: {exc!r}")
                broken.append({"stack": "c", "errors": [f"start: {exc!r}"], "findings": []})
        for step, phase in enumerate(real_scenarios.schedule(real), 1):
            log(f"=== step {step}: {phase} (real manager)")
            for r in runs:
                await r.run_phase(phase)
        for r in runs:
            await r.close()
    finally:
        if lsp is not None:
            await lsp.stop()
        if client is not None:
            await client.stop()
    results = {r.result["stack"]: r.result for r in runs}
    results.update({b["stack"]: b for b in broken})
    return results


def run(
    manager: RealManager, sizes: config.Sizes, real: config.RealSizes, only: set[str], root: Path
) -> dict[str, Any]:
    return asyncio.run(benchmark(manager, sizes, real, only, root))
