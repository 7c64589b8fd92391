"""The resumable-runs extension over HTTP against a real gateway (docs/gateway.md): numbered
answers, ``ack`` replay, ``lost`` accounting, a streamed run detached when its socket drops
and re-attached by REST ``continue``, the detach grace, and SDK-shaped requests unchanged."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo, running_gateway
from support.signed import SignedClient

from bai_lsp.gateway.journal import RunJournal
from bai_lsp.wire.execute import ConsoleRecord, ExecutionResult

from .conftest import assert_problem, unique_name

#: Small enough that a test can overflow it, short enough that a test can outwait it.
JOURNAL_CHARS = 4000
GRACE_S = 3.0
COUNT = "for i in $(seq 1 10); do echo line$i; sleep 0.15; done\n"


@pytest.fixture(scope="module")
def journal_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayInfo]:
    tmp = tmp_path_factory.mktemp("journal-gw")
    config = tmp / "gateway.toml"
    config.write_text(f"[gateway]\njournal_chars = {JOURNAL_CHARS}\ndetach_grace = {GRACE_S}\n")
    with running_gateway(tmp, args=["--config", str(config)]) as info:
        yield info


@pytest.fixture
async def jc(journal_gateway: GatewayInfo) -> AsyncIterator[SignedClient]:
    async with SignedClient(
        journal_gateway.endpoint, journal_gateway.access_key, journal_gateway.secret_key
    ) as c:
        yield c


async def _session(client: SignedClient) -> str:
    name = unique_name("j")
    status, body = await client.call("POST", "/session", json_body={"name": name, "image": "bash"})
    assert status == 201, body
    return name


async def _execute(client: SignedClient, name: str, **body: Any) -> dict[str, Any]:
    status, answer = await client.call("POST", f"/session/{name}", json_body=body)
    assert status == 200, answer
    result: dict[str, Any] = answer["result"]
    return result


def _stdout(answer: dict[str, Any]) -> str:
    return "".join(text for kind, text in answer["console"] if kind == "stdout")


async def _follow(client: SignedClient, name: str, run_id: str, ack: int) -> tuple[str, int, Any]:
    """REST ``continue`` with ``ack`` until finished: (stdout, last seq, last answer)."""
    out = ""
    answer: dict[str, Any] = {}
    for _ in range(200):
        answer = await _execute(client, name, mode="continue", runId=run_id, code="", ack=ack)
        assert answer["seq"] > ack, answer
        ack = answer["seq"]
        out += _stdout(answer)
        if answer["status"] == "finished":
            break
    return out, ack, answer


async def _stream_frames(ws: Any, until: str | None = None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frames.append(json.loads(msg.data))
        out = "".join(_stdout(f) for f in frames)
        if until is not None and until in out:
            break
        if frames[-1]["status"] == "finished":
            break
    return frames


async def test_rest_answers_lost_in_transit_are_sent_again(jc: SignedClient) -> None:
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    first = await _execute(jc, name, mode="query", runId=run_id, code=COUNT, ack=0)
    assert first["seq"] == 1 and first["runId"] == run_id
    out, ack = _stdout(first), 1
    # An answer whose response is "lost": the client asks again with the same ack.
    while "line3" not in out:
        answer = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=ack)
        out, ack = out + _stdout(answer), answer["seq"]
    lost = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=ack)
    again = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=ack)
    assert again["seq"] == lost["seq"] and _stdout(again) == _stdout(lost)
    assert "lost" not in again
    rest, _, last = await _follow(jc, name, run_id, ack)
    assert last["status"] == "finished" and last["exitCode"] == 0
    assert (out + rest).split() == [f"line{i}" for i in range(1, 11)]


async def test_sdk_shaped_requests_are_unchanged(jc: SignedClient) -> None:
    name = await _session(jc)
    answer = await _execute(jc, name, mode="query", runId=None, code="echo plain\n")
    keys = {"status", "console", "runId", "exitCode", "options", "files"}
    while answer["status"] != "finished":
        assert set(answer) == keys, answer
        answer = await _execute(jc, name, mode="continue", runId=answer["runId"], code="")
    assert set(answer) == keys, answer
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(json.dumps({"mode": "query", "code": "echo s\n", "options": {}}))
        frames = await _stream_frames(ws)
        assert frames and all(
            "seq" not in f and "runId" not in f and "next" not in f for f in frames
        ), frames
        # ... and the socket ends with its run, as a manager's does
        assert (await ws.receive(timeout=10)).type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        )


async def test_a_finished_resumable_run_leaves_its_socket_to_the_next_request(
    jc: SignedClient,
) -> None:
    name = await _session(jc)
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        seen = []
        for code in ("x=4\n", "echo $((x * 2))\n", "read y; echo got $y\n"):
            await ws.send_str(
                json.dumps(
                    {"mode": "query", "code": code, "runId": uuid.uuid4().hex, "resumable": True}
                )
            )
            frames: list[dict[str, Any]] = []
            while not frames or frames[-1]["status"] != "finished":
                frames.append(json.loads((await ws.receive(timeout=30)).data))
                if frames[-1]["status"] == "waiting-input":
                    await ws.send_str("typed")
            assert frames[-1]["status"] == "finished" and frames[-1]["next"] is True, frames
            assert all("next" not in f for f in frames[:-1]), frames
            seen.append("".join(_stdout(f) for f in frames))
        assert seen == ["", "8\n", "got typed\n"]
        # a bad request on the kept socket is answered like a first one, then it closes
        await ws.send_str("not json")
        error = json.loads((await ws.receive(timeout=30)).data)
        assert error["status"] == "error" and "JSON object" in error["msg"], error
        assert (await ws.receive(timeout=10)).type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        )


@pytest.mark.parametrize("ack", [-1, "3", True, 1.5, [1]])
async def test_a_bad_ack_is_refused_with_a_clear_message(jc: SignedClient, ack: Any) -> None:
    name = await _session(jc)
    status, body = await jc.call(
        "POST",
        f"/session/{name}",
        json_body={"mode": "query", "runId": None, "code": "echo x\n", "ack": ack},
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert "ack must be a non-negative integer" in body["msg"], body


async def test_a_dropped_stream_is_detached_and_rest_continue_re_attaches(
    jc: SignedClient,
) -> None:
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps({"mode": "query", "code": COUNT, "runId": run_id, "resumable": True})
        )
        frames = await _stream_frames(ws, until="line3")
    assert all(f["runId"] == run_id for f in frames)
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    seen = "".join(_stdout(f) for f in frames)
    rest, _, last = await _follow(jc, name, run_id, frames[-1]["seq"])
    assert last["status"] == "finished" and last["exitCode"] == 0, last
    assert (seen + rest).split() == [f"line{i}" for i in range(1, 11)]
    _, logs = await jc.call("GET", f"/session/{name}/logs")
    assert "detached" in logs["result"]["logs"]


async def test_a_run_detached_while_waiting_for_input_takes_the_answer_by_rest(
    jc: SignedClient,
) -> None:
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    code = "read -p 'Who? ' who; echo hello-$who\n"
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps({"mode": "query", "code": code, "runId": run_id, "resumable": True})
        )
        frames: list[dict[str, Any]] = []
        async for msg in ws:
            frames.append(json.loads(msg.data))
            if frames[-1]["status"] == "waiting-input":
                break
    assert frames[-1]["status"] == "waiting-input", frames
    answer = await _execute(
        jc, name, mode="input", runId=run_id, code="rest", ack=frames[-1]["seq"]
    )
    out = _stdout(answer)
    if answer["status"] != "finished":
        rest, _, answer = await _follow(jc, name, run_id, answer["seq"])
        out += rest
    assert answer["status"] == "finished" and "hello-rest" in out, (answer, out)


async def test_an_input_repeated_after_the_stream_dropped_is_not_typed_twice(
    jc: SignedClient,
) -> None:
    """The answer went out on the stream, which dropped before any frame confirmed it:
    the client sends it again by REST with the prompt's seq as ``ack``; the gateway
    knows it was delivered, so the program's next read does not get it a second time."""
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    code = (
        "read -p 'Who? ' who; echo hello-$who\n"
        "if read -t 2 extra; then echo extra-$extra; else echo no-extra; fi\n"
    )
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps({"mode": "query", "code": code, "runId": run_id, "resumable": True})
        )
        frames: list[dict[str, Any]] = []
        async for msg in ws:
            frames.append(json.loads(msg.data))
            if frames[-1]["status"] == "waiting-input":
                await ws.send_str("twice")
                break
    prompt = frames[-1]["seq"]
    answer = await _execute(jc, name, mode="input", runId=run_id, code="twice", ack=prompt)
    out = _stdout(answer)
    ack = answer["seq"]
    while answer["status"] != "finished":
        answer = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=ack)
        out, ack = out + _stdout(answer), answer["seq"]
    assert out.count("hello-twice") == 1 and "no-extra" in out, out
    _, logs = await jc.call("GET", f"/session/{name}/logs")
    assert "was delivered already" in logs["result"]["logs"]


