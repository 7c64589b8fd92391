"""The contract as a JSON Schema, read from the classes and tables that implement it.

Every payload is an attrs class: its fields (camelCase on the wire), their types, defaults
and the docstring under each field become a ``$defs`` entry. What a type cannot say (which
values a ``str`` status takes, a setting's minimum) is added from the server's own
constants, so a new status, reason, error code, setting or command shows up here without
an edit to this module; only a new command's *result* class is named in ``RESULTS``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types as pytypes
import typing
from collections.abc import Callable
from typing import Any, Literal

import attrs
from lsprotocol import types as lsp

from bai_lsp.domain import settings as settings_module
from bai_lsp.domain.apps import AppList, OpenedApp
from bai_lsp.domain.events import (
    RUN_STATUSES,
    SESSION_REASONS,
    SESSION_STATES,
    RunResult,
    SessionList,
    SessionStatus,
)
from bai_lsp.domain.export import Exported, MediaList
from bai_lsp.domain.live import Inspection, VariableList
from bai_lsp.domain.runlog import RunList, RunReplay
from bai_lsp.domain.terminals import TerminalOpened
from bai_lsp.lsp import protocol
from bai_lsp.lsp.errors import CODES

Schema = dict[str, Any]

#: A result the server builds as a plain dict rather than an attrs class: described in prose
#: only (docs/protocol.md), so the schema can say no more than "an object".
UNTYPED: Schema = {
    "type": "object",
    "description": "A plain object the server does not declare as a class yet; see "
    "docs/protocol.md.",
}

#: What each command answers (``None``: JSON ``null``; a dict: that schema). A command
#: missing here fails the contract test, naming it.
RESULTS: dict[str, type | Schema | None] = {
    protocol.RUN_SELECTION: RunResult,
    protocol.RUN_CELL: RunResult,
    protocol.RUN_FILE: RunResult,
    protocol.SEND_INPUT: None,
    protocol.INTERRUPT: None,
    protocol.SESSION_START: SessionStatus,
    protocol.SESSION_RESTART: SessionStatus,
    protocol.SESSION_DESTROY: SessionStatus,
    protocol.SESSION_STATUS: SessionStatus,
    protocol.SESSION_LIST: SessionList,
    protocol.TERMINAL_OPEN: TerminalOpened,
    protocol.TERMINAL_INPUT: None,
    protocol.TERMINAL_RESIZE: None,
    protocol.TERMINAL_CLOSE: None,
    protocol.SESSION_APPS: AppList,
    protocol.SESSION_OPEN_APP: OpenedApp,
    protocol.RUNS_LIST: RunList,
    protocol.RUNS_REPLAY: RunReplay,
    protocol.SESSION_VARIABLES: VariableList,
    protocol.SESSION_INSPECT: Inspection,
    protocol.RUNS_MEDIA: MediaList,
    protocol.RUNS_EXPORT: Exported,
    protocol.SESSION_OPTIONS: UNTYPED,
    protocol.SESSION_CONFIGURE: UNTYPED,
    protocol.VFOLDERS_LIST: UNTYPED,
    protocol.VFOLDERS_CREATE: UNTYPED,
    protocol.VFOLDERS_FILES: UNTYPED,
    protocol.VFOLDERS_UPLOAD: UNTYPED,
    protocol.VFOLDERS_DOWNLOAD: UNTYPED,
    protocol.VFOLDERS_READ: UNTYPED,
}

#: Notification method → payload class, request method → (params, result).
NOTIFICATION_PAYLOADS: dict[str, type] = {
    protocol.RUN_STARTED_NOTIFICATION: protocol.RunStarted,
    protocol.OUTPUT_NOTIFICATION: protocol.OutputBatch,
    protocol.RUN_FINISHED_NOTIFICATION: protocol.RunFinished,
    protocol.SESSION_STATUS_NOTIFICATION: protocol.SessionStatus,
    protocol.TERMINAL_OUTPUT_NOTIFICATION: protocol.TerminalOutput,
    protocol.TERMINAL_CLOSED_NOTIFICATION: protocol.TerminalClosed,
}
REQUEST_PAYLOADS: dict[str, tuple[type, type]] = {
    protocol.INPUT_REQUEST: (protocol.InputRequest, protocol.InputAnswer),
}

_MODES = ("query", "batch")
_RECORD_TYPES = ("stdout", "stderr", "media", "html")

#: Values of fields typed ``str`` that take a closed set, by (class name, field name).
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("RunResult", "status"): RUN_STATUSES,
    ("RunFinished", "status"): RUN_STATUSES,
    ("RunEntry", "mode"): _MODES,
    ("RunStarted", "mode"): _MODES,
    ("SessionStatus", "status"): SESSION_STATES,
    ("SessionStatus", "reason"): tuple(SESSION_REASONS),
    ("Record", "type"): _RECORD_TYPES,
    ("AppSetting", "protocol"): ("http", "tcp"),
}

#: What a settings check allows beyond the field's type.
_CHECK_SCHEMAS: dict[Callable[[Any], Any], Schema] = {
    settings_module.positive_int: {"minimum": 1},
    settings_module.non_negative_int: {"minimum": 0},
}
_APP_PORT: Schema = {"type": "integer", "minimum": 1024, "maximum": 65535}


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _markdown(text: str) -> str:
    """Docstrings use reST literals (````x````); the contract's prose is Markdown."""
    return " ".join(inspect.cleandoc(text).replace("``", "`").split())


