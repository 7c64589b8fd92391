"""What a gateway session is: its statuses, the validated create request, and the session
record itself (runtime, folder, mounts, log, idle clock). ``sessions.py`` keeps the registry
that creates, finds, restarts and destroys them."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.gateway import paths
from bai_lsp.gateway.errors import (
    GatewayError,
)
from bai_lsp.gateway.runtimes import ImageSpec, Runtime
from bai_lsp.wire.problems import Problem

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)
RESERVED_NAMES = frozenset({"from-template"})

PENDING = "PENDING"
SCHEDULED = "SCHEDULED"
PREPARING = "PREPARING"
RUNNING = "RUNNING"
RESTARTING = "RESTARTING"
TERMINATING = "TERMINATING"
TERMINATED = "TERMINATED"
ERROR = "ERROR"
CANCELLED = "CANCELLED"
#: The pseudo-status a create call reports when ``maxWaitSeconds`` passed first.
TIMEOUT = "TIMEOUT"

ALL_STATUSES = (
    PENDING,
    SCHEDULED,
    "PULLING",
    PREPARING,
    RUNNING,
    RESTARTING,
    "RUNNING_DEGRADED",
    TERMINATING,
    TERMINATED,
    ERROR,
    CANCELLED,
)
#: Statuses only the newest manager has (v9 clients may filter by them).
NEWEST_ONLY_STATUSES = frozenset(
    {"DEPRIORITIZING", "RESERVED", "PREPARED", "CREATING", "PREEMPTED", "RESCHEDULING"}
)
DEAD = frozenset({TERMINATED, CANCELLED})
STARTING = frozenset({PENDING, SCHEDULED, PREPARING})
#: Dead sessions kept for the GraphQL listing and ``/logs``.
DEAD_KEPT = 1000
LOG_LINES_KEPT = 2000
#: The ``statusInfo`` of sessions ended because the gateway stops.
SERVER_SHUTDOWN = "server-shutdown"
BOOTSTRAP_LOG_CHARS = 64 * 1024
#: Lifecycle events a ``callback_url`` hears about (§9), by their webhook names.
WEBHOOK_EVENTS = {
    "session_enqueued": "enqueued",
    "session_scheduled": "scheduled",
    "session_started": "started",
    "session_terminated": "terminated",
    "session_cancelled": "cancelled",
    "session_success": "success",
    "session_failure": "failure",
}
WEBHOOK_TIMEOUT = 10.0

ADVISORY_NOTE = (
    "Requested resources are recorded and reported, but on the local gateway they are "
    "advisory: the session's processes run on this machine without CPU, memory or GPU limits."
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def user_uuid(access_key: str) -> str:
    """A stable user id per access key (there is no user database locally)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "bai-lsp:user:" + access_key))


def group_uuid(group: str) -> str:
    """A stable project (group) id per project name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "bai-lsp:group:" + group))


@attrs.define
class CreateSpec:
    """A validated ``POST /session`` body."""

    name: str
    image: str
    session_type: str = "interactive"
    group: str = "default"
    domain: str = "default"
    tag: str | None = None
    architecture: str = "x86_64"
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    resources: dict[str, Any] = attrs.field(factory=dict)
    resource_opts: dict[str, Any] = attrs.field(factory=dict)
    environ: dict[str, str] = attrs.field(factory=dict)
    mounts: list[str] = attrs.field(factory=list)
    mount_map: dict[str, str] = attrs.field(factory=dict)
    preopen_ports: list[int] = attrs.field(factory=list)
    scaling_group: str | None = None
    startup_command: str | None = None
    bootstrap_script: str | None = None
    callback_url: str | None = None
    starts_at: str | None = None
    enqueue_only: bool = False
    max_wait_seconds: float = 0
    reuse_if_exists: bool = True


@attrs.define(eq=False)
class Session:
    id: uuid.UUID
    kernel_id: uuid.UUID
    access_key: str
    spec: CreateSpec
    image: ImageSpec
    workdir: Path
    status: str = PENDING
    status_info: str | None = None
    status_data: dict[str, Any] | None = None
    status_changed: datetime = attrs.field(factory=utcnow)
    #: When each status was last entered (GraphQL ``status_history``).
    status_history: dict[str, str] = attrs.field(factory=dict)
    created_at: datetime = attrs.field(factory=utcnow)
    terminated_at: datetime | None = None
    runtime: Runtime | None = None
    mounted: list[Path] = attrs.field(factory=list)
    num_queries: int = 0
    result: str = "UNDEFINED"
    #: Executions and streams now in progress; an idle clock does not run while > 0.
    busy: int = 0
    #: The last poll left a run unfinished (continued / waiting-input).
    run_open: bool = False
    last_used: float = attrs.field(factory=time.monotonic)
    log_lines: list[str] = attrs.field(factory=list)
    started: asyncio.Event = attrs.field(factory=asyncio.Event)
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    start_task: asyncio.Task[None] | None = None
    #: Callbacks that end this session's open streams when it terminates.
    closers: set[Callable[[str], None]] = attrs.field(factory=set)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_live(self) -> bool:
        return self.status not in DEAD

    @property
    def confinement(self) -> paths.Confinement:
        return paths.Confinement(self.workdir, self.mounted)

    def log(self, line: str) -> None:
        stamp = utcnow().isoformat(timespec="seconds")
        self.log_lines.append(f"[{stamp}] {line}\n")
        del self.log_lines[:-LOG_LINES_KEPT]

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def service_ports(self) -> list[dict[str, Any]]:
        """The image's services, then each ``preopen_ports`` port as Backend.AI's agent
        lists it (named by its number, protocol ``preopen``)."""
        return [
            {"name": name, "protocol": protocol, "ports": [port]}
            for name, (protocol, port) in self.app_ports().items()
        ]

    def app_ports(self) -> dict[str, tuple[str, int]]:
        """App name → (protocol, port) of every service a tunnel may reach."""
        ports = {p.name: (p.protocol, p.port) for p in self.image.service_ports}
        for port in self.spec.preopen_ports:
            ports.setdefault(str(port), ("preopen", port))
        return ports

    def require_runtime(self) -> Runtime:
        if self.status != RUNNING or self.runtime is None:
            raise GatewayError(
                500,
                Problem.KERNEL_EXECUTION_FAILED,
                "Executing user code in the kernel has failed.",
                f"session {self.name} is {self.status}"
                + (f" ({self.status_info})" if self.status_info else "")
                + ", not RUNNING",
            )
        return self.runtime
