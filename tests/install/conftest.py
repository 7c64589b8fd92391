"""Fixtures of the install tests (helpers in install_env.py)."""

from __future__ import annotations

import pytest
from install_env import Release, build_release


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release artifacts, built once per test session by scripts/release.sh."""
    return build_release(tmp_path_factory.mktemp("dist"))
