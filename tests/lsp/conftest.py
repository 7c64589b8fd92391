"""Fixtures of the language-server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp.harness import stop_shared_gateway


@pytest.fixture
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("state")  # outside the workspace folder
    yield directory
    stop_shared_gateway(directory)
