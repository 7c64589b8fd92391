"""Command arguments are read by cattrs from the protocol classes: a bad field is refused
with its key path, in words a user can act on; a good one arrives typed."""

from __future__ import annotations

from typing import Any

import pytest

from bai_lsp.domain.errors import InvalidParamsError
from bai_lsp.lsp.arguments import parse_args
from bai_lsp.lsp.handlers import COMMAND_TABLE, COMMANDS
from bai_lsp.lsp.protocol import (
    NoArgs,
    RunFileArgs,
    RunSelectionArgs,
    SendInputArgs,
    TerminalOpenArgs,
)

RANGE = {"start": {"line": 0, "character": 1}, "end": {"line": 2, "character": 3}}


def refused(cls: type, arguments: list[Any]) -> str:
    with pytest.raises(InvalidParamsError) as info:
        parse_args(cls, "backendai.test", arguments)
    return info.value.message


@pytest.mark.parametrize(
    ("cls", "arguments", "message"),
    [
        (
            RunFileArgs,
            [{"uri": "u", "mode": "fast"}],
            "'mode' must be \"query\" or \"batch\", got 'fast'",
        ),
        (RunFileArgs, [{"mode": "query"}], "the argument has no 'uri' field"),
        (RunFileArgs, [{"uri": 5}], "'uri' must be a string, got 5"),
        (SendInputArgs, [{"runId": "r"}], "the argument has no 'text' field"),
        (SendInputArgs, [{"runId": ["r"], "text": "x"}], "'runId' must be a string"),
        (TerminalOpenArgs, [{"uri": "u", "cols": "80"}], "'cols' must be an integer, got '80'"),
        (TerminalOpenArgs, [{"uri": "u", "rows": True}], "'rows' must be an integer, got True"),
        (RunSelectionArgs, [{"uri": "u", "range": 7}], "'range' must be an LSP range"),
        (
            RunSelectionArgs,
            [{"uri": "u", "range": {"start": {"line": 0, "character": 0}}}],
            "'range' is not an LSP range: it has no 'range.end' field",
        ),
        (
            RunSelectionArgs,
            [{"uri": "u", "range": {**RANGE, "end": {"line": -1, "character": 0}}}],
            "'range.end.line' must be a non-negative integer, got -1",
        ),
        (
            RunSelectionArgs,
            [{"uri": "u", "range": {**RANGE, "start": {"line": 0}}}],
            "it has no 'range.start.character' field",
        ),
        (RunFileArgs, [{"uri": "u"}, {"uri": "v"}], "takes one object argument, got 2"),
        (RunFileArgs, ["file:///a.py"], "takes one object argument, got 'file:///a.py'"),
    ],
)
def test_a_bad_argument_is_refused_with_its_key_path(
    cls: type, arguments: list[Any], message: str
) -> None:
    text = refused(cls, arguments)
    assert text.startswith("backendai.test")
    assert message in text


def test_good_arguments_arrive_typed_with_defaults_nulls_and_extra_keys() -> None:
    args = parse_args(RunSelectionArgs, "c", [{"uri": "u", "range": RANGE, "extra": 1}])
    assert (args.range.start.character, args.range.end.line) == (1, 2)
    assert parse_args(RunFileArgs, "c", [{"uri": "u", "mode": None}]).mode == "query"
    assert parse_args(TerminalOpenArgs, "c", [{"uri": "u"}]).cols == 80
    assert parse_args(NoArgs, "c", []) == parse_args(NoArgs, "c", [None]) == NoArgs()


def test_every_command_is_one_table_entry_with_an_attrs_argument_class() -> None:
    assert len(set(COMMANDS)) == len(COMMANDS) == len(COMMAND_TABLE)
    for command in COMMAND_TABLE:
        assert command.args.__module__ == "bai_lsp.lsp.protocol", command.name
        assert command.name.startswith("backendai.")
