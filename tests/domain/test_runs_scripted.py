"""The run machinery end to end in the domain — engine, supervisors, frame sources, input
broker, run log, re-attach — over the scripted backend (tests/support/scripted.py) for the
sequences and faults that are hard to produce for real on demand. Each test checks what the
user would notice: the output shown, the statuses, the prompts, the run's end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.scripted import (
    SETTINGS,
    Ask,
    End,
    Err,
    Hold,
    Out,
    RecordingFrontend,
    ScriptedBackend,
    Status,
)

from bai_lsp.domain import reconnect
from bai_lsp.domain.backend import Backend
from bai_lsp.domain.compose import compose
from bai_lsp.domain.engine import Engine, RunDetachedError, SourceDocument
from bai_lsp.domain.errors import NoSessionError, UnknownRunError
from bai_lsp.domain.settings import Settings

FOLDER = "file:///ws"


def doc(code: str, name: str = "main.py") -> SourceDocument:
    return SourceDocument(f"{FOLDER}/{name}", code, "python", None, FOLDER, None)


def engine_for(
    backend: ScriptedBackend,
    state_dir: Path,
    frontend: RecordingFrontend | None = None,
    **settings: Any,
) -> tuple[Engine, RecordingFrontend]:
    frontend = frontend or RecordingFrontend()

    async def connect(_: Settings) -> Backend:
        return backend

    engine = compose(frontend, state_dir, connect=connect).engine
    engine.set_initialization_options({**SETTINGS, **settings})
    return engine, frontend


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry an outage after 1 ms instead of 0.5 s: the sequence is the same, only faster."""
    monkeypatch.setattr(reconnect, "BACKOFF_START", 0.001)


