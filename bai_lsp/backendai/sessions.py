"""Session calls: start (and wait until running), info, destroy, restart, interrupt, logs,
and the GraphQL session list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from bai_lsp.backendai import dialect
from bai_lsp.backendai.config import normalise_arch
from bai_lsp.backendai.connection import BaseClient, check_ref
from bai_lsp.backendai.errors import (
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ServerError,
    SessionPendingError,
    SessionStartError,
)
from bai_lsp.backendai.events import session_events
from bai_lsp.backendai.types import (
    SessionPage,
    SessionRef,
    SessionSpec,
    SessionStatus,
    decode_session_item,
)
from bai_lsp.wire import versions
from bai_lsp.wire.problems import Problem, ProblemDetails

log = logging.getLogger(__name__)

DEFAULT_LIST_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "image",
    "type",
    "status",
    "status_info",
    "status_changed",
    "result",
)
_FIELD_RE = re.compile(r"^[A-Za-z_]\w*(\s*\{[\w\s]*\})?$")
_GQL_SINCE = "v6.20210815"

StatusCallback = Callable[[str], None]


class _StatusReporter:
    """Calls the callback once per status change, in order, and never after RUNNING."""

    def __init__(self, callback: StatusCallback | None) -> None:
        self._callback = callback
        self.last: str | None = None
        self.wake = asyncio.Event()

    def __call__(self, status: str) -> None:
        if not status or status == self.last or self.last == SessionStatus.RUNNING:
            return
        self.last = status
        self.wake.set()
        if self._callback is not None:
            try:
                self._callback(status)
            except Exception:
                log.exception("the session status callback failed")


class SessionCalls(BaseClient):
    """The session lifecycle and listing calls of ``BackendAIClient``."""

    async def get_or_create(
        self,
        spec: SessionSpec,
        on_status: StatusCallback | None = None,
        *,
        wait: bool = True,
    ) -> SessionRef:
        """``POST /session``, then wait until the session is RUNNING (unless ``wait=False``).

        ``on_status`` hears each status change (PENDING, PREPARING, …, RUNNING) from the
        create answer, the events stream and status polls. A session that ends in ERROR,
        CANCELLED or TERMINATED, or outlasts ``start_timeout`` / ``max_wait_seconds``,
        raises ``SessionStartError`` (``SessionPendingError``, a ``QuotaError``, when the
        scheduler keeps it pending on quotas or capacity).
        """
        spec.validate()
        cfg = self.config
        name = spec.resolved_name()
        body = spec.to_json(
            name=name,
            domain=spec.domain or cfg.domain,
            group=spec.group or cfg.group,
            extra_mounts=cfg.vfolder_mounts,
            architecture=normalise_arch(),
        )
        reporter = _StatusReporter(on_status)
        watcher = asyncio.ensure_future(self._watch(name, reporter)) if wait else None
        try:
            data = (await self._transport.request("POST", "/session", json_body=body)).json()
            if not isinstance(data, dict):
                raise ProtocolError(f"POST /session answered {data!r} instead of an object.")
            session_id = data.get("sessionId")
            status = str(data.get("status") or SessionStatus.RUNNING)
            ref = SessionRef(
                name=str(data.get("sessionName") or name),
                id=str(session_id) if session_id else None,
                status=status,
                created=bool(data.get("created", True)),
                service_ports=list(data.get("servicePorts") or []),
            )
            reporter(status)
            if wait and status != SessionStatus.RUNNING:
                status = await self._wait_running(ref, spec, status, reporter)
                ref = SessionRef(ref.name, ref.id, status, ref.created, ref.service_ports)
            return ref
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    async def _watch(self, name: str, reporter: _StatusReporter) -> None:
        """Report lifecycle events of ``name`` while it starts (progress only; errors ignored)."""
        try:
            async for event in session_events(self._transport, name):
                if event.status is not None:
                    reporter(event.status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("no session events while %s starts: %s", name, exc)

    async def _wait_running(
        self, ref: SessionRef, spec: SessionSpec, status: str, reporter: _StatusReporter
    ) -> str:
        cfg = self.config
        loop = asyncio.get_running_loop()
        limit = cfg.start_timeout
        if limit is None and spec.max_wait_seconds > 0:
            limit = float(spec.max_wait_seconds)
        deadline = None if limit is None else loop.time() + limit
        detail: str | None = None
        while True:
            if status in (SessionStatus.RUNNING, SessionStatus.RUNNING_DEGRADED):
                return status  # degraded: a multi-node session with a lost worker still runs
            if status in SessionStatus.FAILED:
                if detail is None:
                    detail = await self._failure_detail(ref.ref)
                raise _start_failed(ref.name, status, detail)
            if status == SessionStatus.TIMEOUT or (
                deadline is not None and loop.time() >= deadline
            ):
                if detail is None:
                    detail = await self._failure_detail(ref.ref)
                raise _start_timeout(ref.name, status, detail, limit)
            reporter.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reporter.wake.wait(), cfg.poll_interval)
            try:
                info = await self.session_info(ref.ref)
            except NotFoundError:
                raise _start_failed(
                    ref.name, SessionStatus.TERMINATED, "it disappeared while starting"
                ) from None
            status = str(info.get("status") or "")
            detail = _status_detail(info)
            reporter(status)

    async def _failure_detail(self, ref: str) -> str | None:
        """Why a session failed, from its info (best effort: it may be gone already)."""
        try:
            return _status_detail(await self.session_info(ref))
        except Exception:
            return None

    async def session_info(self, ref: str) -> dict[str, Any]:
        """``GET /session/{ref}``: status, image, resource use, …"""
        body = (
            await self._transport.request("GET", f"/session/{check_ref(ref)}", idempotent=True)
        ).json()
        if not isinstance(body, dict):
            raise ProtocolError(f"GET /session/{ref} answered {body!r} instead of an object.")
        return body

    async def destroy(
        self,
        ref: str,
        *,
        forced: bool = False,
        recursive: bool = False,
        wait: float = dialect.DESTROY_WAIT_SECONDS,
    ) -> dict[str, Any]:
        """``DELETE /session/{ref}``; the answer holds the last resource statistics.

        A newest manager only marks the session for termination; then this waits (up to
        ``wait`` seconds) until the session is really gone, so that "destroyed" means the
        same on both dialects and a new session of that name can be created at once.
        """
        params = {}
        if forced:
            params["forced"] = "true"
        if recursive:
            params["recursive"] = "true"
        reply = await self._transport.request(
            "DELETE", f"/session/{check_ref(ref)}", params=params, idempotent=True
        )
        body = reply.json() if reply.status == 200 else None
        if self.newest and wait > 0:
            await self._wait_gone(ref, wait)
            if isinstance(body, dict) and body.get("stats") == {}:
                # Marked, and now seen gone: report it as 23.09 does.
                body = {"stats": {"status": "terminated"}}
        if isinstance(body, list):
            return {"stats": body}
        return body if isinstance(body, dict) else {}

    async def _wait_gone(self, ref: str, wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        status = "TERMINATING"
        while loop.time() < deadline:
            try:
                info = await self.session_info(ref)
            except NotFoundError:
                return
            status = str(info.get("status", status))
            if status in ("TERMINATED", "CANCELLED"):
                return
            await asyncio.sleep(dialect.DESTROY_POLL_SECONDS)
        raise dialect.DestroyTimeoutError(ref, status, wait)

    async def restart(self, ref: str) -> None:
        """``PATCH /session/{ref}``: restart the kernel, keeping the session and its files.

        Raises :class:`~bai_lsp.backendai.dialect.RestartUnsupportedError` when the manager
        refuses restarts (the newest releases answer 501 not-implemented).
        """
        try:
            await self._transport.request("PATCH", f"/session/{check_ref(ref)}")
        except ServerError as exc:
            if exc.status == 501:
                raise dialect.RestartUnsupportedError(ref, self.api_version) from None
            raise

    async def interrupt(self, ref: str) -> None:
        """``POST /session/{ref}/interrupt``: SIGINT to the running code."""
        await self._transport.request("POST", f"/session/{check_ref(ref)}/interrupt")

    async def logs(self, ref: str) -> str:
        """``GET /session/{ref}/logs``: the container log."""
        body = (
            await self._transport.request("GET", f"/session/{check_ref(ref)}/logs", idempotent=True)
        ).json()
        result = body.get("result") if isinstance(body, dict) else None
        return str(result.get("logs") or "") if isinstance(result, dict) else ""

    async def list_sessions(
        self,
        *,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
        fields: Sequence[str] = DEFAULT_LIST_FIELDS,
        access_key: str | None = None,
        filter: str | None = None,
        order: str | None = None,
    ) -> SessionPage:
        """One page of ``compute_session_list`` over ``POST /admin/gql``.

        ``status`` may be a comma-separated list (``"RUNNING,PENDING"``).
        """
        if not 1 <= limit <= 100:
            raise InvalidRequestError(f"Invalid page size {limit}: use 1 to 100.")
        if offset < 0:
            raise InvalidRequestError(f"Invalid offset {offset}: must be 0 or more.")
        if not fields:
            raise InvalidRequestError("Ask for at least one session field.")
        for field in fields:
            if not _FIELD_RE.match(field):
                raise InvalidRequestError(f"Invalid session field {field!r}.")
        with_filter = versions.parse(self.api_version) >= versions.parse(_GQL_SINCE)
        variables: dict[str, tuple[Any, str]] = {
            "status": (status, "String"),
            "access_key": (access_key, "String"),
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        if not with_filter:
            if filter is not None or order is not None:
                raise InvalidRequestError(
                    f"Filtering and ordering sessions needs API {_GQL_SINCE} or later; the "
                    f"server speaks {self.api_version}."
                )
            del variables["filter"], variables["order"]
        query = _paginated_query("compute_session_list", variables, fields)
        values = {key: value for key, (value, _) in variables.items()}
        values.update(limit=limit, offset=offset)
        data = await self._graphql(query, values, with_filter)
        page = data.get("compute_session_list") if isinstance(data, dict) else None
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise ProtocolError(f"compute_session_list answered {page!r}.")
        items = [decode_session_item(item) for item in page["items"] if isinstance(item, dict)]
        return SessionPage(int(page.get("total_count") or 0), items, limit, offset)

    async def _graphql(self, query: str, variables: dict[str, Any], new_path: bool) -> Any:
        path = "/admin/gql" if new_path else "/admin/graphql"
        body = (
            await self._transport.request(
                "POST",
                path,
                json_body={"query": query, "variables": variables},
                idempotent=True,
            )
        ).json()
        if not isinstance(body, dict):
            raise ProtocolError(f"POST {path} answered {body!r}.")
        errors = body.get("errors")
        if errors:
            message = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
            raise BadRequestError(
                400,
                ProblemDetails.of(
                    400, Problem.GRAPHQL_ERROR, "GraphQL-generated error", msg=message, data=errors
                ),
            )
        return body.get("data")


def _paginated_query(
    root: str, variables: dict[str, tuple[Any, str]], fields: Sequence[str]
) -> str:
    """The SDK's paginated GraphQL query text, character for character."""
    decls = ", ".join(f"${key}: {kind}" for key, (_, kind) in variables.items())
    args = ", ".join(f"{key}:${key}" for key in variables)
    return (
        f"query($limit:Int!, $offset:Int!, {decls}) {{\n"
        f"  {root}(\n"
        f"      limit:$limit, offset:$offset, {args}) {{\n"
        f"    items {{ {' '.join(fields)} }}\n"
        "    total_count\n"
        "  }\n"
        "}"
    )


