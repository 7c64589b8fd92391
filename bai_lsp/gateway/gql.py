"""``POST /admin/gql``: the slice of the manager's GraphQL schema clients use (§6).

A real schema (graphql-core, SDL below) so any field selection, alias, fragment or variable
works as on a manager; values follow the manager's formats: enum *names* for ``type`` and
``result``, ISO 8601 datetimes, and ``JSONString`` fields as JSON-encoded strings. Errors
are GraphQL errors in a 200 answer, which clients turn into ``graphql-error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
from aiohttp import web
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, build_schema, graphql

import bai_lsp.gateway.state as state
from bai_lsp.gateway import dialects, gql_images
from bai_lsp.gateway.auth import access_key_of
from bai_lsp.gateway.config import GatewayConfig
from bai_lsp.gateway.errors import invalid_params
from bai_lsp.gateway.sessions import (
    ALL_STATUSES,
    NEWEST_ONLY_STATUSES,
    RUNNING,
    Session,
    SessionRegistry,
    group_uuid,
    user_uuid,
)
from bai_lsp.gateway.validation import read_json

SDL = """
scalar JSONString
scalar UUID
scalar DateTime

type Query {
  compute_session_list(
    limit: Int!, offset: Int!, status: String, access_key: String, filter: String,
    order: String, domain_name: String, group_id: String, project_id: String
  ): ComputeSessionList
  compute_session(id: UUID!): ComputeSession
  keypair(domain_name: String, access_key: String): KeyPair
}

type ComputeSessionList {
  items: [ComputeSession]!
  total_count: Int!
}

type ComputeSession {
  id: UUID
  session_id: UUID
  main_kernel_id: UUID
  tag: String
  name: String
  type: String
  main_kernel_role: String
  image: String
  architecture: String
  registry: String
  cluster_template: String
  cluster_mode: String
  cluster_size: Int
  domain_name: String
  group_name: String
  group_id: UUID
  project_id: UUID
  user_email: String
  user_id: UUID
  access_key: String
  created_user_email: String
  created_user_id: UUID
  status: String
  status_info: String
  status_data: JSONString
  status_history: JSONString
  status_changed: DateTime
  created_at: DateTime
  terminated_at: DateTime
  starts_at: DateTime
  scheduled_at: DateTime
  startup_command: String
  result: String
  commit_status: String
  abusing_reports: [JSONString]
  idle_checks: JSONString
  agent_ids: [String]
  agents: [String]
  resource_opts: JSONString
  scaling_group: String
  priority: Int
  service_ports: JSONString
  mounts: [String]
  vfolder_mounts: [String]
  occupying_slots: JSONString
  occupied_slots: JSONString
  requested_slots: JSONString
  num_queries: Int
  use_host_network: Boolean
  inference_metrics: JSONString
  containers: [ComputeContainer]
  dependencies: [ComputeSession]
}

type ComputeContainer {
  id: UUID
  idx: Int
  role: String
  hostname: String
  cluster_idx: Int
  cluster_role: String
  cluster_hostname: String
  session_id: UUID
  image: String
  architecture: String
  registry: String
  status: String
  status_info: String
  status_data: JSONString
  status_changed: DateTime
  agent: String
  agent_addr: String
  container_id: String
  resource_opts: JSONString
  occupied_slots: JSONString
  live_stat: JSONString
  last_stat: JSONString
  created_at: DateTime
  terminated_at: DateTime
  starts_at: DateTime
  scheduled_at: DateTime
}

