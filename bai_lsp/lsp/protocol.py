"""The editor ⇄ server contract in code: method names, command arguments, payloads.

docs/protocol.md is the prose of this module (``tests/lsp/test_protocol_doc.py`` keeps the
two in step). Payload classes are attrs with snake_case fields; pygls' converter sends them
camelCase and drops ``None`` fields. The notification and result payloads are the domain's
own event classes, re-exported here.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import attrs
from lsprotocol import types
from pygls.protocol import default_converter

from bai_lsp.domain.apps import AppInfo, AppList, OpenedApp
from bai_lsp.domain.errors import InvalidParamsError
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
    "COMMANDS",
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

# Commands (workspace/executeCommand, one object argument).
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

COMMANDS: tuple[str, ...] = (
    RUN_SELECTION,
    RUN_CELL,
    RUN_FILE,
    SEND_INPUT,
    INTERRUPT,
    SESSION_START,
    SESSION_RESTART,
    SESSION_DESTROY,
    SESSION_STATUS,
    SESSION_LIST,
    TERMINAL_OPEN,
    TERMINAL_INPUT,
    TERMINAL_RESIZE,
    TERMINAL_CLOSE,
    SESSION_APPS,
    SESSION_OPEN_APP,
    RUNS_LIST,
    RUNS_REPLAY,
)

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
class NoArgs:
    pass


@attrs.frozen
class InputAnswer:
    """The client's answer to ``backendai/input`` (``null`` instead of this cancels)."""

    text: str


_Args = TypeVar("_Args")

_FIELD_SHAPES: dict[str, tuple[type, str]] = {
    "uri": (str, "a string"),
    "run_id": (str, "a string"),
    "text": (str, "a string"),
    "mode": (str, '"query" or "batch"'),
    "terminal_id": (str, "a string"),
    "data": (str, "a string"),
    "app": (str, "a string"),
    "cols": (int, "an integer"),
    "rows": (int, "an integer"),
}


def _to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@functools.cache
def _converter() -> Any:
    """pygls' converter takes ~15 ms to build: once per process, not once per command."""
    return default_converter()


def parse_args(cls: type[_Args], command: str, arguments: Sequence[Any]) -> _Args:
    """Read a command's single object argument, with an error that names the bad field."""
    if not arguments:
        raw: Any = {}
    elif len(arguments) == 1:
        raw = arguments[0]
    else:
        raise InvalidParamsError(f"{command} takes one object argument, got {len(arguments)}.")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidParamsError(f"{command} takes one object argument, got {raw!r:.60}.")
    values: dict[str, Any] = {}
    converter = _converter()
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        key = _to_camel(field.name)
        if key not in raw or raw[key] is None:
            if field.default is attrs.NOTHING:
                raise InvalidParamsError(f"{command}: the argument has no {key!r} field.")
            continue
        value = raw[key]
        if field.name in ("range", "position"):
            try:
                values[field.name] = converter.structure(value, hints[field.name])
            except Exception:
                raise InvalidParamsError(
                    f"{command}: {key!r} is not an LSP {field.name} "
                    "(expected {line, character} positions), got "
                    f"{value!r:.80}."
                ) from None
            continue
        expected, wording = _FIELD_SHAPES[field.name]
        if (
            not isinstance(value, expected)
            or (field.name == "mode" and value not in ("query", "batch"))
            or (expected is int and isinstance(value, bool))
        ):
            raise InvalidParamsError(f"{command}: {key!r} must be {wording}, got {value!r:.60}.")
        values[field.name] = value
    return cls(**values)
