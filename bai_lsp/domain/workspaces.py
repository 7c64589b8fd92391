"""One compute session per workspace folder (and image), and the connections behind them.

A session's name is derived from the folder (``bai-<folder>-<hash of its path>``) unless
``sessionName`` says otherwise, so a restarted editor asks for the same name and Backend.AI's
get-or-create hands back the same session. Documents whose language needs another image
share the folder's name with the image as a suffix. When a session turns out to be gone
on the backend, it is created again and the user is told why.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.backend import (
    Backend,
    Connect,
    RestartUnsupportedError,
    SessionRequest,
    is_not_found,
    translate,
)
from bai_lsp.domain.errors import DomainError
from bai_lsp.domain.events import SessionStatus
from bai_lsp.domain.frontend import Frontend, unless_cancelled
from bai_lsp.domain.session_facts import reason_code, with_facts
from bai_lsp.domain.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: How long ``backendai.session.status`` waits for the backend before answering with the
#: last known status (a request must not block the editor longer than 5 s).
STATUS_TIMEOUT_S = 3.0

#: The ``reason`` of a ``terminated``/``error`` status set without one: what it means when
#: a run finds its session gone or its backend failing (runs.py, reconnect.py).
_DEFAULT_REASONS = {"terminated": "terminated-by-backend", "error": "backend-error"}


def _slug(text: str, limit: int) -> str:
    slug = _UNSAFE.sub("-", text).strip("-.")[:limit].strip("-.")
    return slug or "workspace"


def image_suffix(image: str) -> str:
    last = image.strip().rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return _slug(last.lower(), 12)


def derive_session_name(folder: str, image: str, settings: Settings) -> str:
    """A stable, valid (``^(?=.{4,64}$)\\w[\\w.-]*\\w$``) session name for this folder+image."""
    if settings.session_name:
        base = settings.session_name
    else:
        digest = hashlib.sha256(folder.encode()).hexdigest()[:8]
        name = Path(folder.rstrip("/")).name or "root"
        base = f"bai-{_slug(name, 40)}-{digest}"
    if image == settings.primary_image:
        return base
    suffix = "-" + image_suffix(image)
    return base[: 64 - len(suffix)].rstrip("-.") + suffix


def our_status(backend_status: str) -> str:
    """Backend.AI's session status → the protocol's (``busy``/``waiting-input`` are ours)."""
    upper = backend_status.upper()
    if upper in ("RUNNING", "RUNNING_DEGRADED"):
        return "idle"
    if upper in ("TERMINATING", "TERMINATED", "CANCELLED", "PREEMPTED"):
        return "terminated"
    if upper == "ERROR":
        return "error"
    return "starting"


@attrs.define(eq=False)
class ComputeSession:
    workspace: str
    name: str
    image: str
    ref: str | None = None
    status: str = "terminated"
    message: str | None = None
    #: why it is ``terminated``/``error`` (``events.SESSION_REASONS``), set with the status
    reason: str | None = "not-started"
    #: Which connection (endpoint, keys) ``ref`` belongs to; another one means a new session.
    backend: tuple[Any, ...] | None = None
    run_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    start_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    def snapshot(self, message: str | None = None) -> SessionStatus:
        ended = self.status in ("terminated", "error")
        return SessionStatus(
            workspace=self.workspace,
            session_name=self.name,
            status=self.status,
            image=self.image,
            message=message,
            reason=self.reason if ended else None,
        )


class Workspaces:
    """Sessions by (folder, image) and the clients that reach them."""

    def __init__(self, frontend: Frontend, connect: Connect) -> None:
        self._frontend = frontend
        self._connect = connect
        self._sessions: dict[tuple[str, str], ComputeSession] = {}
        self._connections: dict[tuple[Any, ...], Backend] = {}
        self._connect_lock = asyncio.Lock()

    # --- sessions -----------------------------------------------------------------------

    def session_for(self, folder: str, image: str, settings: Settings) -> ComputeSession:
        key = (folder, image)
        session = self._sessions.get(key)
        name = derive_session_name(folder, image, settings)
        if session is None or session.name != name:
            session = ComputeSession(workspace=folder, name=name, image=image)
            self._sessions[key] = session
        return session

    def existing(self, folder: str) -> list[ComputeSession]:
        return [s for (f, _), s in self._sessions.items() if f == folder]

    def all(self) -> list[ComputeSession]:
        return list(self._sessions.values())

    def by_name(self, name: str) -> ComputeSession | None:
        return next((s for s in self._sessions.values() if s.name == name), None)

    def set_status(
        self,
        session: ComputeSession,
        status: str,
        message: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Publish a new status; ``reason`` (``events.SESSION_REASONS``) for ``terminated``
        and ``error`` defaults to what the backend failing under a run means."""
        session.status = status
        session.message = message
        session.reason = reason or _DEFAULT_REASONS.get(status)
        self._frontend.session_status(session.snapshot(message))

    # --- connections --------------------------------------------------------------------

    async def connection(self, settings: Settings) -> Backend:
        """The open backend these settings point at (one per endpoint and keypair)."""
        key = self.key(settings)
        async with self._connect_lock:
            conn = self._connections.get(key)
            if conn is None:
                conn = await self._connect(settings)
                self._connections[key] = conn
            return conn

    def key(self, settings: Settings) -> tuple[Any, ...]:
        """Which backend the settings point at: another key means another session."""
        if settings.embedded:
            return ("embedded", settings.on_exit == "keep")
        return (
            settings.endpoint,
            settings.endpoint_type,
            settings.access_key,
            settings.secret_key,
            settings.domain,
            settings.group,
        )

    # --- lifecycle of one session --------------------------------------------------------

    async def ensure(self, session: ComputeSession, settings: Settings) -> tuple[Backend, str]:
        """The client and ref of a running session, created (get-or-create) if needed."""
        conn = await self.connection(settings)
        async with session.start_lock:
            if session.backend != self.key(settings):
                session.ref = None  # the settings now point at another backend
            if session.ref and session.status not in ("terminated", "error"):
                return conn, session.ref
            self.set_status(session, "starting")
            try:
                ref = await self._create(conn, session, settings)
            except DomainError as exc:
                self.set_status(session, "error", exc.message, "failed-to-start")
                raise
            except Exception as exc:
                error = translate(exc, conn.endpoint)
                self.set_status(session, "error", error.message, "failed-to-start")
                raise error from None
            session.ref = ref
            session.backend = self.key(settings)
            self.set_status(session, "idle")
            return conn, ref

    async def _create(self, conn: Backend, session: ComputeSession, settings: Settings) -> str:
        request = SessionRequest(
            image=session.image,
            name=session.name,
            resources=dict(settings.resources),
            mounts=list(settings.mounts),
            environ=dict(settings.environ),
            preopen_ports=[app.port for app in settings.apps],
            domain=settings.domain,
            group=settings.group,
            scaling_group=settings.scaling_group,
            cluster_size=settings.cluster_size,
        )
        async with self._frontend.progress(f"Starting Backend.AI session {session.name}") as bar:
            ref = await unless_cancelled(
                bar,
                conn.get_or_create(request, on_status=lambda s: bar.report(f"{s}")),
                f"Starting session {session.name} was cancelled.",
            )
            return ref or session.name

    async def lost(self, session: ComputeSession, settings: Settings) -> str:
        """Explain why a session vanished (as far as the backend says) and forget its ref."""
        reason = "it no longer exists on the backend"
        ended = await self._ended_entry(session, settings)
        info = (ended or {}).get("status_info") or (ended or {}).get("statusInfo")
        if info:
            reason = f"it was terminated on the backend ({info})"
        message = f"Session {session.name} was lost: {reason}. A new session is being started."
        session.ref = None
        self.set_status(session, "terminated", message, reason_code(ended or {}))
        self._frontend.show_message("warning", message)
        return message

    async def refresh(self, session: ComputeSession, settings: Settings) -> SessionStatus:
        """Ask the backend how the session is, by ref or (after a restart) by name."""
        conn = await self.connection(settings)
        if session.backend != self.key(settings):
            session.ref = None
        try:
            info = await asyncio.wait_for(
                conn.session_info(session.ref or session.name), STATUS_TIMEOUT_S
            )
        except TimeoutError:
            # A half-open connection must not block the editor's status request: answer
            # with what we know and say that the backend is silent.
            return session.snapshot(
                f"The backend at {conn.endpoint} did not answer within {STATUS_TIMEOUT_S:g} s;"
                " this is the last known status."
            )
        except Exception as exc:
            if is_not_found(exc):
                return await self._gone(session, settings)
            raise translate(exc, conn.endpoint) from None
        status = our_status(str(info.get("status", "")))
        if status == "idle" and session.status in ("busy", "waiting-input"):
            status = session.status
        if session.ref is None and status == "idle":
            session.ref = str(info.get("id") or info.get("sessionId") or session.name)
            session.backend = self.key(settings)
        ended = status in ("terminated", "error") and session.status not in ("terminated", "error")
        session.status = status
        if ended:
            session.reason = None  # the backend's statusInfo says why
        current = with_facts(session.snapshot(), info)
        if ended:  # noticed here first: the editor's status shows it, with the reason
            self.set_status(session, status, current.message, current.reason)
        return current

    async def _gone(self, session: ComputeSession, settings: Settings) -> SessionStatus:
        """The backend no longer knows the session: say why, if its listing still does.

        A session the backend ended (idle timeout, OOM…) may already be gone from lookups
        by the time the editor asks; the terminated listing keeps its reason longer.
        """
        noticed_here = session.status not in ("terminated", "error")
        session.ref = None
        session.status = "terminated"
        if not noticed_here:
            return session.snapshot()
        session.reason = None
        current = with_facts(session.snapshot(), await self._ended_entry(session, settings) or {})
        self.set_status(session, "terminated", current.message, current.reason)
        return current

    async def _ended_entry(
        self, session: ComputeSession, settings: Settings
    ) -> dict[str, Any] | None:
        """The backend's listing entry of this session among the terminated ones."""
        try:
            conn = await self.connection(settings)
            items = await conn.list_sessions(status="TERMINATED", limit=50)
        except Exception:
            log.debug("could not look up why session %s ended", session.name, exc_info=True)
            return None
        for data in items:
            if (data.get("name") or data.get("session_name")) == session.name:
                return dict(data)
        return None

    async def destroy(self, session: ComputeSession, settings: Settings) -> SessionStatus:
        conn = await self.connection(settings)
        try:
            await conn.destroy(session.ref or session.name, forced=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise translate(exc, conn.endpoint) from None
        session.ref = None
        self.set_status(session, "terminated", "Destroyed on request.", "destroyed-by-user")
        return session.snapshot("Destroyed on request.")

    async def restart(self, session: ComputeSession, settings: Settings) -> SessionStatus:
        client, ref = await self.ensure(session, settings)
        self.set_status(session, "starting", "Restarting the kernel.")
        try:
            await client.restart(ref)
        except Exception as exc:
            if is_not_found(exc):
                await self.lost(session, settings)
                await self.ensure(session, settings)
                return session.snapshot()
            if isinstance(exc, RestartUnsupportedError):
                return await self._restart_by_recreating(session, settings, client, ref)
            conn = await self.connection(settings)
            error = translate(exc, conn.endpoint)
            self.set_status(session, "error", error.message, "restart-failed")
            raise error from None
        self.set_status(session, "idle")
        return session.snapshot()

    async def _restart_by_recreating(
        self, session: ComputeSession, settings: Settings, client: Backend, ref: str
    ) -> SessionStatus:
        """The newest managers refuse restart (501): destroy and create the session again.

        The destroy waits until the old session is really gone (v9 destroys asynchronously),
        so the same name can be used at once. Unlike a restart, files written in the
        session's folder are lost with it; the user is told so.
        """
        message = (
            f"This Backend.AI manager (API {client.api_version}) does not restart sessions; "
            f"session {session.name} was destroyed and created again instead "
            "(a fresh kernel; files written inside the old session are gone)."
        )
        self.set_status(session, "starting", "Restart refused by the manager: recreating.")
        try:
            await client.destroy(ref, forced=True)
        except Exception as exc:
            if not is_not_found(exc):
                conn = await self.connection(settings)
                error = translate(exc, conn.endpoint)
                self.set_status(session, "error", error.message, "restart-failed")
                raise error from None
        session.ref = None
        await self.ensure(session, settings)
        self._frontend.show_message("info", message)
        self.set_status(session, "idle", message)
        return session.snapshot(message)

    # --- shutdown -----------------------------------------------------------------------

    async def close(self, destroy: dict[str, bool]) -> None:
        """Destroy the sessions whose folder says ``onExit: destroy``; close the clients;
        stop gateways nobody may come back to."""
        for session in self.all():
            if destroy.get(session.workspace) and session.ref:
                for conn in self._connections.values():
                    try:
                        await asyncio.wait_for(conn.destroy(session.ref, forced=True), 10)
                        break
                    except Exception:
                        log.info("could not destroy %s", session.name, exc_info=True)
        for conn in list(self._connections.values()):
            try:
                await conn.close()
            except Exception:
                log.debug("closing a backend failed", exc_info=True)
        self._connections.clear()