type KeyPair {
  user_id: String
  email: String
  access_key: String
  secret_key: String
  is_active: Boolean
  is_admin: Boolean
  resource_policy: String
  rate_limit: Int
  num_queries: Int
  concurrency_used: Int
  created_at: DateTime
  last_used: DateTime
  ssh_public_key: String
  user: UUID
}
"""

MASKED_SECRET = "********"  # noqa: S105 - a mask, not a password
MAX_PAGE = 100


@attrs.frozen
class Context:
    access_key: str
    registry: SessionRegistry
    config: GatewayConfig


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_row(registry: SessionRegistry, session: Session) -> dict[str, Any]:
    spec = session.spec
    running = session.status == RUNNING
    slots = dict(spec.resources)
    user = registry.config.keypair(session.access_key)
    email = user.user if user is not None else ""
    idle = registry.idle_remaining(session)
    row: dict[str, Any] = {
        "id": str(session.id),
        "session_id": str(session.id),
        "main_kernel_id": str(session.kernel_id),
        "tag": spec.tag,
        "name": session.name,
        "type": spec.session_type.upper(),
        "main_kernel_role": "MAIN",
        "image": session.image.name,
        "architecture": spec.architecture,
        "registry": "local",
        "cluster_template": None,
        "cluster_mode": spec.cluster_mode,
        "cluster_size": spec.cluster_size,
        "domain_name": spec.domain,
        "group_name": spec.group,
        "group_id": group_uuid(spec.group),
        "project_id": group_uuid(spec.group),
        "user_email": email,
        "user_id": user_uuid(session.access_key),
        "access_key": session.access_key,
        "created_user_email": email,
        "created_user_id": user_uuid(session.access_key),
        "status": session.status,
        "status_info": session.status_info,
        "status_data": session.status_data or {},
        "status_history": dict(session.status_history),
        "status_changed": _iso(session.status_changed),
        "created_at": _iso(session.created_at),
        "terminated_at": _iso(session.terminated_at),
        "starts_at": None,
        "scheduled_at": _iso(session.created_at),
        "startup_command": spec.startup_command,
        "result": session.result,
        "commit_status": None,
        "abusing_reports": [None],
        "idle_checks": {
            "network_timeout": {"remaining": idle, "remaining_time_type": "expire_after"}
        },
        "agent_ids": ["local"],
        "agents": ["local"],
        "resource_opts": spec.resource_opts,
        "scaling_group": spec.scaling_group or "default",
        # The newest manager's scheduling priority (its default; asked for by the 26.09 CLI).
        "priority": 10,
        "service_ports": session.service_ports() if running else [],
        "mounts": list(spec.mounts),
        "vfolder_mounts": list(spec.mounts),
        "occupying_slots": slots if running else {},
        "occupied_slots": slots if running else {},
        "requested_slots": slots,
        "num_queries": session.num_queries,
        "use_host_network": False,
        "inference_metrics": None,
        "dependencies": [],
    }
    row["containers"] = [
        {
            "id": str(session.kernel_id),
            "idx": 0,
            "role": "main",
            "hostname": "main1",
            "cluster_idx": 1,
            "cluster_role": "main",
            "cluster_hostname": "main1",
            "session_id": str(session.id),
            "image": session.image.name,
            "architecture": spec.architecture,
            "registry": "local",
            "status": session.status,
            "status_info": session.status_info,
            "status_data": session.status_data or {},
            "status_changed": _iso(session.status_changed),
            "agent": "local",
            "agent_addr": "local",
            "container_id": str(session.kernel_id) if running else None,
            "resource_opts": spec.resource_opts,
            "occupied_slots": slots if running else {},
            "live_stat": None,
            "last_stat": None,
            "created_at": _iso(session.created_at),
            "terminated_at": _iso(session.terminated_at),
            "starts_at": None,
            "scheduled_at": _iso(session.created_at),
        }
    ]
    return row


# ---------------------------------------------------------------------------- filter / order

_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)"""
    r"""|(?P<op>==|!=|<=|>=|<|>|&|\||\(|\))|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"""
)
_COMPARATORS = {"==", "!=", "<", "<=", ">", ">="}
_WORD_OPS = {"like", "ilike", "contains", "in"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise GraphQLError(f"Invalid filter: cannot read {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match[kind]))
        pos = match.end()
    return out


Predicate = Callable[[dict[str, Any]], bool]


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)


class _FilterParser:
    """``name == "x" & (status != "ERROR" | tag ilike "%gpu%")`` over a session row."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise GraphQLError(f"Invalid filter: unexpected {self.tokens[self.pos][1]!r}")
        return predicate

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise GraphQLError("Invalid filter: incomplete expression")
        self.pos += 1
        return token

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == ("op", "|"):
            self.pos += 1
            left = _either(left, self._and())
        return left

    def _and(self) -> Predicate:
        left = self._atom()
        while self._peek() == ("op", "&"):
            self.pos += 1
            left = _both(left, self._atom())
        return left

    def _atom(self) -> Predicate:
        if self._peek() == ("op", "("):
            self.pos += 1
            inner = self._or()
            if self._take() != ("op", ")"):
                raise GraphQLError("Invalid filter: missing ')'")
            return inner
        kind, field = self._take()
        if kind != "word":
            raise GraphQLError(f"Invalid filter: expected a field name, got {field!r}")
        negate = False
        kind, op = self._take()
        if op.lower() == "not":
            negate, (kind, op) = True, self._take()
        op = op.lower()
        if op not in _COMPARATORS and op not in _WORD_OPS:
            raise GraphQLError(f"Invalid filter: unknown operator {op!r}")
        value = self._value()
        return _comparison(field, op, value, negate)

    def _value(self) -> Any:
        kind, text = self._take()
        if kind == "str":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "word" and text.lower() in ("true", "false", "null", "none"):
            return {"true": True, "false": False}.get(text.lower())
        raise GraphQLError(f"Invalid filter: expected a value, got {text!r}")


_FILTERABLE = {
    "id", "session_id", "name", "tag", "type", "image", "architecture", "domain_name",
    "group_name", "user_email", "access_key", "status", "status_info", "result",
    "created_at", "terminated_at", "status_changed", "scaling_group", "cluster_mode",
    "cluster_size", "startup_command", "num_queries",
}  # fmt: skip


def _like(pattern: str, text: str, *, fold: bool) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if fold else 0) is not None


def _comparison(field: str, op: str, value: Any, negate: bool) -> Predicate:
    if field not in _FILTERABLE:
        raise GraphQLError(
            f"Invalid filter: unknown field {field!r}; filterable: {sorted(_FILTERABLE)}"
        )

    def test(row: dict[str, Any]) -> bool:
        actual = row.get(field)
        if op in ("like", "ilike", "contains"):
            if actual is None or not isinstance(value, str):
                return False
            if op == "contains":
                return value in str(actual)
            return _like(value, str(actual), fold=op == "ilike")
        if op == "in":
            return actual in (value if isinstance(value, list) else [value])
        if op == "==":
            return _normal(actual) == _normal(value)
        if op == "!=":
            return _normal(actual) != _normal(value)
        if actual is None or value is None:
            return False
        try:
            return bool(
                {
                    "<": actual < value,
                    "<=": actual <= value,
                    ">": actual > value,
                    ">=": actual >= value,
                }[op]
            )
        except TypeError:
            return False

    return (lambda row: not test(row)) if negate else test


def _normal(value: Any) -> Any:
    return value.upper() if isinstance(value, str) and value.upper() in ALL_STATUSES else value


def _ordering(order: str | None) -> list[tuple[str, bool]]:
    if not order:
        return [("created_at", True)]
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        item = part.strip()
        if not item:
            continue
        descending = item.startswith("-")
        name = item.lstrip("+-")
        if name not in _FILTERABLE:
            raise GraphQLError(f"Invalid order: unknown field {name!r}")
        keys.append((name, descending))
    return keys or [("created_at", True)]


def _sorted(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for name, descending in reversed(keys):
        rows.sort(key=_sort_key(name), reverse=descending)
    return rows


def _sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    return lambda row: (row.get(name) is None, row.get(name) or "")


# ---------------------------------------------------------------------------- resolvers


def _resolve_list(
    _root: Any,
    info: GraphQLResolveInfo,
    limit: int,
    offset: int,
    status: str | None = None,
    access_key: str | None = None,
    filter: str | None = None,
    order: str | None = None,
    **_scope: Any,
) -> dict[str, Any]:
    ctx: Context = info.context
    if limit < 1 or limit > MAX_PAGE:
        raise GraphQLError(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise GraphQLError("offset must be ≥ 0")
    statuses: set[str] | None = None
    if status:
        statuses = {s.strip().upper() for s in status.split(",") if s.strip()}
        # The newest manager's extra statuses are valid filters (no local session has them).
        unknown = statuses - set(ALL_STATUSES) - NEWEST_ONLY_STATUSES
        if unknown:
            raise GraphQLError(
                f"Invalid status {sorted(unknown)}; statuses are {', '.join(ALL_STATUSES)}"
            )
    # An ordinary user (every keypair here) only ever sees their own sessions.
    rows = [session_row(ctx.registry, s) for s in ctx.registry.listing(ctx.access_key, statuses)]
    if filter:
        predicate = _FilterParser(filter).parse()
        rows = [row for row in rows if predicate(row)]
    rows = _sorted(rows, _ordering(order))
    return {"items": rows[offset : offset + limit], "total_count": len(rows)}


def _resolve_session(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
    ctx: Context = info.context
    for session in ctx.registry.listing(ctx.access_key, None):
        if str(session.id) == str(id):
            return session_row(ctx.registry, session)
    return None


def _resolve_keypair(
    _root: Any, info: GraphQLResolveInfo, access_key: str | None = None, **_scope: Any
) -> dict[str, Any] | None:
    ctx: Context = info.context
    if access_key is not None and access_key != ctx.access_key:
        raise GraphQLError("Insufficient privilege: you can only read your own keypair")
    pair = ctx.config.keypair(ctx.access_key)
    if pair is None:
        return None
    sessions = ctx.registry.listing(ctx.access_key, None)
    return {
        "user_id": pair.user,
        "email": pair.user,
        "access_key": pair.access_key,
        # Never the real secret: the caller has it, and a response may end up in logs.
        "secret_key": MASKED_SECRET,
        "is_active": True,
        "is_admin": False,
        "resource_policy": "default",
        "rate_limit": pair.rate_limit,
        "num_queries": sum(s.num_queries for s in sessions),
        "concurrency_used": sum(1 for s in sessions if s.is_live),
        "created_at": None,
        "last_used": None,
        "ssh_public_key": None,
        "user": user_uuid(pair.access_key),
    }


def build() -> GraphQLSchema:
    schema = build_schema(SDL + gql_images.SDL)
    scalars: dict[str, Callable[[Any], Any]] = {
        "JSONString": json.dumps,
        "UUID": str,
        "DateTime": lambda v: v if isinstance(v, str) else _iso(v),
    }
    for name, serialize in scalars.items():
        scalar = schema.type_map[name]
        # graphql-core 3.2 calls ``serialize``; 3.3 ``coerce_output_value``.
        scalar.serialize = serialize  # type: ignore[attr-defined]
        if hasattr(scalar, "coerce_output_value"):
            scalar.coerce_output_value = serialize
    query = schema.query_type
    assert query is not None
    query.fields["compute_session_list"].resolve = _resolve_list
    query.fields["compute_session"].resolve = _resolve_session
    query.fields["keypair"].resolve = _resolve_keypair
    query.fields["images"].resolve = gql_images.resolve_images
    query.fields["image"].resolve = gql_images.resolve_image
    return schema


SCHEMA = build()


async def handle(request: web.Request) -> web.Response:
    access_key = access_key_of(request)
    body = await read_json(request)
    query = body.get("query")
    variables = body.get("variables")
    operation = body.get("operation_name", body.get("operationName"))
    if not isinstance(query, str) or not query.strip():
        raise invalid_params("Input validation error", {"query": "a GraphQL query string"})
    if variables is not None and not isinstance(variables, dict):
        raise invalid_params("Input validation error", {"variables": "must be an object"})
    if operation is not None and not isinstance(operation, str):
        raise invalid_params("Input validation error", {"operation_name": "must be a string"})
    context = Context(access_key, request.app[state.REGISTRY], request.app[state.CONFIG])
    result = await graphql(
        SCHEMA,
        query,
        context_value=context,
        variable_values=variables,
        operation_name=operation,
    )
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [error.formatted for error in result.errors]
    elif dialects.request_is_newest(request):
        answer["errors"] = None  # 26.9.6 always says so (tests/realmgr/test_differential.py)
    return web.json_response(answer)
