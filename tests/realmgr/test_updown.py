"""`scripts/real-backendai.sh down` stops everything `up` started, kernel runners included."""

from __future__ import annotations

import os
import time

from support.realbackendai.cluster import Cluster

from bai_lsp.backendai import BackendAIClient, SessionSpec

from .conftest import config_for, unique


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def test_down_leaves_no_process_and_up_comes_back(realmgr: Cluster) -> None:
    name = unique("down")
    async with BackendAIClient(config_for(realmgr)) as c:
        await c.get_or_create(SessionSpec(image="python", name=name))
        result = await c.execute(name, mode="query", code="import os\nprint(os.getpid())")
    assert result.status == "finished"
    started = realmgr.started_pids()
    # postgres, redis, etcd, manager, agent (each a session leader), this session's runner
    assert len(started) >= 6
    family = realmgr.session_members(started)  # with their children: workers, Jupyter, …
    assert set(started) < set(family)

    done = realmgr.down()
    assert done.returncode == 0, done.stderr
    assert [pid for pid in family if alive(pid)] == []
    assert realmgr.marked_processes() == []
    assert realmgr.session_members(started) == []

    began = time.monotonic()
    realmgr.ensure_up()
    print(f"up after down: {time.monotonic() - began:.1f} s")
    async with BackendAIClient(config_for(realmgr)) as c:
        assert (await c.versions())["manager"] == "26.9.6"
