"""``BackendAIClient``: the typed Backend.AI operations bai-lsp needs (seam 2).

Each method is one documented API call (docs/client.md maps them onto the wire), sent the
way the SDK 23.9.10 sends it against a v7 manager. The client is an async context manager:
entering negotiates the API version (and logs in for ``endpoint_type=session``), leaving
closes the connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import posixpath
import re
import tarfile
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from bai_lsp.backendai import dialect
from bai_lsp.backendai.config import APIConfig, normalise_arch
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
from bai_lsp.backendai.streams import ExecutionStream, PtyStream
from bai_lsp.backendai.transport import Reply, Transport
from bai_lsp.backendai.types import (
    FileEntry,
    SessionEvent,
    SessionPage,
    SessionRef,
    SessionSpec,
    SessionStatus,
    decode_session_item,
)
from bai_lsp.wire import versions
from bai_lsp.wire.execute import BatchOptions, ExecutionResult
from bai_lsp.wire.problems import Problem, ProblemDetails

log = logging.getLogger(__name__)

#: Backend.AI's per-request upload limits (the manager refuses the 21st part, and a part
#: once it reaches 1 MiB) and its per-request download limit.
MAX_UPLOAD_FILES = 20
MAX_UPLOAD_BYTES = 1024 * 1024
MAX_DOWNLOAD_FILES = 5
EXEC_MODES = ("query", "continue", "input", "batch")
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


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _check_ref(ref: str) -> str:
    if not ref or "/" in ref or ref in (".", "..") or ref != ref.strip():
        raise InvalidRequestError(f"Invalid session reference {ref!r}: use the name or the id.")
    return ref


def _check_upload_path(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith("/") or ".." in parts or not parts[-1]:
        raise InvalidRequestError(
            f"Cannot upload {path!r}: a file path must be relative and stay inside the "
            "session's work folder (/home/work)."
        )
    return path


def parse_multipart(content_type: str, body: bytes) -> list[bytes]:
    """The part bodies of a ``multipart/mixed`` answer (RFC 2046)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise ProtocolError(f"expected a multipart answer, got {content_type or 'no type'!r}")
    delimiter = b"--" + match[1].encode()
    parts: list[bytes] = []
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        _head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ProtocolError("a multipart part has no header/body separator")
        parts.append(content)
    return parts


