"""A run outlives an editor restart: the server stopped mid-run detaches it (``onExit: keep``),
the next server re-attaches it (REST ``continue`` with its runId) and shows the rest of its
output, each line once; a session gone meanwhile is reported; ``onExit: destroy`` still
interrupts. The gateway is started apart from the servers, so it outlives them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.gateway import GatewayInfo, running_gateway

from bai_lsp.domain.runlog import RunLog
from lsp.harness import Harness, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend

LINES = 20
PROGRAM = f"""\
import time
for i in range({LINES}):
    print(f"line {{i}}", flush=True)
    time.sleep(0.2)
"""
EXPECTED = "".join(f"line {i}\n" for i in range(LINES))
SPIN = """\
import time
print("spinning", flush=True)
for i in range(300):
    time.sleep(0.1)
print("not reached")
"""


def _options(gw: GatewayInfo, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": gw.endpoint,
        "accessKey": gw.access_key,
        "secretKey": gw.secret_key,
        "runTransport": "rest",
        **extra,
    }


async def _start_and_leave(
    h: Harness, doc: str, after_line: int
) -> tuple[asyncio.Future[Any], str, str]:
    """Start the program, wait for ``line N``, and return (the run command, runId, session)."""
    command = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
    started = await h.wait_for(lambda: h.of("backendai/runStarted"), 30)
    run_id = started[0]["runId"]
    await h.wait_for(lambda: f"line {after_line}\n" in h.output_text(run_id), 30)
    return command, run_id, started[0]["sessionName"]


async def test_a_run_goes_on_across_a_server_restart(tmp_path: Path, state_dir: Path) -> None:
    folder, other = tmp_path / "ws", tmp_path / "other"
    folder.mkdir()
    other.mkdir()
    folders = [folder, other]
    with running_gateway(tmp_path / "gw") as gw:
        async with start_server(folders, state_dir=state_dir, init_options=_options(gw)) as h:
            # a second workspace's run goes on too (and is interrupted after the restart)
            spin_doc = open_doc(h, other / "spin.py", SPIN)
            spin_command = asyncio.ensure_future(h.command("backendai.runFile", {"uri": spin_doc}))
            (spin,) = await h.wait_for(lambda: h.of("backendai/runStarted"), 30)
            await h.wait_for(lambda: "spinning" in h.output_text(spin["runId"]), 30)
            doc = open_doc(h, folder / "count.py", PROGRAM)
            command = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
            started = await h.wait_for(lambda: h.of("backendai/runStarted")[1:], 30)
            run_id, session = started[0]["runId"], started[0]["sessionName"]
            await h.wait_for(lambda: "line 3\n" in h.output_text(run_id), 30)
        # the editor restarted: the run command got an error saying where the run went on
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(command, 10)
        assert f"It goes on on session {session}" in str(caught.value)
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(spin_command, 10)
        before = h.output_text(run_id)
        assert before.startswith("line 0\nline 1\nline 2\nline 3\n")
        assert not h.of("backendai/runFinished")

        async with start_server(folders, state_dir=state_dir, init_options=_options(gw)) as h2:
            both = await h2.wait_for(
                lambda: h2.of("backendai/runStarted")[1:] and h2.of("backendai/runStarted"), 30
            )
            by_id = {s["runId"]: s for s in both}
            assert set(by_id) == {run_id, spin["runId"]}
            started = by_id[run_id]
            assert started["reattached"] is True and by_id[spin["runId"]]["reattached"] is True
            assert started["sessionName"] == session
            told = await h2.wait_for(lambda: [m for m in h2.messages() if "count.py" in m])
            assert "Re-attached" in told[0] and session in told[0]
            # a re-attached run can be interrupted like any other
            await h2.command("backendai.interrupt", {"uri": uri(other)})
            (stopped,) = await h2.wait_for(lambda: h2.of("backendai/runFinished", spin["runId"]))
            assert stopped["status"] == "interrupted", stopped
            assert "not reached" not in h2.output_text(spin["runId"])
            # the user's next run queues behind the re-attached one, on the same session
            other = open_doc(h2, folder / "next.py", "print('after')\n")
            after = await asyncio.wait_for(h2.command("backendai.runFile", {"uri": other}), 30)
            (finished,) = h2.of("backendai/runFinished", run_id)
            assert (finished["status"], finished["exitCode"]) == ("finished", 0), finished
            assert h2.output_text(after["runId"]) == "after\n"
            next_started = h2.of("backendai/runStarted", after["runId"])[0]
            assert next_started["sessionName"] == session
            assert "reattached" not in next_started
            order = [
                (m, p["runId"])
                for _, m, p in h2.events
                if m.endswith("Finished") and p["runId"] != spin["runId"]
            ]
            assert order == [
                ("backendai/runFinished", run_id),
                ("backendai/runFinished", after["runId"]),
            ]
            # every line exactly once, in order, across the two servers
            assert before + h2.output_text(run_id) == EXPECTED
            seqs = [b["seq"] for b in h2.of("backendai/output", run_id)]
            assert seqs == list(range(len(seqs)))
            replay = await h2.command("backendai.runs.replay", {"runId": run_id})
            assert "".join(r["text"] for r in replay["records"]) == EXPECTED
            listed = await h2.command("backendai.runs.list", {})
            entry = next(r for r in listed["runs"] if r["runId"] == run_id)
            assert (entry["status"], entry["exitCode"]) == ("finished", 0)
            # it lasted about the program's 4 s, counted from its first start
            assert entry["durationMs"] >= 3500, entry


async def test_a_session_ended_meanwhile_is_reported(tmp_path: Path, state_dir: Path) -> None:
    from bai_lsp.backendai import APIConfig, BackendAIClient

    folder = tmp_path / "ws"
    folder.mkdir()
    with running_gateway(tmp_path / "gw") as gw:
        async with start_server([folder], state_dir=state_dir, init_options=_options(gw)) as h:
            doc = open_doc(h, folder / "count.py", PROGRAM)
            command, run_id, session = await _start_and_leave(h, doc, 1)
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(command, 10)
        config = APIConfig(
            endpoint=gw.endpoint,
            access_key=gw.access_key,
            secret_key=gw.secret_key,
            vfolder_mounts=(),
        )
        async with BackendAIClient(config) as admin:  # e.g. an idle timeout, or an admin
            await admin.destroy(session, forced=True)

        # the next server starts with a broken setting: it re-attaches once that is fixed
        broken = {**_options(gw), "output": {"maxBytesPerRun": "x"}}
        async with start_server([folder], state_dir=state_dir, init_options=broken) as h2:
            with pytest.raises(JsonRpcException) as refused:
                await h2.command("backendai.session.list")
            assert "maxBytesPerRun" in str(refused.value)
            await asyncio.sleep(0.5)  # initialized (which pulls settings) has been handled
            assert not [m for m in h2.messages() if "not running" in m]
            h2.client.set_configuration({"output": {"maxBytesPerRun": 5000}}, section="backendai")
            h2.client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=None)
            )
            told = await h2.wait_for(
                lambda: [m for m in h2.messages() if "while bai-lsp was not running" in m]
            )
            assert f"The session {session} ended while bai-lsp was not running" in told[0]
            assert "count.py" in told[0]
            listed = await h2.command("backendai.runs.list", {})
            entry = next(r for r in listed["runs"] if r["runId"] == run_id)
            assert (entry["status"], entry["exitCode"]) == ("failed", 1)
            assert "ended while bai-lsp was not running" in entry["message"]
            assert not h2.of("backendai/runStarted")
            # the output received before the restart is still there
            replay = await h2.command("backendai.runs.replay", {"runId": run_id})
            text = "".join(r["text"] for r in replay["records"])
            assert text.startswith("line 0\nline 1\n") and EXPECTED.startswith(text)


async def test_on_exit_destroy_still_interrupts(tmp_path: Path, state_dir: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    with running_gateway(tmp_path / "gw") as gw:
        options = _options(gw, onExit="destroy")
        async with start_server([folder], state_dir=state_dir, init_options=options) as h:
            doc = open_doc(h, folder / "count.py", PROGRAM)
            command, run_id, _ = await _start_and_leave(h, doc, 1)
        result = await asyncio.wait_for(command, 10)
        assert result["status"] == "interrupted", result
        (finished,) = h.of("backendai/runFinished", run_id)
        assert finished["status"] == "interrupted"
        # logged as ended, so no later server tries to follow it
        log = RunLog(state_dir / "runs")
        (entry,) = (await log.list()).runs
        assert (entry.run_id, entry.status) == (run_id, "interrupted")
        assert await log.detached_runs(lambda ctx: True) == []


async def test_the_default_set_up_re_attaches_a_streamed_run(
    tmp_path: Path, state_dir: Path
) -> None:
    """No settings at all: the shared embedded gateway outlives the server, and a streamed
    run (WebSocket, the default transport) is resumable there, so it is detached and
    re-attached like a REST one."""
    folder = tmp_path / "ws"
    folder.mkdir()
    async with start_server([folder], state_dir=state_dir) as h:
        doc = open_doc(h, folder / "count.py", PROGRAM)
        command, run_id, _ = await _start_and_leave(h, doc, 2)
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(command, 10)
    before = h.output_text(run_id)
    async with start_server([folder], state_dir=state_dir) as h2:
        (finished,) = await h2.wait_for(lambda: h2.of("backendai/runFinished", run_id), 30)
        assert (finished["status"], finished["exitCode"]) == ("finished", 0), finished
        (started,) = h2.of("backendai/runStarted")
        assert started["reattached"] is True
        assert before + h2.output_text(run_id) == EXPECTED
        assert not h2.output_text(run_id, "stderr")  # no gap, no "lost" marker
        replay = await h2.command("backendai.runs.replay", {"runId": run_id})
        assert "".join(r["text"] for r in replay["records"]) == EXPECTED
    # the run log names the keypair by its access key only, never the secret
    keys = json.loads((state_dir / "embedded-gateway.json").read_text())
    log = (state_dir / "runs" / "runs.jsonl").read_text()
    assert f'"accessKey":"{keys["accessKey"]}"' in log and keys["secretKey"] not in log


ASKS = """\
import time
for i in range(3):
    print(f"line {i}", flush=True)
    time.sleep(0.2)
