"""Drive the official SDK (backend.ai-client 23.9.10 in .venv-sdk) against a live gateway.

Every example and CLI command runs as a subprocess of the SDK venv's interpreter, exactly as
a user would run it, with the gateway's endpoint and keypair in BACKEND_* variables.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

REPO = Path(__file__).resolve().parents[2]
#: BAI_LSP_SDK_VENV points the suite at another SDK venv (default: the one 20-sdk.sh makes).
SDK_VENV = Path(os.environ.get("BAI_LSP_SDK_VENV") or REPO / ".venv-sdk")
SDK_PYTHON = SDK_VENV / "bin" / "python"
SDK_CLI = SDK_VENV / "bin" / "backend.ai"
EXAMPLES = Path(__file__).parent / "examples"
HELPERS = Path(__file__).parent / "helpers"
#: Generous: a first Jupyter kernel start on a busy 2-core machine can take a while.
RUN_TIMEOUT = 180


@attrs.frozen
class SdkRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> SdkRun:
        assert self.returncode == 0, self.describe()
        return self

    def describe(self) -> str:
        return (
            f"{' '.join(self.args)} exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    def json(self) -> Any:
        return json.loads(self.stdout)


@attrs.define
class SdkRunner:
    """Runs SDK programs against one gateway, in a scratch working directory."""

    endpoint: str
    access_key: str
    secret_key: str
    workdir: Path
    home: Path
    #: The gateway's --data-dir (vfolders live in its ``vfolders/``).
    data_dir: Path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BACKEND_", "SORNA_", "VIRTUAL_ENV", "PYTHON"))
        }
        env.update(
            BACKEND_ENDPOINT=self.endpoint,
            BACKEND_ACCESS_KEY=self.access_key,
            BACKEND_SECRET_KEY=self.secret_key,
            # The SDK and its CLI keep state and caches under HOME: keep them per test.
            HOME=str(self.home),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        env.update(extra or {})
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = RUN_TIMEOUT,
    ) -> SdkRun:
        # A new session has no controlling terminal, so getpass() reads the piped stdin
        # (with a warning) instead of waiting on /dev/tty.
        proc = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(env),
            cwd=cwd or self.workdir,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        return SdkRun(list(argv), proc.returncode, proc.stdout, proc.stderr)

    def example(self, name: str, **kwargs: Any) -> SdkRun:
        return self.run([str(SDK_PYTHON), str(EXAMPLES / name)], **kwargs)

    def call(self, *args: str, **kwargs: Any) -> Any:
        """One helpers/sdkcall.py command; its JSON output."""
        done = self.run([str(SDK_PYTHON), str(HELPERS / "sdkcall.py"), *args], **kwargs)
        return done.check().json()

    def cli(self, *args: str, **kwargs: Any) -> SdkRun:
        return self.run([str(SDK_CLI), *args], **kwargs)


def _require_sdk() -> None:
    if not SDK_PYTHON.exists() or not SDK_CLI.exists():
        pytest.skip(f"{SDK_VENV} is missing: run scripts/setup/20-sdk.sh (scripts/test.sh does)")


@pytest.fixture(scope="session", autouse=True)
def _sdk_venv_present() -> None:
    """Skip before any gateway starts when the SDK venv is not there."""
    _require_sdk()


def make_runner(gateway: Any, tmp_path: Path) -> SdkRunner:
    _require_sdk()
    work = tmp_path / "work"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return SdkRunner(
        gateway.endpoint, gateway.access_key, gateway.secret_key, work, home, gateway.data_dir
    )


@pytest.fixture
def sdk(gateway: Any, tmp_path: Path) -> SdkRunner:
    """The SDK against the shared gateway."""
    return make_runner(gateway, tmp_path)


@pytest.fixture
def fresh_sdk(fresh_gateway: Any, tmp_path: Path) -> SdkRunner:
    """The SDK against a gateway of its own (for tests that count sessions)."""
    return make_runner(fresh_gateway, tmp_path)