async def test_a_detached_run_is_interrupted_after_the_grace(jc: SignedClient) -> None:
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps(
                {
                    "mode": "query",
                    "code": "echo start; sleep 60; echo never\n",
                    "runId": run_id,
                    "resumable": True,
                }
            )
        )
        frames = await _stream_frames(ws, until="start")
    await asyncio.sleep(GRACE_S + 2)
    rest, _, last = await _follow(jc, name, run_id, frames[-1]["seq"])
    assert last["status"] == "finished" and last["exitCode"] != 0, last
    assert "never" not in rest
    _, logs = await jc.call("GET", f"/session/{name}/logs")
    assert "not re-attached within" in logs["result"]["logs"]


async def test_output_the_journal_could_not_keep_is_reported_lost_once(
    jc: SignedClient,
) -> None:
    name = await _session(jc)
    run_id = uuid.uuid4().hex
    code = (
        "head -c 3000 /dev/zero | tr '\\0' a; echo; sleep 0.5\n"
        "head -c 3000 /dev/zero | tr '\\0' b; echo; sleep 0.5; echo tail\n"
    )
    async with jc.ws(f"/stream/session/{name}/execute") as ws:
        await ws.send_str(
            json.dumps({"mode": "query", "code": code, "runId": run_id, "resumable": True})
        )
        frames = await _stream_frames(ws)
    assert frames[-1]["status"] == "finished"
    # Nothing was acknowledged: 6000 characters do not fit the journal, the "a" went first.
    replay = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=0)
    assert replay["lost"] >= 3000, replay
    assert "tail" in _stdout(replay) and "b" * 3000 in _stdout(replay)
    assert "aaa" not in _stdout(replay)
    assert replay["status"] == "finished" and replay["seq"] == frames[-1]["seq"]
    again = await _execute(jc, name, mode="continue", runId=run_id, code="", ack=0)
    assert "lost" not in again, again
    assert ExecutionResult.from_json(replay).lost == replay["lost"]