@pytest.fixture(params=["rest", "websocket"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_run_shows_its_output_and_ends_with_its_exit_code(
    tmp_path: Path, transport: str
) -> None:
    backend = ScriptedBackend({"p": [Out("one\n"), Err("two\n"), End(3)]})
    engine, ui = engine_for(backend, tmp_path, runTransport=transport)
    result = await engine.run_file(doc("p"))
    assert (result.status, result.exit_code) == ("finished", 3)
    assert ui.text(result.run_id) == "one\ntwo\n"
    assert ui.statuses == ["starting", "idle", "busy", "idle"]
    assert ui.finished[result.run_id].status == "finished"


async def test_the_editor_answers_input_and_the_answer_is_echoed(
    tmp_path: Path, transport: str
) -> None:
    backend = ScriptedBackend({"p": [Ask("Name: "), Out("hi\n"), End()]})
    engine, ui = engine_for(
        backend, tmp_path, RecordingFrontend(answers=["Ada"]), runTransport=transport
    )
    result = await engine.run_file(doc("p"))
    assert backend.inputs == ["Ada"]
    assert ui.asked[0].prompt == "Name: " and not ui.asked[0].password
    assert ui.text(result.run_id) == "Name: Ada\nhi\n"
    assert "waiting-input" in ui.statuses
    assert ui.statuses[ui.statuses.index("waiting-input") + 1] == "busy"


async def test_a_password_is_asked_as_one_and_never_shown(tmp_path: Path, transport: str) -> None:
    backend = ScriptedBackend({"p": [Ask("Password: ", password=True), End()]})
    engine, ui = engine_for(
        backend, tmp_path, RecordingFrontend(answers=["hunter2"]), runTransport=transport
    )
    result = await engine.run_file(doc("p"))
    assert ui.asked[0].password
    assert backend.inputs == ["hunter2"]
    assert "hunter2" not in ui.text(result.run_id)


async def test_cancelling_an_input_interrupts_the_program(tmp_path: Path, transport: str) -> None:
    backend = ScriptedBackend({"p": [Ask("Name: "), Out("never\n"), End()]})
    engine, ui = engine_for(
        backend, tmp_path, RecordingFrontend(answers=[None]), runTransport=transport
    )
    result = await engine.run_file(doc("p"))
    assert result.status == "interrupted"
    assert backend.interrupts and "never" not in ui.text(result.run_id)


async def test_without_an_input_capable_editor_send_input_answers(
    tmp_path: Path, transport: str
) -> None:
    backend = ScriptedBackend({"p": [Ask("Age? "), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport=transport)
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while not ui.messages:
        await asyncio.sleep(0.005)
    level, text = ui.messages[0]
    run_id = ui.started[0].run_id
    assert level == "info" and "waiting for input: Age?" in text and run_id in text
    engine.send_input(run_id, "42")
    assert (await task).status == "finished"
    assert backend.inputs == ["42"]


async def test_send_input_to_a_run_not_waiting_says_so(tmp_path: Path) -> None:
    engine, _ = engine_for(ScriptedBackend({}), tmp_path)
    with pytest.raises(UnknownRunError, match="No run with id 'nope' is waiting for input"):
        engine.send_input("nope", "x")


async def test_interrupt_stops_a_running_program(tmp_path: Path, transport: str) -> None:
    backend = ScriptedBackend({"p": [Out("started\n"), Hold("h"), Out("never\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport=transport)
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "started" not in ui.text():
        await asyncio.sleep(0.005)
    await engine.interrupt(FOLDER, f"{FOLDER}/main.py")
    result = await task
    assert result.status == "interrupted"
    assert "KeyboardInterrupt" in ui.text() and "never" not in ui.text()


async def test_interrupt_without_a_session_says_there_is_nothing_to_interrupt(
    tmp_path: Path,
) -> None:
    engine, _ = engine_for(ScriptedBackend({}), tmp_path)
    with pytest.raises(NoSessionError, match="nothing to interrupt"):
        await engine.interrupt(FOLDER, f"{FOLDER}/main.py")


async def test_runs_of_one_session_queue_and_a_queued_one_can_be_interrupted(
    tmp_path: Path,
) -> None:
    backend = ScriptedBackend({"first": [Hold("h"), Out("1\n"), End()], "second": [End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    first = asyncio.ensure_future(engine.run_file(doc("first")))
    while not ui.started:
        await asyncio.sleep(0.005)
    second = asyncio.ensure_future(engine.run_file(doc("second", "b.py")))
    await asyncio.sleep(0.02)
    assert len(ui.started) == 1  # the second waits for the first
    await engine.interrupt(FOLDER, f"{FOLDER}/b.py")
    assert (await second).message == "Interrupted before it started."
    assert (await first).status == "interrupted"  # interrupt stops every run of the folder


async def test_an_outage_shows_reconnecting_then_the_rest_of_the_output(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("a\n"), Hold("h"), Out("b\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "a\n" not in ui.text():
        await asyncio.sleep(0.005)
    backend.poll_failures += [ConnectionRefusedError("down"), ConnectionRefusedError("down")]
    backend.release("h")
    result = await task
    assert result.status == "finished" and ui.text() == "a\nb\n"
    i = ui.statuses.index("reconnecting")
    assert ui.statuses[i + 1 :] == ["reconnecting", "busy", "idle"]


async def test_a_lost_poll_answer_is_sent_again_without_duplicates(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("a\n"), Hold("h"), Out("b\n"), Out("c\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "a\n" not in ui.text():
        await asyncio.sleep(0.005)
    backend.lost_answers = 1
    backend.release("h")
    result = await task
    assert result.status == "finished" and ui.text() == "a\nb\nc\n"
    assert any(p["ack"] for p in backend.polls)


async def test_lost_output_on_the_backend_is_shown_as_a_gap(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("x\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    original = backend.execute

    async def lossy(ref: str, **kw: Any) -> Any:
        result = await original(ref, **kw)
        result.lost = 99
        return result

    backend.execute = lossy  # type: ignore[method-assign]
    await engine.run_file(doc("p"))
    assert "99 characters of output were lost" in ui.text()


async def test_a_cut_stream_goes_on_by_polls_without_loss_or_repeat(tmp_path: Path) -> None:
    steps = [Out(f"{i}\n") for i in range(6)] + [End()]
    backend = ScriptedBackend({"p": steps})
    backend.stream_drop_after = 3
    engine, ui = engine_for(backend, tmp_path, runTransport="websocket")
    result = await engine.run_file(doc("p"))
    assert result.status == "finished"
    assert ui.text() == "".join(f"{i}\n" for i in range(6))
    assert "reconnecting" in ui.statuses
    assert backend.polls[0]["mode"] == "continue" and backend.polls[0]["ack"] == 3


async def test_a_cut_stream_of_a_real_manager_leaves_a_gap_and_fails(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("a\n"), Out("b\n"), Out("c\n"), End()]}, numbered=False)
    backend.stream_drop_after = 1
    engine, ui = engine_for(backend, tmp_path, runTransport="websocket")
    result = await engine.run_file(doc("p"))
    assert result.status == "failed"
    assert "dropped during this run" in ui.text() and "rest of its output is lost" in ui.text()
    assert backend.polls == []


async def test_an_answer_the_cut_stream_did_not_confirm_reaches_the_program_once(
    tmp_path: Path,
) -> None:
    backend = ScriptedBackend({"p": [Ask("Name: "), Out("hi\n"), End()]})
    backend.stream_drop_after = 1  # cut right after the prompt frame
    engine, ui = engine_for(
        backend, tmp_path, RecordingFrontend(answers=["Ada"]), runTransport="websocket"
    )
    result = await engine.run_file(doc("p"))
    assert result.status == "finished"
    assert backend.inputs == ["Ada"]
    assert ui.text().count("hi\n") == 1


async def test_a_session_gone_before_the_run_is_recreated_and_the_user_told(
    tmp_path: Path, transport: str
) -> None:
    backend = ScriptedBackend({"p": [Out("ok\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport=transport)
    await engine.session_start(engine_target())
    backend.gone_on_next_execute = 1
    result = await engine.run_file(doc("p"))
    assert result.status == "finished" and "ok\n" in ui.text()
    assert any("was lost" in text for _, text in ui.messages)
    assert "[bai-lsp] Session" in ui.text()


def engine_target() -> Any:
    from bai_lsp.domain.engine import SessionTarget

    return SessionTarget(FOLDER, "python")


async def test_a_session_that_disappears_twice_fails_the_run(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    backend.gone_on_next_execute = 2
    result = await engine.run_file(doc("p"))
    assert result.status == "failed" and "disappeared again" in (result.message or "")
    assert ui.finished[result.run_id].message == result.message


async def test_a_refused_first_poll_fails_the_run_in_the_users_words(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    backend.poll_failures.append(ConnectionRefusedError("refused"))
    result = await engine.run_file(doc("p"))
    assert result.status == "failed"
    assert "Cannot reach Backend.AI at http://scripted.invalid:8090" in (result.message or "")
    assert ui.finished[result.run_id].status == "failed"


async def test_an_endpoint_down_too_long_fails_the_run_and_says_it_may_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconnect, "GIVE_UP_AFTER", 0.0)
    backend = ScriptedBackend({"p": [Out("a\n"), Hold("h"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "a\n" not in ui.text():
        await asyncio.sleep(0.005)
    backend.poll_failures += [OSError("down")] * 3
    result = await task
    assert result.status == "failed" and "may still be going on" in (result.message or "")
    assert ui.statuses[-1] in ("error", "idle")
    assert "error" in ui.statuses


async def test_the_time_limit_and_backend_errors_end_the_run(tmp_path: Path) -> None:
    backend = ScriptedBackend(
        {"t": [Out("a\n"), Status("exec-timeout")], "e": [Status("error", msg="OOM killed")]}
    )
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    timeout = await engine.run_file(doc("t"))
    error = await engine.run_file(doc("e"))
    assert (timeout.status, timeout.message) == (
        "timeout",
        "The backend's execution time limit was hit.",
    )
    assert (error.status, error.message) == ("failed", "Backend.AI: OOM killed")
    assert ui.text(timeout.run_id) == "a\n"


async def test_a_failed_build_step_is_explained_in_the_output(tmp_path: Path) -> None:
    backend = ScriptedBackend({"b": [Status("build-finished", exit_code=2), End(2)]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    result = await engine.run_file(doc("b"))
    assert result.exit_code == 2 and "The build step failed (exit code 2)" in ui.text()


async def test_the_durable_log_replays_a_finished_run(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("kept\n"), End()]})
    engine, _ = engine_for(backend, tmp_path, runTransport="rest")
    result = await engine.run_file(doc("p"))
    await engine.shutdown()
    replay = await engine.runs_replay(result.run_id)
    assert "kept\n" in "".join(r.text or "" for r in replay.records)
    listed = await engine.runs_list(None)
    assert [(r.run_id, r.status) for r in listed.runs] == [(result.run_id, "finished")]


# --- detach at shutdown, re-attach in the next server ---------------------------------------


async def start_and_detach(
    backend: ScriptedBackend, state_dir: Path, code: str, **settings: Any
) -> tuple[str, RecordingFrontend]:
    """A run going on when the server stops with ``onExit: keep``: detached, not stopped."""
    engine, ui = engine_for(backend, state_dir, **{"runTransport": "rest", **settings})
    task = asyncio.ensure_future(engine.run_file(doc(code)))
    while "before\n" not in ui.text():
        await asyncio.sleep(0.005)
    await engine.shutdown()
    with pytest.raises(RunDetachedError, match="re-attaches to it"):
        await task
    assert backend.interrupts == []
    return ui.started[0].run_id, ui


async def reattach(
    backend: ScriptedBackend, state_dir: Path, frontend: RecordingFrontend | None = None
) -> tuple[Engine, RecordingFrontend]:
    engine, ui = engine_for(backend, state_dir, frontend, runTransport="rest")
    engine.prepare()
    return engine, ui


async def test_a_detached_run_is_re_attached_and_its_output_continues(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), Out("after\n"), End(0)]})
    run_id, first = await start_and_detach(backend, tmp_path, "p")
    assert run_id not in first.finished  # detached, not ended
    backend.release("h")
    engine, ui = await reattach(backend, tmp_path)
    await ui.wait_finished()
    assert ui.started[0].reattached and ui.started[0].run_id == run_id
    assert any("Re-attached to the run of main.py" in text for _, text in ui.messages)
    assert ui.text(run_id) == "after\n"  # nothing shown twice
    assert ui.finished[run_id].status == "finished"
    replay = await engine.runs_replay(run_id)
    assert "".join(r.text or "" for r in replay.records) == "before\nafter\n"


async def test_a_run_waiting_for_input_is_asked_again_after_re_attaching(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Ask("Name: "), Out("hi\n"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")  # cannot answer input
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while not ui.messages:
        await asyncio.sleep(0.005)
    await engine.shutdown()
    with pytest.raises(RunDetachedError):
        await task
    _, again = await reattach(backend, tmp_path, RecordingFrontend(answers=["Ada"]))
    await again.wait_finished()
    assert again.asked[0].prompt == "Name: "
    assert backend.inputs == ["Ada"]
    assert "hi\n" in again.text()


async def test_a_run_whose_session_ended_meanwhile_is_reported_failed(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), End()]})
    run_id, first = await start_and_detach(backend, tmp_path, "p")
    backend.lose_session(first.started[0].session_name)
    engine, ui = await reattach(backend, tmp_path)
    for _ in range(400):
        if ui.messages:
            break
        await asyncio.sleep(0.005)
    level, text = ui.messages[0]
    assert level == "warning" and "ended while bai-lsp was not running" in text
    listed = await engine.runs_list(None)
    assert [(r.run_id, r.status) for r in listed.runs] == [(run_id, "failed")]


async def test_an_unreachable_backend_leaves_the_run_for_the_next_start(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), Out("after\n"), End()]})
    run_id, _ = await start_and_detach(backend, tmp_path, "p")
    original = backend.session_info

    async def down(ref: str) -> dict[str, Any]:
        raise ConnectionRefusedError("down")

    backend.session_info = down  # type: ignore[method-assign]
    engine, ui = await reattach(backend, tmp_path)
    while not ui.messages:
        await asyncio.sleep(0.005)
    assert "It tries again when it starts next" in ui.messages[0][1]
    await engine.shutdown()
    backend.session_info = original  # type: ignore[method-assign]
    backend.release("h")
    _, later = await reattach(backend, tmp_path)
    await later.wait_finished()
    assert later.finished[run_id].status == "finished" and later.text(run_id) == "after\n"


async def test_a_cut_stream_run_detached_is_re_attached(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), Out("after\n"), End()]})
    run_id, _ = await start_and_detach(backend, tmp_path, "p", runTransport="websocket")
    backend.release("h")
    _, ui = await reattach(backend, tmp_path)
    await ui.wait_finished()
    assert ui.finished[run_id].status == "finished"
    assert ui.text(run_id) == "after\n"


async def test_on_exit_destroy_interrupts_the_run_and_destroys_the_session(
    tmp_path: Path,
) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest", onExit="destroy")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "before\n" not in ui.text():
        await asyncio.sleep(0.005)
    await engine.shutdown()
    assert (await task).status == "interrupted"
    assert backend.interrupts and backend.destroyed == [ui.started[0].session_name]
    assert backend.closed


async def test_a_run_the_user_gave_up_on_is_interrupted_not_detached(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "before\n" not in ui.text():
        await asyncio.sleep(0.005)
    await engine.shutdown(detach=False)  # bai-lsp run: nobody comes back for it
    assert (await task).status == "interrupted"
    assert backend.destroyed == []  # onExit keep: the session stays


async def test_a_cancelled_request_interrupts_its_run(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while "before\n" not in ui.text():
        await asyncio.sleep(0.005)
    task.cancel()
    await ui.wait_finished()
    assert next(iter(ui.finished.values())).status == "interrupted"
    assert backend.interrupts


async def test_invalid_settings_name_the_key_and_the_last_good_ones_stay(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    engine.set_configuration({"onExit": "sometimes"}, {})
    assert ui.messages[-1][0] == "error"
    assert "backendai.onExit" in ui.messages[-1][1] and "Keeping the previous" in ui.messages[-1][1]
    assert (await engine.run_file(doc("p"))).status == "finished"


async def test_a_folder_cannot_send_code_or_keys_elsewhere(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [End()]})
    engine, ui = engine_for(backend, tmp_path, runTransport="rest")
    engine.set_configuration({}, {FOLDER: {"endpoint": "http://evil.example"}})
    assert engine.settings_for(FOLDER).endpoint == SETTINGS["endpoint"]
    assert any("ignored backendai.endpoint" in text for _, text in ui.messages)


async def test_a_stream_cut_then_detached_while_polling_is_re_attached(tmp_path: Path) -> None:
    backend = ScriptedBackend({"p": [Out("before\n"), Hold("h"), Out("after\n"), End()]})
    backend.stream_drop_after = 1  # the stream drops after "before": polls take over
    engine, ui = engine_for(backend, tmp_path, runTransport="websocket")
    task = asyncio.ensure_future(engine.run_file(doc("p")))
    while not backend.polls:
        await asyncio.sleep(0.005)
    assert "reconnecting" in ui.statuses
    await engine.shutdown()  # the run goes on on the session: detached at the next poll
    with pytest.raises(RunDetachedError):
        await task
    assert backend.interrupts == []
    backend.release("h")
    _, again = await reattach(backend, tmp_path)
    await again.wait_finished()
    run_id = ui.started[0].run_id
    assert again.finished[run_id].status == "finished"
    assert ui.text(run_id) + again.text(run_id) == "before\nafter\n"
