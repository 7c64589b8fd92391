"""The editor ⇄ server contract in code: method names, command arguments, payloads.

docs/protocol.md is the prose of this module (``tests/lsp/test_protocol_doc.py`` keeps the
two in step). Payload classes are attrs with snake_case fields; pygls' converter sends them
camelCase and drops ``None`` fields. The notification and result payloads are the domain's
own event classes, re-exported here.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from lsprotocol import types

from bai_lsp.domain.apps import AppInfo, AppList, OpenedApp
from bai_lsp.domain.events import (
    InputRequest,
    OutputBatch,
    Record,
    RunFinished,
    RunResult,
    RunStarted,
    SessionList,
    SessionStatus,
    SessionSummary,
)
from bai_lsp.domain.terminals import TerminalClosed, TerminalOpened, TerminalOutput

__all__ = [
    "NOTIFICATIONS",
    "REQUESTS",
    "AppInfo",
    "AppList",
    "InputRequest",
    "OpenedApp",
    "OutputBatch",
    "Record",
    "RunFinished",
    "RunResult",
    "RunStarted",
    "SessionList",
    "SessionStatus",
    "SessionSummary",
    "TerminalClosed",
    "TerminalOpened",
    "TerminalOutput",
]

# Commands (workspace/executeCommand, one object argument). Which argument class each takes
# and which service call serves it is the command table, ``handlers.COMMAND_TABLE``.
RUN_SELECTION = "backendai.runSelection"
RUN_CELL = "backendai.runCell"
RUN_FILE = "backendai.runFile"
SEND_INPUT = "backendai.sendInput"
INTERRUPT = "backendai.interrupt"
SESSION_START = "backendai.session.start"
SESSION_RESTART = "backendai.session.restart"
SESSION_DESTROY = "backendai.session.destroy"
SESSION_STATUS = "backendai.session.status"
SESSION_LIST = "backendai.session.list"
TERMINAL_OPEN = "backendai.terminal.open"
TERMINAL_INPUT = "backendai.terminal.input"
TERMINAL_RESIZE = "backendai.terminal.resize"
TERMINAL_CLOSE = "backendai.terminal.close"
SESSION_APPS = "backendai.session.apps"
SESSION_OPEN_APP = "backendai.session.openApp"
RUNS_LIST = "backendai.runs.list"
RUNS_REPLAY = "backendai.runs.replay"
SESSION_VARIABLES = "backendai.session.variables"
SESSION_INSPECT = "backendai.session.inspect"
RUNS_MEDIA = "backendai.runs.media"
RUNS_EXPORT = "backendai.runs.export"
SESSION_OPTIONS = "backendai.session.options"
SESSION_CONFIGURE = "backendai.session.configure"
VFOLDERS_LIST = "backendai.vfolders.list"
VFOLDERS_FILES = "backendai.vfolders.files"
VFOLDERS_CREATE = "backendai.vfolders.create"
VFOLDERS_UPLOAD = "backendai.vfolders.upload"
VFOLDERS_DOWNLOAD = "backendai.vfolders.download"
VFOLDERS_READ = "backendai.vfolders.read"

#: ``textDocument/completion`` asks again after these characters.
COMPLETION_TRIGGERS: tuple[str, ...] = (".", "(")

# Notifications (server → client).
RUN_STARTED_NOTIFICATION = "backendai/runStarted"
OUTPUT_NOTIFICATION = "backendai/output"
RUN_FINISHED_NOTIFICATION = "backendai/runFinished"
SESSION_STATUS_NOTIFICATION = "backendai/sessionStatus"
TERMINAL_OUTPUT_NOTIFICATION = "backendai/terminalOutput"
TERMINAL_CLOSED_NOTIFICATION = "backendai/terminalClosed"

NOTIFICATIONS: tuple[str, ...] = (
    RUN_STARTED_NOTIFICATION,
    OUTPUT_NOTIFICATION,
    RUN_FINISHED_NOTIFICATION,
    SESSION_STATUS_NOTIFICATION,
    TERMINAL_OUTPUT_NOTIFICATION,
    TERMINAL_CLOSED_NOTIFICATION,
)

# Requests (server → client).
INPUT_REQUEST = "backendai/input"
REQUESTS: tuple[str, ...] = (INPUT_REQUEST,)

#: ``initialize.capabilities.experimental.backendai.input``: the client answers backendai/input.
EXPERIMENTAL_CAPABILITY = "backendai"

#: The version of this editor ⇄ server contract, sent in the ``initialize`` result as
#: ``capabilities.experimental.backendai.protocolVersion``. Raised when a change would break an
#: editor plugin written for the previous one; each plugin warns when its own differs.
PROTOCOL_VERSION = 1

SECTION = "backendai"


@attrs.frozen
class RunSelectionArgs:
    uri: str
    range: types.Range


@attrs.frozen
class RunCellArgs:
    uri: str
    position: types.Position


@attrs.frozen
class RunFileArgs:
    uri: str
    mode: Literal["query", "batch"] = "query"


@attrs.frozen
class SendInputArgs:
    run_id: str
    text: str


@attrs.frozen
class UriArgs:
    uri: str


@attrs.frozen
class TerminalOpenArgs:
    uri: str
    cols: int = 80
    rows: int = 24


@attrs.frozen
class TerminalArgs:
    terminal_id: str


@attrs.frozen
class TerminalInputArgs:
    terminal_id: str
    data: str


@attrs.frozen
class TerminalResizeArgs:
    terminal_id: str
    cols: int
    rows: int


@attrs.frozen
class OpenAppArgs:
    uri: str
    app: str


@attrs.frozen
class RunsListArgs:
    uri: str | None = None


@attrs.frozen
class RunIdArgs:
    run_id: str


@attrs.frozen
class InspectArgs:
    uri: str
    name: str
    offset: int | None = None
    limit: int | None = None


@attrs.frozen
class ExportArgs:
    format: Literal["ipynb", "html"]
    path: str
    uri: str | None = None


@attrs.frozen
class NoArgs:
    pass


@attrs.frozen
class ConfigureArgs:
    """``backendai.session.configure``: every field but ``uri`` optional (absent = default)."""

    uri: str
    image: str | None = None
    preset: str | None = None
    resources: dict[str, Any] | None = None
    resource_group: str | None = None
    cluster_size: int | None = None
    mounts: list[str] | None = None


@attrs.frozen
class VFolderNameArgs:
    name: str


@attrs.frozen
class VFolderFilesArgs:
    name: str
    path: str = ""


@attrs.frozen
class VFolderTransferArgs:
    name: str
    path: str
    local_path: str


@attrs.frozen
class InputAnswer:
    """The client's answer to ``backendai/input`` (``null`` instead of this cancels)."""

    text: str
