"""``RunSupervisor``: everything about one run in one place — its task, the transport
following it, its output, how far its output is logged, its pending prompt and whether it
is being detached — with start (``follow``), interrupt, detach and finish.

A registry (``Supervisors``) holds the supervisors of the runs this server follows: new
runs (``execution.py``) and runs re-attached from an earlier server (``reattach.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.backend import Backend
from bai_lsp.domain.diagnostics import DiagnosticsTracker
from bai_lsp.domain.events import OutputBatch, Record, RunFinished, RunResult
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.inputs import InputBroker
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.reconnect import rest_run
from bai_lsp.domain.runlog import RunLog
from bai_lsp.domain.runs import Run, SessionGone
from bai_lsp.domain.runstate import echo
from bai_lsp.domain.settings import Settings
from bai_lsp.domain.streamed import following_by_polls, lost_while_down, stream_run
from bai_lsp.domain.workspaces import ComputeSession, Workspaces
from bai_lsp.wire.execute import ExecutionResult

log = logging.getLogger(__name__)


@attrs.frozen
class RunServices:
    """What following a run uses (built once by the engine)."""

    frontend: Frontend
    workspaces: Workspaces
    broker: InputBroker
    runlog: RunLog
    diagnostics: DiagnosticsTracker
    state_dir: Path


@attrs.define
class Progress:
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
        whole = output is not None and output.pending_chars == 0
        if self.inflight:
            return self.inflight if whole else self.done
        if run.resumable:  # a streamed run: its last frame whose feed completed, so a
            # batch cut out of that frame's feed says one less (repeated, never lost)
            return run.wire_seq if whole else max(run.wire_seq - 1, 0)
        return self.done or None


class Detaching(Exception):
    """Raised instead of sending the next REST poll of a run being detached."""


class DetachablePoll:
    """A REST run's polls. Once the run is being detached the next poll is not sent; a poll
    already under way is answered and its output fed as usual, so nothing the backend
    handed out is lost.

    When the backend numbers its answers, it also keeps the run log able to resume after a
    crash (``Progress``): before an answer is handed on, the output of earlier ones is
    flushed, and before the next poll acknowledges it to the backend (which then forgets
    it), its records are on disk."""

    def __init__(
        self,
        client: Backend,
        stopping: Callable[[], bool],
        output: RunOutput,
        progress: Progress,
        written: Callable[[], Awaitable[None]],
    ) -> None:
        self._client = client
        self._stopping = stopping
        self._output = output
        self._progress = progress
        self._written = written
        self.tripped = False

    async def __call__(self, ref: str, **kwargs: Any) -> ExecutionResult:
        if self._progress.inflight:
            await self._output.drain()
            await self._written()
        if self._stopping():
            self.tripped = True
            raise Detaching()
        result = await self._client.execute(ref, **kwargs)
        if isinstance(result.seq, int):
            await self._output.drain()
            if self._progress.inflight:
                self._progress.done = self._progress.inflight
            self._progress.inflight = result.seq
        return result


class RunSupervisor:
    """One run this server follows."""

    def __init__(self, run: Run, services: RunServices) -> None:
        self.run = run
        self._s = services
        #: The task following the whole run (queued, running, wrapping up).
        self.task: asyncio.Task[Any] | None = None
        #: The transport call under way (``rest_run``/``stream_run``/asking input again).
        self.follower: asyncio.Task[Any] | None = None
        self.transport: str | None = None
        self.output: RunOutput | None = None
        self.progress = Progress()
        #: The server stops and this run goes on remotely.
        self.detaching = False
        #: ``(prompt, password)`` when it was detached while waiting for input.
        self.waiting: tuple[str, bool] | None = None

    @property
    def id(self) -> str:
        return self.run.id

    def log_seq(self) -> int | None:
        """``ws`` of an output batch being logged (``Progress``)."""
        return self.progress.ws(self.run, self.output)

    def new_output(self, settings: Settings, *, diagnostics: bool) -> RunOutput:
        """The run's output: to the editor (and diagnostics), the run log, the spill file."""
        sink: Callable[[OutputBatch], None] = self._s.frontend.output
        if diagnostics:
            sink = self._s.diagnostics.sink(self.run.id, sink)
        self.output = RunOutput(
            self.run.id,
            self._s.runlog.sink(self.run.id, sink, self.log_seq),
            settings.output,
            self._s.state_dir / "output",
        )
        return self.output

    # --- start ----------------------------------------------------------------------------

    async def follow(self, transport: str, endpoint: str) -> RunResult | None:
        """Run to the end by ``transport``; ``None`` when the server detached it.

        A resumable stream that drops mid-run is swapped for REST polls here, from the last
        frame received. Raises ``SessionGone`` when the session vanished before the run
        started on it.
        """
        run, output = self.run, self.output
        assert output is not None
        if transport == "rest" or run.attached:
            return await self._poll(endpoint)
        task = asyncio.ensure_future(
            stream_run(run, output, self._s.broker, self._s.workspaces, endpoint)
        )
        if await self._under_way(task, transport):
            return None
        outcome = task.result()
        if isinstance(outcome, RunResult):
            return outcome
        await output.drain()  # every frame fed is logged: a crash resumes after them
        self.progress.done = run.wire_seq
        following_by_polls(run, self._s.workspaces, endpoint, outcome)
        try:
            return await self._poll(endpoint)
        except SessionGone as gone:
            return lost_while_down(run, self._s.workspaces, endpoint, gone)

    async def _poll(self, endpoint: str) -> RunResult | None:
        """Follow the run by REST polls that stop before the next one once it is detached."""
        run, output = self.run, self.output
        assert run.client is not None and output is not None
        poll = DetachablePoll(
            run.client, lambda: self.detaching, output, self.progress, self._s.runlog.close
        )
        task = asyncio.ensure_future(
            rest_run(run, output, self._s.broker, self._s.workspaces, endpoint, poll)
        )
        if await self._under_way(task, "rest"):
            return None
        if self.detaching and poll.tripped:
            return None
        return task.result()

    async def _under_way(self, task: asyncio.Task[Any], transport: str) -> bool:
        """Wait for ``task`` as the run's follower; True when a detach cancelled it."""
        self.follower, self.transport = task, transport
        try:
            await asyncio.wait({task})
        finally:
            if not task.done():
                task.cancel()
            self.follower = self.transport = None
            self._s.broker.forget(self.run.id)
        return self.detaching and task.cancelled()

    async def input_again(self, waiting: tuple[str, bool]) -> bool:
        """The run was waiting for input when the earlier server stopped. The backend reports
        ``waiting-input`` only once, so ask the user again; the first REST poll then sends
        the answer (``run.pending_input``). False if the server detached it again first."""
        task = asyncio.ensure_future(self._answer_pending_input(waiting))
        if await self._under_way(task, "rest"):
            return False
        task.result()
        return True

    async def _answer_pending_input(self, waiting: tuple[str, bool]) -> None:
        run, output = self.run, self.output
        assert run.client is not None and run.ref is not None and output is not None
        prompt, password = waiting
        text = await self._s.broker.ask(run, prompt, password, reattached=True)
        self._s.workspaces.set_status(run.session, "busy")
        if text is None:  # cancelled: interrupt, then release the waiting read
            run.interrupted = True
            await run.client.interrupt(run.ref)
        elif self._s.broker.echoes_input:
            await output.feed([echo(text, password)])
        output.input_answered()
        run.pending_input = text or ""

    # --- interrupt, detach ----------------------------------------------------------------

    async def interrupt(self) -> None:
        await self.run.interrupt()

    def detachable(self) -> bool:
        """Whether the backend can go on with this run without us (REST runs, and streamed
        runs whose backend numbers its frames)."""
        return (
            self.run.active
            and self.follower is not None
            and (self.transport == "rest" or self.run.resumable)
        )

    def begin_detach(self) -> None:
        """Stop following without stopping the run: a REST run reads the answer of the poll
        under way and sends no other; a streamed run closes its socket (the backend keeps
        the frames not acknowledged); a run waiting for input stops at once, and its prompt
        is kept for the next server to ask again."""
        self.detaching = True
        run = self.run
        waiting = run.input_answer is not None and not run.input_answer.done()
        if waiting:
            asked = self._s.broker.asked.get(run.id)
            output = self.output
            prompt = asked.prompt if asked else (output.prompt_tail if output else "")
            self.waiting = (prompt, bool(asked and asked.password))
        if waiting or self.transport != "rest":
            self.stop_following()

    def stop_following(self) -> None:
        if self.follower is not None:
            self.follower.cancel()

    # --- finish ---------------------------------------------------------------------------

    async def finish(
        self, result: RunResult | None, detached: bool, settings: Settings
    ) -> RunResult | None:
        """Close the run's output, then log it detached (it goes on remotely) or end it:
        log and announce the end, tell about a long run, turn its errors into diagnostics."""
        run = self.run
        run.active = False
        assert self.output is not None
        summary = await self.output.close()
        if detached:
            self._s.runlog.detached(run.id, run.wire_seq, run.resumable, run.ref, self.waiting)
            return None
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
        self._s.runlog.finished(finished)
        self._s.frontend.run_finished(finished)
        notify_long_run(self._s.frontend, settings, finished, run.session.name)
        if run.session.status in ("busy", "waiting-input", "reconnecting"):
            self._s.workspaces.set_status(run.session, "idle")
        try:
            await self._s.diagnostics.finish(run.id, final.status)
        except Exception:
            log.exception("could not turn run %s's errors into diagnostics", run.id)
        return final

    async def note(self, text: str) -> None:
        """A ``[bai-lsp]`` line in the run's output."""
        assert self.output is not None
        await self.output.feed([Record("stderr", text=text)])


class Supervisors:
    """The runs this server follows, by id."""

    def __init__(self) -> None:
        self._by_id: dict[str, RunSupervisor] = {}

    def add(self, supervisor: RunSupervisor) -> RunSupervisor:
        self._by_id[supervisor.id] = supervisor
        return supervisor

    def remove(self, run_id: str) -> None:
        self._by_id.pop(run_id, None)

    def get(self, run_id: str) -> RunSupervisor | None:
        return self._by_id.get(run_id)

    def __iter__(self) -> Iterator[RunSupervisor]:
        return iter(list(self._by_id.values()))

    def of_sessions(self, sessions: list[ComputeSession]) -> list[RunSupervisor]:
        return [s for s in self if s.run.session in sessions]


def notify_long_run(
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
