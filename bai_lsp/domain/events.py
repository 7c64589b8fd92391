"""The values the domain hands to its front end: run results, output batches, session states.

They are attrs classes with snake_case fields; the LSP layer sends them as they are (its
converter renames fields to camelCase and drops ``None``), so these classes *are* the
payloads documented in docs/protocol.md and re-exported by ``bai_lsp.lsp.protocol``.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

RunMode = Literal["query", "batch"]
RunStatusName = Literal["finished", "interrupted", "failed", "timeout"]
SessionState = Literal[
    "starting", "idle", "busy", "waiting-input", "reconnecting", "terminated", "error"
]

RUN_STATUSES: tuple[str, ...] = ("finished", "interrupted", "failed", "timeout")
SESSION_STATES: tuple[str, ...] = (
    "starting",
    "idle",
    "busy",
    "waiting-input",
    "reconnecting",
    "terminated",
    "error",
)

#: Why a session is ``terminated`` or in ``error``: the ``reason`` of ``sessionStatus``, a
#: closed set, so that an editor decides from it (is this news to the user?) instead of
#: guessing from timing. Each value with what it means (docs/protocol.md lists them).
SESSION_REASONS: dict[str, str] = {
    "not-started": "this server has not started the session and the backend does not have it",
    "destroyed-by-user": "this editor's user destroyed it (`backendai.session.destroy`): no news",
    "destroyed-on-backend": "a user or administrator destroyed it on the backend "
    "(another client, the web UI)",
    "idle-timeout": "it was idle longer than the backend's idle timeout",
    "lifetime-exceeded": "it reached the backend's maximum session lifetime",
    "kernel-exited": "its kernel (main process) exited",
    "task-finished": "its batch task finished",
    "agent-lost": "the agent (node) running it went away",
    "failed-to-start": "it could not be created or started (`message` says why)",
    "restart-failed": "restarting it failed (`message` says why)",
    "terminated-by-backend": "the backend ended it or no longer has it, and gave no reason "
    "bai-lsp knows (`message` quotes what it said)",
    "backend-error": "the backend, or the connection to it, failed while a run used the "
    "session (`message` says what)",
}


@attrs.frozen
class Record:
    """One output item: ``stdout``/``stderr`` carry ``text``; ``media``/``html`` carry ``data``."""

    type: str
    """``stdout``, ``stderr``, ``media`` or ``html``."""
    text: str | None = None
    """Console text (stdout/stderr only)."""
    mime: str | None = None
    """MIME type of a media record, e.g. ``image/png``."""
    data: str | None = None
    """Base64 (PNG/JPEG, no ``data:`` prefix), SVG text, or HTML."""

    @property
    def size(self) -> int:
        """Bytes this record counts against the per-run output budget."""
        return len((self.text or "").encode()) + len(self.data or "")


@attrs.frozen
class RunStarted:
    """``backendai/runStarted``: a run started on its session (or this server re-attached one
    an earlier server process left going, see "Runs across restarts")."""

    run_id: str
    uri: str
    mode: str
    session_name: str
    reattached: bool | None = None
    """``True`` when a new server process follows a run an earlier one left going on its
    session (absent otherwise); its output then continues where the earlier one stopped."""


@attrs.frozen
class OutputBatch:
    """``backendai/output``: one coalesced batch of records, ``seq`` 0, 1, 2… per run."""

    run_id: str
    seq: int
    records: list[Record]


@attrs.frozen
class RunResult:
    """What a run command answers with when the run ends."""

    run_id: str
    status: str
    """``finished``, ``interrupted``, ``failed`` or ``timeout``."""
    exit_code: int
    """The program's exit code; 130 when interrupted without one, 1 when failed without one."""
    duration_ms: int
    message: str | None = None
    """Why the run failed, when it did (a user-readable sentence)."""


@attrs.frozen
class RunFinished:
    """``backendai/runFinished``: the RunResult plus the document, and the spill file when the
    byte budget was exceeded; exactly one per started run, after its last output."""

    run_id: str
    status: str
    exit_code: int
    duration_ms: int
    uri: str
    output_file: str | None = None
    """Where the full output is kept when ``output.maxBytesPerRun`` was exceeded."""
    message: str | None = None


@attrs.frozen
class SessionStatus:
    """``backendai/sessionStatus``: the state of a workspace's session and why it ended
    (``reason``); also the answer of the ``backendai.session.*`` commands."""

    workspace: str
    """The workspace folder URI."""
    session_name: str
    status: str
    """``starting``, ``idle``, ``busy``, ``waiting-input``, ``reconnecting``, ``terminated`` or
    ``error``."""
    image: str
    message: str | None = None
    reason: str | None = None
    """Why the session is ``terminated`` or ``error``: one of ``SESSION_REASONS`` (absent
    for the other statuses)."""
    idle_remaining_seconds: float | None = None
    """Seconds before the backend's idle timeout ends an idle session, when it reports one
    (``backendai.session.status`` answers only)."""
    lifetime_remaining_seconds: float | None = None
    """Seconds before the backend's maximum session lifetime ends the session, when it
    reports one (``backendai.session.status`` answers only)."""
    resources: dict[str, Any] | None = None
    """``{requested, occupied}`` resource slots as the backend reports them (status answers)."""
    pending_reason: str | None = None
    """Why the scheduler has not started the session yet, when it says (status answers)."""


@attrs.frozen
class SessionSummary:
    """One entry of ``backendai.session.list``."""

    name: str
    status: str
    image: str
    workspace: str | None = None


@attrs.frozen
class SessionList:
    sessions: list[SessionSummary]


@attrs.frozen
class InputRequest:
    """``backendai/input`` (server → client request)."""

    run_id: str
    prompt: str
    password: bool
