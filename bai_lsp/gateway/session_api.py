"""``/session`` REST handlers: create, info, destroy, restart, interrupt, execute, ... (§3, §4)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime
from typing import Any

import attrs
from aiohttp import web

from bai_lsp.gateway import journal as journals
from bai_lsp.gateway import state
from bai_lsp.gateway.auth import access_key_of
from bai_lsp.gateway.dialects import request_is_newest
from bai_lsp.gateway.errors import (
    GatewayError,
    insufficient_privilege,
    invalid_params,
    kernel_failure,
)
from bai_lsp.gateway.runtimes import (
    REST_FLUSH_TIMEOUT,
    ExecutionRequestError,
    Runtime,
    RuntimeFailure,
)
from bai_lsp.gateway.sessions import (
    ADVISORY_NOTE,
    RUNNING,
    STARTING,
    TIMEOUT,
    Session,
    SessionRegistry,
    group_uuid,
    user_uuid,
)
from bai_lsp.gateway.validation import parse_create, query_flag, read_json
from bai_lsp.wire.execute import EXEC_MODES, ExecutionResult, RunStatus
from bai_lsp.wire.helper import is_helper
from bai_lsp.wire.problems import Problem


def registry_of(request: web.Request) -> SessionRegistry:
    return request.app[state.REGISTRY]


def session_of(request: web.Request, *, include_dead: bool = False) -> Session:
    access_key = access_key_of(request)
    owner = request.query.get("owner_access_key")
    if owner and owner != access_key:
        raise insufficient_privilege("Only your own sessions can be reached with this access key.")
    return registry_of(request).find(
        request.match_info["ref"], access_key, include_dead=include_dead
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


# ---------------------------------------------------------------------------- create


async def create(request: web.Request) -> web.Response:
    access_key = access_key_of(request)
    spec = parse_create(await read_json(request), access_key)
    registry = registry_of(request)
    session, created = await registry.get_or_create(access_key, spec)
    body: dict[str, Any] = {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": session.status,
        "servicePorts": [],
        "created": created,
    }
    if not created:
        ports = session.service_ports() if session.status == RUNNING else []
        body.update(status=session.status, servicePorts=ports, service_ports=ports)
        return web.json_response(body, status=201)
    if spec.enqueue_only:
        body["status"] = "PENDING"
        return web.json_response(body, status=201)
    if not await registry.wait_started(session, spec.max_wait_seconds):
        body["status"] = TIMEOUT
        return web.json_response(body, status=201)
    body["status"] = session.status
    if session.status == RUNNING:
        body["servicePorts"] = session.service_ports()
    return web.json_response(body, status=201)


async def match(request: web.Request) -> web.Response:
    access_key = access_key_of(request)
    prefix = request.query.get("id", "")
    if not prefix:
        raise invalid_params("Input validation error", {"id": "is required"})
    found = [
        {"id": str(s.id), "name": s.name, "status": s.status}
        for s in registry_of(request).live(access_key)
        if str(s.id).startswith(prefix) or s.name.startswith(prefix)
    ]
    return web.json_response({"matches": found})


# ---------------------------------------------------------------------------- info


def _py_repr(mapping: dict[str, Any]) -> str:
    """23.09 renders slot and option mappings as Python ``repr`` strings, not JSON."""
    return repr(mapping)


def session_info(
    registry: SessionRegistry, session: Session, *, newest: bool = False
) -> dict[str, Any]:
    spec = session.spec
    slots = dict(spec.resources)
    running = session.status == RUNNING
    idle = registry.idle_remaining(session)
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "domainName": spec.domain,
        "groupId": group_uuid(spec.group),
        "groupName": spec.group,
        "userId": user_uuid(session.access_key),
        "lang": session.image.name,
        "image": session.image.name,
        "architecture": spec.architecture,
        "registry": session.image.name.rsplit("/", 1)[0] if "/" in session.image.name else "local",
        "tag": spec.tag,
        "type": spec.session_type.upper(),
        "containerId": str(session.kernel_id) if running else "None",
        "occupiedSlots": _py_repr(slots if running else {}),
        "occupyingSlots": _py_repr(slots if running else {}),
        "requestedSlots": _py_repr(slots),
        "occupiedShares": _py_repr({}),
        "environ": _py_repr(spec.environ),
        "resourceOpts": _py_repr(spec.resource_opts),
        "resourcesAdvisory": True,
        "resourceNote": ADVISORY_NOTE,
        "status": session.status,
        "statusInfo": str(session.status_info),
        "statusData": session.status_data,
        "age": int((time.time() - session.created_at.timestamp()) * 1000),
        "creationTime": _time(session.created_at, newest),
        "terminationTime": _time(session.terminated_at, newest) if session.terminated_at else None,
        "numQueriesExecuted": session.num_queries,
        "lastStat": None,
        "idleChecks": {
            "network_timeout": {
                "remaining": idle,
                "remaining_time_type": "expire_after",
                "extra": {"idle_timeout": registry.config.idle_timeout or None},
            }
        },
        "servicePorts": session.service_ports() if running else [],
        "mounts": spec.mounts,
        "workdir": str(session.workdir),
    }


def _time(moment: datetime, newest: bool) -> str:
    """23.09 renders ``str(datetime)`` (space separator); the newest manager ISO 8601."""
    return moment.isoformat() if newest else str(moment)


async def info(request: web.Request) -> web.Response:
    session = session_of(request)
    newest = request_is_newest(request)
    return web.json_response(session_info(registry_of(request), session, newest=newest))


# ---------------------------------------------------------------------------- lifecycle


async def destroy(request: web.Request) -> web.Response:
    session = session_of(request)
    forced = query_flag(request, "forced")
    recursive = query_flag(request, "recursive")
    if request_is_newest(request):
        return await _destroy_asynchronously(request, session, forced)
    stats = await registry_of(request).destroy(session, forced=forced)
    if recursive:
        return web.json_response([stats])
    return web.json_response({"stats": stats})


async def _destroy_asynchronously(
    request: web.Request, session: Session, forced: bool
) -> web.Response:
    """The newest manager only marks the session: TERMINATING now, gone a moment later.

    Refusals (a protected status without ``forced``) still answer synchronously; the
    response is always ``{"stats": {...}}``, recursive or not.
    """
    registry = registry_of(request)
    if session.status in STARTING:
        return web.json_response({"stats": await registry.destroy(session, forced=forced)})
    task = asyncio.ensure_future(registry.destroy(session, forced=forced))
    # Let it run up to its first wait: the refusal checks and the TERMINATING mark.
    await asyncio.sleep(0)
    if task.done():
        task.result()  # a refusal (GatewayError) is answered as 23.09 does
        return web.json_response({"stats": {"status": "terminated"}})
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    # what 26.9.6 answers while its teardown goes on (checked by tests/realmgr/test_differential)
    return web.json_response({"stats": {"status": "terminated"}})


#: Destroys that finish after their response (strong references keep them running).
_BACKGROUND: set[asyncio.Future[Any]] = set()


async def restart(request: web.Request) -> web.Response:
    session = session_of(request)
    if request_is_newest(request):
        raise GatewayError(
            501,
            "not-implemented",
            "Not implemented.",
            "Restarting a session is not supported by this API version; "
            "destroy it and create it again.",
        )
    await registry_of(request).restart(session)
    return _no_content()


async def interrupt(request: web.Request) -> web.Response:
    session = session_of(request)
    runtime = await registry_of(request).ready_runtime(session)
    await runtime.interrupt()
    session.log("interrupted")
    return _no_content()


async def complete(request: web.Request) -> web.Response:
    session = session_of(request)
    body = await read_json(request, required=False)
    code = body.get("code", "")
    options = body.get("options")
    if not isinstance(code, str):
        raise invalid_params("Input validation error", {"code": "must be a string"})
    if options is not None and not isinstance(options, dict):
        raise invalid_params("Input validation error", {"options": "must be an object"})
    runtime = await registry_of(request).ready_runtime(session)
    return web.json_response({"result": await _completions(runtime, code, options)})


async def _completions(
    runtime: Runtime, code: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``result`` of a completion: Backend.AI's ``{status, completions}``, plus
    ``busy: true`` (an extension) when a running cell kept the kernel from answering."""
    result: dict[str, Any] = {"status": "finished", "completions": []}
    complete_fn = getattr(runtime, "complete", None)
    if complete_fn is None:
        return result
    if getattr(runtime, "query_busy", False):
        result["busy"] = True
        return result
    with contextlib.suppress(ExecutionRequestError, RuntimeFailure):
        result["completions"] = list(await complete_fn(code, options))
    return result