async def test_a_finished_streamed_run_is_freed_when_the_next_run_starts(
    jc: SignedClient,
) -> None:
    """A stream that ended its run stops owning the journal: the session's next run frees
    the answers nobody acknowledged, as for REST runs, so neither the gateway's memory nor
    the cost of starting a run grows with every run a session ever streamed."""
    name = await _session(jc)
    first = uuid.uuid4().hex
    runs = [(first, "head -c 2000 /dev/zero | tr '\\0' a; echo\n")]
    runs += [(uuid.uuid4().hex, "echo next\n") for _ in range(3)]
    for run_id, code in runs:
        async with jc.ws(f"/stream/session/{name}/execute") as ws:
            await ws.send_str(
                json.dumps({"mode": "query", "code": code, "runId": run_id, "resumable": True})
            )
            frames = await _stream_frames(ws)
        assert frames[-1]["status"] == "finished", frames
    replay = await _execute(jc, name, mode="continue", runId=first, code="", ack=0)
    assert "aaa" not in _stdout(replay), replay
    assert replay.get("lost", 0) >= 2000, replay


async def test_the_extension_can_be_turned_off(tmp_path: Path) -> None:
    with running_gateway(tmp_path, args=["--no-resumable-runs"]) as info:
        async with SignedClient(info.endpoint, info.access_key, info.secret_key) as c:
            name = await _session(c)
            async with c.ws(f"/stream/session/{name}/execute") as ws:
                await ws.send_str(
                    json.dumps(
                        {
                            "mode": "query",
                            "code": "echo off\n",
                            "runId": uuid.uuid4().hex,
                            "resumable": True,
                        }
                    )
                )
                frames = await _stream_frames(ws)
            assert frames[-1]["status"] == "finished"
            assert all("seq" not in f and "runId" not in f for f in frames), frames
            answer = await _execute(c, name, mode="query", runId=None, code="echo x\n", ack=-1)
            assert "seq" not in answer


