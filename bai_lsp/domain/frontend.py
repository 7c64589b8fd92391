"""What the domain needs from whoever shows its results: the LSP server or a terminal.

The domain calls these from the event loop thread; implementations must not block for
long (a notification is one bounded write).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from bai_lsp.domain.errors import CancelledByUserError
from bai_lsp.domain.events import (
    InputRequest,
    OutputBatch,
    RunFinished,
    RunStarted,
    SessionStatus,
)

T = TypeVar("T")


class Progress(Protocol):
    """One work-done progress the user may cancel."""

    def report(self, message: str, percentage: int | None = None) -> None: ...

    async def wait_cancelled(self) -> None:
        """Return when the user cancels; never returns for a progress that cannot be."""
        ...


async def unless_cancelled(bar: Progress, work: Awaitable[T], cancelled: str) -> T:
    """``work``'s result; if the user cancels ``bar`` first, ``work`` is cancelled and
    ``CancelledByUserError(cancelled)`` raised."""
    task = asyncio.ensure_future(work)
    cancel = asyncio.ensure_future(bar.wait_cancelled())
    try:
        await asyncio.wait({task, cancel}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancel.cancel()
    if not task.done():
        task.cancel()
        raise CancelledByUserError(cancelled)
    return task.result()


class Frontend(Protocol):
    def run_started(self, event: RunStarted) -> None: ...

    def output(self, batch: OutputBatch) -> None: ...

    def run_finished(self, event: RunFinished) -> None: ...

    def session_status(self, event: SessionStatus) -> None: ...

    @property
    def answers_input(self) -> bool:
        """Whether ``ask_input`` reaches a person (the client declared backendai.input)."""
        ...

    @property
    def echoes_input(self) -> bool:
        """Whether answered input should appear in the run's stdout (as a terminal shows it);
        false when the user typed it where the output is shown anyway."""
        ...

    async def ask_input(self, request: InputRequest) -> str | None:
        """Ask for one line of input; ``None`` means the user cancelled."""
        ...

    def show_message(self, level: str, text: str) -> None:
        """``level`` is ``error``, ``warning`` or ``info``."""
        ...

    def progress(self, title: str) -> AbstractAsyncContextManager[Progress]: ...
