"""WebSocket routes: streamed execute (§5.1), terminal (§5.2), app list and TCP tunnels (§8).

A streamed execute *is* its run: the socket polls the runtime with the stream's 0.2 s
window and forwards every poll as a frame (without ``runId``); when the client goes away
mid-run the kernel is interrupted, as the manager does, and the run is drained so the next
one can start.

Resumable runs (docs/gateway.md): a first frame with ``runId`` and ``resumable: true`` gets
frames carrying ``runId`` and ``seq``, each journaled until acknowledged (journal.py). When
such a socket drops mid-run the run is *detached* instead: it goes on, and a REST
``continue`` with that runId and ``ack`` within the grace period takes it over, getting the
frames that may not have arrived first. Only after the grace is it interrupted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

import attrs
from aiohttp import WSCloseCode, WSMsgType, web

from bai_lsp.gateway import journal as journals
from bai_lsp.gateway.errors import GatewayError, invalid_params
from bai_lsp.gateway.runtimes import STREAM_FLUSH_TIMEOUT, ExecutionRequestError, Pty
from bai_lsp.gateway.runtimes.runs import PolledResult, frame_bytes
from bai_lsp.gateway.session_api import registry_of, run_poll, session_of
from bai_lsp.gateway.sessions import SERVER_SHUTDOWN, Session, SessionRegistry
from bai_lsp.wire.execute import RunStatus
from bai_lsp.wire.problems import Problem

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_MESSAGE = 16 * 1024 * 1024
#: How long an abandoned run is polled after the interrupt before the gateway gives up.
DRAIN_SECONDS = 10.0
DEFAULT_ROWS, DEFAULT_COLS = 24, 80
FIRST_FRAME_TIMEOUT = 60.0
#: The server side of an execute stream pings after this many quiet seconds, so a client
#: that vanished (half-open) is noticed and its run detached or interrupted.
STREAM_HEARTBEAT = 15.0
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _track(session: Session, ws: web.WebSocketResponse, *, execute: bool = False) -> Any:
    """Close ``ws`` when the session terminates; returns the closer to unregister.

    An execute stream first gets the manager's last frame: ``server-restarting`` when the
    gateway stops, an ``error`` naming the reason when the session was terminated.
    """

    async def close(why: str) -> None:
        if ws.closed:
            return
        if execute:
            if why == SERVER_SHUTDOWN:
                frame = {"status": "server-restarting", "msg": "The gateway is shutting down."}
            else:
                frame = {"status": "error", "msg": f"BackendError: session terminated ({why})"}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(frame)
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"session terminated")

    def closer(why: str) -> None:
        task = asyncio.get_running_loop().create_task(close(why))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    session.closers.add(closer)
    return closer


_closing: set[asyncio.Task[None]] = set()


def _error_frame(exc: GatewayError) -> dict[str, Any]:
    if exc.problem.slug == Problem.INVALID_API_PARAMS:
        return {"status": "error", "msg": f"Invalid API parameters: {exc.problem.msg}"}
    return {"status": "error", "msg": f"BackendError: {exc.problem.msg or exc.problem.title}"}


# ---------------------------------------------------------------------------- execute


@attrs.frozen
class _Request:
    mode: str
    code: str
    options: dict[str, Any] | None
    run_id: str | None = None
    resumable: bool = False


def _parse_first_frame(data: Any) -> _Request:
    try:
        params = json.loads(data)
    except (TypeError, ValueError):
        raise invalid_params("the first frame must be a JSON object") from None
    if not isinstance(params, dict):
        raise invalid_params("the first frame must be a JSON object")
    mode = params.get("mode", "query")
    if mode not in ("query", "batch"):
        raise invalid_params(f"mode must be query or batch on the stream, not {mode!r}")
    code = params.get("code", "")
    if code is None:
        code = ""
    if not isinstance(code, str):
        raise invalid_params("code must be a string")
    options = params.get("options")
    if options is not None and not isinstance(options, dict):
        raise invalid_params("options must be an object")
    run_id = params.get("runId")
    if run_id is not None and (not isinstance(run_id, str) or not _RUN_ID.match(run_id)):
        raise invalid_params("runId must be 1 to 64 letters, digits, '-' or '_'")
    resumable = params.get("resumable", False)
    if not isinstance(resumable, bool):
        raise invalid_params("resumable must be true or false")
    if resumable and run_id is None:
        raise invalid_params("a resumable run needs the runId chosen by the client")
    return _Request(mode, code, options, run_id, resumable)


class _Inbox:
    """Reads the client's frames while the run goes on: input texts and the disconnect."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self.texts.put(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.texts.put(msg.data.decode("utf-8", "replace"))
        finally:
            self.gone.set()

    async def next_text(self) -> str | None:
        return await _unless(self.texts.get(), self.gone)

    def leftover(self) -> str | None:
        """A frame read but not used by the run (once it is over: the next request)."""
        return None if self.texts.empty() else self.texts.get_nowait()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def stream_execute(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    registry = registry_of(request)
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=STREAM_HEARTBEAT)
    await ws.prepare(request)
    closer = _track(session, ws, execute=True)
    try:
        first = await _request_frame(ws, announce_timeout=True)
        while first is not None and not ws.closed:
            after = await _one_run(registry, session, ws, first)
            if after is None:
                break
            first = after or await _request_frame(ws, announce_timeout=False)
    finally:
        session.closers.discard(closer)
        if not ws.closed:
            await ws.close()
    return ws


