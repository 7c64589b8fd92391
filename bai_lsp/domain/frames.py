"""One loop over a run's backend answers, whichever source they come from.

A frame source is WebSocket frames (``streamed.StreamSource``) or REST polls
(``reconnect.PollSource``). ``follow`` feeds each answer through the state machine
(``runstate.step``): output shown, the answer's number kept for ``ack``, input asked through
the broker and handed back to the source, until the run ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from bai_lsp.domain import runstate
from bai_lsp.domain.inputs import InputBroker
from bai_lsp.domain.output import RunOutput
from bai_lsp.domain.runs import Run
from bai_lsp.domain.workspaces import Workspaces
from bai_lsp.wire.execute import ExecutionResult


class FrameSource(Protocol):
    """Where a run's answers come from, and where its input answers go."""

    #: Count an answer's ``seq`` only when it names this run id (``None``: always).
    run_id_filter: str | None

    def __aiter__(self) -> AsyncIterator[ExecutionResult]: ...

    async def answer(self, text: str | None) -> None:
        """Deliver the user's input; ``None`` (cancelled) interrupts the program."""


async def follow(
    run: Run,
    source: FrameSource,
    output: RunOutput,
    broker: InputBroker,
    workspaces: Workspaces,
) -> runstate.Ending | None:
    """Follow ``run`` to its end; ``None`` when the source ran out first (a dropped stream)."""
    async for frame in source:
        step = runstate.step(frame, source.run_id_filter)
        await output.feed(step.records)
        if step.seq is not None:  # after the feed: ``ws`` counts answers fed whole
            run.resumable = True
            run.wire_seq = max(run.wire_seq, step.seq)
        if step.ask:
            await output.drain()
            text = await broker.ask(run, output.prompt_tail, step.password)
            output.input_answered()
            workspaces.set_status(run.session, "busy")
            await source.answer(text)
            if text is not None and broker.echoes_input:
                await output.feed([runstate.echo(text, step.password)])
            continue
        if step.ending is not None:
            return runstate.settle(step.ending, run.interrupted)
    return None