name = input("name? ")
print(f"hello {name}", flush=True)
"""


async def test_a_run_waiting_for_input_asks_again(tmp_path: Path, state_dir: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    with running_gateway(tmp_path / "gw") as gw:
        # this editor does not answer backendai/input: the server tells the user instead
        async with start_server(
            [folder], state_dir=state_dir, init_options=_options(gw), answers_input=False
        ) as h:
            doc = open_doc(h, folder / "ask.py", ASKS)
            command = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
            await h.wait_for(lambda: [m for m in h.messages() if "waiting for input" in m], 30)
            (started,) = h.of("backendai/runStarted")
            run_id = started["runId"]
            # the editor closes without answering
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(command, 10)
        async with start_server([folder], state_dir=state_dir, init_options=_options(gw)) as h2:
            (again,) = await h2.wait_for(lambda: h2.input_requests, 30)
            assert again == {"runId": run_id, "prompt": "name? ", "password": False}
            assert any(s["status"] == "waiting-input" for s in h2.of("backendai/sessionStatus"))
            await h2.input_answers.put({"text": "Ada"})
            (finished,) = await h2.wait_for(lambda: h2.of("backendai/runFinished", run_id), 30)
            assert (finished["status"], finished["exitCode"]) == ("finished", 0), finished
            replay = await h2.command("backendai.runs.replay", {"runId": run_id})
            text = "".join(r["text"] for r in replay["records"] if r["type"] == "stdout")
            assert text == "line 0\nline 1\nline 2\nname? Ada\nhello Ada\n"


@pytest.mark.parametrize("transport", ["rest", "websocket"])
async def test_a_run_outlives_a_killed_server(
    tmp_path: Path, state_dir: Path, transport: str
) -> None:
    """``kill -9``: nothing was detached, but the run goes on on the session; the next
    server follows it and says that output may be missing or repeated where the old one
    died. The run log asks the backend again from what it wrote: a REST run's log keeps each
    line once; a streamed run's may repeat the line at the cut (never lose one)."""
    folder = tmp_path / "ws"
    folder.mkdir()
    with running_gateway(tmp_path / "gw") as gw:
        with contextlib.suppress(Exception):
            async with start_server(
                [folder], state_dir=state_dir, init_options=_options(gw, runTransport=transport)
            ) as h:
                doc = open_doc(h, folder / "count.py", PROGRAM)
                command, run_id, _ = await _start_and_leave(h, doc, 3)
                server = h.client._server
                assert server is not None
                server.send_signal(signal.SIGKILL)
                await asyncio.wait_for(server.wait(), 10)
        command.cancel()
        before = h.output_text(run_id).splitlines()
        async with start_server(
            [folder], state_dir=state_dir, init_options=_options(gw, runTransport=transport)
        ) as h2:
            (finished,) = await h2.wait_for(lambda: h2.of("backendai/runFinished", run_id), 30)
            assert (finished["status"], finished["exitCode"]) == ("finished", 0), finished
            (started,) = h2.of("backendai/runStarted")
            assert (started["runId"], started["reattached"]) == (run_id, True)
            assert "stopped unexpectedly" in h2.output_text(run_id, "stderr")
            after = h2.output_text(run_id).splitlines()
            after_numbers = [int(line.split()[1]) for line in after]
            assert after_numbers == sorted(set(after_numbers)) and after_numbers[-1] == LINES - 1
            replay = await h2.command("backendai.runs.replay", {"runId": run_id})
            logged = "".join(r["text"] for r in replay["records"] if r["type"] == "stdout")
            log_text = (state_dir / "runs" / "runs.jsonl").read_text()
            if '"ws":' in log_text and transport == "rest":
                # the backend numbers its answers (our gateway): the log asked again from
                # the last answer it had written, so it holds every line exactly once; the
                # editor may have seen the line at the cut twice
                assert logged == EXPECTED
                assert {*before, *after} == set(EXPECTED.splitlines())
            elif '"ws":' in log_text:  # streamed: at most the line at the cut twice
                lines = logged.splitlines()
                assert set(lines) == set(EXPECTED.splitlines()) and len(lines) <= LINES + 1
                numbers = [int(line.split()[1]) for line in lines]
                assert numbers == sorted(numbers), lines
            else:  # a real manager: what the killed server had not logged is missing
                lines = logged.splitlines()
                numbers = [int(line.split()[1]) for line in lines]
                assert numbers == sorted(set(numbers)) and numbers[-1] == LINES - 1
                assert len(numbers) >= LINES - 3, lines