async def logs(request: web.Request) -> web.Response:
    session = session_of(request, include_dead=True)
    return web.json_response({"result": {"logs": "".join(session.log_lines)}})


async def status_history(request: web.Request) -> web.Response:
    """When the session entered each status (the newest manager's route; 23.09 has none)."""
    session = session_of(request, include_dead=True)
    return web.json_response({"result": dict(session.status_history)})


async def rename(request: web.Request) -> web.Response:
    session = session_of(request)
    new_name = request.query.get("name")
    if new_name is None:
        body = await read_json(request, required=False)
        new_name = body.get("name")
    if not isinstance(new_name, str) or not new_name:
        raise invalid_params("Input validation error", {"name": "is required"})
    registry_of(request).rename(session, new_name)
    return _no_content()


# ---------------------------------------------------------------------------- execute


def parse_execute(body: dict[str, Any]) -> tuple[str, str | None, str, dict[str, Any] | None]:
    """``(mode, run_id, code, options)`` of an execute body, validated as the manager does
    (``ack``, the resumable-runs extension, is read by :func:`parse_ack`)."""
    if "runId" in body:
        run_id = body["runId"]
    elif "run_id" in body:
        run_id = body["run_id"]
    else:
        raise invalid_params("runId is required (null starts a new run)")
    mode = body.get("mode")
    if not mode:
        raise invalid_params(f"mode is required: one of {', '.join(EXEC_MODES)}")
    if not isinstance(mode, str) or mode not in EXEC_MODES:
        raise invalid_params(
            f"Invalid execution mode: {mode!r}; use one of {', '.join(EXEC_MODES)}"
        )
    if run_id is not None and (not isinstance(run_id, str) or not run_id):
        raise invalid_params("runId must be a non-empty string or null")
    if mode in ("continue", "input") and run_id is None:
        raise invalid_params("continuation requires explicit run ID")
    code = body.get("code", "")
    if code is None:
        code = ""
    if not isinstance(code, str):
        raise invalid_params("code must be a string")
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        raise invalid_params("options must be an object or null")
    if mode == "batch":
        for key in ("clean", "build", "exec"):
            value = (options or {}).get(key)
            if value is not None and not isinstance(value, str):
                raise invalid_params(f"options.{key} must be a string or null")
        build_log = (options or {}).get("buildLog")
        if build_log is not None and not isinstance(build_log, bool):
            raise invalid_params("options.buildLog must be a boolean")
    return mode, run_id, code, options


