"""One run on one session: what it is, where it runs, how far the backend's answers got, and
the answer to its pending input. Interrupting it reaches the kernel once it runs.

How a run is followed lives elsewhere: ``frames.py`` (one loop over backend answers),
``streamed.py`` (WebSocket frames), ``reconnect.py`` (REST polls), ``supervisor.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import attrs

from bai_lsp.domain.backend import Backend
from bai_lsp.domain.events import RunResult
from bai_lsp.domain.workspaces import ComputeSession
from bai_lsp.wire.execute import BatchOptions


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
