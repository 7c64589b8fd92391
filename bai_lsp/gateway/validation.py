"""Reading and validating request bodies the way the manager's schemas do.

Validation failures become 400 ``invalid-api-params`` with msg "Input validation error"
and ``data`` mapping each bad field to what is wrong with it, so a user sees every problem
of a body at once.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bai_lsp.gateway.errors import GatewayError, insufficient_privilege, invalid_params
from bai_lsp.gateway.sessions import NAME_RE, RESERVED_NAMES, CreateSpec
from bai_lsp.wire.problems import Problem

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}
_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?\s*$", re.IGNORECASE)
_MEM_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50, "e": 2**60}


async def read_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` for an empty body when not ``required``."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise invalid_params("Malformed body: a JSON object is required")
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_params(f"Malformed body: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise invalid_params(f"Malformed body: expected a JSON object, got {type(body).__name__}")
    return body


def to_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise invalid_params("Input validation error", {field: "must be a boolean"})


def query_flag(request: web.Request, *names: str) -> bool:
    for name in names:
        if name in request.query:
            return to_bool(request.query[name], name)
    return False


class _Fields:
    """Collects per-field errors so that one response lists them all."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, str] = {}

    def pick(self, *names: str) -> tuple[str, Any]:
        for name in names:
            if name in self.body:
                return name, self.body[name]
        return names[0], None

    def string(self, *names: str, default: str | None = None, required: bool = False) -> Any:
        name, value = self.pick(*names)
        if value is None:
            if required:
                self.errors[name] = "is required"
            return default
        if not isinstance(value, str):
            self.errors[name] = "must be a string"
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.body.get(name)
        if value is None:
            return default
        try:
            return to_bool(value, name)
        except GatewayError:
            self.errors[name] = "must be a boolean"
            return default

    def integer(self, *names: str, default: int, minimum: int) -> int:
        name, value = self.pick(*names)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.errors[name] = f"must be an integer ≥ {minimum}"
            return default
        return value

    def mapping(self, source: Mapping[str, Any], *names: str, prefix: str) -> dict[str, Any]:
        name = names[0]
        value: Any = None
        for candidate in names:
            if candidate in source:
                name, value = candidate, source[candidate]
                break
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.errors[f"{prefix}{name}"] = "must be an object"
            return {}
        return value

    def check(self) -> None:
        if self.errors:
            raise invalid_params("Input validation error", self.errors)


def parse_create(body: Mapping[str, Any], access_key: str) -> CreateSpec:
    f = _Fields(body)
    name = f.string("name", "session_name", "clientSessionToken", required=True)
    if isinstance(name, str) and (not NAME_RE.match(name) or name in RESERVED_NAMES):
        f.errors["name"] = (
            "must be 4 to 64 ASCII letters, digits, '_', '.' or '-', starting and ending with a "
            "letter, digit or '_'"
            + (" ('from-template' is reserved)" if name in RESERVED_NAMES else "")
        )
    image = f.string("image", "lang", required=True)
    if isinstance(image, str) and not image.strip():
        f.errors["image"] = "must not be empty"
    session_type = (f.string("type", "sessionType", default="interactive") or "").lower()
    if session_type not in ("interactive", "batch", "inference"):
        f.errors["type"] = "must be interactive, batch or inference"
    cluster_size = f.integer("clusterSize", "cluster_size", default=1, minimum=1)
    cluster_mode = f.string("clusterMode", "cluster_mode", default="single-node")
    if cluster_mode not in ("single-node", "multi-node"):
        f.errors["clusterMode"] = "must be single-node or multi-node"
    startup = f.string("startupCommand", "startup_command")
    if session_type == "batch" and not (startup or "").strip():
        f.errors["startupCommand"] = "is required for batch sessions"
    _, owner = f.pick("owner_access_key", "ownerAccessKey")
    if owner is not None and owner != access_key:
        raise insufficient_privilege("You can only create sessions for your own access key.")
    max_wait = f.integer("maxWaitSeconds", "max_wait_seconds", default=0, minimum=0)
    config = body.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        f.errors["config"] = "must be an object"
        config = {}
    resources = f.mapping(config, "resources", prefix="config.")
    resource_opts = f.mapping(config, "resource_opts", "resourceOpts", prefix="config.")
    environ = f.mapping(config, "environ", prefix="config.")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in environ.items()):
        f.errors["config.environ"] = "must map names to strings"
    mounts_raw = config.get("mounts") or []
    mounts: list[str] = []
    if not isinstance(mounts_raw, list) or not all(isinstance(m, str) for m in mounts_raw):
        f.errors["config.mounts"] = "must be a list of vfolder names"
    else:
        mounts = list(dict.fromkeys(mounts_raw))
    mount_map = f.mapping(config, "mount_map", "mountMap", prefix="config.")
    if not all(isinstance(v, str) for v in mount_map.values()):
        f.errors["config.mount_map"] = "must map vfolder names to paths"
    ports_raw = config.get("preopen_ports", config.get("preopenPorts")) or []
    if not isinstance(ports_raw, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 1024 <= p <= 65535 for p in ports_raw
    ):
        f.errors["config.preopen_ports"] = "must be a list of port numbers 1024 to 65535"
        ports_raw = []
    scaling_group = config.get("scaling_group", config.get("scalingGroup"))
    for key, value in resources.items():
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            f.errors[f"config.resources.{key}"] = "must be a number or a string"
    tag = f.string("tag")
    spec = CreateSpec(
        name=name or "",
        image=(image or "").strip(),
        session_type=session_type,
        group=f.string("group", "groupName", "group_name", default="default") or "default",
        domain=f.string("domain", "domainName", "domain_name", default="default") or "default",
        tag=tag,
        architecture=f.string("architecture", "arch", default="x86_64") or "x86_64",
        cluster_size=cluster_size,
        cluster_mode=cluster_mode or "single-node",
        resources=normalize_slots(resources),
        resource_opts=dict(resource_opts),
        environ=dict(environ),
        mounts=mounts,
        mount_map=dict(mount_map),
        preopen_ports=list(ports_raw),
        scaling_group=scaling_group if isinstance(scaling_group, str) else None,
        startup_command=startup,
        bootstrap_script=f.string("bootstrap_script", "bootstrapScript"),
        callback_url=f.string("callback_url", "callbackUrl", "callbackURL"),
        starts_at=f.string("starts_at", "startsAt"),
        enqueue_only=f.boolean("enqueueOnly", False),
        max_wait_seconds=max_wait,
        reuse_if_exists=f.boolean("reuseIfExists", True),
    )
    if spec.callback_url is not None:
        parsed = urllib.parse.urlsplit(spec.callback_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            f.errors["callback_url"] = "must be an http(s) URL"
    f.check()
    if spec.cluster_size > 1:
        raise GatewayError(
            412,
            Problem.QUOTA_EXCEEDED,
            "Quota exceeded.",
            "The local gateway runs single-container sessions: clusterSize must be 1.",
        )
    return spec


def normalize_slots(resources: Mapping[str, Any]) -> dict[str, str]:
    """Resource slots as the manager stores them: decimal strings, memory in bytes."""
    slots: dict[str, str] = {}
    for key, value in resources.items():
        if key in ("mem", "shmem") and isinstance(value, str):
            match = _MEM_RE.match(value)
            if match is not None:
                slots[key] = str(int(float(match[1]) * _MEM_UNITS[match[2].lower()]))
                continue
        slots[key] = str(value)
    return slots