def field_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of ``cls`` (attribute docstrings)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in zip(body, [*body[1:], None], strict=True):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = _markdown(following.value.value)
    return docs


class _Builder:
    """Collects ``$defs`` while turning classes into schemas."""

    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {
            "Position": {
                "type": "object",
                "description": "An LSP position: 0-based line, column in the negotiated "
                "encoding (past the end of a line or the document it is clamped).",
                "properties": {
                    "line": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "character": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                },
                "required": ["line", "character"],
            },
            "Range": {
                "type": "object",
                "description": "An LSP range (`end` exclusive).",
                "properties": {
                    "start": {"$ref": "#/$defs/Position"},
                    "end": {"$ref": "#/$defs/Position"},
                },
                "required": ["start", "end"],
            },
        }

    def ref(self, cls: type) -> Schema:
        if cls is lsp.Range or cls is lsp.Position:
            return {"$ref": f"#/$defs/{cls.__name__}"}
        if cls.__name__ not in self.defs:
            self.defs[cls.__name__] = {}  # placeholder against recursion
            self.defs[cls.__name__] = self.object(cls)
        return {"$ref": f"#/$defs/{cls.__name__}"}

    def object(self, cls: type) -> Schema:
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            schema = self.type(hints[field.name])
            enum = ENUMS.get((cls.__name__, field.name))
            if enum:
                schema = {"type": "string", "enum": list(enum)}
            if field.name in docs:
                schema["description"] = docs[field.name]
            default = field.default
            factory = getattr(default, "factory", None)
            if callable(factory):  # attrs.Factory
                default = factory()
            if default is attrs.NOTHING:
                required.append(to_camel(field.name))
            elif default is not None:
                schema["default"] = _plain(default)
            properties[to_camel(field.name)] = schema
        out: Schema = {"type": "object"}
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            out["description"] = _markdown(cls.__doc__)
        out["properties"] = properties
        if required:
            out["required"] = required
        return out

    def type(self, tp: Any) -> Schema:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, pytypes.UnionType):
            rest = [a for a in args if a is not type(None)]
            return self.type(rest[0]) if len(rest) == 1 else {"anyOf": [self.type(a) for a in rest]}
        if origin is Literal:
            return {"type": "string", "enum": list(args)}
        if origin in (list, tuple) or tp in (list, tuple):
            return {"type": "array", "items": self.type(args[0]) if args else {}}
        if origin is dict or tp is dict:
            return {"type": "object", "additionalProperties": self.type(args[1]) if args else {}}
        if tp is Any:
            return {}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        if isinstance(tp, type) and (attrs.has(tp) or tp in (lsp.Range, lsp.Position)):
            return self.ref(tp)
        raise TypeError(f"the contract cannot describe {tp!r}")


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return {to_camel(k): _plain(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def command_arguments() -> dict[str, type]:
    """Command → argument class, in the order of the server's command table."""
    from bai_lsp.lsp.handlers import COMMAND_TABLE

    return {command.name: command.args for command in COMMAND_TABLE}


def settings_schema(builder: _Builder) -> Schema:
    """The ``backendai`` section, with what each setting's check allows."""
    builder.ref(settings_module.Settings)
    for (cls, name), check in settings_module.CHECKS.items():
        prop = builder.defs[cls.__name__]["properties"][to_camel(name)]
        choices = getattr(check, "choices", None)
        if choices:
            prop["enum"] = list(choices)
        prop.update(_CHECK_SCHEMAS.get(check, {}))
    builder.defs["AppSetting"]["properties"]["port"].update(_APP_PORT)
    return {"$ref": "#/$defs/Settings"}


def build() -> Schema:
    """The whole contract (deterministic: same code, same schema)."""
    builder = _Builder()
    arguments = command_arguments()
    commands: dict[str, Schema] = {}
    for name in arguments:
        if name not in RESULTS:
            raise KeyError(f"command {name}: name its result class in {__name__}.RESULTS")
        result = RESULTS[name]
        if isinstance(result, dict):
            answer = dict(result)
        else:
            answer = builder.ref(result) if result else {"type": "null"}
        commands[name] = {"arguments": builder.ref(arguments[name]), "result": answer}
    notifications = {m: {"params": builder.ref(c)} for m, c in NOTIFICATION_PAYLOADS.items()}
    requests = {
        m: {"params": builder.ref(p), "result": {"anyOf": [builder.ref(r), {"type": "null"}]}}
        for m, (p, r) in REQUEST_PAYLOADS.items()
    }
    settings = settings_schema(builder)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/bai-lsp/bai-lsp/docs/contract.schema.json",
        "title": "bai-lsp editor contract",
        "description": "Generated by `python -m bai_lsp.lsp.contract` from the server's "
        "classes; do not edit. Prose: docs/protocol.md.",
        "section": protocol.SECTION,
        "experimentalCapability": protocol.EXPERIMENTAL_CAPABILITY,
        "commands": commands,
        "notifications": notifications,
        "requests": requests,
        "settings": settings,
        "errorCodes": dict(CODES),
        "runStatuses": list(RUN_STATUSES),
        "sessionStatuses": list(SESSION_STATES),
        "sessionReasons": dict(SESSION_REASONS),
        "$defs": dict(sorted(builder.defs.items())),
    }
