"""The input broker: a run's program waits for input, and the user is asked — once.

The editor is asked with ``backendai/input`` when it can answer (experimental capability
``backendai.input``), else told how to answer with ``backendai.sendInput``; either way
``sendInput`` works, and whichever answer comes first is used (``Run.answer``). ``None``
means the user cancelled. The broker remembers the prompt it last asked per run, so a run
detached while waiting can be asked again by the next server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bai_lsp.domain.events import InputRequest
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.runs import Run
from bai_lsp.domain.workspaces import Workspaces

log = logging.getLogger(__name__)


class InputBroker:
    """Asks the user for one run's input and hands the answer to whoever waits for it."""

    def __init__(self, frontend: Frontend, workspaces: Workspaces) -> None:
        self._frontend = frontend
        self._workspaces = workspaces
        #: The request last sent per run, while it is being asked.
        self.asked: dict[str, InputRequest] = {}

    @property
    def echoes_input(self) -> bool:
        return self._frontend.echoes_input

    async def ask(
        self, run: Run, prompt: str, password: bool, *, reattached: bool = False
    ) -> str | None:
        """The user's answer (``None``: cancelled, or the run is being interrupted)."""
        run.input_answer = asyncio.get_running_loop().create_future()
        self._workspaces.set_status(run.session, "waiting-input")
        request = InputRequest(run.id, prompt, password)
        self.asked[run.id] = request
        asker: asyncio.Future[Any] | None = None
        if self._frontend.answers_input:
            asker = asyncio.ensure_future(self._frontend.ask_input(request))
            asker.add_done_callback(lambda f: answer_from_client(run, f))
        else:
            shown = f": {prompt.strip()}" if prompt.strip() else ""
            which = "A re-attached run" if reattached else "A run"
            self._frontend.show_message(
                "info",
                f"{which} is waiting for input{shown}. Answer with the command "
                f'backendai.sendInput {{"runId": "{run.id}", "text": ...}}.',
            )
        if run.interrupted:
            run.answer(None)
        try:
            return await run.input_answer
        finally:
            run.input_answer = None
            if asker is not None and not asker.done():
                asker.cancel()

    def forget(self, run_id: str) -> InputRequest | None:
        return self.asked.pop(run_id, None)


def answer_from_client(run: Run, future: asyncio.Future[Any]) -> None:
    """The editor's reply to ``backendai/input`` (a failed request cancels the input)."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.info("the client could not answer backendai/input: %s", exc)
        run.answer(None)
        return
    run.answer(future.result())
