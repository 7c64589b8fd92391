"""The client's typed values: what a session is made of, and what the API answers.

``SessionSpec.to_json`` writes the very body the SDK 23.9.10 sends to ``POST /session``
against a v7 manager (§3.2 of the API reference), so a manager cannot tell us apart.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from bai_lsp.backendai.errors import InvalidRequestError

#: 23.09's session-name rule: 4-64 ASCII word characters, ``.``/``-`` only inside.
SESSION_NAME_RE = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)
RESERVED_NAMES = frozenset({"from-template"})
SESSION_TYPES = ("interactive", "batch", "inference")
CLUSTER_MODES = ("single-node", "multi-node")


class SessionStatus:
    """23.09 session statuses (plus the pseudo-status ``TIMEOUT`` of a bounded create)."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    PULLING = "PULLING"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    RESTARTING = "RESTARTING"
    RUNNING_DEGRADED = "RUNNING_DEGRADED"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    #: A session in one of these will never become RUNNING.
    FAILED: frozenset[str] = frozenset({ERROR, CANCELLED, TERMINATED, TERMINATING})


def validate_session_name(name: str) -> str:
    """Refuse a name the manager would refuse, with the rule spelled out."""
    if name in RESERVED_NAMES:
        raise InvalidRequestError(f"Invalid session name {name!r}: the name is reserved.")
    if not SESSION_NAME_RE.match(name):
        if not 4 <= len(name) <= 64:
            why = f"it is {len(name)} characters long, and must be 4 to 64"
        elif not name.isascii():
            why = "only ASCII letters, digits, '_', '.' and '-' are allowed"
        elif not (re.match(r"\w", name[0], re.ASCII) and re.match(r"\w", name[-1], re.ASCII)):
            why = "it must start and end with a letter, digit or '_'"
        else:
            bad = sorted({c for c in name if not re.match(r"[\w.-]", c, re.ASCII)})
            why = (
                f"it contains {''.join(bad)!r}; only letters, digits, '_', '.' and '-' are allowed"
            )
        raise InvalidRequestError(f"Invalid session name {name!r}: {why}.")
    return name


def _default_name() -> str:
    return f"bai-lsp-{secrets.token_hex(4)}"


def _mapping(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class SessionSpec:
    """What to get or create; defaults are the SDK's ``get_or_create`` defaults."""

    image: str
    name: str | None = None
    type: str = "interactive"
    mounts: Sequence[str] = ()
    mount_map: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping)
    environ: Mapping[str, str] | None = None
    resources: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    resource_opts: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    #: ``None`` means the configuration's ``domain`` / ``group``.
    domain: str | None = None
    group: str | None = None
    tag: str | None = None
    scaling_group: str | None = None
    enqueue_only: bool = False
    max_wait_seconds: int = 0
    reuse_if_exists: bool = True
    startup_command: str | None = None
    bootstrap_script: str | None = None
    preopen_ports: Sequence[int] | None = None
    dependencies: Sequence[str] | None = None
    callback_url: str | None = None
    starts_at: str | None = None
    owner_access_key: str | None = None
    architecture: str | None = None

    def validate(self) -> None:
        if not self.image.strip():
            raise InvalidRequestError("A session needs an image (for example 'python:3.11').")
        if self.name is not None:
            validate_session_name(self.name)
        if self.type.lower() not in SESSION_TYPES:
            raise InvalidRequestError(
                f"Invalid session type {self.type!r}: use one of {', '.join(SESSION_TYPES)}."
            )
        if self.type.lower() == "batch" and not (self.startup_command or "").strip():
            raise InvalidRequestError("A batch session needs a startup command.")
        if self.cluster_size < 1:
            raise InvalidRequestError(f"Invalid cluster size {self.cluster_size}: must be ≥ 1.")
        if self.cluster_mode not in CLUSTER_MODES:
            raise InvalidRequestError(
                f"Invalid cluster mode {self.cluster_mode!r}: use one of "
                f"{', '.join(CLUSTER_MODES)}."
            )
        if self.max_wait_seconds < 0:
            raise InvalidRequestError("max_wait_seconds must be 0 (no limit) or more.")
        for port in self.preopen_ports or ():
            if not 1024 <= port <= 65535:
                raise InvalidRequestError(f"Invalid preopen port {port}: use 1024-65535.")

    def to_json(
        self,
        *,
        name: str,
        domain: str,
        group: str,
        extra_mounts: Sequence[str] = (),
        architecture: str,
    ) -> dict[str, Any]:
        mounts = list(self.mounts)
        for mount in extra_mounts:
            if mount not in mounts:
                mounts.append(mount)
        config: dict[str, Any] = {
            "mounts": mounts,
            "environ": dict(self.environ) if self.environ is not None else None,
            "resources": dict(self.resources),
            "resource_opts": dict(self.resource_opts),
            "scalingGroup": self.scaling_group,
            "mount_map": dict(self.mount_map),
            "preopen_ports": list(self.preopen_ports) if self.preopen_ports is not None else None,
        }
        return {
            "tag": self.tag,
            "name": name,
            "config": config,
            "dependencies": list(self.dependencies) if self.dependencies is not None else None,
            "callback_url": self.callback_url,
            "architecture": self.architecture or architecture,
            "clusterSize": self.cluster_size,
            "clusterMode": self.cluster_mode,
            "starts_at": self.starts_at,
            "bootstrap_script": self.bootstrap_script,
            "owner_access_key": self.owner_access_key,
            "domain": domain,
            "group": group,
            "type": self.type,
            "enqueueOnly": self.enqueue_only,
            "maxWaitSeconds": self.max_wait_seconds,
            "reuseIfExists": self.reuse_if_exists,
            "startupCommand": self.startup_command,
            "image": self.image,
        }

    def resolved_name(self) -> str:
        return self.name or _default_name()


