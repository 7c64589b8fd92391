"""Sessions as the user sees them: per workspace, found again, listed, destroyed, recreated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend


async def test_two_workspaces_have_separate_sessions(tmp_path: Path, state_dir: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    async with start_server([one, two], state_dir=state_dir, init_options=PRIVATE) as h:
        a = open_doc(h, one / "a.py", "secret = 'only in one'\n")
        b = open_doc(h, two / "b.py", "print('secret' in globals())\n")
        first = await h.command("backendai.runFile", {"uri": a})
        second = await h.command("backendai.runFile", {"uri": b})
        assert h.output_text(second["runId"]) == "False\n"
        names = {
            h.of("backendai/runStarted", r["runId"])[0]["sessionName"] for r in (first, second)
        }
        assert len(names) == 2
        workspaces = {s["workspace"] for s in h.of("backendai/sessionStatus")}
        assert workspaces == {uri(one), uri(two)}
        listed = await h.command("backendai.session.list", {})
        assert names <= {s["name"] for s in listed["sessions"]}
        assert {s["workspace"] for s in listed["sessions"] if s["name"] in names} == workspaces


async def test_a_restarted_server_finds_its_session_with_state_intact(
    tmp_path: Path, state_dir: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    async with start_server([project], state_dir=state_dir) as h:  # onExit: keep (default)
        doc = open_doc(h, project / "a.py", "answer = 42\n")
        first = await h.command("backendai.runFile", {"uri": doc})
        name = h.of("backendai/runStarted", first["runId"])[0]["sessionName"]
    async with start_server([project], state_dir=state_dir) as h:
        status = await h.command("backendai.session.status", {"uri": uri(project)})
        assert status["sessionName"] == name and status["status"] == "idle"
        doc = open_doc(h, project / "b.py", "print(answer)\n")
        second = await h.command("backendai.runFile", {"uri": doc})
        assert h.of("backendai/runStarted", second["runId"])[0]["sessionName"] == name
        assert h.output_text(second["runId"]) == "42\n"


async def test_session_commands(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        folder = uri(tmp_path)
        before = await h.command("backendai.session.status", {"uri": folder})
        assert (before["status"], before["reason"]) == ("terminated", "not-started")
        started = await h.command("backendai.session.start", {"uri": folder})
        assert started["status"] == "idle" and started["image"] == "python"
        doc = open_doc(h, tmp_path / "a.py", "n = 1\n")
        await h.command("backendai.runFile", {"uri": doc})
        restarted = await h.command("backendai.session.restart", {"uri": folder})
        assert restarted["status"] == "idle"
        probe = open_doc(h, tmp_path / "b.py", "print('n' in globals())\n")
        after = await h.command("backendai.runFile", {"uri": probe})
        assert h.output_text(after["runId"]) == "False\n"
        destroyed = await h.command("backendai.session.destroy", {"uri": folder})
        assert (destroyed["status"], destroyed["reason"]) == ("terminated", "destroyed-by-user")
        # the pushed status says so too (editors stay quiet), and so does a later status
        pushed = h.of("backendai/sessionStatus")[-1]
        assert (pushed["status"], pushed["reason"]) == ("terminated", "destroyed-by-user")
        later = await h.command("backendai.session.status", {"uri": folder})
        assert later["reason"] == "destroyed-by-user"
        listed = await h.command("backendai.session.list", {})
        assert started["sessionName"] not in {
            s["name"] for s in listed["sessions"] if s["status"] == "RUNNING"
        }
        # running again creates a fresh session under the same name
        again = await h.command("backendai.runFile", {"uri": probe})
        assert again["status"] == "finished"


async def test_session_named_by_the_user(tmp_path: Path, state_dir: Path) -> None:
    options = {**PRIVATE, "sessionName": "my-own-session"}
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        doc = open_doc(h, tmp_path / "a.py", "print(1)\n")
        result = await h.command("backendai.runFile", {"uri": doc})
        assert h.of("backendai/runStarted", result["runId"])[0]["sessionName"] == "my-own-session"


async def test_a_session_terminated_remotely_is_recreated_and_the_user_told(
    tmp_path: Path, state_dir: Path
) -> None:
    from bai_lsp.backendai import APIConfig, BackendAIClient

    async with start_server([tmp_path], state_dir=state_dir) as h:  # shared gateway
        doc = open_doc(h, tmp_path / "a.py", "print('alive')\n")
        first = await h.command("backendai.runFile", {"uri": doc})
        name = h.of("backendai/runStarted", first["runId"])[0]["sessionName"]
        state = json.loads((state_dir / "embedded-gateway.json").read_text())
        config = APIConfig(
            endpoint=state["endpoint"],
            access_key=state["accessKey"],
            secret_key=state["secretKey"],
            vfolder_mounts=(),
        )
        async with BackendAIClient(config) as other:  # e.g. an admin, or an idle timeout
            await other.destroy(name, forced=True)
        second = await h.command("backendai.runFile", {"uri": doc})
        assert second["status"] == "finished"
        assert h.output_text(second["runId"]) == "alive\n"
        told = [m for m in h.messages() if name in m and "lost" in m]
        assert told and "new session" in told[0]
        assert f"Session {name} was lost" in h.output_text(second["runId"], "stderr")
        lost = [s for s in h.of("backendai/sessionStatus") if s["status"] == "terminated"]
        assert lost and "lost" in lost[0]["message"]
        # someone else destroyed it: news for this editor's user
        assert lost[0]["reason"] == "destroyed-on-backend"


async def test_runs_queue_per_session_and_workspaces_run_in_parallel(
    tmp_path: Path, state_dir: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    async with start_server([one, two], state_dir=state_dir, init_options=PRIVATE) as h:
        for folder in (one, two):  # start both sessions first
            await h.command("backendai.session.start", {"uri": uri(folder)})
        slow = open_doc(h, one / "slow.py", "import time\ntime.sleep(2)\nprint('slow')\n")
        after = open_doc(h, one / "after.py", "print('queued')\n")
        other = open_doc(h, two / "fast.py", "print('fast')\n")
        first = asyncio.ensure_future(h.command("backendai.runFile", {"uri": slow}))
        await h.wait_for(lambda: h.of("backendai/runStarted"))
        queued = asyncio.ensure_future(h.command("backendai.runFile", {"uri": after}))
        fast = await h.command("backendai.runFile", {"uri": other})
        assert not first.done()  # the other workspace did not wait for the slow run
        results = [await first, await queued]
        finished = [p["runId"] for p in h.of("backendai/runFinished")]
        assert finished.index(fast["runId"]) < finished.index(results[0]["runId"])
        assert finished.index(results[0]["runId"]) < finished.index(results[1]["runId"])
