"""The run state machine: one backend answer in, what to do about it out. Pure.

Both frame sources — WebSocket frames (``streamed.py``) and REST polls (``reconnect.py``) —
hand every answer (``ExecutionResult``) to ``step``; it says which records to show, whether
the program waits for input, and whether (and how) the run ended. So waiting-input, the
build-failed note and the final statuses are written once.
"""

from __future__ import annotations

import attrs

from bai_lsp.domain.events import Record
from bai_lsp.domain.output import to_records
from bai_lsp.wire.execute import ExecutionResult

#: Backend statuses that end a run as failed, with the backend's message.
FAILED_STATUSES = ("error", "server-restarting")
TIMEOUT_MESSAGE = "The backend's execution time limit was hit."


@attrs.frozen
class Ending:
    """How a run ended: ``finished``, ``timeout``, ``failed`` or ``interrupted``."""

    status: str
    exit_code: int | None = None
    message: str | None = None


@attrs.frozen
class Step:
    """What one backend answer means for the run."""

    #: Records to show, in order (a lost-output note, the console, a build-failed note).
    records: list[Record]
    #: The program waits for input: ask the user (``password``: without echo).
    ask: bool = False
    password: bool = False
    #: The run ended with this answer (``None``: more answers follow).
    ending: Ending | None = None
    #: The answer's number from a backend that numbers them (resumable runs), for ``ack``.
    seq: int | None = None


def lost_marker(chars: int) -> Record:
    """The visible gap when the backend could not keep output for us (journal bound)."""
    return Record(
        "stderr",
        text=f"\n[bai-lsp] {chars} characters of output were lost here: the backend could not "
        "keep them while the connection was down.\n",
    )


def build_failed_note(exit_code: int | None) -> Record:
    return Record(
        "stderr",
        text=f"\n[bai-lsp] The build step failed (exit code {exit_code}); the exec step is "
        "skipped.\n",
    )


def gap_marker(endpoint: str, why: str) -> Record:
    """The visible gap a non-resumable streamed run leaves when its connection drops."""
    return Record(
        "stderr",
        text=f"\n[bai-lsp] The connection to {endpoint} dropped during this run "
        f"({why.rstrip('.')}); the rest of its output is lost: Backend.AI interrupts a "
        "streamed run when its socket closes.\n",
    )


def step(result: ExecutionResult, run_id: str | None = None) -> Step:
    """Interpret one answer. ``run_id``: a stream frame counts its ``seq`` only when it
    names this run (an old gateway's frames have no run id)."""
    records: list[Record] = []
    if result.lost:
        records.append(lost_marker(result.lost))
    records.extend(to_records(result.console))
    seq = result.seq if run_id is None or result.run_id == run_id else None
    status = result.status
    if status == "waiting-input":
        return Step(records, ask=True, password=result.is_password_prompt, seq=seq)
    if status == "build-finished" and result.exit_code not in (None, 0):
        records.append(build_failed_note(result.exit_code))
    ending: Ending | None = None
    if status == "finished":
        ending = Ending("finished", result.exit_code)
    elif status == "exec-timeout":
        ending = Ending("timeout", None, TIMEOUT_MESSAGE)
    elif status in FAILED_STATUSES:
        ending = Ending("failed", None, f"Backend.AI: {result.msg or status}")
    return Step(records, ending=ending, seq=seq)


def settle(ending: Ending, interrupted: bool) -> Ending:
    """A run the user interrupted that then finished (or broke off) ended as interrupted."""
    if interrupted and ending.status in ("finished", "failed"):
        return Ending("interrupted", ending.exit_code if ending.status == "finished" else None)
    return ending


def echo(text: str, password: bool) -> Record:
    """What the output shows for an answered input (never a password)."""
    return Record("stdout", text="\n" if password else text + "\n")
