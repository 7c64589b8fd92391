"""Which logged runs a new server re-attaches: detached, not finished, not followed by a live
server, not too old, of this backend; logs of older versions are read as before."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bai_lsp.domain import runlog
from bai_lsp.domain.events import OutputBatch, Record, RunFinished, RunStarted
from bai_lsp.domain.runlog import RunContext, RunLog

CTX = RunContext(
    endpoint="http://127.0.0.1:9",
    access_key="AKTEST",
    folder="file:///ws",
    session_ref="sess-id-1",
    image="python",
    language="python",
    transport="rest",
    embedded=False,
)


def _start(log: RunLog, run_id: str, ctx: RunContext | None = CTX) -> None:
    log.started(RunStarted(run_id, f"file:///ws/{run_id}.py", "query", "bai-ws-1"), ctx)


def _mine(ctx: RunContext) -> bool:
    return ctx.endpoint == CTX.endpoint and ctx.access_key == CTX.access_key


async def test_a_detached_run_is_found_with_what_re_attaching_needs(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "a")
    log.sink("a", lambda b: None)(OutputBatch("a", 0, [Record("stdout", text="héllo\n")]))
    log.detached("a", 7, True, "sess-id-2")
    (found,) = await log.detached_runs(_mine)
    assert found.entry.run_id == "a" and found.entry.uri == "file:///ws/a.py"
    assert found.entry.session_name == "bai-ws-1" and found.entry.status is None
    assert found.context.session_ref == "sess-id-2"  # the ref at detach time wins
    assert (found.context.transport, found.context.folder) == ("rest", "file:///ws")
    assert (found.wire_seq, found.resumable) == (7, True)
    assert found.logged_bytes == len("héllo\n".encode())
    assert await log.detached_runs(lambda ctx: ctx.endpoint == "http://elsewhere") == []


async def test_running_finished_and_old_format_runs_are_not_re_attached(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "running")  # a live server follows it (no detached entry)
    _start(log, "ended")
    log.detached("ended", 0, False, None)
    log.finished(RunFinished("ended", "finished", 0, 5, "file:///ws/ended.py"))
    _start(log, "old", None)  # written by an older version: no context
    log.detached("old", 0, False, None)
    await log.close()
    assert await log.detached_runs(lambda ctx: True) == []
    listed = {r.run_id: r.status for r in (await log.list()).runs}
    assert listed == {"running": None, "ended": "finished", "old": None}


async def test_a_claim_holds_while_its_server_lives(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "a")
    log.detached("a", 0, False, None)
    assert [d.entry.run_id for d in await log.detached_runs(_mine, claim=True)] == ["a"]
    # claimed by this (live) process: nobody else takes it
    assert await RunLog(tmp_path / "runs").detached_runs(_mine) == []
    # a claim by a process that is gone no longer holds
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    entry = {"k": "attach", "runId": "a", "pid": int(dead.stdout), "t": time.time()}
    with (tmp_path / "runs" / "runs.jsonl").open("a") as f:
        f.write(json.dumps(entry) + "\n")
    assert [d.entry.run_id for d in await RunLog(tmp_path / "runs").detached_runs(_mine)] == ["a"]


async def test_runs_detached_too_long_ago_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "a")
    log.detached("a", 0, False, None)
    await log.close()
    assert len(await log.detached_runs(_mine)) == 1
    monkeypatch.setattr(runlog, "REATTACH_MAX_AGE_S", -1)
    assert await log.detached_runs(_mine) == []


async def test_a_failure_message_is_listed(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "a")
    log.detached("a", 0, False, None)
    log.finished(RunFinished("a", "failed", 1, 5, "file:///ws/a.py", message="gone"))
    (entry,) = (await log.list()).runs
    assert (entry.status, entry.message) == ("failed", "gone")


async def test_a_run_of_a_killed_server_is_found_as_crashed(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs")
    _start(log, "mine")  # started by this live process: not taken
    await log.close()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = (tmp_path / "runs" / "runs.jsonl").read_text().replace("mine", "killed")
    entry = json.loads(lines)
    entry["pid"] = int(dead.stdout)
    with (tmp_path / "runs" / "runs.jsonl").open("a") as f:
        f.write(json.dumps(entry) + "\n")
    (found,) = await log.detached_runs(_mine)
    assert found.entry.run_id == "killed" and found.crashed
    assert (found.wire_seq, found.waiting_input) == (0, None)
    detached = RunLog(tmp_path / "runs")
    _start(detached, "left")
    detached.detached("left", 3, False, None, ("name? ", False))
    await detached.close()
    assert [
        (d.entry.run_id, d.crashed, d.waiting_input) for d in await log.detached_runs(_mine)
    ] == [
        ("killed", True, None),
        ("left", False, ("name? ", False)),
    ]
