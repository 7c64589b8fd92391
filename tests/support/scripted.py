"""A scripted in-memory backend behind the domain's ``Backend`` protocol, for the fast domain
tier (tests/domain/test_run_*.py).

It stands in only for sequences and faults that are hard to produce for real on demand — a
poll answer lost in transit, a stream cut after the third frame, an outage of exactly two
polls, a session that vanishes between two runs — while the domain code under test (engine,
supervisors, frame sources, input broker, run log) is the real one. Everything a real
kernel does is covered by the real-gateway suites (tests/lsp, tests/faults).

A run's code names its script (``programs[code]``): a list of steps the "kernel" goes
through — ``Out``/``Err`` (output), ``Ask`` (an input request; the answer is recorded in
``inputs``), ``Hold`` (the program keeps running, silently, until ``release(name)``),
``End`` (exit code). Answers are numbered (``seq``) and kept until acknowledged (``ack``)
when ``numbered`` is on, as our gateway's resumable runs do; a real manager's dialect is
``numbered=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs

from bai_lsp.backendai.errors import NotFoundError
from bai_lsp.domain.backend import AppTunnel, PtyStream, SessionRequest
from bai_lsp.wire.execute import BatchOptions, ConsoleRecord, ExecutionResult
from bai_lsp.wire.problems import Problem, ProblemDetails

ENDPOINT = "http://scripted.invalid:8090"
ACCESS_KEY = "AKSCRIPTEDTEST"
SETTINGS = {"endpoint": ENDPOINT, "accessKey": ACCESS_KEY, "secretKey": "scripted-secret"}


@attrs.frozen
class Out:
    text: str


@attrs.frozen
class Err:
    text: str


@attrs.frozen
class Ask:
    prompt: str
    password: bool = False


@attrs.frozen
class Hold:
    name: str


@attrs.frozen
class End:
    exit_code: int = 0


@attrs.frozen
class Status:
    """An answer with this status (``exec-timeout``, ``error``, ``build-finished``…)."""

    status: str
    exit_code: int | None = None
    msg: str | None = None


Step = Out | Err | Ask | Hold | End | Status


def not_found(what: str) -> NotFoundError:
    return NotFoundError(404, ProblemDetails.of(404, Problem.OBJECT_NOT_FOUND, what))


@attrs.define
class ScriptedRun:
    run_id: str
    steps: list[Step]
    pos: int = 0
    interrupted: bool = False
    waiting: bool = False
    finished: bool = False
    #: Answers handed out, by ``seq`` (kept until acknowledged).
    journal: dict[int, ExecutionResult] = attrs.field(factory=dict)
    seq: int = 0
    #: The prompt ``seq`` whose input was taken (a repeated answer is dropped).
    answered: set[int] = attrs.field(factory=set)


class ScriptedBackend:
    """``Backend`` over scripted programs (see the module docstring)."""

    def __init__(self, programs: dict[str, Sequence[Step]], *, numbered: bool = True) -> None:
        self.programs = {code: list(steps) for code, steps in programs.items()}
        self.numbered = numbered
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, ScriptedRun] = {}
        #: Input answers the programs received, in order.
        self.inputs: list[str] = []
        self.interrupts: list[str] = []
        self.destroyed: list[str] = []
        self.uploads: list[tuple[str, str]] = []
        self.polls: list[dict[str, Any]] = []
        self.closed = False
        #: Faults: the next ``execute`` calls raise these, before reaching the program.
        self.poll_failures: list[BaseException] = []
        #: Faults: the next polls are processed but their answer is lost in transit.
        self.lost_answers = 0
        #: Faults: a stream drops (ConnectionResetError) after this many frames.
        self.stream_drop_after: int | None = None
        #: Faults: the next session lookups / first polls find no session.
        self.gone_on_next_execute = 0
        self._released: dict[str, asyncio.Event] = {}

    # --- Backend ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return ENDPOINT

    @property
    def access_key(self) -> str:
        return ACCESS_KEY

    @property
    def api_version(self) -> str:
        return "v7.20230615"

    async def close(self) -> None:
        self.closed = True

    async def get_or_create(
        self, request: SessionRequest, on_status: Callable[[str], None] | None = None
    ) -> str:
        if on_status is not None:
            on_status("PENDING")
            on_status("RUNNING")
        info = self.sessions.setdefault(
            request.name, {"id": f"id-{request.name}", "name": request.name, "status": "RUNNING"}
        )
        info["status"] = "RUNNING"
        return str(info["id"])

    def _session(self, ref: str) -> dict[str, Any]:
        for info in self.sessions.values():
            if ref in (info["id"], info["name"]) and info["status"] == "RUNNING":
                return info
        raise not_found(f"no session {ref}")

    async def session_info(self, ref: str) -> dict[str, Any]:
        return dict(self._session(ref))

    async def destroy(self, ref: str, *, forced: bool = False) -> dict[str, Any]:
        info = self._session(ref)
        info["status"] = "TERMINATED"
        self.destroyed.append(str(info["name"]))
        return {"stats": {}}

    def lose_session(self, name: str) -> None:
        """The session ends behind our back (an idle timeout, an admin)."""
        self.sessions.pop(name, None)

    async def restart(self, ref: str) -> None:
        self._session(ref)

    async def interrupt(self, ref: str) -> None:
        self._session(ref)
        self.interrupts.append(ref)
        for run in self.runs.values():
            if not run.finished:
                run.interrupted = True

    async def list_sessions(
        self, *, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        return [dict(s) for s in self.sessions.values() if status in (None, s["status"])]

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None:
        self._session(ref)
        self.uploads += [(ref, name) for name, _ in files]

    async def open_pty(self, ref: str) -> PtyStream:
        raise NotImplementedError("terminals are tested against the real gateway")

    async def list_apps(self, ref: str) -> list[dict[str, Any]]:
        return []

    async def open_app_tunnel(self, ref: str, app: str) -> AppTunnel:
        raise NotImplementedError("app tunnels are tested against the real gateway")

    # --- execution ------------------------------------------------------------------------

    def release(self, name: str) -> None:
        """Let programs held at ``Hold(name)`` go on."""
        self._released.setdefault(name, asyncio.Event()).set()

    def _start(self, run_id: str, code: str) -> ScriptedRun:
        if code not in self.programs:
            raise KeyError(f"no script for {code!r}")
        run = self.runs[run_id] = ScriptedRun(run_id, list(self.programs[code]))
        return run

    async def _advance(self, run: ScriptedRun, *, stream: bool) -> ExecutionResult:
        """The program's next answer: output up to a control point (or a held moment)."""
        console: list[ConsoleRecord] = []
        while True:
            if run.interrupted and not run.finished:
                run.finished = True
                console.append(ConsoleRecord("stderr", "KeyboardInterrupt\n"))
                return self._number(run, ExecutionResult("finished", console, run.run_id, 1))
            if run.pos >= len(run.steps):
                run.finished = True
                return self._number(run, ExecutionResult("finished", console, run.run_id, 0))
            step = run.steps[run.pos]
            if isinstance(step, Out | Err):
                console.append(
                    ConsoleRecord("stdout" if isinstance(step, Out) else "stderr", step.text)
                )
                run.pos += 1
                if stream:  # a stream sends each write as its own frame
                    return self._number(run, ExecutionResult("continued", console, run.run_id))
                continue
            if isinstance(step, Ask):
                console.append(ConsoleRecord("stdout", step.prompt))
                run.waiting = True
                options = {"is_password": step.password}
                return self._number(
                    run, ExecutionResult("waiting-input", console, run.run_id, options=options)
                )
            if isinstance(step, Hold):
                event = self._released.setdefault(step.name, asyncio.Event())
                if event.is_set():
                    run.pos += 1
                    continue
                if console:
                    return self._number(run, ExecutionResult("continued", console, run.run_id))
                await asyncio.sleep(0.005)  # a quiet flush window
                return self._number(run, ExecutionResult("continued", [], run.run_id))
            if isinstance(step, Status):
                run.pos += 1
                ending = step.status in ("exec-timeout", "error", "server-restarting")
                run.finished = ending
                result = ExecutionResult(
                    step.status, console, run.run_id, step.exit_code, msg=step.msg
                )
                return self._number(run, result)
            assert isinstance(step, End)
            run.pos += 1
            run.finished = True
            return self._number(
                run, ExecutionResult("finished", console, run.run_id, step.exit_code)
            )

    def _number(self, run: ScriptedRun, result: ExecutionResult) -> ExecutionResult:
        if self.numbered:
            run.seq += 1
            result.seq = run.seq
            run.journal[run.seq] = result
        return result

    def _take_input(self, run: ScriptedRun, text: str, prompt_seq: int | None) -> None:
        if not run.waiting:
            return
        if prompt_seq is not None and prompt_seq in run.answered:
            return  # a repeated answer (its first copy arrived): dropped
        if prompt_seq is not None:
            run.answered.add(prompt_seq)
        run.waiting = False
        run.pos += 1
        self.inputs.append(text)

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
        self.polls.append({"mode": mode, "code": code, "run_id": run_id, "ack": ack})
        if self.poll_failures:
            raise self.poll_failures.pop(0)
        if self.gone_on_next_execute:
            self.gone_on_next_execute -= 1
            raise not_found(f"no session {ref}")
        self._session(ref)
        assert run_id is not None
        run = self.runs.get(run_id)
        if mode in ("query", "batch"):
            run = self._start(run_id, code)
        if run is None:
            raise not_found(f"no run {run_id}")
        if self.numbered and ack is not None:
            for seq in [s for s in run.journal if s <= ack]:
                del run.journal[seq]
            if run.journal:  # an answer after ``ack`` was lost in transit: send it again
                if mode == "input":
                    self._take_input(run, code, ack)
                return run.journal[min(run.journal)]
        if mode == "input":
            self._take_input(run, code, ack)
        result = await self._advance(run, stream=False)
        if self.lost_answers:
            self.lost_answers -= 1
            raise ConnectionResetError("the answer was lost in transit")
        return result

    @contextlib.asynccontextmanager
    async def stream_execute(
        self,
        ref: str,
        *,
        mode: str,
        code: str,
        options: BatchOptions | None = None,
        run_id: str | None = None,
        resumable: bool = False,
    ) -> AsyncIterator[_Stream]:
        if self.gone_on_next_execute:
            self.gone_on_next_execute -= 1
            raise not_found(f"no session {ref}")
        self._session(ref)
        assert run_id is not None
        run = self._start(run_id, code)
        stream = _Stream(self, run, numbered=self.numbered and resumable)
        yield stream