def _status_detail(info: dict[str, Any]) -> str | None:
    """``statusInfo`` plus the error of ``statusData`` when there is one."""
    raw = info.get("statusInfo")
    detail = str(raw) if raw not in (None, "None", "") else None
    data = info.get("statusData")
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("repr"):
        detail = f"{detail}: {error['repr']}" if detail else str(error["repr"])
    scheduler = data.get("scheduler") if isinstance(data, dict) else None
    failed = scheduler.get("failed_predicates") if isinstance(scheduler, dict) else None
    if isinstance(failed, list) and failed:
        reasons = "; ".join(
            f"{p.get('name')}: {p.get('msg')}" if p.get("msg") else str(p.get("name"))
            for p in failed
            if isinstance(p, dict)
        )
        detail = f"{detail or 'predicate-checks-failed'}: {reasons}"
    return detail


def _start_failed(name: str, status: str, detail: str | None) -> SessionStartError:
    why = f" ({detail})" if detail else ""
    if status == SessionStatus.CANCELLED:
        text = f"Session {name!r} was cancelled before it started{why}."
    elif status in (SessionStatus.TERMINATED, SessionStatus.TERMINATING):
        text = f"Session {name!r} terminated before it was ready{why}."
    else:
        text = f"Session {name!r} failed to start: its status is {status}{why}."
    return SessionStartError(name, status, detail, text)


def _start_timeout(
    name: str, status: str, detail: str | None, limit: float | None
) -> SessionStartError | SessionPendingError:
    within = f" within {limit:g} s" if limit is not None else " in the time allowed"
    state = status if status != SessionStatus.TIMEOUT else "queued"
    why = f" ({detail})" if detail else ""
    if detail and "predicate-checks-failed" in detail:
        return SessionPendingError(
            name,
            detail,
            f"Session {name!r} did not start{within}: the scheduler keeps it pending{why}. "
            "A quota or the cluster's capacity is exhausted: destroy another session, ask "
            "for fewer resources, or try again later.",
        )
    return SessionStartError(
        name,
        SessionStatus.TIMEOUT,
        detail,
        f"Session {name!r} did not start{within}; it is still {state}{why}. It keeps its "
        "place in the queue: wait and try again, or destroy it.",
    )
