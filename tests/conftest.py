"""Fixtures every suite may use: a live gateway (docs/architecture.md, Seam 3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process

__all__ = ["GatewayInfo"]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayInfo]:
    """One gateway shared by the whole test session (do not count its sessions)."""
    info = start_gateway(tmp_path_factory.mktemp("gateway"))
    try:
        yield info
    finally:
        stop_gateway_process(info.process)


@pytest.fixture
def fresh_gateway(tmp_path: Path) -> Iterator[GatewayInfo]:
    """A gateway of this test's own."""
    info = start_gateway(tmp_path / "gateway")
    try:
        yield info
    finally:
        stop_gateway_process(info.process)