def _answer(status: str, text: str = "") -> ExecutionResult:
    console = [ConsoleRecord.stdout(text)] if text else []
    return ExecutionResult(status=status, console=console, run_id="r")


def test_a_replay_never_merges_past_a_control_status() -> None:
    journal = RunJournal("r")
    for status, text in [
        ("continued", "a"),
        ("continued", "b"),
        ("waiting-input", "Name? "),
        ("continued", "c"),
    ]:
        journal.record(_answer(status, text))
    first = journal.replay(0)
    assert first is not None and first.seq == 3 and first.status == "waiting-input"
    assert [r.text for r in first.console] == ["abName? "]
    again = journal.replay(0)  # lost in transit too: the same answer again
    assert again is not None and again.seq == 3
    rest = journal.replay(3)
    assert rest is not None and rest.seq == 4 and rest.console[0].text == "c"
    assert journal.replay(4) is None and journal.take_lost() is None


def test_answers_freed_before_they_were_acknowledged_are_reported_lost() -> None:
    journal = RunJournal("r", limit=10)
    journal.record(_answer("continued", "x" * 8))
    journal.record(_answer("continued", "y" * 8))  # pushes the x out
    journal.record(_answer("finished"))
    replay = journal.replay(0)
    assert replay is not None and replay.console[0].text == "y" * 8
    assert journal.take_lost() == 8 and journal.take_lost() is None
    journal.release()  # a new run started on the session
    assert journal.replay(1) is None and journal.take_lost() == 8


def test_many_busy_journals_share_a_process_wide_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams do not acknowledge their frames: past the process-wide total, journals holding
    more than their share drop their oldest answers (a resuming client is told how much is
    lost), while a quiet run's journal keeps all of its few answers."""
    import gc

    from bai_lsp.gateway import journal as journals

    monkeypatch.setattr(journals, "JOURNAL_CHARS_ALL", 100)
    monkeypatch.setattr(journals, "MIN_JOURNAL_SHARE", 20)
    before = RunJournal.total_chars
    floods = [RunJournal(f"flood{i}", limit=1000) for i in range(3)]
    quiet = RunJournal("quiet", limit=1000)
    for n in range(10):
        for i, flood in enumerate(floods):
            flood.record(_answer("continued", f"{i}" * 10))
        if n % 5 == 0:
            quiet.record(_answer("continued", "q" * 8))
    # each flood is well within its own limit (100 of 1000), together past the total
    assert RunJournal.total_chars - before <= 100 + 3 * 10
    assert all(flood.chars <= 40 for flood in floods)
    assert [r.text for r in (quiet.replay(0) or _answer("x")).console] == ["q" * 16]
    replay = floods[0].replay(0)
    assert replay is not None and replay.console[0].text.startswith("0")
    assert (floods[0].take_lost() or 0) >= 60  # what it could not keep, reported
    del floods, flood, quiet, replay
    gc.collect()
    assert RunJournal.total_chars == before  # forgotten journals no longer count
