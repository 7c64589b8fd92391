"""Shutdown leaves no process behind, whatever the session started, even orphans."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Drive

MakeRt = Callable[[str], Awaitable[Any]]

SPAWN_IN_QUERY = {
    "python": "import subprocess\nsubprocess.Popen(['sleep', '{n}'])",
    "bash": "sleep {n} &",
    "node": "require('child_process').spawn('sleep', ['{n}']); undefined",
    # system()'s shell exits at once: the sleep is an orphan, no longer our descendant.
    "c": 'system("sleep {n} &");',
}


def sleepers(durations: set[str]) -> set[int]:
    """Live ``sleep N`` processes anywhere on the machine, for our unique N."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] in "ZX":
            continue
        if len(argv) > 1 and argv[0].endswith(b"sleep") and argv[1].decode() in durations:
            found.add(int(name))
    return found


@pytest.mark.parametrize("image", sorted(SPAWN_IN_QUERY))
async def test_shutdown_leaves_no_process(make_rt: MakeRt, drive: Drive, image: str) -> None:
    base = random.randrange(100_000, 900_000) * 10
    n = {key: str(base + i) for i, key in enumerate(("query", "pty", "batch-bg", "batch"))}
    rt = await make_rt(image)
    t = await drive(rt, "query", SPAWN_IN_QUERY[image].replace("{n}", n["query"]))
    assert t.final.exit_code == 0, t.text("stderr")
    pty = await rt.open_pty(24, 80)
    await pty.write(f"sleep {n['pty']} &\n".encode())
    batch = await rt.execute(
        "batch", None, "", {"exec": f"sleep {n['batch-bg']} & sleep {n['batch']}"}, 0.3
    )
    async with asyncio.timeout(10):
        while len(sleepers(set(n.values()))) < 4:
            await asyncio.sleep(0.05)
    await rt.shutdown()
    assert sleepers(set(n.values())) == set()
    assert batch.run_id


async def test_leftovers_of_finished_batch_steps_die_with_the_session(
    make_rt: MakeRt, drive: Drive
) -> None:
    duration = str(random.randrange(100_000, 900_000) * 10 + 7)
    rt = await make_rt("bash")
    t = await drive(rt, "batch", "", {"exec": f"sleep {duration} & echo started"})
    assert t.text() == "started\n" and t.final.exit_code == 0, "the step ends at once"
    assert len(sleepers({duration})) == 1
    await rt.shutdown()
    assert sleepers({duration}) == set()
