"""A run over Backend.AI's streaming execute (WebSocket): output arrives as the kernel
flushes it rather than at 2-second polling windows.

The stream asks to be resumable; when the backend agrees (our gateway numbers its frames) a
dropped connection does not end the run: ``stream_run`` answers ``StreamDropped`` and the
run's supervisor swaps the frame source for REST polls from the last frame received, with an
input answer the stream may not have delivered sent again. A real manager interrupts a
streamed run when its socket closes, so there the output gets a visible gap marker and the
run ends ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import attrs

from bai_lsp.domain import runstate
from bai_lsp.domain.backend import ExecutionStream, is_not_found, translate
from bai_lsp.domain.events import RunResult
from bai_lsp.domain.frames import follow
from bai_lsp.domain.inputs import InputBroker
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.runs import Run, SessionGone
from bai_lsp.domain.workspaces import Workspaces
from bai_lsp.wire.execute import ExecutionResult

log = logging.getLogger(__name__)


class StreamSource:
    """The frames of one open execute stream; input answers go back over it."""

    def __init__(self, run: Run, stream: ExecutionStream) -> None:
        self._run = run
        self._stream = stream
        self.run_id_filter: str | None = run.id
        self.got_frame = False
        #: An answer sent but not confirmed by a later frame (sent again by REST on a drop).
        self.unsent: str | None = None

    async def __aiter__(self) -> AsyncIterator[ExecutionResult]:
        async for frame in self._stream:
            self.got_frame = True
            self.unsent = None  # a frame after the answer: the backend has it
            yield frame

    async def answer(self, text: str | None) -> None:
        if text is None:
            await self._interrupt_waiting()
            return
        # Unconfirmed until the next frame: if the stream drops first, the REST poll that
        # follows the run sends it again, and the gateway ignores it if it was delivered
        # (``ack`` says which prompt).
        self.unsent = text
        await self._stream.send_input(text)

    async def _interrupt_waiting(self) -> None:
        """The user cancelled an input: interrupt the kernel, then release the waiting read."""
        run = self._run
        run.interrupted = True
        if run.client is not None and run.ref is not None:
            with contextlib.suppress(Exception):
                await run.client.interrupt(run.ref)
        await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            await self._stream.send_input("")


@attrs.frozen
class StreamDropped:
    """The stream of a resumable run dropped mid-run: follow it on by REST polls."""

    #: Why, in the user's words.
    why: str
    #: An input answer sent but not confirmed by a later frame (the first poll sends it).
    unsent: str | None


async def stream_run(
    run: Run,
    output: RunOutput,
    broker: InputBroker,
    workspaces: Workspaces,
    endpoint: str,
) -> RunResult | StreamDropped:
    """Execute ``run`` to its end, or until its resumable stream drops; raise
    ``SessionGone`` if the session vanished first."""
    assert run.client is not None and run.ref is not None
    ending: runstate.Ending | None = None
    message = "The connection closed before the run finished."
    why = "the backend closed the stream"
    source: StreamSource | None = None
    try:
        async with run.client.stream_execute(
            run.ref,
            mode=run.mode,
            code=run.code,
            options=run.options,
            run_id=run.id,
            resumable=True,
        ) as stream:
            source = StreamSource(run, stream)
            ending = await follow(run, source, output, broker, workspaces)
    except Exception as exc:
        if is_not_found(exc) and (source is None or not source.got_frame):
            raise SessionGone() from exc
        message = why = translate(exc, endpoint).message
        log.info("run %s: the stream failed: %s", run.id, message)
    if ending is None and source is not None and source.got_frame:
        if run.resumable:
            return StreamDropped(why, source.unsent)
        await output.feed([runstate.gap_marker(endpoint, why)])
    ending = runstate.settle(ending or runstate.Ending("failed", None, message), run.interrupted)
    return run.result(ending.status, ending.exit_code, ending.message)


def following_by_polls(
    run: Run, workspaces: Workspaces, endpoint: str, dropped: StreamDropped
) -> None:
    """Say so, and set the run up to go on by REST from the last frame received."""
    log.info("run %s: stream lost after answer %d; following by REST", run.id, run.wire_seq)
    run.attached = True
    run.pending_input = dropped.unsent
    workspaces.set_status(
        run.session,
        "reconnecting",
        f"The stream to {endpoint} dropped ({dropped.why.rstrip('.')}); following the run by "
        "polling (it goes on on the session).",
    )


def lost_while_down(
    run: Run, workspaces: Workspaces, endpoint: str, gone: SessionGone
) -> RunResult:
    """The session vanished while the stream was down: the run failed, and why."""
    cause = gone.__cause__
    why_gone = f" ({translate(cause, endpoint).message.rstrip('.')})" if cause else ""
    message = (
        f"Session {run.session.name} was lost while the connection was down{why_gone}; "
        "the rest of this run's output is lost."
    )
    workspaces.set_status(run.session, "terminated", message)
    return run.result("failed", None, message)
