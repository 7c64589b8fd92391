"""The pure run state machine: one backend answer → what the user sees and what happens next."""

from __future__ import annotations

from support.scripted import RecordingFrontend

from bai_lsp.domain import runstate
from bai_lsp.domain.events import RunFinished
from bai_lsp.domain.settings import parse_settings
from bai_lsp.domain.supervisor import notify_long_run
from bai_lsp.wire.execute import ConsoleRecord, ExecutionResult


def answer(status: str, *texts: str, **kw: object) -> ExecutionResult:
    return ExecutionResult(status, [ConsoleRecord("stdout", t) for t in texts], **kw)  # type: ignore[arg-type]


def test_output_is_shown_in_order_and_the_run_goes_on() -> None:
    step = runstate.step(answer("continued", "a\n", "b\n"))
    assert [r.text for r in step.records] == ["a\n", "b\n"]
    assert (step.ask, step.ending) == (False, None)


def test_lost_output_is_announced_before_the_rest() -> None:
    step = runstate.step(answer("continued", "after\n", lost=5020))
    assert "5020 characters of output were lost" in (step.records[0].text or "")
    assert step.records[1].text == "after\n"


def test_waiting_input_asks_and_says_whether_it_is_a_password() -> None:
    plain = runstate.step(answer("waiting-input", "Name: "))
    secret = runstate.step(answer("waiting-input", "Password: ", options={"is_password": True}))
    assert plain.ask and not plain.password and plain.records[0].text == "Name: "
    assert secret.ask and secret.password
    assert plain.ending is None


def test_a_failed_build_is_explained_and_a_good_one_is_not() -> None:
    failed = runstate.step(answer("build-finished", exit_code=2))
    assert "The build step failed (exit code 2); the exec step is skipped" in (
        failed.records[-1].text or ""
    )
    assert runstate.step(answer("build-finished", exit_code=0)).records == []
    assert failed.ending is None


def test_finished_ends_with_the_programs_exit_code() -> None:
    assert runstate.step(answer("finished", exit_code=3)).ending == runstate.Ending("finished", 3)


def test_the_time_limit_ends_the_run_as_timeout() -> None:
    ending = runstate.step(answer("exec-timeout")).ending
    assert ending is not None and ending.status == "timeout"
    assert ending.message == "The backend's execution time limit was hit."


def test_backend_errors_end_the_run_failed_with_the_backends_words() -> None:
    error = runstate.step(answer("error", msg="kernel died")).ending
    restarting = runstate.step(answer("server-restarting")).ending
    assert error == runstate.Ending("failed", None, "Backend.AI: kernel died")
    assert restarting == runstate.Ending("failed", None, "Backend.AI: server-restarting")


def test_answer_numbers_count_only_for_this_run() -> None:
    assert runstate.step(answer("continued", seq=4, run_id="r1"), "r1").seq == 4
    assert runstate.step(answer("continued", seq=4, run_id="other"), "r1").seq is None
    assert runstate.step(answer("continued", seq=7)).seq == 7  # REST: always this run


def test_an_interrupted_run_ends_interrupted_whatever_the_kernel_said() -> None:
    finished = runstate.settle(runstate.Ending("finished", 1), interrupted=True)
    failed = runstate.settle(runstate.Ending("failed", None, "x"), interrupted=True)
    assert finished == runstate.Ending("interrupted", 1)
    assert failed == runstate.Ending("interrupted", None)
    assert runstate.settle(runstate.Ending("timeout"), True).status == "timeout"
    assert runstate.settle(runstate.Ending("finished", 0), False).status == "finished"


def test_an_answered_password_is_never_echoed() -> None:
    assert runstate.echo("hunter2", password=True).text == "\n"
    assert runstate.echo("Ada", password=False).text == "Ada\n"


def test_a_dropped_stream_leaves_a_visible_gap_naming_the_endpoint() -> None:
    text = runstate.gap_marker("http://h:8090", "reset by peer.").text or ""
    assert "The connection to http://h:8090 dropped during this run (reset by peer)" in text


def long_run(status: str, exit_code: int, ms: int, message: str | None = None) -> RunFinished:
    return RunFinished("r", status, exit_code, ms, "file:///ws/train.py", message=message)


def test_a_long_run_that_finished_is_announced_once_it_ends() -> None:
    frontend = RecordingFrontend()
    settings = parse_settings([{"notifyAfterSeconds": 30}])
    notify_long_run(frontend, settings, long_run("finished", 0, 45_000), "bai-ws")  # type: ignore[arg-type]
    assert frontend.messages == [
        ("info", "The run of train.py on bai-ws finished (exit code 0) after 45 s.")
    ]


def test_a_long_run_that_failed_is_a_warning_with_its_reason() -> None:
    frontend = RecordingFrontend()
    settings = parse_settings([{"notifyAfterSeconds": 30}])
    notify_long_run(frontend, settings, long_run("failed", 1, 31_000, "lost"), "s")  # type: ignore[arg-type]
    assert frontend.messages == [("warning", "The run of train.py on s failed: lost after 31 s.")]


def test_short_runs_and_a_zero_limit_are_not_announced() -> None:
    frontend = RecordingFrontend()
    notify_long_run(
        frontend, parse_settings([{"notifyAfterSeconds": 30}]), long_run("finished", 0, 29_000), "s"
    )  # type: ignore[arg-type]
    notify_long_run(
        frontend, parse_settings([{"notifyAfterSeconds": 0}]), long_run("finished", 0, 99_000), "s"
    )  # type: ignore[arg-type]
    assert frontend.messages == []
