"""docs/protocol.md is the contract: every command and message it lists exists in the server."""

from __future__ import annotations

import re
from pathlib import Path

from bai_lsp.domain.events import SESSION_REASONS
from bai_lsp.lsp import protocol
from bai_lsp.lsp.errors import CODES
from bai_lsp.lsp.handlers import COMMANDS
from lsp.harness import start_server

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def table_rows(heading: str) -> list[str]:
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def first_cells(heading: str) -> set[str]:
    return {re.match(r"\| `([^`]+)`", row).group(1) for row in table_rows(heading)}  # type: ignore[union-attr]


def test_documented_commands_are_the_protocol_module_commands() -> None:
    documented = first_cells("Commands")
    assert documented == set(COMMANDS)


def test_documented_notifications_and_requests_exist() -> None:
    assert first_cells("Notifications") == set(protocol.NOTIFICATIONS)
    requests = set(re.findall(r"`(backendai/[A-Za-z]+)` `\{", DOC.split("## Requests", 1)[1]))
    assert requests == set(protocol.REQUESTS)


def test_documented_session_reasons_are_the_servers() -> None:
    assert first_cells("Session status reasons") == set(SESSION_REASONS)


def test_documented_error_codes_are_the_servers() -> None:
    documented = {
        m.group(2): int(m.group(1))
        for m in re.finditer(r"\| (-\d+) \| `(\w+)` \|", DOC.split("## Errors", 1)[1])
    }
    assert documented == CODES


def test_the_notifications_are_really_sent_by_the_server() -> None:
    source = (Path(protocol.__file__).parent / "server.py").read_text()
    for name in (
        "RUN_STARTED_NOTIFICATION",
        "OUTPUT_NOTIFICATION",
        "RUN_FINISHED_NOTIFICATION",
        "SESSION_STATUS_NOTIFICATION",
        "INPUT_REQUEST",
    ):
        assert f"protocol.{name}" in source


async def test_the_running_server_advertises_every_documented_command(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server([tmp_path], state_dir=state_dir) as h:
        assert h.initialize_result is not None
        advertised = h.initialize_result.capabilities.execute_command_provider
        assert advertised is not None
        assert set(advertised.commands) >= first_cells("Commands")