class _Stream:
    """One execute WebSocket over a scripted run."""

    def __init__(self, backend: ScriptedBackend, run: ScriptedRun, *, numbered: bool) -> None:
        self._backend = backend
        self._run = run
        self._numbered = numbered
        self.frames = 0

    async def __aiter__(self) -> AsyncIterator[ExecutionResult]:
        backend, run = self._backend, self._run
        while not run.finished:
            drop = backend.stream_drop_after
            if drop is not None and self.frames >= drop:
                backend.stream_drop_after = None
                raise ConnectionResetError("the stream was cut")
            if run.waiting:
                await asyncio.sleep(0.005)
                if run.waiting and not run.interrupted:
                    continue
                if run.interrupted:
                    run.waiting = False
            result = await backend._advance(run, stream=True)
            frame = attrs.evolve(result) if self._numbered else attrs.evolve(result, seq=None)
            if not self._numbered:
                frame.run_id = None
            self.frames += 1
            yield frame

    async def send_input(self, text: str) -> None:
        self._backend._take_input(self._run, text, self._run.seq if self._numbered else None)


class _Progress:
    def report(self, message: str, percentage: int | None = None) -> None:
        pass

    async def wait_cancelled(self) -> None:
        await asyncio.Event().wait()


class RecordingFrontend:
    """The domain's ``Frontend`` as a user would see it: what was shown, in order."""

    def __init__(self, *, answers: list[str | None] | None = None) -> None:
        #: Answers the editor gives to ``backendai/input`` (``None``: the user cancelled);
        #: with ``answers=None`` the editor cannot answer (no experimental capability).
        self.answers = answers
        self.events: list[Any] = []
        self.messages: list[tuple[str, str]] = []
        self.statuses: list[str] = []
        self.asked: list[Any] = []
        self.finished: dict[str, Any] = {}
        self.started: list[Any] = []
        self._finish = asyncio.Event()

    def run_started(self, event: Any) -> None:
        self.started.append(event)
        self.events.append(event)

    def output(self, batch: Any) -> None:
        self.events.append(batch)

    def run_finished(self, event: Any) -> None:
        self.finished[event.run_id] = event
        self.events.append(event)
        self._finish.set()

    def session_status(self, event: Any) -> None:
        self.statuses.append(event.status)

    @property
    def answers_input(self) -> bool:
        return self.answers is not None

    @property
    def echoes_input(self) -> bool:
        return True

    async def ask_input(self, request: Any) -> str | None:
        self.asked.append(request)
        assert self.answers is not None
        return self.answers.pop(0)

    def show_message(self, level: str, text: str) -> None:
        self.messages.append((level, text))

    @contextlib.asynccontextmanager
    async def progress(self, title: str) -> AsyncIterator[_Progress]:
        yield _Progress()

    def text(self, run_id: str | None = None) -> str:
        """Everything the output panel showed (of one run)."""
        return "".join(
            r.text or ""
            for batch in self.events
            if hasattr(batch, "records") and (run_id is None or batch.run_id == run_id)
            for r in batch.records
        )

    async def wait_finished(self, count: int = 1) -> None:
        while len(self.finished) < count:
            self._finish.clear()
            await asyncio.wait_for(self._finish.wait(), 10)
