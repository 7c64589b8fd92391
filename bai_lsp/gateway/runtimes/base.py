"""The seam between the gateway's HTTP layer and the code runners (docs/architecture.md, Seam 1).

The HTTP layer only ever sees these names: a ``Runtime`` per session, a ``Pty`` per terminal
socket, and the exceptions below, which it maps to problem+json (``ExecutionRequestError`` →
400 ``invalid-api-params`` with ``str(exc)`` as ``msg``; ``RuntimeFailure`` → 500
``kernel-execution-failed``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bai_lsp.wire.execute import ExecutionResult

#: Backend.AI's flush windows (§4.6): REST polls wait at most 2 s, the stream 0.2 s.
REST_FLUSH_TIMEOUT = 2.0
STREAM_FLUSH_TIMEOUT = 0.2


class ExecutionRequestError(ValueError):
    """The request cannot be served as asked (bad mode, missing or foreign runId, ...).

    The message is written for the user and names what to do instead.
    """


class RuntimeFailure(RuntimeError):
    """The runner itself broke (kernel died and could not be restarted, spawn failed)."""


@runtime_checkable
class Pty(Protocol):
    """A shell on a pseudo-terminal in the session folder."""

    @property
    def returncode(self) -> int | None: ...

    async def read(self) -> bytes:
        """Next chunk of terminal output; ``b""`` once the shell has exited."""
        ...

    async def write(self, data: bytes) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    async def close(self) -> None:
        """Hang up and kill the shell's whole process group."""
        ...


@runtime_checkable
class Runtime(Protocol):
    """One session's code runner.

    ``execute`` is one Backend.AI poll (§4): it returns as soon as output or a control
    record exists (after a few ms of coalescing), ``flush_timeout`` being only the upper
    bound. Runs are serialised: a new runId waits until the current run has finished.
    """

    workdir: Path

    async def start(self) -> None: ...

    async def execute(
        self,
        mode: str,
        run_id: str | None,
        code: str,
        options: dict[str, Any] | None,
        flush_timeout: float,
    ) -> ExecutionResult: ...

    async def interrupt(self) -> None: ...

    async def restart(self) -> None: ...

    async def shutdown(self) -> None:
        """Stop everything this runtime started, the whole process tree included."""
        ...

    async def open_pty(self, rows: int, cols: int) -> Pty: ...
