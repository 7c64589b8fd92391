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
followed on here too (``stream_run``), starting with ``continue`` since it already runs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bai_lsp.domain.backend import is_not_found, translate
from bai_lsp.domain.errors import BackendUnreachableError
from bai_lsp.domain.events import Record, RunResult
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.output import RunOutput, to_records
from bai_lsp.domain.runs import Run, SessionGone, _ask
from bai_lsp.domain.workspaces import Workspaces
from bai_lsp.wire.execute import ExecutionResult

log = logging.getLogger(__name__)

#: A poll answers within the backend's flush window (about 2 s); no answer in this long
#: means the connection is half-open.
POLL_TIMEOUT = 25.0
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
#: How long a run waits for the endpoint to come back before it is reported as failed.
GIVE_UP_AFTER = 300.0


def lost_marker(chars: int) -> Record:
    """The visible gap when the backend could not keep output for us (journal bound)."""
    return Record(
        "stderr",
        text=f"\n[bai-lsp] {chars} characters of output were lost here: the backend could not "
        "keep them while the connection was down.\n",
    )


def _network_failure(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | OSError | asyncio.TimeoutError):
        return True
    return isinstance(translate(exc, ""), BackendUnreachableError)


async def rest_run(
    run: Run,
    output: RunOutput,
    frontend: Frontend,
    workspaces: Workspaces,
    endpoint: str,
) -> RunResult:
    """Execute ``run`` by REST polls; raise ``SessionGone`` if the session vanished first.

    ``run.attached``: the run already exists (re-attach, or a stream that dropped), so the
    first poll is ``continue`` — or ``input`` with ``run.pending_input``, an answer the
    stream could not send."""
    assert run.client is not None and run.ref is not None
    client, ref = run.client, run.ref
    execute = getattr(client, "execute")  # noqa: B009 — part of the REST client, not the Protocol
    mode, code, first = (run.mode, run.code, True)
    if run.attached:
        pending, run.pending_input = run.pending_input, None
        mode, code = ("continue", "") if pending is None else ("input", pending)
    outage_since: float | None = None
    delay = BACKOFF_START
    while True:
        try:
            result: ExecutionResult = await asyncio.wait_for(
                execute(
                    ref, mode=mode, code=code, run_id=run.id, options=run.options, ack=run.wire_seq
                ),
                POLL_TIMEOUT,
            )
        except Exception as exc:
            if first and is_not_found(exc):
                raise SessionGone() from exc
            if not _network_failure(exc) or (first and not run.attached):
                return run.result("failed", None, translate(exc, endpoint).message)
            now = time.monotonic()
            if outage_since is None:
                outage_since = now
                log.info("run %s: connection lost (%s); polling again", run.id, exc)
            if now - outage_since > GIVE_UP_AFTER:
                message = (
                    f"Lost the connection to {endpoint} for more than {GIVE_UP_AFTER:.0f} s; "
                    "the run may still be going on the session."
                )
                workspaces.set_status(run.session, "error", message)
                return run.result("failed", None, message)
            workspaces.set_status(
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
            if not (mode == "input" and (first or run.resumable)):
                mode, code = "continue", ""
            continue
        if outage_since is not None or (first and run.attached):
            outage_since, delay = None, BACKOFF_START
            workspaces.set_status(run.session, "busy")
        first = False
        if result.lost:
            await output.feed([lost_marker(result.lost)])
        await output.feed(to_records(result.console))
        if result.seq is not None:
            run.resumable = True
            run.wire_seq = max(run.wire_seq, result.seq)
        status = result.status
        if status == "waiting-input":
            text = await _ask(run, output, frontend, workspaces, result.is_password_prompt)
            output.input_answered()
            workspaces.set_status(run.session, "busy")
            if text is None:
                run.interrupted = True
                await client.interrupt(ref)
                mode, code = "input", ""
            else:
                mode, code = "input", text
                if frontend.echoes_input:
                    echo = "\n" if result.is_password_prompt else text + "\n"
                    await output.feed([Record("stdout", text=echo)])
            continue
        if status == "build-finished" and result.exit_code not in (None, 0):
            await output.feed(
                [
                    Record(
                        "stderr",
                        text=f"\n[bai-lsp] The build step failed (exit code "
                        f"{result.exit_code}); the exec step is skipped.\n",
                    )
                ]
            )
        if status == "finished":
            if run.interrupted:
                return run.result("interrupted", result.exit_code)
            return run.result("finished", result.exit_code)
        if status == "exec-timeout":
            return run.result("timeout", None, "The backend's execution time limit was hit.")
        if status in ("error", "server-restarting"):
            return run.result("failed", None, f"Backend.AI: {result.msg or status}")
        mode, code = "continue", ""