@attrs.frozen
class SessionRef:
    """A session the client got or created; ``ref`` is what later calls should address."""

    name: str
    id: str | None
    status: str
    created: bool
    service_ports: list[Any] = attrs.field(factory=list)

    @property
    def ref(self) -> str:
        return self.id or self.name

    def __str__(self) -> str:
        return self.ref


@attrs.frozen
class SessionPage:
    """One page of ``compute_session_list``; JSON-string fields are decoded."""

    total_count: int
    items: list[dict[str, Any]]
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total_count


#: ``compute_session_list`` fields whose GraphQL type is JSONString.
JSON_STRING_FIELDS = frozenset(
    {"status_data", "service_ports", "resource_opts", "occupying_slots", "idle_checks"}
)


def decode_session_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for key in JSON_STRING_FIELDS & out.keys():
        value = out[key]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(value)
    reports = out.get("abusing_reports")
    if isinstance(reports, list):
        decoded: list[Any] = []
        for report in reports:
            try:
                decoded.append(json.loads(report) if isinstance(report, str) else report)
            except ValueError:
                decoded.append(report)
        out["abusing_reports"] = decoded
    return out


@attrs.frozen
class FileEntry:
    """One entry of ``GET /session/{ref}/files``."""

    filename: str
    size: int
    mode: str
    mtime: float
    ctime: float = 0.0
    atime: float = 0.0

    @property
    def is_dir(self) -> bool:
        return self.mode.startswith("d")

    @classmethod
    def from_json(cls, item: Any) -> FileEntry:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise ValueError(f"not a file entry: {item!r}")
        return cls(
            filename=item["filename"],
            size=int(item.get("size") or 0),
            mode=str(item.get("mode") or ""),
            mtime=float(item.get("mtime") or 0),
            ctime=float(item.get("ctime") or 0),
            atime=float(item.get("atime") or 0),
        )


@attrs.frozen
class SessionEvent:
    """One server-sent event of ``GET /events/session``."""

    name: str
    session_name: str
    session_id: str | None
    reason: str
    exit_code: int | None
    data: dict[str, Any]

    @classmethod
    def from_sse(cls, event: str, data: str) -> SessionEvent:
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {"raw": data}
        if not isinstance(body, dict):
            body = {"raw": body}
        exit_code = body.get("exitCode")
        return cls(
            name=event,
            session_name=str(body.get("sessionName") or ""),
            session_id=str(body["sessionId"]) if body.get("sessionId") else None,
            reason=str(body.get("reason") or ""),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            data=body,
        )

    @property
    def status(self) -> str | None:
        """The session status this event announces, if any (for progress reporting)."""
        return EVENT_STATUS.get(self.name)


EVENT_STATUS: dict[str, str] = {
    "session_enqueued": SessionStatus.PENDING,
    "session_scheduled": SessionStatus.SCHEDULED,
    "kernel_pulling": SessionStatus.PULLING,
    "kernel_preparing": SessionStatus.PREPARING,
    "kernel_creating": SessionStatus.PREPARING,
    "session_started": SessionStatus.RUNNING,
    "session_terminating": SessionStatus.TERMINATING,
    "session_terminated": SessionStatus.TERMINATED,
    "session_cancelled": SessionStatus.CANCELLED,
    "session_failure": SessionStatus.ERROR,
}
