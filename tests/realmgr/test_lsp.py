"""The language server over stdio against the real manager: what an editor user sees."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsp.harness import PRIVATE, open_doc, rng, start_server, stop_shared_gateway, uri
from support.realbackendai.cluster import Cluster


@pytest.fixture
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> object:
    directory = tmp_path_factory.mktemp("state")
    yield directory
    stop_shared_gateway(directory)


def statuses(h: object) -> list[str]:
    return [s["status"] for s in h.of("backendai/sessionStatus")]  # type: ignore[attr-defined]


async def test_session_commands_follow_the_real_lifecycle(
    realmgr: Cluster, tmp_path: Path, state_dir: Path
) -> None:
    async with start_server(
        [tmp_path], state_dir=state_dir, init_options=PRIVATE, env=realmgr.env()
    ) as h:
        folder = uri(tmp_path)
        before = await h.command("backendai.session.status", {"uri": folder})
        assert (before["status"], before["reason"]) == ("terminated", "not-started")
        started = await h.command("backendai.session.start", {"uri": folder})
        assert started["status"] == "idle"
        seen = statuses(h)
        assert seen.index("starting") < seen.index("idle")  # pushed while the manager schedules
        status = await h.command("backendai.session.status", {"uri": folder})
        assert (status["status"], status["sessionName"]) == ("idle", started["sessionName"])
        listed = await h.command("backendai.session.list", {})
        mine = [s for s in listed["sessions"] if s["name"] == started["sessionName"]]
        assert [s["status"] for s in mine] == ["RUNNING"]
        destroyed = await h.command("backendai.session.destroy", {"uri": folder})
        assert (destroyed["status"], destroyed["reason"]) == ("terminated", "destroyed-by-user")
        pushed = h.of("backendai/sessionStatus")[-1]
        assert (pushed["status"], pushed["reason"]) == ("terminated", "destroyed-by-user")
        listed = await h.command("backendai.session.list", {})
        assert started["sessionName"] not in {
            s["name"] for s in listed["sessions"] if s["status"] == "RUNNING"
        }


async def test_runs_with_input_batch_and_interrupt(
    realmgr: Cluster, tmp_path: Path, state_dir: Path
) -> None:
    code = (
        "import getpass\n"
        "name = input('Name: ')\n"
        "pw = getpass.getpass('Password: ')\n"
        "print(f'hello {name}, {len(pw)} characters')\n"
    )
    (tmp_path / "helper.py").write_text("def greet(who):\n    return f'hello from helper, {who}'\n")
    async with start_server(
        [tmp_path], state_dir=state_dir, init_options=PRIVATE, env=realmgr.env()
    ) as h:
        # query mode: a selection that asks twice
        doc = open_doc(h, tmp_path / "ask.py", code)
        await h.input_answers.put({"text": "Ada"})
        await h.input_answers.put({"text": "s3cret!"})
        asked = await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 4, 0)})
        assert asked["status"] == "finished"
        first, second = h.input_requests
        assert (first["prompt"], first["password"]) == ("Name: ", False)
        assert (second["prompt"], second["password"]) == ("Password: ", True)
        out = h.output_text(asked["runId"])
        assert "hello Ada, 7 characters" in out and "s3cret!" not in out
        # batch mode: the workspace is uploaded, then the file runs as a program
        main = open_doc(h, tmp_path / "main.py", "import helper\nprint(helper.greet('batch'))\n")
        batch = await h.command("backendai.runFile", {"uri": main, "mode": "batch"})
        assert (batch["status"], batch["exitCode"]) == ("finished", 0)
        assert "hello from helper, batch" in h.output_text(batch["runId"])
        # a streamed query run: output arrives while it runs, and it can be interrupted
        loop = open_doc(
            h, tmp_path / "loop.py", "print('spinning', flush=True)\nwhile True:\n    pass\n"
        )
        pending = asyncio.ensure_future(h.command("backendai.runFile", {"uri": loop}))
        await h.wait_for(
            lambda: (
                "spinning"
                in "".join(
                    r.get("text") or "" for b in h.of("backendai/output") for r in b["records"]
                )
            ),
            timeout=60,
        )
        await h.command("backendai.interrupt", {"uri": loop})
        interrupted = await asyncio.wait_for(pending, 60)
        assert interrupted["status"] == "interrupted"
        assert "KeyboardInterrupt" in h.output_text(interrupted["runId"], "stderr")
        again = await h.command(
            "backendai.runFile", {"uri": open_doc(h, tmp_path / "ok.py", "print(name)\n")}
        )
        assert h.output_text(again["runId"]) == "Ada\n"  # the same kernel, state kept


async def test_an_idle_session_ends_and_the_editor_is_told_why(
    realmgr: Cluster, tmp_path: Path, state_dir: Path
) -> None:
    timeout = int(realmgr.settings["BAI_REALBACKENDAI_IDLE_TIMEOUT_S"])
    async with start_server(
        [tmp_path], state_dir=state_dir, init_options=PRIVATE, env=realmgr.env("idler")
    ) as h:
        started = await h.command("backendai.session.start", {"uri": uri(tmp_path)})
        assert started["status"] == "idle"
        # 26.9.6 starts a session's idle clock at its first finished run, not at its start
        ran = await h.command(
            "backendai.runFile", {"uri": open_doc(h, tmp_path / "once.py", "print('once')\n")}
        )
        assert h.output_text(ran["runId"]) == "once\n"
        # the manager checks idleness every 15 s; its keypair policy allows `timeout` seconds.
        # The editor asks for the status now and then (its status bar); so does this test.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout + 120
        status = started
        while status["status"] != "terminated" and loop.time() < give_up:
            await asyncio.sleep(2)
            status = await h.command("backendai.session.status", {"uri": uri(tmp_path)})
        assert (status["status"], status["reason"]) == ("terminated", "idle-timeout"), status
        pushed = h.of("backendai/sessionStatus")[-1]
        assert (pushed["status"], pushed["reason"]) == ("terminated", "idle-timeout")