async def _request_frame(ws: web.WebSocketResponse, *, announce_timeout: bool) -> str | None:
    """The next request frame's text; ``None`` if the client closed or sent none in time."""
    try:
        msg = await ws.receive(timeout=FIRST_FRAME_TIMEOUT)
    except TimeoutError:
        if announce_timeout:
            await ws.send_json(
                _error_frame(invalid_params("no request frame within 60 s of connecting"))
            )
        return None
    return str(msg.data) if msg.type == WSMsgType.TEXT else None


async def _one_run(
    registry: SessionRegistry, session: Session, ws: web.WebSocketResponse, first: str
) -> str | None:
    """Run the request ``first``. Returns ``None`` when the socket is done, or, after a
    resumable run finished (its last frame said ``next``), ``""`` or the next request
    frame if it came already: the extension's socket takes the next run (docs/gateway.md)."""
    # Busy (and touched at the end) only once a request came: a client may open its next
    # run's socket ahead of time, and an idle socket is not activity.
    session.busy += 1
    try:
        try:
            req = _parse_first_frame(first)
        except GatewayError as exc:
            await ws.send_json(_error_frame(exc))
            return None
        journal: journals.RunJournal | None = None
        if req.resumable and req.run_id and registry.config.resumable_runs:
            journal = journals.open_journal(session, req.run_id, registry.config.journal_chars)
        elif not registry.config.resumable_runs:
            req = attrs.evolve(req, run_id=None)  # a manager ignores the extension's keys
        inbox = _Inbox(ws)
        owner = object()
        reusable = False
        try:
            reusable = await _run(registry, session, ws, inbox, req, journal, owner)
            reusable = reusable and not inbox.gone.is_set()  # (closing the inbox sets it)
        finally:
            await inbox.close()
            if journal is not None:
                # Done delivering (a detached run keeps its grace): an owned journal is
                # never freed nor forgotten, so every streamed run of a session would stay
                # on its board, and each new run sorted them all.
                journal.release_owner(owner)
        if not reusable:
            return None
        # A request the client sent right after ``finished`` may have reached the inbox.
        return inbox.leftover() or ""
    finally:
        session.busy -= 1
        session.touch()


