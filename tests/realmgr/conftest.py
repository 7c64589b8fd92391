"""The real-manager suite: one real Backend.AI 26.9.6 cluster for the whole test session.

Every test here is marked `realmgr` (deselect with `-m "not realmgr"`). The cluster comes up
once (`scripts/real-backendai.sh up`, docs/real-backendai.md) and goes down at the end.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.realbackendai.cluster import Cluster

from bai_lsp.backendai import APIConfig, BackendAIClient, SessionSpec

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.realmgr)
            # the first test also waits for `up`: seeding a fresh state folder takes 1.5-3 min
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    the_cluster = Cluster()
    try:
        yield the_cluster
    finally:
        if the_cluster.is_up:
            done = the_cluster.down()
            print(done.stderr, file=sys.stderr)


@pytest.fixture
def realmgr(cluster: Cluster) -> Cluster:
    """The cluster, up (again, after the test that takes it down)."""
    return cluster.ensure_up()


def unique(prefix: str = "rm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def config_for(cluster: Cluster, who: str = "admin", **overrides: Any) -> APIConfig:
    access, secret = cluster.keypair(who)
    values: dict[str, Any] = {
        "endpoint": cluster.endpoint,
        "access_key": access,
        "secret_key": secret,
        "environ": {},
    }
    values.update(overrides)
    return APIConfig(**values)


@pytest.fixture
async def client(realmgr: Cluster) -> AsyncIterator[BackendAIClient]:
    async with BackendAIClient(config_for(realmgr)) as c:
        yield c


@pytest.fixture(scope="module")
def shared_session(cluster: Cluster) -> Iterator[str]:
    """One running session for the tests of a module that only run code in it."""
    cluster.ensure_up()
    name = unique("shared")

    async def create() -> None:
        async with BackendAIClient(config_for(cluster)) as c:
            await c.get_or_create(SessionSpec(image="python", name=name))

    async def destroy() -> None:
        async with BackendAIClient(config_for(cluster)) as c:
            await c.destroy(name)

    asyncio.run(create())
    yield name
    if cluster.is_up:
        asyncio.run(destroy())
