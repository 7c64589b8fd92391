"""The domain's front door: settings, runs and sessions, driven by the LSP handlers or by
``bai-lsp run``.

Runs execute as tasks owned here, not by the request that asked for them: a cancelled
request interrupts its run instead of abandoning it mid-stream, and runs of one session
queue in order while runs of different workspaces proceed in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from bai_lsp.domain import documents
from bai_lsp.domain.backend import is_not_found, translate
from bai_lsp.domain.batch import UploadPlan, batch_options, select_files
from bai_lsp.domain.diagnostics import DiagnosticsTracker, RunOrigin
from bai_lsp.domain.embedded import STATE_FILE, default_state_dir
from bai_lsp.domain.errors import (
    CancelledByUserError,
    DomainError,
    InvalidSettingsError,
    NoSessionError,
    UnknownRunError,
)
from bai_lsp.domain.events import (
    Record,
    RunFinished,
    RunResult,
    RunStarted,
    SessionList,
    SessionStatus,
    SessionSummary,
)
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.reconnect import rest_run
from bai_lsp.domain.runlog import RunList, RunLog, RunReplay
from bai_lsp.domain.runs import Run, SessionGone, stream_run
from bai_lsp.domain.settings import (
    Settings,
    SettingsError,
    environment_layer,
    merge_layers,
    parse_settings,
)
from bai_lsp.domain.workspaces import ComputeSession, Workspaces

log = logging.getLogger(__name__)

GLOBAL = ""


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


@attrs.frozen
class SessionTarget:
    """Which session a ``backendai.session.*`` command means: a folder and a language."""

    folder_uri: str
    language_id: str = ""


#: Settings that decide where code and credentials go: a workspace folder's own settings
#: cannot change them (``Engine._folder_layer``, docs/security.md).
PROTECTED_KEYS = ("endpoint", "endpointType", "accessKey", "secretKey")


class Engine:
    def __init__(self, frontend: Frontend, state_dir: Path | None = None) -> None:
        self._frontend = frontend
        self.state_dir = state_dir or default_state_dir()
        self._init_options: Any = None
        self._global_config: Any = None
        self._folder_config: dict[str, Any] = {}
        self._protected_warned: dict[str, list[str]] = {}
        self._good: dict[str, Settings] = {}
        self._problems: dict[str, str] = {}
        self.workspaces = Workspaces(frontend, self.state_dir)
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Runtime errors as diagnostics; the transport sets its ``publisher``.
        self.diagnostics = DiagnosticsTracker()
        self.runlog = RunLog(self.state_dir / "runs")

    # --- settings -----------------------------------------------------------------------

    def set_initialization_options(self, options: Any) -> None:
        self._init_options = (
            options.get("backendai", options) if isinstance(options, dict) else options
        )
        self._revalidate()

    def set_configuration(self, global_config: Any, per_folder: dict[str, Any]) -> None:
        self._global_config = global_config
        self._folder_config = dict(per_folder)
        self._revalidate()

    def _layers(self, folder: str) -> list[Any]:
        layers: list[Any] = [environment_layer(), self._init_options, self._global_config]
        if folder != GLOBAL:
            layers.append(self._folder_layer(folder, layers))
        return layers

    def _folder_layer(self, folder: str, lower: list[Any]) -> Any:
        """A workspace folder's own settings minus where code and credentials go.

        A project's settings file is written by whoever wrote the project: it must not
        send the user's code, keypair or password elsewhere (docs/security.md). Those keys
        are taken from the environment, ``initializationOptions`` and the unscoped section
        only; a folder value that differs is ignored and the user is told once.
        """
        scoped = self._folder_config.get(folder)
        if not isinstance(scoped, dict):
            return scoped
        effective = merge_layers(lower)
        ignored = [
            key
            for key in PROTECTED_KEYS
            if scoped.get(key) is not None and scoped.get(key) != effective.get(key)
        ]
        if ignored and self._protected_warned.get(folder) != ignored:
            self._protected_warned[folder] = ignored
            names = ", ".join(f"backendai.{key}" for key in ignored)
            self._frontend.show_message(
                "warning",
                f"bai-lsp ignored {names} from the settings of the workspace folder {folder}: "
                "the endpoint and credentials are only taken from your user settings (or the "
                "editor's initialization options), so that a project cannot send your code "
                "or keys elsewhere. Set them in your user settings to change them.",
            )
        return {k: v for k, v in scoped.items() if k not in PROTECTED_KEYS}

    def _revalidate(self) -> None:
        shown: set[str] = set()
        for folder in [GLOBAL, *self._folder_config]:
            try:
                self._good[folder] = parse_settings(self._layers(folder))
                self._problems.pop(folder, None)
            except SettingsError as exc:
                text = "; ".join(exc.problems)
                if self._problems.get(folder) == text or text in shown:
                    continue
                self._problems[folder] = text
                shown.add(text)
                keeping = (
                    "Keeping the previous settings."
                    if folder in self._good or GLOBAL in self._good
                    else "Runs need valid settings."
                )
                self._frontend.show_message("error", f"Invalid bai-lsp settings: {text}. {keeping}")

    def settings_for(self, folder: str) -> Settings:
        settings = self._good.get(folder) if folder in self._folder_config else None
        settings = settings or self._good.get(GLOBAL)
        if settings is None:
            if GLOBAL not in self._problems and folder not in self._problems:
                self._revalidate()
                return self.settings_for(folder) if GLOBAL in self._good else self._fail(folder)
            return self._fail(folder)
        return settings

    def _fail(self, folder: str) -> Settings:
        problem = self._problems.get(folder) or self._problems.get(GLOBAL) or "unknown problem"
        raise InvalidSettingsError(f"The bai-lsp settings are invalid: {problem}")

    def prepare(self) -> None:
        """Get the embedded gateway ready in the background, so the first run does not wait
        for it: a private one is started (it dies with us), a shared one only reconnected to
        if it already runs (opening an editor alone never leaves a process behind). Nothing
        leaves the machine before the user asks."""
        settings = self._good.get(GLOBAL)
        if settings is None or not settings.embedded:
            return
        if settings.on_exit == "keep" and not (self.state_dir / STATE_FILE).exists():
            return
        task = asyncio.ensure_future(self._prewarm(settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prewarm(self, settings: Settings) -> None:
        try:
            await self.workspaces.connection(settings)
        except Exception:
            log.info("could not start the embedded gateway ahead of time", exc_info=True)

    # --- runs ---------------------------------------------------------------------------

    async def run_selection(self, doc: SourceDocument, rng: Any) -> RunResult:
        snippet = documents.selection(doc.text, _range(rng), doc.encoding)
        return await self._run(doc, "query", snippet.code, (snippet.start_line, snippet.end_line))

    async def run_cell(self, doc: SourceDocument, position: Any) -> RunResult:
        snippet = documents.cell(doc.text, _position(position), doc.language_id, doc.encoding)
        return await self._run(doc, "query", snippet.code, (snippet.start_line, snippet.end_line))

    async def run_file(self, doc: SourceDocument, mode: str = "query") -> RunResult:
        return await self._run(doc, mode, doc.text)

    async def _run(
        self, doc: SourceDocument, mode: str, code: str, region: tuple[int, int] | None = None
    ) -> RunResult:
        settings = self.settings_for(doc.folder_uri)
        session = self.workspaces.session_for(
            doc.folder_uri, settings.image_for(doc.language_id), settings
        )
        run = Run(uri=doc.uri, mode=mode, code=code, session=session)
        self._runs[run.id] = run
        start, end = region if region else (0, None)
        self.diagnostics.begin(
            run.id,
            RunOrigin(doc.uri, doc.text, doc.path, doc.folder_path, mode, start, end, doc.encoding),
        )
        task = asyncio.ensure_future(self._execute(run, doc, settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                interrupt = asyncio.ensure_future(run.interrupt())
                self._tasks.add(interrupt)
                interrupt.add_done_callback(self._tasks.discard)
            raise

    async def _execute(self, run: Run, doc: SourceDocument, settings: Settings) -> RunResult:
        session = run.session
        try:
            async with session.run_lock:
                if run.interrupted:
                    return run.result("interrupted", None, "Interrupted before it started.")
                return await self._execute_locked(run, doc, settings)
        finally:
            self._runs.pop(run.id, None)
            self.diagnostics.discard(run.id)

    async def _execute_locked(self, run: Run, doc: SourceDocument, settings: Settings) -> RunResult:
        session = run.session
        run.client, run.ref = await self.workspaces.ensure(session, settings)
        conn = await self.workspaces.connection(settings)
        notes: list[Record] = []
        if run.mode == "batch":
            try:
                notes = await self._upload(run, doc, settings)
            except Exception as exc:
                if not is_not_found(exc):
                    raise translate(exc, conn.endpoint) from None
                await self.workspaces.lost(session, settings)
                run.client, run.ref = await self.workspaces.ensure(session, settings)
                notes = await self._upload(run, doc, settings)
        run.started = time.monotonic()  # durationMs counts the run, not its queueing
        started = RunStarted(run.id, run.uri, run.mode, session.name)
        self.runlog.started(started)
        self._frontend.run_started(started)
        output = RunOutput(
            run.id,
            self.runlog.sink(run.id, self.diagnostics.sink(run.id, self._frontend.output)),
            settings.output,
            self.state_dir / "output",
        )
        run.active = True
        self.workspaces.set_status(session, "busy")
        result: RunResult | None = None
        try:
            if notes:
                await output.feed(notes)
            for attempt in (1, 2):
                try:
                    execute = rest_run if settings.run_transport == "rest" else stream_run
                    result = await execute(
                        run, output, self._frontend, self.workspaces, conn.endpoint
                    )
                    break
                except SessionGone:
                    if attempt == 2:
                        raise NoSessionError(f"Session {session.name} disappeared again.") from None
                    message = await self.workspaces.lost(session, settings)
                    await output.feed([Record("stderr", text=f"[bai-lsp] {message}\n")])
                    run.client, run.ref = await self.workspaces.ensure(session, settings)
                    if run.mode == "batch":
                        await self._upload(run, doc, settings)
                    self.workspaces.set_status(session, "busy")
        except DomainError as exc:
            result = run.result("failed", None, exc.message)
        except Exception as exc:
            result = run.result("failed", None, translate(exc, conn.endpoint).message)
        finally:
            run.active = False
            summary = await output.close()
            final = result or run.result("interrupted" if run.interrupted else "failed", None)
            finished = RunFinished(
                run_id=final.run_id,
                status=final.status,
                exit_code=final.exit_code,
                duration_ms=final.duration_ms,
                uri=run.uri,
                output_file=summary.output_file,
                message=final.message,
            )
            self.runlog.finished(finished)
            self._frontend.run_finished(finished)
            _notify_long_run(self._frontend, settings, finished, session.name)
            if session.status in ("busy", "waiting-input"):
                self.workspaces.set_status(session, "idle")
            try:
                await self.diagnostics.finish(run.id, final.status)
            except Exception:
                log.exception("could not turn run %s's errors into diagnostics", run.id)
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
        async with self._frontend.progress(f"Uploading {len(plan.files)} files") as bar:
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

    def send_input(self, run_id: str, text: str) -> None:
        run = self._runs.get(run_id)
        if run is None or not run.answer(text):
            raise UnknownRunError(f"No run with id {run_id!r} is waiting for input.")

    async def interrupt(self, folder: str, uri: str) -> None:
        sessions = self.workspaces.existing(folder)
        if not sessions:
            raise NoSessionError(
                "No Backend.AI session is running for this workspace yet; there is nothing "
                "to interrupt."
            )
        runs = [r for r in self._runs.values() if r.session in sessions]
        for run in sorted(runs, key=lambda r: not r.active):  # queued ones first
            try:
                await run.interrupt()
            except Exception as exc:
                raise translate(exc, "the backend") from None

    # --- run log ------------------------------------------------------------------------

    async def runs_list(self, uri: str | None) -> RunList:
        return await self.runlog.list(uri)

    async def runs_replay(self, run_id: str) -> RunReplay:
        return await self.runlog.replay(run_id)

    # --- sessions -----------------------------------------------------------------------

    def _target(self, target: SessionTarget) -> tuple[ComputeSession, Settings]:
        settings = self.settings_for(target.folder_uri)
        image = (
            settings.image_for(target.language_id) if target.language_id else settings.primary_image
        )
        return self.workspaces.session_for(target.folder_uri, image, settings), settings

    async def session_start(self, target: SessionTarget) -> SessionStatus:
        session, settings = self._target(target)
        await self.workspaces.ensure(session, settings)
        return session.snapshot()

    async def session_restart(self, target: SessionTarget) -> SessionStatus:
        session, settings = self._target(target)
        return await self.workspaces.restart(session, settings)

    async def session_destroy(self, target: SessionTarget) -> SessionStatus:
        session, settings = self._target(target)
        return await self.workspaces.destroy(session, settings)

    async def session_status(self, target: SessionTarget) -> SessionStatus:
        session, settings = self._target(target)
        return await self.workspaces.refresh(session, settings)

    async def session_list(self) -> SessionList:
        settings = self.settings_for(GLOBAL)
        conn = await self.workspaces.connection(settings)
        try:
            page = await conn.client.list_sessions(limit=100)
        except Exception as exc:
            raise translate(exc, conn.endpoint) from None
        items = getattr(page, "items", page) or []
        out: list[SessionSummary] = []
        for item in items:
            data = item if isinstance(item, dict) else attrs.asdict(item)
            name = str(data.get("name") or data.get("session_name") or "")
            known = self.workspaces.by_name(name)
            out.append(
                SessionSummary(
                    name=name,
                    status=str(data.get("status", "")),
                    image=str(data.get("image", "")),
                    workspace=known.workspace if known else None,
                )
            )
        return SessionList(out)

    # --- lifecycle ----------------------------------------------------------------------

    async def shutdown(self) -> None:
        for run in list(self._runs.values()):
            try:
                await asyncio.wait_for(run.interrupt(), 2)
            except Exception:
                log.debug("interrupt at shutdown failed", exc_info=True)
        destroy = {}
        for session in self.workspaces.all():
            try:
                destroy[session.workspace] = (
                    self.settings_for(session.workspace).on_exit == "destroy"
                )
            except DomainError:
                destroy[session.workspace] = False
        await self.workspaces.close(destroy)
        await self.runlog.close()


def _notify_long_run(
    frontend: Frontend, settings: Settings, finished: RunFinished, session: str
) -> None:
    """Tell the user a long run ended: they have probably looked elsewhere meanwhile."""
    limit = settings.notify_after_seconds
    if limit <= 0 or finished.duration_ms < limit * 1000:
        return
    name = finished.uri.rsplit("/", 1)[-1] or finished.uri
    took = f"{finished.duration_ms / 1000:.0f} s"
    how = {
        "finished": f"finished (exit code {finished.exit_code})",
        "interrupted": "was interrupted",
        "timeout": "hit the backend's time limit",
    }.get(finished.status, "failed" + (f": {finished.message}" if finished.message else ""))
    level = "info" if finished.status == "finished" and finished.exit_code == 0 else "warning"
    frontend.show_message(level, f"The run of {name} on {session} {how} after {took}.")


def _position(value: Any) -> documents.Position:
    return documents.Position(int(value.line), int(value.character))


def _range(value: Any) -> documents.Range:
    return documents.Range(_position(value.start), _position(value.end))


__all__ = ["CancelledByUserError", "Engine", "SessionTarget", "SourceDocument"]