async def _run(
    registry: SessionRegistry,
    session: Session,
    ws: web.WebSocketResponse,
    inbox: _Inbox,
    req: _Request,
    journal: journals.RunJournal | None,
    me: object,
) -> bool:
    """Stream the run to its end; True when it finished and its socket may take the next
    run (a resumable run: its ``finished`` frame said ``next``)."""
    run_id = req.run_id
    step_mode, payload, step_options = req.mode, req.code, req.options
    if journal is not None:
        journal.attach(me)
    while True:
        try:
            poll = functools.partial(
                run_poll,
                registry,
                session,
                step_mode,
                run_id,
                payload,
                step_options,
                STREAM_FLUSH_TIMEOUT,
            )
            if journal is None:
                result = await poll()
            else:
                async with journal.lock:
                    if journal.owner is not me:
                        session.log(f"run {run_id}: followed by REST now; the stream stops")
                        return False
                    result = await poll()
                    journal.record(result)
        except GatewayError as exc:
            if not ws.closed:
                await ws.send_json(_error_frame(exc))
            return False
        except Exception:
            log.exception("streamed execution in %s failed", session.name)
            if not ws.closed:
                await ws.send_json(
                    {"status": "error", "msg": "BackendError: internal error (see the gateway log)"}
                )
            return False
        run_id = result.run_id or run_id
        if inbox.gone.is_set() or ws.closed:
            await _leave(registry, session, run_id, result.status, journal, me)
            return False
        final = result.status in (RunStatus.FINISHED, RunStatus.EXEC_TIMEOUT)
        reusable = final and journal is not None
        try:
            frame = frame_bytes(result, with_run_id=journal is not None, next_run=reusable)
            await ws.send_frame(frame, WSMsgType.TEXT)
        except ConnectionResetError:
            await _leave(registry, session, run_id, result.status, journal, me)
            return False
        if isinstance(result, PolledResult):
            result.console_json = None  # sent; a journal keeps the text only
        if final:
            return reusable
        step_options = None
        if result.status == RunStatus.WAITING_INPUT:
            text = await _next_input(inbox, journal)
            if text is None:
                if journal is not None and journal.owner is not me:
                    return False  # REST took the run over; it answers the prompt
                await _leave(registry, session, run_id, result.status, journal, me)
                return False
            if journal is not None and result.seq is not None:
                journal.answered.add(result.seq)
            step_mode, payload = "input", text
        else:
            step_mode, payload = "continue", ""


async def _next_input(inbox: _Inbox, journal: journals.RunJournal | None) -> str | None:
    """The client's answer to ``waiting-input``; ``None`` if it left or REST took over."""
    if journal is None:
        return await inbox.next_text()
    return await _unless(inbox.next_text(), journal.taken)


