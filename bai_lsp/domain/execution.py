"""New runs: queued per session, uploaded (batch), followed by a ``RunSupervisor``, ended;
and at shutdown, interrupted or detached.

Runs execute as tasks owned here, not by the request that asked for them: a cancelled
request interrupts its run instead of abandoning it mid-stream, and runs of one session
queue in order while runs of different workspaces proceed in parallel.

A run whose session is kept (``onExit: "keep"``) outlives the server: at shutdown it is
*detached* (its output so far drained to the editor and the run log, the run left going on
the session) and the next server re-attaches it (``reattach.py``), so the user sees the rest
of its output and its end (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from bai_lsp.domain.backend import Backend, is_not_found, translate
from bai_lsp.domain.batch import UploadPlan, batch_options, select_files
from bai_lsp.domain.diagnostics import RunOrigin
from bai_lsp.domain.errors import (
    CancelledByUserError,
    DomainError,
    NoSessionError,
    UnknownRunError,
)
from bai_lsp.domain.events import Record, RunResult, RunStarted
from bai_lsp.domain.runlog import RunContext
from bai_lsp.domain.runs import Run, SessionGone
from bai_lsp.domain.settings import Settings
from bai_lsp.domain.supervisor import RunServices, RunSupervisor, Supervisors

log = logging.getLogger(__name__)

#: How long shutdown waits for detached runs to hand over what the backend already sent
#: (a REST poll answers within the backend's ~2 s flush window).
DETACH_DRAIN_S = 5.0
#: How long shutdown waits for interrupted runs to end (so they end as ``interrupted``).
INTERRUPT_WAIT_S = 3.0


@attrs.frozen
class SourceDocument:
    """A document to run from, as the transport found it."""

    uri: str
    text: str
    language_id: str
    path: str | None
    folder_uri: str
    folder_path: str | None
    encoding: str = "utf-16"


class RunDetachedError(DomainError):
    """The server stopped while the run went on on its session; the next server follows it."""


def identity(conn: Backend) -> tuple[str, str]:
    """Which backend and keypair a run belongs to (another keypair cannot see its session)."""
    return conn.endpoint.rstrip("/"), conn.access_key


class Runs:
    """The runs of one server: started, followed, interrupted, detached at shutdown."""

    def __init__(self, services: RunServices, supervisors: Supervisors) -> None:
        self._s = services
        self.supervisors = supervisors
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task owned by the server (kept referenced, not by the request that asked)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(
        self,
        doc: SourceDocument,
        settings: Settings,
        mode: str,
        code: str,
        region: tuple[int, int] | None = None,
    ) -> RunResult:
        session = self._s.workspaces.session_for(
            doc.folder_uri, settings.image_for(doc.language_id), settings
        )
        run = Run(uri=doc.uri, mode=mode, code=code, session=session)
        supervisor = self.supervisors.add(RunSupervisor(run, self._s))
        start, end = region if region else (0, None)
        self._s.diagnostics.begin(
            run.id,
            RunOrigin(doc.uri, doc.text, doc.path, doc.folder_path, mode, start, end, doc.encoding),
        )
        task = supervisor.task = self.spawn(self._execute(supervisor, doc, settings))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self.spawn(run.interrupt())
            raise

    async def _execute(
        self, supervisor: RunSupervisor, doc: SourceDocument, settings: Settings
    ) -> RunResult:
        run = supervisor.run
        try:
            async with run.session.run_lock:
                if run.interrupted:
                    return run.result("interrupted", None, "Interrupted before it started.")
                return await self._execute_locked(supervisor, doc, settings)
        finally:
            self.supervisors.remove(run.id)
            self._s.diagnostics.discard(run.id)

    async def _execute_locked(
        self, supervisor: RunSupervisor, doc: SourceDocument, settings: Settings
    ) -> RunResult:
        run, workspaces = supervisor.run, self._s.workspaces
        session = run.session
        run.client, run.ref = await workspaces.ensure(session, settings)
        conn = await workspaces.connection(settings)
        notes: list[Record] = []
        if run.mode == "batch":
            try:
                notes = await self._upload(run, doc, settings)
            except Exception as exc:
                if not is_not_found(exc):
                    raise translate(exc, conn.endpoint) from None
                await workspaces.lost(session, settings)
                run.client, run.ref = await workspaces.ensure(session, settings)
                notes = await self._upload(run, doc, settings)
        run.started = time.monotonic()  # durationMs counts the run, not its queueing
        started = RunStarted(run.id, run.uri, run.mode, session.name)
        self._s.runlog.started(
            started,
            RunContext(
                endpoint=conn.endpoint,
                access_key=identity(conn)[1],
                folder=doc.folder_uri,
                session_ref=run.ref or session.name,
                image=session.image,
                language=doc.language_id,
                transport=settings.run_transport,
                embedded=settings.embedded,
            ),
            code=run.code,
        )
        self._s.frontend.run_started(started)
        output = supervisor.new_output(settings, diagnostics=True)
        run.active = True
        workspaces.set_status(session, "busy")
        result: RunResult | None = None
        detached = False
        try:
            if notes:
                await output.feed(notes)
            for attempt in (1, 2):
                try:
                    result = await supervisor.follow(settings.run_transport, conn.endpoint)
                    detached = result is None
                    break
                except SessionGone:
                    if attempt == 2:
                        raise NoSessionError(f"Session {session.name} disappeared again.") from None
                    message = await workspaces.lost(session, settings)
                    await supervisor.note(f"[bai-lsp] {message}\n")
                    run.client, run.ref = await workspaces.ensure(session, settings)
                    if run.mode == "batch":
                        await self._upload(run, doc, settings)
                    workspaces.set_status(session, "busy")
        except DomainError as exc:
            result = run.result("failed", None, exc.message)
        except Exception as exc:
            result = run.result("failed", None, translate(exc, conn.endpoint).message)
        finally:
            result = await supervisor.finish(result, detached, settings)
        if detached:
            raise RunDetachedError(
                f"bai-lsp stopped while this run was going on. It goes on on session "
                f"{session.name}; the next bai-lsp started for this workspace re-attaches to it "
                "and shows the rest of its output."
            )
        assert result is not None
        return result

    async def _upload(self, run: Run, doc: SourceDocument, settings: Settings) -> list[Record]:
        """Upload the file and the selected workspace files; set the run's batch options."""
        assert run.client is not None and run.ref is not None
        folder = Path(doc.folder_path) if doc.folder_path else None
        path = Path(doc.path) if doc.path else None
        if folder is not None and path is not None and path.is_relative_to(folder):
            rel = path.relative_to(folder).as_posix()
        else:
            rel = PurePosixPath(path.name if path else "main").as_posix()
            folder = path.parent if path else None
        if folder is not None:
            plan = await asyncio.to_thread(select_files, folder, rel, doc.text, settings.batch)
        else:
            plan = UploadPlan([(rel, doc.text.encode())], [])
        run.options = batch_options(
            doc.language_id, rel, [f for f, _ in plan.files], settings.batch
        )
        client, ref = run.client, run.ref
        async with self._s.frontend.progress(f"Uploading {len(plan.files)} files") as bar:
            cancel = asyncio.ensure_future(bar.wait_cancelled())
            try:
                for start in range(0, len(plan.files), 20):
                    group = plan.files[start : start + 20]
                    bar.report(
                        f"{start + len(group)}/{len(plan.files)} files",
                        int(100 * (start + len(group)) / len(plan.files)),
                    )
                    upload = asyncio.ensure_future(client.upload(ref, group))
                    await asyncio.wait({upload, cancel}, return_when=asyncio.FIRST_COMPLETED)
                    if not upload.done():
                        upload.cancel()
                        raise CancelledByUserError("The batch upload was cancelled.")
                    upload.result()
            finally:
                cancel.cancel()
        return [Record("stderr", text=f"[bai-lsp] not uploaded: {line}\n") for line in plan.skipped]

    # --- input, interrupt -----------------------------------------------------------------

    def send_input(self, run_id: str, text: str) -> None:
        supervisor = self.supervisors.get(run_id)
        if supervisor is None or not supervisor.run.answer(text):
            raise UnknownRunError(f"No run with id {run_id!r} is waiting for input.")

    async def interrupt(self, folder: str) -> None:
        sessions = self._s.workspaces.existing(folder)
        if not sessions:
            raise NoSessionError(
                "No Backend.AI session is running for this workspace yet; there is nothing "
                "to interrupt."
            )
        supervisors = self.supervisors.of_sessions(sessions)
        for supervisor in sorted(supervisors, key=lambda s: not s.run.active):  # queued first
            try:
                await supervisor.interrupt()
            except Exception as exc:
                raise translate(exc, "the backend") from None

    # --- shutdown -------------------------------------------------------------------------

    async def stop_all(self, *, detach: bool, destroy: dict[str, bool]) -> None:
        """Detach the active runs of kept sessions that the backend can resume (REST runs,
        and streamed runs whose backend numbers its frames); interrupt every other run.

        ``detach=False`` interrupts them all (``bai-lsp run``: nobody comes back for them)."""
        supervisors = list(self.supervisors)
        detached = [
            s
            for s in supervisors
            if detach and not destroy.get(s.run.session.workspace, False) and s.detachable()
        ]
        others = [s for s in supervisors if s not in detached]
        for supervisor in sorted(others, key=lambda s: s.run.active):
            try:  # queued ones first, so none starts once the running one is stopped
                await asyncio.wait_for(supervisor.interrupt(), 2)
            except Exception:
                log.debug("interrupt at shutdown failed", exc_info=True)
        stopping = [s.task for s in others if s.task is not None]
        if stopping:  # let them end as interrupted (runFinished, run log) before we close
            await asyncio.wait(stopping, timeout=INTERRUPT_WAIT_S)
        await self._detach(detached)

    async def _detach(self, supervisors: list[RunSupervisor]) -> None:
        """Stop following runs without stopping them; their output is drained to the editor
        and the run log, then each is logged ``detached`` (``RunSupervisor.finish``)."""
        if not supervisors:
            return
        for supervisor in supervisors:
            supervisor.begin_detach()
        tasks = [s.task for s in supervisors if s.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=DETACH_DRAIN_S)
        if pending:  # e.g. waiting for an input answer: no poll is under way, stop now
            for supervisor in supervisors:
                supervisor.stop_following()
            await asyncio.wait(pending, timeout=DETACH_DRAIN_S)
        for supervisor in supervisors:
            log.info(
                "run %s detached: it goes on on session %s",
                supervisor.id,
                supervisor.run.session.name,
            )
