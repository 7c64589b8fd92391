"""Clean environments and whole-tree kills."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bai_lsp.gateway.runtimes import clean_environ, kill_tree, tree_members
from bai_lsp.gateway.runtimes.procs import spawn

from .conftest import alive


def test_clean_environ_drops_secrets_and_sets_home(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin",
        "LANG": "en_US.UTF-8",
        "BACKEND_SECRET_KEY": "s",
        "BACKEND_ACCESS_KEY": "a",
        "GITHUB_TOKEN": "t",
        "DB_PASSWORD": "p",
        "HOME": "/root",
        "RANDOM_OTHER": "x",
    }
    env = clean_environ(tmp_path, {"MINE": "1"}, base=base)
    assert env["HOME"] == str(tmp_path)
    assert env["LANG"] == "en_US.UTF-8" and env["MINE"] == "1"
    assert env["PATH"].endswith("/usr/bin")
    for name in ("BACKEND_SECRET_KEY", "BACKEND_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD"):
        assert name not in env
    assert "RANDOM_OTHER" not in env


async def test_kill_tree_leaves_no_descendant(tmp_path: Path) -> None:
    env = clean_environ(tmp_path)
    proc = await spawn(
        ["/bin/sh", "-c", "sleep 1000 & (sleep 1000 &) ; setsid sleep 1000 & sleep 1000"],
        cwd=tmp_path,
        env=env,
    )
    async with asyncio.timeout(5):
        while len(tree_members([proc.pid])) < 5:
            await asyncio.sleep(0.02)
    members = tree_members([proc.pid])
    await kill_tree([proc.pid])
    await proc.wait()
    assert [pid for pid in members if alive(pid)] == []
