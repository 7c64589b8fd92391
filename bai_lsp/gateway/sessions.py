"""The session registry: get-or-create by name, lifecycle, idle timeout (§3, §9).

A session walks Backend.AI's statuses for real: PENDING when accepted, SCHEDULED, PREPARING
while its runtime (kernel) starts, RUNNING once it can execute, then TERMINATING →
TERMINATED. Every transition is published as the manager's lifecycle event. Sessions belong
to the access key that created them; names are unique among that key's live sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp

from bai_lsp.gateway import paths
from bai_lsp.gateway.config import GatewayConfig
from bai_lsp.gateway.errors import (
    GatewayError,
    already_exists,
    forbidden,
    invalid_params,
    kernel_failure,
    session_not_found,
)
from bai_lsp.gateway.events import EventHub, SessionEvent
from bai_lsp.gateway.runtimes import Runtime, create_runtime
from bai_lsp.gateway.scratch import ScratchRoot
from bai_lsp.gateway.session_model import (
    ADVISORY_NOTE,
    ALL_STATUSES,
    BOOTSTRAP_LOG_CHARS,
    CANCELLED,
    DEAD,
    DEAD_KEPT,
    ERROR,
    NAME_RE,
    NEWEST_ONLY_STATUSES,
    PENDING,
    PREPARING,
    RESERVED_NAMES,
    RESTARTING,
    RUNNING,
    SCHEDULED,
    SERVER_SHUTDOWN,
    STARTING,
    TERMINATED,
    TERMINATING,
    TIMEOUT,
    WEBHOOK_EVENTS,
    WEBHOOK_TIMEOUT,
    CreateSpec,
    Session,
    group_uuid,
    user_uuid,
    utcnow,
)
from bai_lsp.wire.problems import Problem

log = logging.getLogger(__name__)

#: The session model is re-exported: the HTTP layer imports it from here.
__all__ = [
    "ADVISORY_NOTE",
    "ALL_STATUSES",
    "NAME_RE",
    "NEWEST_ONLY_STATUSES",
    "RESERVED_NAMES",
    "RUNNING",
    "SERVER_SHUTDOWN",
    "STARTING",
    "TIMEOUT",
    "CreateSpec",
    "Session",
    "SessionRegistry",
    "group_uuid",
    "user_uuid",
]


class SessionRegistry:
    def __init__(self, config: GatewayConfig, events: EventHub) -> None:
        self.config = config
        self.events = events
        self.sessions: dict[uuid.UUID, Session] = {}
        self._create_lock = asyncio.Lock()
        self._idle_task: asyncio.Task[None] | None = None
        self._closing = False
        self._webhooks: set[asyncio.Task[None]] = set()
        self.scratch = ScratchRoot(config.data_dir / "sessions")
        self._jobs: set[asyncio.Task[None]] = set()
        self._last_webhook: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None

    @property
    def sessions_root(self) -> Path:
        return self.scratch.root

    @property
    def vfolder_root(self) -> Path:
        return self.config.data_dir / "vfolders"

    # ---------------------------------------------------------------- lookup

    def live(self, access_key: str) -> Iterable[Session]:
        return (s for s in self.sessions.values() if s.access_key == access_key and s.is_live)

    def find(self, ref: str, access_key: str, *, include_dead: bool = False) -> Session:
        """By UUID first, then by name, among the caller's (live) sessions."""
        pool = [
            s
            for s in self.sessions.values()
            if s.access_key == access_key and (include_dead or s.is_live)
        ]
        with contextlib.suppress(ValueError):
            wanted = uuid.UUID(ref)
            for session in pool:
                if session.id == wanted:
                    return session
        matches = [s for s in pool if s.name == ref]
        if not matches:
            raise session_not_found(ref)
        live = [s for s in matches if s.is_live]
        if live:
            return live[0]
        return max(matches, key=lambda s: s.created_at)

    def listing(self, access_key: str, statuses: set[str] | None) -> list[Session]:
        return [
            s
            for s in self.sessions.values()
            if s.access_key == access_key and (statuses is None or s.status in statuses)
        ]

    # ---------------------------------------------------------------- create

    async def get_or_create(self, access_key: str, spec: CreateSpec) -> tuple[Session, bool]:
        if self._closing:
            raise GatewayError(
                503, Problem.SERVICE_UNAVAILABLE, "Service unavailable.", "shutting down"
            )
        async with self._create_lock:
            for existing in self.live(access_key):
                if existing.name != spec.name:
                    continue
                if existing.image.name != spec.image:
                    raise already_exists(
                        f"Session {spec.name} exists with image {existing.image.name}, "
                        f"not {spec.image}; destroy it or choose another name.",
                        str(existing.id),
                    )
                if not spec.reuse_if_exists:
                    raise already_exists(
                        f"Session {spec.name} already exists (reuseIfExists is false).",
                        str(existing.id),
                    )
                return existing, False
            image = self.config.images.resolve(spec.image)
            if image is None:
                available = ", ".join(self.config.images.names())
                raise GatewayError(
                    404,
                    Problem.OBJECT_NOT_FOUND,
                    "No such environment image.",
                    f"Unknown image references: {spec.image}. Available images on this "
                    f"gateway: {available} (extend the table with --config; see docs/images.md)",
                    {"image": spec.image, "available": self.config.images.names()},
                )
            if sum(1 for _ in self.live(access_key)) >= self.config.max_sessions:
                raise GatewayError(
                    412,
                    Problem.QUOTA_EXCEEDED,
                    "Quota exceeded.",
                    f"at most {self.config.max_sessions} live sessions per access key; "
                    "destroy some first",
                )
            mounts = paths.validate_mounts(spec.mounts, spec.mount_map)
            session_id = uuid.uuid4()
            session = Session(
                id=session_id,
                kernel_id=uuid.uuid4(),
                access_key=access_key,
                spec=spec,
                image=image,
                workdir=self.sessions_root / str(session_id),
            )
            self.sessions[session.id] = session
        session.status_history[PENDING] = session.created_at.isoformat()
        session.log(f"session {spec.name} created with image {spec.image}")
        self._emit(session, "session_enqueued", "")
        session.start_task = asyncio.create_task(self._start(session, mounts))
        self._ensure_idle_watch()
        return session, True

    async def _start(self, session: Session, mounts: list[tuple[str, PurePosixPath]]) -> None:
        try:
            self._set_status(session, SCHEDULED, None)
            self._emit(session, "session_scheduled", "")
            self._set_status(session, PREPARING, None)
            self._emit(session, "kernel_preparing", "")
            session.mounted = await asyncio.to_thread(self._prepare_folder, session, mounts)
            environ = dict(session.spec.environ)
            self._emit(session, "kernel_creating", "")
            runtime = create_runtime(session.image, session.workdir, environ)
            session.runtime = runtime
            await runtime.start()
            if session.spec.bootstrap_script:
                await self._bootstrap(session, runtime)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("session %s failed to start: %s", session.name, exc)
            session.log(f"failed to start: {exc}")
            if session.runtime is not None:
                with contextlib.suppress(Exception):
                    await session.runtime.shutdown()
            session.status_data = {
                "error": {"src": "agent", "name": type(exc).__name__, "repr": str(exc)}
            }
            self._set_status(session, ERROR, "failed-to-start")
            self._emit(session, "session_failure", "failed-to-start")
            session.started.set()
            return
        session.touch()
        self._set_status(session, RUNNING, None)
        session.log("session started")
        self._emit(session, "kernel_started", "")
        self._emit(session, "session_started", "")
        session.started.set()
        if session.spec.session_type == "batch":
            job = asyncio.create_task(self._run_batch_job(session))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)

    async def _bootstrap(self, session: Session, runtime: Runtime) -> None:
        """Run ``bootstrap.sh`` before the session counts as started, as the agent does."""
        run_id = "bootstrap-" + uuid.uuid4().hex
        output: list[str] = []
        result = await runtime.execute("batch", run_id, "", {"exec": "bash bootstrap.sh"}, 30.0)
        while True:
            output += [
                text for kind, text in (r.to_json() for r in result.console) if kind != "media"
            ]
            if result.status in ("finished", "exec-timeout"):
                break
            result = await runtime.execute("continue", run_id, "", None, 30.0)
        text = "".join(output)
        if len(text) > BOOTSTRAP_LOG_CHARS:
            text = text[:BOOTSTRAP_LOG_CHARS] + "\n[bootstrap output truncated]\n"
        session.log(f"bootstrap.sh exited with {result.exit_code}" + (f":\n{text}" if text else ""))

    def _prepare_folder(
        self, session: Session, mounts: list[tuple[str, PurePosixPath]]
    ) -> list[Path]:
        session.workdir.mkdir(parents=True, exist_ok=True)
        linked = paths.link_mounts(self.vfolder_root, session.workdir, mounts)
        if session.spec.bootstrap_script:
            (session.workdir / "bootstrap.sh").write_text(session.spec.bootstrap_script)
        return linked

    async def _run_batch_job(self, session: Session) -> None:
        """A batch session runs its startupCommand, then terminates with its result."""
        runtime = session.runtime
        if runtime is None:
            return
        exit_code: int | None = None
        try:
            result = await runtime.execute(
                "batch", "batch-job", "", {"exec": session.spec.startup_command}, 30.0
            )
            while result.status not in ("finished", "exec-timeout"):
                result = await runtime.execute("continue", "batch-job", "", None, 30.0)
            exit_code = result.exit_code
        except Exception as exc:
            session.log(f"batch job failed: {exc}")
        if not session.is_live or session.status != RUNNING:
            return
        success = exit_code == 0
        session.result = "SUCCESS" if success else "FAILURE"
        session.log(f"batch job exited with {exit_code}")
        self._emit(
            session, "session_success" if success else "session_failure", "task-finished", exit_code
        )
        with contextlib.suppress(GatewayError):
            await self.destroy(session, forced=True, reason="task-finished")

    async def wait_started(self, session: Session, max_wait: float) -> bool:
        """Wait until the session left the start-up statuses; False if ``max_wait`` passed."""
        timeout = max_wait if max_wait > 0 else self.config.start_timeout
        try:
            await asyncio.wait_for(asyncio.shield(session.started.wait()), timeout)
        except TimeoutError:
            return False
        return True

    async def ready_runtime(self, session: Session) -> Runtime:
        """The runtime of a session that may still be starting (waits for it)."""
        if session.status in STARTING:
            await self.wait_started(session, self.config.start_timeout)
        if session.status == RESTARTING:
            async with session.lock:
                pass
        return session.require_runtime()

    # ---------------------------------------------------------------- lifecycle

    async def destroy(
        self, session: Session, *, forced: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        why = reason or ("force-terminated" if forced else "user-requested")
        if session.status == PENDING or (session.status in STARTING and forced):
            return await self._cancel(session, why)
        if session.status in (SCHEDULED, PREPARING, TERMINATING, ERROR) and not forced:
            raise forbidden(
                f"Cannot destroy session {session.name} while it is {session.status}; "
                "use forced=true to destroy it anyway."
            )
        if session.status in DEAD:
            raise session_not_found(session.name)
        async with session.lock:
            if session.status in DEAD:
                return {"status": "terminated"}
            self._set_status(session, TERMINATING, why)
            self._emit(session, "session_terminating", why)
            self._emit(session, "kernel_terminating", why)
            await self._teardown(session, why)
            self._set_status(session, TERMINATED, why)
            session.terminated_at = utcnow()
            session.log(f"session terminated ({why})")
            self._emit(session, "kernel_terminated", why)
            self._emit(session, "session_terminated", why)
        self._forget_old_dead()
        return {"status": "terminated"}

    async def _cancel(self, session: Session, why: str) -> dict[str, Any]:
        task = session.start_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._teardown(session, why)
        self._set_status(session, CANCELLED, why)
        session.terminated_at = utcnow()
        session.started.set()
        session.log(f"session cancelled ({why})")
        self._emit(session, "kernel_cancelled", why)
        self._emit(session, "session_cancelled", why)
        self._forget_old_dead()
        return {"status": "cancelled"}

    async def _teardown(self, session: Session, why: str) -> None:
        for close in list(session.closers):
            with contextlib.suppress(Exception):
                close(why)
        session.closers.clear()
        if session.runtime is not None:
            try:
                await session.runtime.shutdown()
            except Exception:
                log.exception("shutting down the runtime of %s failed", session.name)
        await asyncio.to_thread(shutil.rmtree, session.workdir, True)

    async def restart(self, session: Session) -> None:
        runtime = session.require_runtime()
        async with session.lock:
            self._set_status(session, RESTARTING, "user-requested")
            session.log("restarting")
            try:
                await runtime.restart()
            except Exception as exc:
                session.log(f"restart failed: {exc}")
                self._set_status(session, RUNNING, None)
                raise kernel_failure(
                    "kernel-restart-failed", f"Restarting {session.name} failed.", repr(exc)
                ) from exc
            session.touch()
            self._set_status(session, RUNNING, None)
            self._emit(session, "kernel_started", "restarted")
            self._emit(session, "session_started", "restarted")

    def rename(self, session: Session, new_name: str) -> None:
        if not NAME_RE.match(new_name) or new_name in RESERVED_NAMES:
            raise invalid_params(
                "Input validation error",
                {
                    "name": "4 to 64 ASCII letters, digits, _ . - (starting and ending with a "
                    "letter, digit or _)"
                },
            )
        if session.status != RUNNING:
            raise invalid_params(f"Only RUNNING sessions can be renamed ({session.status})")
        for other in self.live(session.access_key):
            if other is not session and other.name == new_name:
                raise already_exists(f"Session {new_name} already exists.", str(other.id))
        session.log(f"renamed from {session.name} to {new_name}")
        session.spec.name = new_name

    async def shutdown_all(self) -> None:
        self._closing = True
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        live = [s for s in self.sessions.values() if s.is_live]
        await asyncio.gather(
            *(self.destroy(s, forced=True, reason=SERVER_SHUTDOWN) for s in live),
            return_exceptions=True,
        )
        if self._webhooks:
            await asyncio.wait(self._webhooks, timeout=WEBHOOK_TIMEOUT)
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self.scratch.release)

    async def open(self) -> None:
        """Claim this gateway's scratch folder (and sweep those of dead gateways)."""
        await asyncio.to_thread(self.scratch.acquire)

    # ---------------------------------------------------------------- idle

    def idle_remaining(self, session: Session) -> float | None:
        limit = self.config.idle_timeout
        if limit <= 0 or session.spec.session_type == "batch":
            return None
        if session.busy > 0 or session.run_open:
            return limit
        return max(limit - (time.monotonic() - session.last_used), 0.0)

    def _ensure_idle_watch(self) -> None:
        if self.config.idle_timeout > 0 and (self._idle_task is None or self._idle_task.done()):
            self._idle_task = asyncio.create_task(self._idle_watch())

    async def _idle_watch(self) -> None:
        period = min(max(self.config.idle_timeout / 10, 0.1), 5.0)
        while True:
            await asyncio.sleep(period)
            for session in list(self.sessions.values()):
                if session.status != RUNNING:
                    continue
                remaining = self.idle_remaining(session)
                if remaining is not None and remaining <= 0:
                    log.info(
                        "session %s idle for %.0f s: terminating",
                        session.name,
                        self.config.idle_timeout,
                    )
                    with contextlib.suppress(GatewayError):
                        await self.destroy(session, forced=True, reason="idle-timeout")

    # ---------------------------------------------------------------- helpers

    def _set_status(self, session: Session, status: str, info: str | None) -> None:
        session.status = status
        session.status_info = info
        session.status_changed = utcnow()
        session.status_history[status] = session.status_changed.isoformat()

    def _emit(self, session: Session, name: str, reason: str, exit_code: int | None = None) -> None:
        self.events.publish(
            SessionEvent(
                name=name,
                session_id=str(session.id),
                session_name=session.name,
                owner=session.access_key,
                group=session.spec.group,
                reason=reason,
                exit_code=exit_code,
                kernel_id=str(session.kernel_id),
            )
        )
        hook = WEBHOOK_EVENTS.get(name)
        if hook is not None and session.spec.callback_url:
            previous = self._last_webhook.get(session.id)
            task = asyncio.get_running_loop().create_task(
                self._call_webhook(session, hook, previous)
            )
            self._last_webhook[session.id] = task
            self._webhooks.add(task)
            task.add_done_callback(self._webhooks.discard)

    async def _call_webhook(
        self, session: Session, event: str, previous: asyncio.Task[None] | None
    ) -> None:
        """POST one event, after the session's previous one (so they arrive in order)."""
        if previous is not None:
            await asyncio.wait({previous})
        if self._last_webhook.get(session.id) is asyncio.current_task() and not session.is_live:
            self._last_webhook.pop(session.id, None)
        url = session.spec.callback_url
        if url is None:
            return
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT))
        body = {
            "type": "session_lifecycle",
            "event": event,
            "session_id": str(session.id),
            "when": utcnow().isoformat(),
        }
        try:
            async with self._http.post(url, json=body, allow_redirects=False) as response:
                if response.status >= 400:
                    session.log(f"callback_url answered {response.status} to {event}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The URL may carry a token: log only that it failed and why.
            session.log(f"callback_url unreachable for {event}: {type(exc).__name__}")

    def _forget_old_dead(self) -> None:
        dead = [s for s in self.sessions.values() if not s.is_live]
        for session in sorted(dead, key=lambda s: s.created_at)[:-DEAD_KEPT]:
            self.sessions.pop(session.id, None)