def untar(archive: bytes) -> dict[str, bytes]:
    """Regular files of one tar archive, by member name."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[member.name.removeprefix("./")] = handle.read()
    except tarfile.TarError as exc:
        raise ProtocolError(f"a downloaded part is not a tar archive ({exc})") from None
    return files


class BackendAIClient:
    """An open connection to one Backend.AI (manager or web server) for one user."""

    def __init__(self, config: APIConfig | None = None) -> None:
        self.config = config if config is not None else APIConfig()
        self._transport = Transport(self.config)

    async def __aenter__(self) -> BackendAIClient:
        try:
            await self._transport.open()
        except BaseException:
            await self._transport.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    @property
    def api_version(self) -> str:
        """The negotiated ``X-BackendAI-Version``."""
        return self._transport.api_version

    @property
    def endpoint(self) -> str:
        """The endpoint in use (it changes when a dead endpoint is rotated away)."""
        return self._transport.endpoint

    # --- system ---------------------------------------------------------------------------

    async def versions(self) -> dict[str, str]:
        """``GET /`` (signed): ``{"version": "v7.…", "manager": "23.09.…"}``."""
        body = (await self._transport.request("GET", "/", idempotent=True)).json()
        if not isinstance(body, dict):
            raise ProtocolError(f"GET / answered {body!r} instead of the version object.")
        return {str(k): str(v) for k, v in body.items()}

    # --- session lifecycle ----------------------------------------------------------------

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
            await self._transport.request("GET", f"/session/{_check_ref(ref)}", idempotent=True)
        ).json()
        if not isinstance(body, dict):
            raise ProtocolError(f"GET /session/{ref} answered {body!r} instead of an object.")
        return body

    @property
    def newest(self) -> bool:
        """Whether the negotiated version gets the newest manager's dialect (v8+/v9)."""
        return dialect.is_newest(self.api_version)

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
            "DELETE", f"/session/{_check_ref(ref)}", params=params, idempotent=True
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
            await self._transport.request("PATCH", f"/session/{_check_ref(ref)}")
        except ServerError as exc:
            if exc.status == 501:
                raise dialect.RestartUnsupportedError(ref, self.api_version) from None
            raise

    async def interrupt(self, ref: str) -> None:
        """``POST /session/{ref}/interrupt``: SIGINT to the running code."""
        await self._transport.request("POST", f"/session/{_check_ref(ref)}/interrupt")

    async def logs(self, ref: str) -> str:
        """``GET /session/{ref}/logs``: the container log."""
        body = (
            await self._transport.request(
                "GET", f"/session/{_check_ref(ref)}/logs", idempotent=True
            )
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

    # --- files ----------------------------------------------------------------------------

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None:
        """``POST /session/{ref}/upload`` (multipart ``src`` parts), 20 files per request.

        Every file is checked first: one of 1 MiB or more fails the whole call before
        anything is sent, with its name and size.
        """
        _check_ref(ref)
        for path, data in files:
            _check_upload_path(path)
            if len(data) >= MAX_UPLOAD_BYTES:
                raise InvalidRequestError(
                    f"Cannot upload {path!r} ({_size(len(data))}): Backend.AI accepts only "
                    "files under 1 MiB per upload; leave it out or put it in a mounted vfolder."
                )
        for start in range(0, len(files), MAX_UPLOAD_FILES):
            batch = list(files[start : start + MAX_UPLOAD_FILES])

            def form(batch: list[tuple[str, bytes]] = batch) -> aiohttp.FormData:
                data = aiohttp.FormData()  # quotes file names as the SDK does: sub%2Fb.txt
                for path, content in batch:
                    data.add_field(
                        "src", content, filename=path, content_type="application/octet-stream"
                    )
                return data

            await self._transport.request("POST", f"/session/{ref}/upload", form=form)

    async def download(self, ref: str, paths: Sequence[str]) -> dict[str, bytes]:
        """Download, 5 paths per request: ``GET …/download`` with JSON ``files`` (23.09) or
        ``POST …/download?files=a&files=b`` (the newest manager).

        Each path comes back as a tar archive (named after the path's last component, as
        Docker's archive API does); the result maps each file to its bytes under the path
        it was asked for (``sub/a.txt``), a directory's files under ``dir/…``.
        """
        _check_ref(ref)
        out: dict[str, bytes] = {}
        for start in range(0, len(paths), MAX_DOWNLOAD_FILES):
            batch = list(paths[start : start + MAX_DOWNLOAD_FILES])
            if self.newest:
                reply = await self._transport.request(
                    "POST",
                    f"/session/{ref}/download",
                    params=[("files", path) for path in batch],
                    idempotent=True,
                )
            else:
                reply = await self._transport.request(
                    "GET", f"/session/{ref}/download", json_body={"files": batch}, idempotent=True
                )
            parts = parse_multipart(reply.headers.get("Content-Type", ""), reply.body)
            if len(parts) != len(batch):
                raise ProtocolError(
                    f"asked for {len(batch)} paths, the download holds {len(parts)} archives"
                )
            for requested, part in zip(batch, parts, strict=True):
                parent = posixpath.dirname(requested.rstrip("/"))
                for member, content in (await asyncio.to_thread(untar, part)).items():
                    out[posixpath.join(parent, member)] = content
        return out

    async def list_files(self, ref: str, path: str = ".") -> list[FileEntry]:
        """``GET /session/{ref}/files``, relative to ``/home/work``: ``path`` in a JSON body
        (23.09) or in the query (the newest manager reads only the query)."""
        if self.newest:
            reply = await self._transport.request(
                "GET", f"/session/{_check_ref(ref)}/files", params={"path": path}, idempotent=True
            )
        else:
            reply = await self._transport.request(
                "GET",
                f"/session/{_check_ref(ref)}/files",
                json_body={"path": path},
                idempotent=True,
            )
        body = reply.json()
        if not isinstance(body, dict):
            raise ProtocolError(f"the file list answer is {body!r}.")
        raw = body.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
            return [FileEntry.from_json(item) for item in items or []]
        except (ValueError, TypeError):
            raise ProtocolError(f"the file list is malformed: {raw!r}") from None

    # --- execution ------------------------------------------------------------------------

    async def execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str = "",
        run_id: str | None = None,
        options: BatchOptions | None = None,
        ack: int | None = None,
    ) -> ExecutionResult:
        """One REST poll: ``POST /session/{ref}`` with ``mode``, ``code`` and ``runId``.

        Keep the returned ``run_id`` and call again with ``mode="continue"`` (or
        ``"input"`` after ``waiting-input``) until the status is ``finished``.

        ``ack`` (our gateway's resumable-runs extension; a real manager ignores it): the
        highest ``seq`` received for this run. The gateway then numbers its answers and
        sends again whatever came after ``ack`` (an answer lost in transit), so a poll may
        simply be repeated after a network failure.
        """
        if mode not in EXEC_MODES:
            raise InvalidRequestError(
                f"Invalid execution mode {mode!r}: use one of {', '.join(EXEC_MODES)}."
            )
        if mode in ("continue", "input") and not run_id:
            raise InvalidRequestError(f"Execution mode {mode!r} needs the run_id of the run.")
        body = dialect.execute_body(self.api_version, mode, code, run_id)
        if mode == "batch":
            body["options"] = (options or BatchOptions()).to_json()
        if ack is not None:
            if isinstance(ack, bool) or not isinstance(ack, int) or ack < 0:
                raise InvalidRequestError(f"ack must be a non-negative integer, not {ack!r}.")
            body["ack"] = ack
        reply = await self._transport.request("POST", f"/session/{_check_ref(ref)}", json_body=body)
        return _result_of(reply)

    async def complete(self, ref: str, code: str, options: dict[str, Any] | None = None) -> Any:
        """``POST /session/{ref}/complete``: code completion candidates (often empty)."""
        body = (
            await self._transport.request(
                "POST",
                f"/session/{_check_ref(ref)}/complete",
                json_body={"code": code, "options": options or {}},
            )
        ).json()
        result = body.get("result") if isinstance(body, dict) else None
        return result.get("completions", []) if isinstance(result, dict) else []

    def stream_execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> ExecutionStream:
        """The WebSocket run: ``async with client.stream_execute(...) as s: async for r in s``.

        ``run_id`` + ``resumable=True`` ask a backend that can (our gateway) to number the
        frames and keep the run if the socket drops (``ExecutionStream``)."""
        return ExecutionStream(
            self._transport,
            _check_ref(ref),
            mode=mode,
            code=code,
            options=options,
            run_id=run_id,
            resumable=resumable,
        )

    def stream_pty(self, ref: str) -> PtyStream:
        """The session's terminal: ``write``, ``resize``, and ``async for chunk in pty``."""
        return PtyStream(self._transport, _check_ref(ref))

    async def list_apps(self, ref: str) -> list[dict[str, Any]]:
        """``GET /stream/session/{ref}/apps``: the service ports ``[{name, protocol, ports}]``."""
        body = (
            await self._transport.request(
                "GET", f"/stream/session/{_check_ref(ref)}/apps", idempotent=True
            )
        ).json()
        if not isinstance(body, list):
            raise ProtocolError(f"GET /stream/session/{ref}/apps answered {body!r:.200}.")
        return [item for item in body if isinstance(item, dict)]

    async def app_socket(
        self, ref: str, app: str, *, protocol: str = "tcp", port: int | None = None
    ) -> aiohttp.ClientWebSocketResponse:
        """One tunnel to a service port (``/stream/session/{ref}/tcpproxy?app=…``, or
        ``httpproxy``), as ``backend.ai app`` opens per local connection: binary frames
        carry the TCP bytes both ways. The caller closes it."""
        kind = "httpproxy" if protocol == "http" else "tcpproxy"
        params = {"app": app}
        if port is not None:
            params["port"] = str(port)
        return await self._transport.ws_connect(f"/stream/session/{_check_ref(ref)}/{kind}", params)

    def session_events(
        self, name: str = "*", *, session_id: str | None = None, scope: str = "*"
    ) -> AsyncIterator[SessionEvent]:
        """Lifecycle events (``session_started``, ``session_terminated``, …) as they happen.

        ``scope`` is ``*``, ``session`` or ``kernel`` (which events of the session).
        """
        return session_events(self._transport, name, session_id=session_id, scope=scope)


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


def _result_of(reply: Reply) -> ExecutionResult:
    body = reply.json()
    result = body.get("result") if isinstance(body, dict) else None
    try:
        return ExecutionResult.from_json(result)
    except ValueError:
        raise ProtocolError(f"the execute answer has no valid result: {body!r}") from None


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
