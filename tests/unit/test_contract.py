"""The editor contract is generated from the server's classes: every generated copy (the
JSON Schema, VS Code's protocol.ts and settings, the Lua and elisp constants, the tables of
docs/protocol.md) must be what the code says now, or CI fails naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import pytest

from bai_lsp.domain.events import SESSION_REASONS, SESSION_STATES
from bai_lsp.domain.settings import Settings, to_camel
from bai_lsp.lsp import protocol
from bai_lsp.lsp.contract import __main__ as contract
from bai_lsp.lsp.contract.schema import build, command_arguments
from bai_lsp.lsp.errors import CODES
from bai_lsp.lsp.handlers import COMMANDS

REPO = Path(__file__).resolve().parents[2]


def test_no_generated_file_is_stale() -> None:
    stale = contract.stale(REPO)
    assert stale == [], (
        f"stale generated contract files: {', '.join(stale)}; regenerate them with "
        f"`{contract.COMMAND}` and commit the result"
    )


def test_the_check_names_a_stale_file_and_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in contract.targets(REPO):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    (tmp_path / contract.VSCODE_CLIENT_SETTINGS).write_text(
        (REPO / contract.VSCODE_CLIENT_SETTINGS).read_text()
    )
    lua = tmp_path / "editor-clients/neovim/lua/backendai/protocol.lua"
    lua.write_text(lua.read_text().replace("destroyed-by-user", "destroyed-by-someone"))
    assert contract.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "editor-clients/neovim/lua/backendai/protocol.lua is stale" in err
    assert "python -m bai_lsp.lsp.contract" in err
    assert contract.main(["--root", str(tmp_path)]) == 0  # regenerating repairs it
    assert contract.main(["--check", "--root", str(tmp_path)]) == 0


def test_the_schema_holds_every_command_notification_code_status_and_reason() -> None:
    schema = build()
    assert list(schema["commands"]) == list(COMMANDS)
    assert list(command_arguments()) == list(COMMANDS)
    assert list(schema["notifications"]) == list(protocol.NOTIFICATIONS)
    assert list(schema["requests"]) == list(protocol.REQUESTS)
    assert schema["errorCodes"] == CODES
    assert schema["sessionStatuses"] == list(SESSION_STATES)
    assert schema["sessionReasons"] == SESSION_REASONS
    status = schema["$defs"]["SessionStatus"]["properties"]
    assert status["reason"]["enum"] == list(SESSION_REASONS)
    assert "reconnecting" in status["status"]["enum"]
    selection = schema["$defs"][schema["commands"][protocol.RUN_SELECTION]["arguments"]["$ref"][8:]]
    assert selection["properties"]["range"] == {"$ref": "#/$defs/Range"}


def test_every_setting_reaches_the_schema_with_its_checks() -> None:
    schema = build()
    settings = schema["$defs"]["Settings"]["properties"]
    assert list(settings) == [to_camel(f.name) for f in attrs.fields(Settings)]
    assert settings["runTransport"]["enum"] == ["websocket", "rest"]
    assert settings["notifyAfterSeconds"] == {
        "type": "integer",
        "description": settings["notifyAfterSeconds"]["description"],
        "default": 30,
        "minimum": 0,
    }
    assert schema["$defs"]["OutputSettings"]["properties"]["maxBytesPerRun"]["minimum"] == 1
    # every setting says what it means (docs/protocol.md's table and VS Code show it)
    for name in ("Settings", "BatchSettings", "OutputSettings"):
        for key, prop in schema["$defs"][name]["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no docstring"


def test_vscode_can_set_every_server_setting_but_the_secret() -> None:
    package = json.loads((REPO / contract.VSCODE_PACKAGE).read_text())
    declared = set(package["contributes"]["configuration"]["properties"])
    schema = build()
    for key, prop in schema["$defs"]["Settings"]["properties"].items():
        if key == "secretKey":
            assert f"backendai.{key}" not in declared  # VS Code keeps it in secret storage
        elif "$ref" in prop:
            nested = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]["properties"]
            assert {f"backendai.{key}.{inner}" for inner in nested} <= declared
        else:
            assert f"backendai.{key}" in declared