def parse_ack(body: dict[str, Any]) -> int | None:
    """``ack`` of an execute body: the highest answer ``seq`` the client received."""
    if "ack" not in body or body["ack"] is None:
        return None
    ack = body["ack"]
    if isinstance(ack, bool) or not isinstance(ack, int) or ack < 0:
        raise invalid_params(
            f"ack must be a non-negative integer (the highest seq received), not {ack!r}"
        )
    return ack


async def run_poll(
    registry: SessionRegistry,
    session: Session,
    mode: str,
    run_id: str | None,
    code: str,
    options: dict[str, Any] | None,
    flush_timeout: float,
) -> ExecutionResult:
    """One poll of a run, with the session's busy/idle bookkeeping and error mapping."""
    runtime = await registry.ready_runtime(session)
    session.busy += 1
    try:
        result = await runtime.execute(mode, run_id, code, options, flush_timeout)
    except ExecutionRequestError as exc:
        raise invalid_params(str(exc)) from None
    except RuntimeFailure as exc:
        session.log(f"execution failed: {exc}")
        raise kernel_failure(Problem.KERNEL_EXECUTION_FAILED, str(exc), repr(exc)) from None
    finally:
        session.busy -= 1
        session.touch()
    if mode in ("query", "batch") and not is_helper(code):
        session.num_queries += 1
    session.run_open = result.status not in RunStatus.TERMINAL
    return result


