"""The domain's front door: settings, runs and sessions, driven by the LSP handlers or by
``bai-lsp run``.

Runs execute as tasks owned here, not by the request that asked for them: a cancelled
request interrupts its run instead of abandoning it mid-stream, and runs of one session
queue in order while runs of different workspaces proceed in parallel.

A run whose session is kept (``onExit: "keep"``) outlives the server: at shutdown it is
*detached* (its output so far drained to the editor and the run log, the run left going on
the session) and the next server re-attaches it (REST ``continue`` with its runId), so the
user sees the rest of its output and its end (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path, PurePosixPath
from typing import Any, cast

import attrs

from bai_lsp.domain import documents
from bai_lsp.domain.backend import Backend, is_not_found, translate
from bai_lsp.domain.batch import UploadPlan, batch_options, select_files
from bai_lsp.domain.diagnostics import DiagnosticsTracker, RunOrigin
from bai_lsp.domain.embedded import STATE_FILE, _read_state, default_state_dir
from bai_lsp.domain.errors import (
    CancelledByUserError,
    DomainError,
    InvalidSettingsError,
    NoSessionError,
    UnknownRunError,
)
from bai_lsp.domain.events import (
    InputRequest,
    Record,
    RunFinished,
    RunResult,
    RunStarted,
    SessionList,
    SessionStatus,
    SessionSummary,
)
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.launcher import LaunchChoice, LaunchChoices
from bai_lsp.domain.live import Live
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.reconnect import rest_run
from bai_lsp.domain.runlog import DetachedRun, RunContext, RunList, RunLog, RunReplay
from bai_lsp.domain.runs import Run, SessionGone, _from_client, stream_run
from bai_lsp.domain.settings import (
    Settings,
    SettingsError,
    environment_layer,
    merge_layers,
    parse_settings,
)
from bai_lsp.domain.workspaces import ComputeSession, Connection, Workspaces, our_status

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


#: How long shutdown waits for detached runs to hand over what the backend already sent
#: (a REST poll answers within the backend's ~2 s flush window).
DETACH_DRAIN_S = 5.0
#: How long shutdown waits for interrupted runs to end (so they end as ``interrupted``).
INTERRUPT_WAIT_S = 3.0


class RunDetachedError(DomainError):
    """The server stopped while the run went on on its session; the next server follows it."""


class _Detaching(Exception):
    """Raised instead of sending the next REST poll of a run being detached."""


@attrs.define
class _Progress:
    """Which backend answers of a run have all their records in the run log.

    Each logged output batch carries ``ws``: every record of the answers numbered up to
    ``ws`` is in that batch or an earlier one. After a crash the next server asks the
    backend again from there (``ack``), so the log neither loses nor repeats a record.
    """

    #: Every record of answers up to this number has been logged.
    done: int = 0
    #: The answer whose records are being fed (0: none yet / not numbered).
    inflight: int = 0

    def ws(self, run: Run, output: RunOutput | None) -> int | None:
        # A batch that leaves nothing queued behind it completes the answer being fed.
        whole = output is not None and getattr(output, "pending_chars", 1) == 0
        if self.inflight:
            return self.inflight if whole else self.done
        if run.resumable:  # a streamed run: its last frame whose feed completed, so a
            # batch cut out of that frame's feed says one less (repeated, never lost)
            return run.wire_seq if whole else max(run.wire_seq - 1, 0)
        return self.done or None


class _DetachableClient:
    """The client as a REST run sees it. Once ``stopping()`` says the run is being detached,
    the next poll is not sent; a poll already under way is answered and its output fed as
    usual, so nothing the backend handed out is lost.

    When the backend numbers its answers, it also keeps the run log able to resume after a
    crash (``_Progress``): before an answer is handed on, the output of earlier ones is
    flushed, and before the next poll acknowledges it to the backend (which then forgets
    it), its records are on disk."""

    def __init__(
        self,
        client: Any,
        stopping: Callable[[], bool],
        output: RunOutput,
        progress: _Progress,
        written: Callable[[], Awaitable[None]],
    ) -> None:
        self._client = client
        self._stopping = stopping
        self._output = output
        self._progress = progress
        self._written = written
        self.tripped = False

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self._progress.inflight:
            await self._output.drain()
            await self._written()
        if self._stopping():
            self.tripped = True
            raise _Detaching()
        result = await self._client.execute(*args, **kwargs)
        seq = getattr(result, "seq", None)
        if isinstance(seq, int):
            await self._output.drain()
            if self._progress.inflight:
                self._progress.done = self._progress.inflight
            self._progress.inflight = seq
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _RunFrontend:
    """The front end as one run sees it: remembers the input request it last sent, so a run
    detached while waiting for input can be asked again by the next server."""

    def __init__(self, frontend: Frontend, asked: Callable[[InputRequest], None]) -> None:
        self._frontend = frontend
        self._asked = asked

    async def ask_input(self, request: InputRequest) -> str | None:
        self._asked(request)
        return await self._frontend.ask_input(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._frontend, name)


#: Settings that decide where code and credentials go: a workspace folder's own settings
#: cannot change them (``Engine._folder_layer``, docs/security.md).
PROTECTED_KEYS = ("endpoint", "endpointType", "accessKey", "secretKey")


class Engine:
    def __init__(self, frontend: Frontend, state_dir: Path | None = None) -> None:
        self._frontend = frontend
        self.state_dir = state_dir or default_state_dir()
        self._init_options: Any = None
        #: ``prepare`` was asked for while the settings were invalid.
        self._prepare_pending = False
        self._global_config: Any = None
        self._folder_config: dict[str, Any] = {}
        self._protected_warned: dict[str, list[str]] = {}
        self._good: dict[str, Settings] = {}
        self._problems: dict[str, str] = {}
        self.workspaces = Workspaces(frontend, self.state_dir)
        #: Launcher choices (``backendai.session.configure``): the topmost settings layer.
        self.launch_choices = LaunchChoices(self.state_dir)
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Runtime errors as diagnostics; the transport sets its ``publisher``.
        self.diagnostics = DiagnosticsTracker()
        self.runlog = RunLog(self.state_dir / "runs")
        #: Completion, hover, variables and data preview from the live session (live.py).
        self.live = Live(self.workspaces, self.settings_for)
        #: The task following each started or queued run (command runs and re-attached ones).
        self._run_tasks: dict[str, asyncio.Task[Any]] = {}
        #: The task of the transport call (``rest_run``/``stream_run``) of each active run.
        self._executing: dict[str, asyncio.Task[RunResult]] = {}
        self._transports: dict[str, str] = {}
        self._clients: dict[str, _DetachableClient] = {}
        self._outputs: dict[str, RunOutput] = {}
        self._asked: dict[str, InputRequest] = {}
        #: ``(prompt, password)`` of detached runs that were waiting for input.
        self._waiting: dict[str, tuple[str, bool]] = {}
        #: Runs being detached because the server stops.
        self._detaching: set[str] = set()
        #: Which backend answers' records are all in the run log, per run (``ws``).
        self._progress: dict[str, _Progress] = {}
        #: Runs claimed for re-attaching that are not followed yet (session being checked).
        self._claimed: dict[str, DetachedRun] = {}

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
            layers.append(self.launch_choices.layer(folder))
        return layers

    def choose(self, folder: str, choice: LaunchChoice) -> Settings:
        """Store a launcher choice for ``folder``; its settings from now on."""
        self.launch_choices.set(folder, choice)
        self._revalidate()
        return self.settings_for(folder)

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
        for folder in [GLOBAL, *self._folder_config, *self.launch_choices.folders()]:
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
        if self._prepare_pending and GLOBAL in self._good:
            self.prepare()

    def settings_for(self, folder: str) -> Settings:
        scoped = folder in self._folder_config or self.launch_choices.get(folder) is not None
        settings = self._good.get(folder) if scoped else None
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
        if it already runs (opening an editor alone never leaves a process behind). Then
        re-attach the runs an earlier server left going on their sessions. Nothing leaves
        the machine before the user asks, unless the run log holds a run to re-attach."""
        settings = self._good.get(GLOBAL)
        if settings is None:
            self._prepare_pending = True  # once the settings are fixed (``_revalidate``)
            return
        self._prepare_pending = False
        self._spawn(self._start_up(settings))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _start_up(self, settings: Settings) -> None:
        conn: Connection | None = None
        if settings.embedded and (
            settings.on_exit == "destroy" or (self.state_dir / STATE_FILE).exists()
        ):
            try:
                conn = await self.workspaces.connection(settings)
            except Exception:
                log.info("could not start the embedded gateway ahead of time", exc_info=True)
                return
        try:
            await self._reattach(settings, conn)
        except Exception:
            log.exception("could not re-attach the runs left going by an earlier bai-lsp")

    # --- re-attaching runs an earlier server left going -----------------------------------

    async def _reattach(self, settings: Settings, conn: Connection | None) -> None:
        """Follow again the runs detached at an earlier server's shutdown, on this backend.

        The runs of a shared embedded gateway that is no longer the one running have lost
        their sessions with it: they are logged as failed, and no gateway is started for
        them. A remote endpoint is contacted only when the log holds a run detached there.
        """
        gateway = await asyncio.to_thread(_read_state, self.state_dir)

        def orphan(ctx: RunContext) -> bool:
            return ctx.embedded and (
                gateway is None
                or (ctx.endpoint, ctx.access_key) != (gateway.endpoint, gateway.access_key)
            )

        for gone in await self.runlog.detached_runs(orphan, claim=True):
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

            if not await self.runlog.detached_runs(configured):
                return
            conn = await self.workspaces.connection(settings)
        ident = _identity(conn)
        mine = await self.runlog.detached_runs(
            lambda ctx: (ctx.endpoint.rstrip("/"), ctx.access_key) == ident, claim=True
        )
        for detached in mine:
            run_id = detached.entry.run_id
            self._claimed[run_id] = detached
            self._run_tasks[run_id] = self._spawn(self._reattach_run(detached, conn))

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
        self.runlog.finished(
            RunFinished(entry.run_id, "failed", 1, duration, entry.uri, message=message)
        )
        name = entry.uri.rsplit("/", 1)[-1] or entry.uri
        self._frontend.show_message(
            "warning", f"The run of {name} left going on {entry.session_name} failed: {message}"
        )

    def _release(self, detached: DetachedRun) -> None:
        """Give a claimed run back to the next server, as it was detached. (A run of a killed
        server keeps our claim: once we are gone it is found as crashed again.)"""
        if not detached.crashed:
            self.runlog.detached(
                detached.entry.run_id,
                detached.wire_seq,
                detached.resumable,
                detached.context.session_ref,
                detached.waiting_input,
            )

    async def _reattach_run(self, detached: DetachedRun, conn: Connection) -> None:
        run_id = detached.entry.run_id
        try:
            await self._reattach_claimed(detached, conn)
        finally:
            self._claimed.pop(run_id, None)
            self._run_tasks.pop(run_id, None)
            self._progress.pop(run_id, None)

    async def _reattach_claimed(self, detached: DetachedRun, conn: Connection) -> None:
        ctx, entry = detached.context, detached.entry
        try:
            settings = self.settings_for(ctx.folder)
        except DomainError:
            settings = self.settings_for(GLOBAL)
        session = self.workspaces.session_for(ctx.folder, ctx.image, settings)
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
                info = await conn.client.session_info(ref)
            except Exception as exc:
                if is_not_found(exc):
                    self._lost(detached, "it no longer exists on the backend")
                    return
                # the backend is unreachable now: leave the run for the next start
                self._release(detached)
                self._frontend.show_message(
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
                session.backend = self.workspaces._key(settings)
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
            run.client, run.ref = conn.client, ref
            run.started = time.monotonic() - max(0.0, time.time() - entry.started_at)
            self._claimed.pop(run.id, None)  # from now on shutdown handles it as any run
            self._runs[run.id] = run
            try:
                await self._follow_reattached(run, detached, settings, conn)
            finally:
                self._runs.pop(run.id, None)

    async def _follow_reattached(
        self, run: Run, detached: DetachedRun, settings: Settings, conn: Connection
    ) -> None:
        session = run.session
        self.runlog.resumed(detached)
        self._progress[run.id] = _Progress(done=detached.wire_seq)
        self._frontend.run_started(
            RunStarted(run.id, run.uri, run.mode, session.name, reattached=True)
        )
        name = run.uri.rsplit("/", 1)[-1] or run.uri
        self._frontend.show_message(
            "info",
            f"Re-attached to the run of {name} on {session.name}: it went on while bai-lsp was "
            "not running; its output continues.",
        )
        output = RunOutput(
            run.id,
            self.runlog.sink(run.id, self._frontend.output, lambda: self._log_seq(run, output)),
            settings.output,
            self.state_dir / "output",
        )
        run.active = True
        self.workspaces.set_status(session, "busy")
        result: RunResult | None = None
        detached_again = False
        try:
            if detached.crashed:
                gap = (
                    "[bai-lsp] bai-lsp stopped unexpectedly during this run: around here, "
                    "output may be missing or shown twice.\n"
                )
                await output.feed([Record("stderr", text=gap)])
            if detached.waiting_input is not None and not await self._input_again(
                run, output, detached.waiting_input
            ):
                detached_again = True  # stopped again before the user answered
            else:
                result = await self._follow(run, output, "rest", conn)
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
            await self._wrap_up(run, output, result, detached_again, settings)

    async def _wrap_up(
        self,
        run: Run,
        output: RunOutput,
        result: RunResult | None,
        detached: bool,
        settings: Settings,
    ) -> RunResult | None:
        """Close the run's output, then log it detached (it goes on remotely) or end it."""
        run.active = False
        summary = await output.close()
        if detached:
            self.runlog.detached(
                run.id, run.wire_seq, run.resumable, run.ref, self._waiting.pop(run.id, None)
            )
            return None
        return await self._end(run, result, summary.output_file, settings)

    async def _input_again(self, run: Run, output: RunOutput, waiting: tuple[str, bool]) -> bool:
        """``_answer_pending_input`` as a task shutdown can detach again; False if it did."""
        task = asyncio.ensure_future(self._answer_pending_input(run, output, waiting))
        self._executing[run.id] = cast("asyncio.Task[RunResult]", task)
        self._transports[run.id] = "rest"
        self._outputs[run.id] = output
        try:
            await asyncio.wait({task})
        finally:
            if not task.done():
                task.cancel()
            self._executing.pop(run.id, None)
            self._transports.pop(run.id, None)
            self._outputs.pop(run.id, None)
            self._asked.pop(run.id, None)
        if task.cancelled() and run.id in self._detaching:
            return False
        task.result()
        return True

    async def _answer_pending_input(
        self, run: Run, output: RunOutput, waiting: tuple[str, bool]
    ) -> None:
        """The run was waiting for input when the earlier server stopped. The backend reports
        ``waiting-input`` only once, so ask the user again; ``rest_run`` sends the answer
        (``run.pending_input``) as its first poll, then follows the run as usual."""
        assert run.client is not None and run.ref is not None
        prompt, password = waiting
        text = await self._ask_again(run, prompt, password)
        self.workspaces.set_status(run.session, "busy")
        if text is None:  # cancelled: interrupt, then release the waiting read
            run.interrupted = True
            await run.client.interrupt(run.ref)
        elif self._frontend.echoes_input:
            await output.feed([Record("stdout", text="\n" if password else text + "\n")])
        output.input_answered()
        run.pending_input = text or ""

    async def _ask_again(self, run: Run, prompt: str, password: bool) -> str | None:
        run.input_answer = asyncio.get_running_loop().create_future()
        self.workspaces.set_status(run.session, "waiting-input")
        asker: asyncio.Future[Any] | None = None
        request = InputRequest(run.id, prompt, password)
        self._asked[run.id] = request
        if self._frontend.answers_input:
            asker = asyncio.ensure_future(self._frontend.ask_input(request))
            asker.add_done_callback(lambda f: _from_client(run, f))
        else:
            shown = f": {prompt.strip()}" if prompt.strip() else ""
            self._frontend.show_message(
                "info",
                f"A re-attached run is waiting for input{shown}. Answer with the command "
                f'backendai.sendInput {{"runId": "{run.id}", "text": ...}}.',
            )
        try:
            return await run.input_answer
        finally:
            run.input_answer = None
            if asker is not None and not asker.done():
                asker.cancel()

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
        task = self._spawn(self._execute(run, doc, settings))
        self._run_tasks[run.id] = task
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
            self._run_tasks.pop(run.id, None)
            self._progress.pop(run.id, None)
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
        self.runlog.started(
            started,
            RunContext(
                endpoint=conn.endpoint,
                access_key=_identity(conn)[1],
                folder=doc.folder_uri,
                session_ref=run.ref or session.name,
                image=session.image,
                language=doc.language_id,
                transport=settings.run_transport,
                embedded=settings.embedded,
            ),
            code=run.code,
        )
        self._frontend.run_started(started)
        output = RunOutput(
            run.id,
            self.runlog.sink(
                run.id,
                self.diagnostics.sink(run.id, self._frontend.output),
                lambda: self._log_seq(run, output),
            ),
            settings.output,
            self.state_dir / "output",
        )
        run.active = True
        self.workspaces.set_status(session, "busy")
        result: RunResult | None = None
        detached = False
        try:
            if notes:
                await output.feed(notes)
            for attempt in (1, 2):
                try:
                    result = await self._follow(run, output, settings.run_transport, conn)
                    detached = result is None
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
            result = await self._wrap_up(run, output, result, detached, settings)
        if detached:
            raise RunDetachedError(
                f"bai-lsp stopped while this run was going on. It goes on on session "
                f"{session.name}; the next bai-lsp started for this workspace re-attaches to it "
                "and shows the rest of its output."
            )
        assert result is not None
        return result

    async def _follow(
        self, run: Run, output: RunOutput, transport: str, conn: Connection
    ) -> RunResult | None:
        """Run ``run`` to its end by ``transport``; ``None`` when the server detached it.

        Raises ``SessionGone`` when the session vanished before the run started on it.
        """
        assert run.client is not None
        if transport == "rest":
            client = _DetachableClient(
                run.client,
                lambda: run.id in self._detaching,
                output,
                self._progress.setdefault(run.id, _Progress()),
                self.runlog.close,
            )
            run.client = cast(Backend, client)
            self._clients[run.id] = client
            execute = rest_run
        else:
            execute = stream_run
        self._transports[run.id] = transport
        self._outputs[run.id] = output
        frontend = cast(
            Frontend, _RunFrontend(self._frontend, lambda r: self._asked.__setitem__(run.id, r))
        )
        task = asyncio.ensure_future(execute(run, output, frontend, self.workspaces, conn.endpoint))
        self._executing[run.id] = task
        try:
            await asyncio.wait({task})
        finally:
            if not task.done():
                task.cancel()
            self._executing.pop(run.id, None)
            self._transports.pop(run.id, None)
            self._outputs.pop(run.id, None)
            self._asked.pop(run.id, None)
            tripped = self._clients.pop(run.id, None)
        if run.id in self._detaching and (
            task.cancelled() or (tripped is not None and tripped.tripped)
        ):
            if tripped is not None:
                run.client = tripped._client
            return None
        if tripped is not None:
            run.client = tripped._client
        return task.result()

    def _log_seq(self, run: Run, output: RunOutput | None) -> int | None:
        """``ws`` of an output batch of ``run`` being logged (``_Progress``)."""
        return self._progress.setdefault(run.id, _Progress()).ws(run, output)

    async def _end(
        self, run: Run, result: RunResult | None, output_file: str | None, settings: Settings
    ) -> RunResult:
        """Log and announce the run's end; turn its errors into diagnostics."""
        session = run.session
        final = result or run.result("interrupted" if run.interrupted else "failed", None)
        finished = RunFinished(
            run_id=final.run_id,
            status=final.status,
            exit_code=final.exit_code,
            duration_ms=final.duration_ms,
            uri=run.uri,
            output_file=output_file,
            message=final.message,
        )
        self.runlog.finished(finished)
        self._frontend.run_finished(finished)
        _notify_long_run(self._frontend, settings, finished, session.name)
        if session.status in ("busy", "waiting-input", "reconnecting"):
            self.workspaces.set_status(session, "idle")
        try:
            await self.diagnostics.finish(run.id, final.status)
        except Exception:
            log.exception("could not turn run %s's errors into diagnostics", run.id)
        return final

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

    async def shutdown(self, *, detach: bool = True) -> None:
        """Detach the active runs of kept sessions that the backend can resume (REST runs,
        and streamed runs whose backend numbers its frames); interrupt every other run.

        ``detach=False`` interrupts them all (``bai-lsp run``: nobody comes back for them)."""
        for run_id, claimed in list(self._claimed.items()):
            task = self._run_tasks.get(run_id)
            if task is not None:
                task.cancel()
            self._release(claimed)
        destroy: dict[str, bool] = {}
        for session in self.workspaces.all():
            try:
                destroy[session.workspace] = (
                    self.settings_for(session.workspace).on_exit == "destroy"
                )
            except DomainError:
                destroy[session.workspace] = False
        runs = list(self._runs.values())
        detached = [
            r
            for r in runs
            if detach
            and r.active
            and not destroy.get(r.session.workspace, False)
            and r.id in self._executing
            and (self._transports.get(r.id) == "rest" or r.resumable)
        ]
        for run in sorted((r for r in runs if r not in detached), key=lambda r: r.active):
            try:  # queued ones first, so none starts once the running one is stopped
                await asyncio.wait_for(run.interrupt(), 2)
            except Exception:
                log.debug("interrupt at shutdown failed", exc_info=True)
        stopping = [
            self._run_tasks[r.id] for r in runs if r not in detached and r.id in self._run_tasks
        ]
        if stopping:  # let them end as interrupted (runFinished, run log) before we close
            await asyncio.wait(stopping, timeout=INTERRUPT_WAIT_S)
        await self._detach(detached)
        await self.workspaces.close(destroy)
        await self.runlog.close()

    async def _detach(self, runs: list[Run]) -> None:
        """Stop following ``runs`` without stopping them: a REST run reads the answer of the
        poll under way and sends no other; a streamed run closes its socket (the backend
        keeps the frames the server has not acknowledged). Their output is drained to the
        editor and the run log, then each is logged ``detached``."""
        if not runs:
            return
        for run in runs:
            self._detaching.add(run.id)
            waiting = run.input_answer is not None and not run.input_answer.done()
            if waiting:  # no poll is under way: stop at once; the next server asks again
                asked = self._asked.get(run.id)
                output = self._outputs.get(run.id)
                prompt = asked.prompt if asked else (output.prompt_tail if output else "")
                self._waiting[run.id] = (prompt, bool(asked and asked.password))
            if waiting or self._transports.get(run.id) != "rest":
                task = self._executing.get(run.id)
                if task is not None:
                    task.cancel()
        tasks = [self._run_tasks[r.id] for r in runs if r.id in self._run_tasks]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=DETACH_DRAIN_S)
        if pending:  # e.g. waiting for an input answer: no poll is under way, stop now
            for run in runs:
                task = self._executing.get(run.id)
                if task is not None:
                    task.cancel()
            await asyncio.wait(pending, timeout=DETACH_DRAIN_S)
        for run in runs:
            log.info("run %s detached: it goes on on session %s", run.id, run.session.name)


def _identity(conn: Connection) -> tuple[str, str]:
    """Which backend and keypair a run belongs to (another keypair cannot see its session)."""
    config = getattr(conn.client, "config", None)
    return conn.endpoint.rstrip("/"), str(getattr(config, "access_key", "") or "")


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
