"""One run on one session: stream it, answer its input requests, honour interrupts.

Runs use Backend.AI's streaming execute (WebSocket), so output arrives as the kernel flushes
it rather than at 2-second polling windows. A stream asks to be resumable; when the backend
agrees (our gateway numbers its frames) a dropped connection does not end the run: it is
followed on by REST polls from the last frame received (``reconnect.rest_run``).

Input requests go to the editor when it can answer them (experimental capability
``backendai.input``); either way ``sendInput`` works, and whichever answer comes first is
used. A cancelled input interrupts the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import attrs

from bai_lsp.domain.backend import Backend
from bai_lsp.domain.events import InputRequest, Record, RunResult
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.output import RunOutput, to_records
from bai_lsp.domain.workspaces import ComputeSession, Workspaces
from bai_lsp.wire.execute import BatchOptions

log = logging.getLogger(__name__)


class SessionGone(Exception):
    """The session was not found when the run tried to start on it."""


@attrs.define(eq=False)
class Run:
    uri: str
    mode: str
    code: str
    session: ComputeSession
    options: BatchOptions | None = None
    id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    started: float = attrs.field(factory=time.monotonic)
    interrupted: bool = False
    active: bool = False
    input_answer: asyncio.Future[str | None] | None = None
    client: Backend | None = None
    ref: str | None = None
    #: The highest answer ``seq`` received from a backend that numbers its answers.
    wire_seq: int = 0
    #: The backend showed it can resume this run (its answers carry ``runId`` and ``seq``).
    resumable: bool = False
    #: The run already exists on the session (re-attach): go on with ``continue``, never
    #: send its code again.
    attached: bool = False
    #: An input answer the dropped stream may not have delivered (``rest_run`` sends it
    #: first, with ``ack`` = the prompt's ``seq``; the gateway drops a repeated answer).
    pending_input: str | None = None

    def answer(self, text: str | None) -> bool:
        if self.input_answer is None or self.input_answer.done():
            return False
        self.input_answer.set_result(text)
        return True

    async def interrupt(self) -> None:
        """Stop this run: not started yet → never starts; running → kernel interrupt."""
        self.interrupted = True
        self.answer(None)
        if self.active and self.client is not None and self.ref is not None:
            await self.client.interrupt(self.ref)

    def result(self, status: str, exit_code: int | None, message: str | None = None) -> RunResult:
        if exit_code is None:
            exit_code = 130 if status == "interrupted" else (0 if status == "finished" else 1)
        return RunResult(
            run_id=self.id,
            status=status,
            exit_code=exit_code,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            message=message,
        )


async def stream_run(
    run: Run,
    output: RunOutput,
    frontend: Frontend,
    workspaces: Workspaces,
    endpoint: str,
) -> RunResult:
    """Execute ``run`` to its end; raise ``SessionGone`` if the session vanished first.

    The stream asks to be resumable (``run_id=run.id``). When the backend numbers its
    frames (our gateway) and the connection drops mid-run, the run goes on by REST
    ``continue`` polls from the last frame received (``rest_run``): nothing is lost or
    shown twice. A real manager interrupts a streamed run when its socket closes, so there
    the output gets a visible gap marker and the run ends ``failed``.
    """
    from bai_lsp.domain.reconnect import rest_run

    assert run.client is not None and run.ref is not None
    if run.attached:
        return await rest_run(run, output, frontend, workspaces, endpoint)
    client, ref = run.client, run.ref
    got_frame = False
    finished = False
    unsent: str | None = None
    exit_code: int | None = None
    status = "failed"
    message: str | None = "The connection closed before the run finished."
    why = "the backend closed the stream"
    try:
        async with client.stream_execute(
            ref,
            mode=run.mode,
            code=run.code,
            options=run.options,
            run_id=run.id,
            resumable=True,
        ) as stream:
            async for frame in stream:
                got_frame = True
                unsent = None  # a frame after the answer: the backend has it
                await output.feed(to_records(frame.console))
                if frame.seq is not None and frame.run_id == run.id:
                    run.resumable = True
                    run.wire_seq = max(run.wire_seq, frame.seq)
                if frame.status == "waiting-input":
                    password = frame.is_password_prompt
                    text = await _ask(run, output, frontend, workspaces, password)
                    if text is None:
                        await _interrupt_waiting(run, stream)
                    else:
                        # Unconfirmed until the next frame: if the stream drops first,
                        # the REST poll that follows the run sends it again, and the
                        # gateway ignores it if it was delivered (``ack`` says which prompt).
                        unsent = text
                        await stream.send_input(text)
                        if frontend.echoes_input:
                            echo = "\n" if password else text + "\n"
                            await output.feed([Record("stdout", text=echo)])
                    output.input_answered()
                    workspaces.set_status(run.session, "busy")
                elif frame.status == "build-finished" and frame.exit_code not in (None, 0):
                    await output.feed(
                        [
                            Record(
                                "stderr",
                                text=f"\n[bai-lsp] The build step failed (exit code "
                                f"{frame.exit_code}); the exec step is skipped.\n",
                            )
                        ]
                    )
                elif frame.status == "finished":
                    status, exit_code, message = "finished", frame.exit_code, None
                    finished = True
                    break
                elif frame.status == "exec-timeout":
                    status, message = "timeout", "The backend's execution time limit was hit."
                    finished = True
                    break
                elif frame.status in ("error", "server-restarting"):
                    status = "failed"
                    message = f"Backend.AI: {frame.msg or frame.status}"
                    finished = True
                    break
    except Exception as exc:
        from bai_lsp.domain.backend import is_not_found, translate

        if is_not_found(exc) and not got_frame:
            raise SessionGone() from exc
        status, message = "failed", translate(exc, endpoint).message
        why = message
        log.info("run %s: the stream failed: %s", run.id, message)
    if not finished and got_frame:
        if run.resumable:
            return await _follow_by_rest(run, output, frontend, workspaces, endpoint, why, unsent)
        await output.feed([gap_marker(endpoint, why)])
    if run.interrupted and status in ("finished", "failed"):
        return run.result("interrupted", exit_code if status == "finished" else None)
    return run.result(status, exit_code, message)


def gap_marker(endpoint: str, why: str) -> Record:
    """The visible gap a non-resumable streamed run leaves when its connection drops."""
    return Record(
        "stderr",
        text=f"\n[bai-lsp] The connection to {endpoint} dropped during this run "
        f"({why.rstrip('.')}); the rest of its output is lost: Backend.AI interrupts a "
        "streamed run when its socket closes.\n",
    )


async def _follow_by_rest(
    run: Run,
    output: RunOutput,
    frontend: Frontend,
    workspaces: Workspaces,
    endpoint: str,
    why: str,
    unsent: str | None,
) -> RunResult:
    """The stream of a resumable run dropped: go on by REST from the last frame received."""
    from bai_lsp.domain.reconnect import rest_run

    log.info("run %s: stream lost after answer %d; following by REST", run.id, run.wire_seq)
    run.attached = True
    workspaces.set_status(
        run.session,
        "reconnecting",
        f"The stream to {endpoint} dropped ({why.rstrip('.')}); following the run by "
        "polling (it goes on on the session).",
    )
    try:
        run.pending_input = unsent
        return await rest_run(run, output, frontend, workspaces, endpoint)
    except SessionGone as gone:
        from bai_lsp.domain.backend import translate

        cause = gone.__cause__
        why_gone = f" ({translate(cause, endpoint).message.rstrip('.')})" if cause else ""
        message = (
            f"Session {run.session.name} was lost while the connection was down{why_gone}; "
            "the rest of this run's output is lost."
        )
        workspaces.set_status(run.session, "terminated", message)
        return run.result("failed", None, message)


async def _ask(
    run: Run,
    output: RunOutput,
    frontend: Frontend,
    workspaces: Workspaces,
    password: bool,
) -> str | None:
    await output.drain()
    prompt = output.prompt_tail
    loop = asyncio.get_running_loop()
    run.input_answer = loop.create_future()
    workspaces.set_status(run.session, "waiting-input")
    asker: asyncio.Future[Any] | None = None
    if frontend.answers_input:
        asker = asyncio.ensure_future(frontend.ask_input(InputRequest(run.id, prompt, password)))
        asker.add_done_callback(lambda f: _from_client(run, f))
    else:
        frontend.show_message(
            "info",
            f"A run is waiting for input{': ' + prompt.strip() if prompt.strip() else ''}. "
            f'Answer with the command backendai.sendInput {{"runId": "{run.id}", "text": ...}}.',
        )
    if run.interrupted:
        run.answer(None)
    try:
        return await run.input_answer
    finally:
        run.input_answer = None
        if asker is not None and not asker.done():
            asker.cancel()


def _from_client(run: Run, future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.info("the client could not answer backendai/input: %s", exc)
        run.answer(None)
        return
    run.answer(future.result())


async def _interrupt_waiting(run: Run, stream: Any) -> None:
    """The user cancelled an input: interrupt the kernel, then release the waiting read."""
    run.interrupted = True
    if run.client is not None and run.ref is not None:
        with contextlib.suppress(Exception):
            await run.client.interrupt(run.ref)
    await asyncio.sleep(0.05)
    with contextlib.suppress(Exception):
        await stream.send_input("")