async def execute(request: web.Request) -> web.Response:
    session = session_of(request)
    body = await read_json(request)
    mode, run_id, code, options = parse_execute(body)
    registry = registry_of(request)
    # A manager ignores keys it does not know; so does the gateway with the extension off.
    ack = parse_ack(body) if registry.config.resumable_runs else None
    if mode == "complete":
        runtime = await registry.ready_runtime(session)
        return web.json_response({"result": await _completions(runtime, code, options)})
    journal = journals.find(session, run_id) if registry.config.resumable_runs else None
    if ack is None and journal is None:
        result = await run_poll(registry, session, mode, run_id, code, options, REST_FLUSH_TIMEOUT)
        return web.json_response({"result": result.to_json()})
    if ack is None:
        assert journal is not None
        # A client that does not acknowledge (the SDK's way) gets numbered answers of a
        # run started resumable, but nothing is kept for it.
        async with journal.lock:
            journal.take_over()
            journal.clear()
            result = await run_poll(
                registry, session, mode, run_id, code, options, REST_FLUSH_TIMEOUT
            )
            journal.number(result)
        return web.json_response({"result": result.to_json()})
    run_id = run_id or uuid.uuid4().hex
    return web.json_response(
        {"result": (await _journaled_poll(request, mode, run_id, code, options, ack)).to_json()}
    )


async def _journaled_poll(
    request: web.Request,
    mode: str,
    run_id: str,
    code: str,
    options: dict[str, Any] | None,
    ack: int,
) -> ExecutionResult:
    """One poll of a client that acknowledges: the unacknowledged answers again first
    (``continue``), else a new poll, numbered and journaled (docs/gateway.md)."""
    session = session_of(request)
    registry = registry_of(request)
    journal = journals.open_journal(session, run_id, registry.config.journal_chars)
    async with journal.lock:
        journal.take_over()
        if mode == "input" and ack in journal.answered:
            # The prompt numbered ``ack`` has its answer already (sent on the stream, or
            # by a poll whose response was lost): typing it again would feed the next read.
            session.log(f"run {run_id}: the input for answer {ack} was delivered already")
            mode, code = "continue", ""
        elif mode == "input":
            journal.answered.add(ack)
        replayed = journal.replay(ack) if mode == "continue" else None
        if replayed is not None:
            session.log(f"run {run_id}: answers after {ack} sent again (up to {replayed.seq})")
            result = replayed
        else:
            journal.ack(ack)
            result = await run_poll(
                registry, session, mode, run_id, code, options, REST_FLUSH_TIMEOUT
            )
            journal.record(result)
        return attrs.evolve(result, lost=journal.take_lost())


def add_routes(app: web.Application, prefix: str = "") -> None:
    r = app.router
    r.add_post(prefix + "/session", create)
    r.add_post(prefix + "/session/_/create", create)
    r.add_get(prefix + "/session/_/match", match)
    r.add_get(prefix + "/session/{ref}", info)
    r.add_patch(prefix + "/session/{ref}", restart)
    r.add_delete(prefix + "/session/{ref}", destroy)
    r.add_post(prefix + "/session/{ref}", execute)
    r.add_get(prefix + "/session/{ref}/logs", logs)
    r.add_get(prefix + "/session/{ref}/status-history", status_history)
    r.add_post(prefix + "/session/{ref}/rename", rename)
    r.add_post(prefix + "/session/{ref}/interrupt", interrupt)
    r.add_post(prefix + "/session/{ref}/complete", complete)