async def _unless(wanted: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``wanted``'s result, or ``None`` (and ``wanted`` cancelled) once ``stop`` is set."""
    task = asyncio.ensure_future(wanted)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


async def _leave(
    registry: SessionRegistry,
    session: Session,
    run_id: str | None,
    status: str,
    journal: journals.RunJournal | None,
    me: object,
) -> None:
    """The client left mid-run: detach a resumable run, else interrupt it as the manager does."""
    if journal is None:
        await _abandon(registry, session, run_id, status)
        return
    if journal.owner is not me or status in RunStatus.TERMINAL:
        return  # REST follows it already, or it has ended (its last frame is journaled)
    grace = registry.config.detach_grace
    session.log(
        f"stream client disconnected mid-run: run {run_id} detached; it is interrupted unless "
        f"a REST continue re-attaches within {grace:g} s"
    )

    async def expire() -> None:
        session.closers.discard(closer)
        session.log(f"run {run_id} was not re-attached within {grace:g} s: interrupting")
        async with journal.lock:
            if journal.owner is None and not journal.taken.is_set():
                await _abandon(registry, session, run_id, status)

    def closer(_why: str) -> None:
        journal.cancel_grace()

    session.closers.add(closer)
    journal.detach(grace, expire)


async def _abandon(
    registry: SessionRegistry, session: Session, run_id: str | None, status: str
) -> None:
    """The client left mid-run: interrupt the kernel and let the run finish unseen."""
    if status in RunStatus.TERMINAL or run_id is None or session.runtime is None:
        return
    session.log("stream client disconnected mid-run: interrupting")
    runtime = session.runtime
    with contextlib.suppress(Exception):
        await runtime.interrupt()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while loop.time() < deadline:
        try:
            result = await runtime.execute("continue", run_id, "", None, 1.0)
        except (ExecutionRequestError, Exception):
            return
        if result.status in RunStatus.TERMINAL:
            session.run_open = False
            return
        if result.status == RunStatus.WAITING_INPUT:
            with contextlib.suppress(Exception):
                await runtime.interrupt()


# ---------------------------------------------------------------------------- pty


async def stream_pty(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    runtime = await registry_of(request).ready_runtime(session)
    try:
        pty = await runtime.open_pty(DEFAULT_ROWS, DEFAULT_COLS)
    except ExecutionRequestError as exc:
        raise invalid_params(str(exc)) from None
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE)
    try:
        await ws.prepare(request)
    except BaseException:
        await pty.close()
        raise
    closer = _track(session, ws)
    session.busy += 1
    holder = {"pty": pty}
    pump = asyncio.create_task(_pump(holder, ws))
    try:
        async for msg in ws:
            if holder["pty"].returncode is not None:
                break
            if msg.type == WSMsgType.BINARY:
                await holder["pty"].write(msg.data)
            elif msg.type == WSMsgType.TEXT:
                restart = await _terminal_command(holder["pty"], msg.data)
                if restart:
                    old = holder["pty"]
                    pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
                    await old.close()
                    holder["pty"] = await runtime.open_pty(DEFAULT_ROWS, DEFAULT_COLS)
                    pump = asyncio.create_task(_pump(holder, ws))
    except OSError as exc:
        log.info("terminal of %s closed: %s", session.name, exc)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await holder["pty"].close()
        session.busy -= 1
        session.closers.discard(closer)
        session.touch()
    return ws


async def _pump(holder: dict[str, Pty], ws: web.WebSocketResponse) -> None:
    """Terminal output → ``{"type": "out"}`` frames; closes the socket when the shell exits."""
    pty = holder["pty"]
    try:
        while True:
            data = await pty.read()
            if not data:
                break
            await ws.send_json({"type": "out", "data": base64.b64encode(data).decode("ascii")})
    except ConnectionResetError:
        return
    if not ws.closed:
        await ws.close(code=WSCloseCode.OK, message=b"terminal exited")


async def _terminal_command(pty: Pty, data: str) -> bool:
    """Apply one client frame; True when the client asked for a restart."""
    try:
        frame = json.loads(data)
    except ValueError:
        log.debug("ignoring a non-JSON terminal frame")
        return False
    if not isinstance(frame, dict):
        return False
    kind = frame.get("type")
    if kind == "stdin":
        chars = frame.get("chars", "")
        try:
            raw = base64.b64decode(chars, validate=True) if isinstance(chars, str) else b""
        except (binascii.Error, ValueError):
            log.debug("ignoring a stdin frame that is not base64")
            return False
        if raw:
            await pty.write(raw)
    elif kind == "resize":
        rows, cols = frame.get("rows"), frame.get("cols")
        if isinstance(rows, int) and isinstance(cols, int) and 0 < rows < 1000 and 0 < cols < 1000:
            pty.resize(rows, cols)
    elif kind == "restart":
        return True
    return False


# ---------------------------------------------------------------------------- apps


async def stream_apps(request: web.Request) -> web.Response:
    session = session_of(request)
    return web.json_response(session.service_ports())


async def stream_proxy(request: web.Request) -> web.StreamResponse:
    """Tunnel a WebSocket to a service port (the image's or a preopen port; binary frames)."""
    session = session_of(request)
    app_name = request.query.get("app") or request.query.get("service")
    if not app_name:
        raise invalid_params("Input validation error", {"app": "is required"})
    ports = {name: port for name, (_, port) in session.app_ports().items()}
    if app_name not in ports:
        raise GatewayError(
            404, Problem.OBJECT_NOT_FOUND, "No such app service.", f"{app_name} is not offered"
        )
    port = ports[app_name]
    if "port" in request.query and request.query["port"] != str(port):
        raise invalid_params("Input validation error", {"port": f"must be {port}"})
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"service not reachable")
        return ws
    closer = _track(session, ws)

    async def down() -> None:
        while chunk := await reader.read(65536):
            await ws.send_bytes(chunk)
        await ws.close()

    task = asyncio.create_task(down())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                writer.write(msg.data)
                await writer.drain()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
        writer.close()
        session.closers.discard(closer)
    return ws


def add_routes(app: web.Application, prefix: str = "") -> None:
    r = app.router
    r.add_get(prefix + "/stream/session/{ref}/execute", stream_execute)
    r.add_get(prefix + "/stream/session/{ref}/pty", stream_pty)
    r.add_get(prefix + "/stream/session/{ref}/apps", stream_apps)
    r.add_get(prefix + "/stream/session/{ref}/httpproxy", stream_proxy)
    r.add_get(prefix + "/stream/session/{ref}/tcpproxy", stream_proxy)
