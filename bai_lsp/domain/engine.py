"""The domain's front door, driven by the LSP handlers or by ``bai-lsp run``: a thin façade
over the settings store (``settings.py``), new runs (``execution.py``), re-attached runs
(``reattach.py``), sessions (``workspaces.py``) and the run log (``runlog.py``).

Each run is owned by a ``RunSupervisor`` (``supervisor.py``); see docs/architecture.md for
the path of one run from the editor to the kernel and back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain import documents
from bai_lsp.domain.backend import Backend, translate
from bai_lsp.domain.diagnostics import DiagnosticsTracker
from bai_lsp.domain.embedded import STATE_FILE
from bai_lsp.domain.errors import CancelledByUserError, DomainError
from bai_lsp.domain.events import RunResult, SessionList, SessionStatus, SessionSummary
from bai_lsp.domain.execution import RunDetachedError, Runs, SourceDocument
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.inputs import InputBroker
from bai_lsp.domain.launcher import LaunchChoice, LaunchChoices
from bai_lsp.domain.live import Live
from bai_lsp.domain.reattach import Reattacher
from bai_lsp.domain.runlog import RunList, RunLog, RunReplay
from bai_lsp.domain.settings import GLOBAL, Settings, SettingsStore
from bai_lsp.domain.supervisor import RunServices, Supervisors
from bai_lsp.domain.workspaces import ComputeSession, Workspaces

log = logging.getLogger(__name__)


@attrs.frozen
class SessionTarget:
    """Which session a ``backendai.session.*`` command means: a folder and a language."""

    folder_uri: str
    language_id: str = ""


class Engine:
    def __init__(self, frontend: Frontend, workspaces: Workspaces, state_dir: Path) -> None:
        self._frontend = frontend
        self.state_dir = state_dir
        self.workspaces = workspaces
        #: ``prepare`` was asked for while the settings were invalid.
        self._prepare_pending = False
        #: Launcher choices (``backendai.session.configure``): the topmost settings layer.
        self.launch_choices = LaunchChoices(self.state_dir)
        self.settings = SettingsStore(
            frontend.show_message, self._settings_valid, self.launch_choices
        )
        #: Runtime errors as diagnostics; the transport sets its ``publisher``.
        self.diagnostics = DiagnosticsTracker()
        self.runlog = RunLog(self.state_dir / "runs")
        services = RunServices(
            frontend=frontend,
            workspaces=workspaces,
            broker=InputBroker(frontend, workspaces),
            runlog=self.runlog,
            diagnostics=self.diagnostics,
            state_dir=state_dir,
        )
        self.runs = Runs(services, Supervisors())
        self.reattacher = Reattacher(services, self.runs, self.settings_for)
        #: Completion, hover, variables and data preview from the live session (live.py).
        self.live = Live(self.workspaces, self.settings_for)

    # --- settings -----------------------------------------------------------------------

    def set_initialization_options(self, options: Any) -> None:
        self.settings.set_initialization_options(options)

    def set_configuration(self, global_config: Any, per_folder: dict[str, Any]) -> None:
        self.settings.set_configuration(global_config, per_folder)

    def settings_for(self, folder: str) -> Settings:
        return self.settings.settings_for(folder)

    async def choose(self, folder: str, choice: LaunchChoice) -> Settings:
        """Store a launcher choice for ``folder``; its settings from now on."""
        await self.launch_choices.set(folder, choice)
        self.settings.revalidate()
        return self.settings_for(folder)

    def _settings_valid(self) -> None:
        if self._prepare_pending:
            self.prepare()

    def prepare(self) -> None:
        """Get the embedded gateway ready in the background, so the first run does not wait
        for it: a private one is started (it dies with us), a shared one only reconnected to
        if it already runs (opening an editor alone never leaves a process behind). Then
        re-attach the runs an earlier server left going on their sessions. Nothing leaves
        the machine before the user asks, unless the run log holds a run to re-attach."""
        settings = self.settings.valid_global()
        if settings is None:
            self._prepare_pending = True  # once the settings are fixed
            return
        self._prepare_pending = False
        self.runs.spawn(self._start_up(settings))

    async def _start_up(self, settings: Settings) -> None:
        conn: Backend | None = None
        if settings.embedded and (
            settings.on_exit == "destroy" or (self.state_dir / STATE_FILE).exists()
        ):
            try:
                conn = await self.workspaces.connection(settings)
            except Exception:
                log.info("could not start the embedded gateway ahead of time", exc_info=True)
                return
        try:
            await self.reattacher.reattach(settings, conn)
        except Exception:
            log.exception("could not re-attach the runs left going by an earlier bai-lsp")

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
        return await self.runs.start(doc, settings, mode, code, region)

    def send_input(self, run_id: str, text: str) -> None:
        self.runs.send_input(run_id, text)

    async def interrupt(self, folder: str, uri: str) -> None:
        await self.runs.interrupt(folder)

    async def runs_list(self, uri: str | None) -> RunList:
        return await self.runlog.list(uri)

    async def runs_replay(self, run_id: str) -> RunReplay:
        return await self.runlog.replay(run_id)

    # --- sessions -----------------------------------------------------------------------

    def session_of(self, target: SessionTarget) -> tuple[ComputeSession, Settings]:
        """The session ``target`` means (the one its runs, terminals and apps use)."""
        settings = self.settings_for(target.folder_uri)
        image = (
            settings.image_for(target.language_id) if target.language_id else settings.primary_image
        )
        return self.workspaces.session_for(target.folder_uri, image, settings), settings

    async def session_start(self, target: SessionTarget) -> SessionStatus:
        session, settings = self.session_of(target)
        await self.workspaces.ensure(session, settings)
        return session.snapshot()

    async def session_restart(self, target: SessionTarget) -> SessionStatus:
        return await self.workspaces.restart(*self.session_of(target))

    async def session_destroy(self, target: SessionTarget) -> SessionStatus:
        return await self.workspaces.destroy(*self.session_of(target))

    async def session_status(self, target: SessionTarget) -> SessionStatus:
        return await self.workspaces.refresh(*self.session_of(target))

    async def session_list(self) -> SessionList:
        settings = self.settings_for(GLOBAL)
        conn = await self.workspaces.connection(settings)
        try:
            items = await conn.list_sessions(limit=100)
        except Exception as exc:
            raise translate(exc, conn.endpoint) from None
        out: list[SessionSummary] = []
        for data in items:
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

    async def shutdown(self, *, detach: bool = True) -> None:
        """Detach the runs the backend can go on with (kept sessions), interrupt the others,
        destroy the sessions of ``onExit: destroy`` folders, close the backends and the log.

        ``detach=False`` interrupts them all (``bai-lsp run``: nobody comes back for them)."""
        self.reattacher.release_claimed()
        destroy: dict[str, bool] = {}
        for session in self.workspaces.all():
            try:
                destroy[session.workspace] = (
                    self.settings_for(session.workspace).on_exit == "destroy"
                )
            except DomainError:
                destroy[session.workspace] = False
        await self.runs.stop_all(detach=detach, destroy=destroy)
        await self.workspaces.close(destroy)
        await self.runlog.close()


def _position(value: Any) -> documents.Position:
    return documents.Position(int(value.line), int(value.character))


def _range(value: Any) -> documents.Range:
    return documents.Range(_position(value.start), _position(value.end))


__all__ = [
    "CancelledByUserError",
    "Engine",
    "RunDetachedError",
    "SessionTarget",
    "SourceDocument",
]
