"""Re-attaching the runs an earlier server left going on their sessions.

At start-up the run log's detached (or crashed) runs of this backend are claimed; for each,
the session is checked, then a ``RunSupervisor`` follows the run again by REST ``continue``
with its runId (asking again for an input it was waiting for), so the user sees the rest of
its output and its end. Runs whose session is gone are logged as failed, and the user is
told. A run of an unreachable backend is given back to the next start (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bai_lsp.domain.backend import Backend, is_not_found, translate
from bai_lsp.domain.embedded import read_state
from bai_lsp.domain.errors import DomainError
from bai_lsp.domain.events import RunFinished, RunResult, RunStarted
from bai_lsp.domain.execution import Runs, identity
from bai_lsp.domain.runlog import DetachedRun, RunContext
from bai_lsp.domain.runs import Run, SessionGone
from bai_lsp.domain.settings import GLOBAL, Settings
from bai_lsp.domain.supervisor import RunServices, RunSupervisor
from bai_lsp.domain.workspaces import ComputeSession, our_status

log = logging.getLogger(__name__)

CRASH_GAP = (
    "[bai-lsp] bai-lsp stopped unexpectedly during this run: around here, "
    "output may be missing or shown twice.\n"
)


class Reattacher:
    """Claims the runs left going by an earlier server and follows them again."""

    def __init__(
        self, services: RunServices, runs: Runs, settings_for: Callable[[str], Settings]
    ) -> None:
        self._s = services
        self._runs = runs
        self._settings_for = settings_for
        #: Runs claimed for re-attaching that are not followed yet (session being checked).
        self._claimed: dict[str, tuple[DetachedRun, asyncio.Task[Any]]] = {}

    async def reattach(self, settings: Settings, conn: Backend | None) -> None:
        """Follow again the runs detached at an earlier server's shutdown, on this backend.

        The runs of a shared embedded gateway that is no longer the one running have lost
        their sessions with it: they are logged as failed, and no gateway is started for
        them. A remote endpoint is contacted only when the log holds a run detached there.
        """
        runlog = self._s.runlog
        gateway = await asyncio.to_thread(read_state, self._s.state_dir)

        def orphan(ctx: RunContext) -> bool:
            return ctx.embedded and (
                gateway is None
                or (ctx.endpoint, ctx.access_key) != (gateway.endpoint, gateway.access_key)
            )

        for gone in await runlog.detached_runs(orphan, claim=True):
            self._lost(gone, "the embedded gateway that ran it has stopped")
        if conn is None:
            if settings.embedded or not settings.endpoint:
                return
            endpoint, key = settings.endpoint.rstrip("/"), settings.access_key or ""

            def configured(ctx: RunContext) -> bool:
                return not ctx.embedded and (ctx.endpoint.rstrip("/"), ctx.access_key) == (
                    endpoint,
                    key,
                )

            if not await runlog.detached_runs(configured):
                return
            conn = await self._s.workspaces.connection(settings)
        ident = identity(conn)
        mine = await runlog.detached_runs(
            lambda ctx: (ctx.endpoint.rstrip("/"), ctx.access_key) == ident, claim=True
        )
        for detached in mine:
            task = self._runs.spawn(self._reattach_run(detached, conn))
            self._claimed[detached.entry.run_id] = (detached, task)

    def release_claimed(self) -> None:
        """At shutdown: give the runs not followed yet back to the next server."""
        for detached, task in list(self._claimed.values()):
            task.cancel()
            self._release(detached)
        self._claimed.clear()

    def _lost(self, detached: DetachedRun, reason: str) -> None:
        """The run's session ended while no server followed it: log it failed, say so."""
        entry = detached.entry
        self._fail_detached(
            detached,
            f"The session {entry.session_name} ended while bai-lsp was not running ({reason});"
            " the rest of this run's output is lost.",
        )

    def _fail_detached(self, detached: DetachedRun, message: str) -> None:
        entry = detached.entry
        duration = max(0, int((detached.detached_at - entry.started_at) * 1000))
        self._s.runlog.finished(
            RunFinished(entry.run_id, "failed", 1, duration, entry.uri, message=message)
        )
        name = entry.uri.rsplit("/", 1)[-1] or entry.uri
        self._s.frontend.show_message(
            "warning", f"The run of {name} left going on {entry.session_name} failed: {message}"
        )

    def _release(self, detached: DetachedRun) -> None:
        """Give a claimed run back to the next server, as it was detached. (A run of a killed
        server keeps our claim: once we are gone it is found as crashed again.)"""
        if not detached.crashed:
            self._s.runlog.detached(
                detached.entry.run_id,
                detached.wire_seq,
                detached.resumable,
                detached.context.session_ref,
                detached.waiting_input,
            )

    async def _reattach_run(self, detached: DetachedRun, conn: Backend) -> None:
        try:
            await self._reattach_claimed(detached, conn)
        finally:
            self._claimed.pop(detached.entry.run_id, None)

    async def _reattach_claimed(self, detached: DetachedRun, conn: Backend) -> None:
        ctx, entry = detached.context, detached.entry
        workspaces = self._s.workspaces
        try:
            settings = self._settings_for(ctx.folder)
        except DomainError:
            settings = self._settings_for(GLOBAL)
        session = workspaces.session_for(ctx.folder, ctx.image, settings)
        if session.name != entry.session_name:  # sessionName changed since: follow it alone
            session = ComputeSession(workspace=ctx.folder, name=entry.session_name, image=ctx.image)
        ref = ctx.session_ref or entry.session_name
        if detached.crashed and ctx.transport != "rest" and not detached.resumable:
            self._fail_detached(
                detached,
                "bai-lsp stopped unexpectedly during this streamed run, and the backend "
                "cannot resume it (it interrupts a streamed run when its connection closes). "
                "Its output up to then is kept.",
            )
            return
        async with session.run_lock:  # the user's next run on this session queues behind it
            try:
                info = await conn.session_info(ref)
            except Exception as exc:
                if is_not_found(exc):
                    self._lost(detached, "it no longer exists on the backend")
                    return
                # the backend is unreachable now: leave the run for the next start
                self._release(detached)
                self._s.frontend.show_message(
                    "warning",
                    f"bai-lsp could not re-attach the run left going on {entry.session_name}: "
                    f"{translate(exc, conn.endpoint).message} It tries again when it starts next.",
                )
                return
            if our_status(str(info.get("status", ""))) in ("terminated", "error"):
                self._lost(detached, "the backend reports it ended")
                return
            async with session.start_lock:  # adopt it as the folder's session
                session.ref = ref
                session.backend = workspaces.key(settings)
            run = Run(
                uri=entry.uri,
                mode=entry.mode,
                code="",
                session=session,
                id=entry.run_id,
                attached=True,
                resumable=detached.resumable,
                wire_seq=detached.wire_seq,
            )
            run.client, run.ref = conn, ref
            run.started = time.monotonic() - max(0.0, time.time() - entry.started_at)
            claimed = self._claimed.pop(run.id, None)  # from now on shutdown handles it
            supervisor = self._runs.supervisors.add(RunSupervisor(run, self._s))
            supervisor.task = claimed[1] if claimed else asyncio.current_task()
            try:
                await self._follow(supervisor, detached, settings, conn)
            finally:
                self._runs.supervisors.remove(run.id)

    async def _follow(
        self, supervisor: RunSupervisor, detached: DetachedRun, settings: Settings, conn: Backend
    ) -> None:
        run, frontend = supervisor.run, self._s.frontend
        session = run.session
        self._s.runlog.resumed(detached)
        supervisor.progress.done = detached.wire_seq
        frontend.run_started(RunStarted(run.id, run.uri, run.mode, session.name, reattached=True))
        name = run.uri.rsplit("/", 1)[-1] or run.uri
        frontend.show_message(
            "info",
            f"Re-attached to the run of {name} on {session.name}: it went on while bai-lsp was "
            "not running; its output continues.",
        )
        supervisor.new_output(settings, diagnostics=False)
        run.active = True
        self._s.workspaces.set_status(session, "busy")
        result: RunResult | None = None
        detached_again = False
        try:
            if detached.crashed:
                await supervisor.note(CRASH_GAP)
            if detached.waiting_input is not None and not await supervisor.input_again(
                detached.waiting_input
            ):
                detached_again = True  # stopped again before the user answered
            else:
                result = await supervisor.follow("rest", conn.endpoint)
                detached_again = result is None
        except SessionGone:
            message = (
                f"The session {session.name} no longer knows this run (it ended while bai-lsp "
                "was not running); the rest of its output is lost."
            )
            result = run.result("failed", None, message)
        except DomainError as exc:
            result = run.result("failed", None, exc.message)
        except Exception as exc:
            result = run.result("failed", None, translate(exc, conn.endpoint).message)
        finally:
            await supervisor.finish(result, detached_again, settings)
