"""The pytest side of `scripts/real-backendai.sh`: bring the cluster up once, read its settings.

`up` prints `export NAME=value` lines; `Cluster` keeps them. `down` is called once at the end
of the test session (and by the test that checks it leaves no process behind, after which the
next `ensure_up()` starts the cluster again).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "real-backendai.sh"


@dataclass
class Cluster:
    settings: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0
    is_up: bool = False

    def ensure_up(self) -> Cluster:
        if self.is_up:
            return self
        started = time.monotonic()
        done = subprocess.run(
            ["bash", str(SCRIPT), "up"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"real-backendai.sh up failed ({done.returncode}):\n{done.stderr}")
        self.up_seconds = time.monotonic() - started
        self.settings = parse_exports(done.stdout)
        self.is_up = True
        return self

    def down(self) -> subprocess.CompletedProcess[str]:
        self.is_up = False
        return subprocess.run(
            ["bash", str(SCRIPT), "down"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    @property
    def endpoint(self) -> str:
        return self.settings["BACKEND_ENDPOINT"]

    @property
    def access_key(self) -> str:
        return self.settings["BACKEND_ACCESS_KEY"]

    @property
    def secret_key(self) -> str:
        return self.settings["BACKEND_SECRET_KEY"]

    @property
    def state(self) -> Path:
        return Path(self.settings["BAI_REALBACKENDAI_STATE"])

    def keypair(self, who: str = "admin") -> tuple[str, str]:
        if who == "admin":
            return self.access_key, self.secret_key
        prefix = f"BAI_REALBACKENDAI_{who.upper()}_"
        return self.settings[prefix + "ACCESS_KEY"], self.settings[prefix + "SECRET_KEY"]

    def env(self, who: str = "admin") -> dict[str, str]:
        """The BACKEND_* variables a user of this keypair would export."""
        access, secret = self.keypair(who)
        return {
            "BACKEND_ENDPOINT": self.endpoint,
            "BACKEND_ENDPOINT_TYPE": "api",
            "BACKEND_ACCESS_KEY": access,
            "BACKEND_SECRET_KEY": secret,
        }

    def started_pids(self) -> list[int]:
        """The process groups `up` started (daemons) and the kernel runners alive now."""
        run = self.state / "run"
        files = [*(run / "pids").glob("*"), *(run / "scratches").glob("*/runner.pid")]
        pids = []
        for f in files:
            try:
                pids.append(int(f.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                continue
        return pids

    def session_members(self, sessions: list[int]) -> list[int]:
        """Live processes whose session is one of ``sessions`` (leaders included)."""
        wanted = set(sessions)
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 3 and int(fields[3]) in wanted:
                found.append(int(proc.name))
        return found

    def marked_processes(self) -> list[int]:
        """Live processes carrying this cluster's mark in their environment."""
        mark = f"BAI_REALBACKENDAI_MARK={self.state}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                environ = (proc / "environ").read_bytes()
            except OSError:
                continue
            if mark in environ.split(b"\0"):
                found.append(int(proc.name))
        return found


def parse_exports(text: str) -> dict[str, str]:
    settings = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            settings[name] = value
    return settings
