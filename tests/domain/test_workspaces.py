"""Session names: stable per folder, valid for Backend.AI, distinct per image."""

from __future__ import annotations

import re

import pytest

from bai_lsp.domain.settings import parse_settings
from bai_lsp.domain.workspaces import derive_session_name, our_status

VALID = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)


@pytest.mark.parametrize(
    "folder",
    [
        "file:///home/ada/project",
        "file:///home/ada/My%20Project%20(copy)",
        "file:///home/ada/" + "very-long-name-" * 10,
        "file:///",
        "file:///tmp/데이터",
    ],
)
def test_derived_names_are_valid_and_stable(folder: str) -> None:
    settings = parse_settings([])
    name = derive_session_name(folder, "python", settings)
    assert VALID.match(name), name
    assert name == derive_session_name(folder, "python", settings)
    other = derive_session_name(folder, "cr.backend.ai/stable/c:latest", settings)
    assert VALID.match(other) and other != name and other.endswith("-c")


def test_different_folders_with_the_same_name_get_different_sessions() -> None:
    settings = parse_settings([])
    a = derive_session_name("file:///a/project", "python", settings)
    b = derive_session_name("file:///b/project", "python", settings)
    assert a != b and a.startswith("bai-project-") and b.startswith("bai-project-")


def test_the_user_can_name_the_session() -> None:
    settings = parse_settings([{"sessionName": "mine"}])
    assert derive_session_name("file:///x", "python", settings) == "mine"
    assert derive_session_name("file:///x", "node", settings) == "mine-node"


def test_backend_statuses() -> None:
    assert our_status("RUNNING") == "idle"
    assert our_status("PENDING") == "starting"
    assert our_status("TERMINATED") == "terminated"
    assert our_status("ERROR") == "error"
