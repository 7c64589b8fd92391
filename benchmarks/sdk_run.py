"""Stack (b), seen from the orchestrator: one SDK driver process (``sdk_driver.py``) in the
SDK's own venv, told which phase to run next over its stdin."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import config
from benchmarks.gateway import Backend, clean_env

REPO = Path(__file__).resolve().parents[1]
SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"
SDK26_PYTHON = REPO / ".venv-sdk-26" / "bin" / "python"
SDK_DRIVER = Path(__file__).with_name("sdk_driver.py")
#: The venv's setup script, named in the error when it is missing.
SETUP = {SDK_PYTHON: "scripts/setup/20-sdk.sh", SDK26_PYTHON: "scripts/setup/25-sdk-newest.sh"}


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def sdk_version(python: Path = SDK_PYTHON) -> str:
    if not python.exists():
        return f"missing ({python.parents[1].name})"
    done = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version; print(version('backend.ai-client'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


class SdkRun:
    """Stack (b): one SDK driver process, told which phase to run next over its stdin."""

    def __init__(
        self,
        gateway: Backend,
        sizes: config.Sizes,
        home: Path,
        *,
        python: Path = SDK_PYTHON,
        name: str = "b",
        real_sizes: config.RealSizes | None = None,
    ) -> None:
        self.gateway = gateway
        self.sizes = sizes
        self.home = home
        self.python = python
        self.name = name
        self.real_sizes = real_sizes
        self.result: dict[str, Any] = {"stack": name, "errors": []}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if not self.python.exists():
            raise RuntimeError(
                f"{self.python} is missing: run {SETUP.get(self.python, 'its setup script')}"
            )
        env = clean_env()
        for name in list(env):
            if name.startswith(("VIRTUAL_ENV", "PYTHON")):
                del env[name]
        env.update(
            BACKEND_ENDPOINT=self.gateway.endpoint,
            BACKEND_ACCESS_KEY=self.gateway.access_key,
            BACKEND_SECRET_KEY=self.gateway.secret_key,
            BENCH_GATEWAY_PID=str(self.gateway.pid),
            BENCH_STACK=self.name,
            HOME=str(self.home),  # the SDK keeps state under HOME
        )
        await asyncio.to_thread(self.home.mkdir, parents=True, exist_ok=True)
        argv = [str(self.python), str(SDK_DRIVER), json.dumps(dataclasses.asdict(self.sizes))]
        if self.real_sizes is not None:
            argv.append(json.dumps(dataclasses.asdict(self.real_sizes)))
        self.process = await asyncio.create_subprocess_exec(
            *argv,
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
            log(f"[{self.name}] {phase} FAILED: {exc!r}")
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
