"""Runs that survive a dropped connection: Backend.AI's REST execute, polled with the run's id.

A WebSocket run is interrupted by the backend when its socket closes, so it cannot be
re-attached. A REST run can: its output waits in a per-run queue on the backend and each
``continue`` poll with the same runId returns only what is new. So when a poll fails on the
network (refused, reset, a half-open socket that answers nothing within ``POLL_TIMEOUT``), the
run is not lost: the session status says ``reconnecting`` and the same ``continue`` is retried
with exponential backoff until it answers or ``GIVE_UP_AFTER`` passes. A poll that reached the
backend but whose answer was lost cannot be told apart from one that never arrived; a gateway
that queues per run loses nothing either way, and nothing is ever delivered twice because
every record is forwarded from exactly one answered poll.

Our gateway closes that last gap (its resumable-runs extension, docs/gateway.md): every poll
carries ``ack`` (the highest answer ``seq`` received), the gateway numbers its answers and
sends again whatever came after ``ack``, so a poll whose answer was lost is simply repeated.
A real manager ignores ``ack`` and sends no ``seq``. A streamed run whose socket dropped is
followed on here too (``streamed.stream_run`` swaps its frame source for ``PollSource``),
starting with ``continue`` since it already runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from bai_lsp.domain.backend import is_not_found, translate
from bai_lsp.domain.errors import BackendUnreachableError
from bai_lsp.domain.events import RunResult
from bai_lsp.domain.frames import follow
from bai_lsp.domain.inputs import InputBroker
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.runs import Run, SessionGone
from bai_lsp.domain.workspaces import Workspaces
from bai_lsp.wire.execute import ExecutionResult

log = logging.getLogger(__name__)

#: One REST poll (``Backend.execute``, or the supervisor's wrapper that stops before the next
#: poll of a run being detached and keeps the run log resumable).
Poll = Callable[..., Awaitable[ExecutionResult]]

#: A poll answers within the backend's flush window (about 2 s); no answer in this long
#: means the connection is half-open.
POLL_TIMEOUT = 25.0
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
#: How long a run waits for the endpoint to come back before it is reported as failed.
GIVE_UP_AFTER = 300.0


class PollFailed(Exception):
    """A poll failed for good; the message is the run's failure in the user's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def network_failure(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | OSError | asyncio.TimeoutError):
        return True
    return isinstance(translate(exc, ""), BackendUnreachableError)


class PollSource:
    """The answers of REST polls with the run's id, retried through outages.

    ``run.attached``: the run already exists (re-attach, or a stream that dropped), so the
    first poll is ``continue`` — or ``input`` with ``run.pending_input``, an answer the
    stream could not send."""

    run_id_filter: str | None = None

    def __init__(self, run: Run, workspaces: Workspaces, endpoint: str, poll: Poll) -> None:
        self._run = run
        self._workspaces = workspaces
        self._endpoint = endpoint
        self._poll = poll
        self.mode, self.code = run.mode, run.code
        if run.attached:
            pending, run.pending_input = run.pending_input, None
            self.mode, self.code = ("continue", "") if pending is None else ("input", pending)

    async def __aiter__(self) -> AsyncIterator[ExecutionResult]:
        run, endpoint = self._run, self._endpoint
        first = True
        outage_since: float | None = None
        delay = BACKOFF_START
        while True:
            try:
                result: ExecutionResult = await asyncio.wait_for(
                    self._poll(
                        run.ref,
                        mode=self.mode,
                        code=self.code,
                        run_id=run.id,
                        options=run.options,
                        ack=run.wire_seq,
                    ),
                    POLL_TIMEOUT,
                )
            except Exception as exc:
                if first and is_not_found(exc):
                    raise SessionGone() from exc
                if not network_failure(exc) or (first and not run.attached):
                    raise PollFailed(translate(exc, endpoint).message) from None
                now = time.monotonic()
                if outage_since is None:
                    outage_since = now
                    log.info("run %s: connection lost (%s); polling again", run.id, exc)
                if now - outage_since > GIVE_UP_AFTER:
                    message = (
                        f"Lost the connection to {endpoint} for more than "
                        f"{GIVE_UP_AFTER:.0f} s; the run may still be going on the session."
                    )
                    self._workspaces.set_status(run.session, "error", message)
                    raise PollFailed(message) from None
                self._workspaces.set_status(
                    run.session,
                    "reconnecting",
                    f"The connection to {endpoint} was lost; retrying in {delay:.1f} s "
                    "(the run goes on on the session).",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                # An input whose answer was lost is sent again where the backend drops a
                # repeat (resumable: the same ``ack`` names the same prompt); else only a
                # first poll's, which surely never arrived... or a manager may take it twice.
                if not (self.mode == "input" and (first or run.resumable)):
                    self.mode, self.code = "continue", ""
                continue
            if outage_since is not None or (first and run.attached):
                outage_since, delay = None, BACKOFF_START
                self._workspaces.set_status(run.session, "busy")
            first = False
            self.mode, self.code = "continue", ""
            yield result

    async def answer(self, text: str | None) -> None:
        """The next poll sends the answer; a cancelled input interrupts the program."""
        run = self._run
        if text is None:
            run.interrupted = True
            assert run.client is not None and run.ref is not None
            await run.client.interrupt(run.ref)
        self.mode, self.code = "input", text or ""


async def rest_run(
    run: Run,
    output: RunOutput,
    broker: InputBroker,
    workspaces: Workspaces,
    endpoint: str,
    poll: Poll | None = None,
) -> RunResult:
    """Execute ``run`` by REST polls; raise ``SessionGone`` if the session vanished first."""
    assert run.client is not None and run.ref is not None
    source = PollSource(run, workspaces, endpoint, poll or run.client.execute)
    try:
        ending = await follow(run, source, output, broker, workspaces)
    except PollFailed as failed:
        return run.result("failed", None, failed.message)
    assert ending is not None  # polls go on until the run ends
    return run.result(ending.status, ending.exit_code, ending.message)
