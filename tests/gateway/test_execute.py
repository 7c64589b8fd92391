"""REST execute (§4): modes, runId handling, input prompts, interrupt, batch steps, bad input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name

PY_SESSION = "gw-exec-python"
SH_SESSION = "gw-exec-bash"


async def py(client: SignedClient) -> str:
    await create_session(client, "python:3.11-ubuntu", PY_SESSION, keep=True)
    return PY_SESSION


async def sh(client: SignedClient) -> str:
    await create_session(client, "bash", SH_SESSION, keep=True)
    return SH_SESSION


async def execute(client: SignedClient, ref: str, **body: Any) -> tuple[int, Any]:
    body.setdefault("runId", None)
    return await client.call("POST", f"/session/{ref}", json_body=body)


async def run_to_end(
    client: SignedClient, ref: str, code: str, mode: str = "query", **extra: Any
) -> list[dict[str, Any]]:
    """Every poll of one run until ``finished``."""
    status, body = await execute(client, ref, mode=mode, code=code, **extra)
    assert status == 200, body
    polls = [body["result"]]
    while polls[-1]["status"] != "finished":
        assert polls[-1]["status"] in ("continued", "clean-finished", "build-finished"), polls
        status, body = await execute(client, ref, mode="continue", code="", runId=polls[0]["runId"])
        assert status == 200, body
        polls.append(body["result"])
        assert len(polls) < 200
    return polls


def stdout_of(polls: list[dict[str, Any]]) -> str:
    return "".join(text for p in polls for kind, text in p["console"] if kind == "stdout")


async def test_query_hello_world(client: SignedClient) -> None:
    ref = await py(client)
    polls = await run_to_end(client, ref, "print('hello world')")
    assert stdout_of(polls) == "hello world\n"
    final = polls[-1]
    assert final["exitCode"] == 0 and final["files"] == [] and final["options"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", final["runId"])


async def test_given_run_id_is_kept_and_run_id_spelling_accepted(client: SignedClient) -> None:
    ref = await sh(client)
    status, body = await execute(client, ref, mode="query", code="echo one", runId="my-run-1")
    assert status == 200 and body["result"]["runId"] == "my-run-1"
    while body["result"]["status"] != "finished":
        _, body = await client.call(
            "POST",
            f"/session/{ref}",
            json_body={"mode": "continue", "code": "", "run_id": "my-run-1"},
        )
    assert body["result"]["runId"] == "my-run-1"


async def test_input_prompt_round_trip(client: SignedClient) -> None:
    ref = await py(client)
    _, body = await execute(
        client, ref, mode="query", code="n = input('Your name? ')\nprint('hi', n)"
    )
    result = body["result"]
    while result["status"] == "continued":
        _, body = await execute(client, ref, mode="continue", code="", runId=result["runId"])
        result = body["result"]
    assert result["status"] == "waiting-input"
    assert result["options"] == {"is_password": False}
    run_id = result["runId"]
    _, body = await execute(client, ref, mode="input", code="Ada", runId=run_id)
    polls = [body["result"]]
    while polls[-1]["status"] != "finished":
        _, body = await execute(client, ref, mode="continue", code="", runId=run_id)
        polls.append(body["result"])
    assert "hi Ada" in stdout_of(polls)


async def test_password_prompt_is_flagged(client: SignedClient) -> None:
    ref = await py(client)
    _, body = await execute(
        client,
        ref,
        mode="query",
        code="import getpass\np = getpass.getpass('Secret: ')\nprint(len(p))",
    )
    result = body["result"]
    while result["status"] == "continued":
        _, body = await execute(client, ref, mode="continue", code="", runId=result["runId"])
        result = body["result"]
    assert result["status"] == "waiting-input"
    assert result["options"] == {"is_password": True}
    _, body = await execute(client, ref, mode="input", code="hunter2", runId=result["runId"])
    polls = [body["result"]]
    while polls[-1]["status"] != "finished":
        _, body = await execute(client, ref, mode="continue", code="", runId=result["runId"])
        polls.append(body["result"])
    assert "7" in stdout_of(polls)
    assert "hunter2" not in stdout_of(polls)


async def test_media_record(client: SignedClient) -> None:
    ref = await py(client)
    polls = await run_to_end(
        client,
        ref,
        "from IPython.display import SVG, display\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\'))',
    )
    media = [data for p in polls for kind, data in p["console"] if kind == "media"]
    assert media and media[0][0] == "image/svg+xml" and "<svg" in media[0][1]


async def test_interrupt_stops_an_endless_loop(client: SignedClient) -> None:
    ref = await py(client)
    _, body = await execute(client, ref, mode="query", code="while True: pass")
    result = body["result"]
    assert result["status"] == "continued"
    assert (await client.call("POST", f"/session/{ref}/interrupt"))[0] == 204
    while result["status"] != "finished":
        _, body = await execute(client, ref, mode="continue", code="", runId=result["runId"])
        result = body["result"]
    polls = await run_to_end(client, ref, "print('still alive')")
    assert stdout_of(polls) == "still alive\n"


async def test_batch_steps_report_each_completion(client: SignedClient) -> None:
    ref = await sh(client)
    polls = await run_to_end(
        client,
        ref,
        "",
        mode="batch",
        options={"clean": "", "build": "echo building", "exec": "echo running", "buildLog": True},
    )
    statuses = [p["status"] for p in polls if p["status"] != "continued"]
    assert statuses == ["clean-finished", "build-finished", "finished"]
    out = stdout_of(polls)
    assert "building" in out and "running" in out
    assert polls[-1]["exitCode"] == 0


async def test_complete_mode_on_execute(client: SignedClient) -> None:
    ref = await py(client)
    status, body = await execute(client, ref, mode="complete", code="impor")
    assert status == 200
    assert body["result"]["status"] == "finished"
    assert "import" in body["result"]["completions"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"mode": "query", "code": "echo x"}, "runId is required"),
        ({"mode": "", "code": "x", "runId": None}, "mode is required"),
        ({"code": "x", "runId": None}, "mode is required"),
        ({"mode": "continued", "code": "", "runId": "abc"}, "Invalid execution mode"),
        ({"mode": "explode", "code": "", "runId": None}, "Invalid execution mode"),
        ({"mode": "continue", "code": "", "runId": None}, "continuation requires explicit run ID"),
        ({"mode": "input", "code": "x", "runId": None}, "continuation requires explicit run ID"),
        ({"mode": "query", "code": 42, "runId": None}, "code must be a string"),
        ({"mode": "query", "code": "x", "runId": 7}, "runId must be"),
        ({"mode": "batch", "code": "", "runId": None, "options": "all"}, "options must be"),
        ({"mode": "batch", "code": "", "runId": None, "options": {"exec": 1}}, "options.exec"),
    ],
)
async def test_bad_execute_bodies(
    client: SignedClient, body: dict[str, Any], fragment: str
) -> None:
    ref = await sh(client)
    status, answer = await client.call("POST", f"/session/{ref}", json_body=body)
    assert_problem(status, answer, 400, "invalid-api-params")
    assert fragment in answer["msg"], answer


async def test_malformed_execute_body_and_session_still_serves(client: SignedClient) -> None:
    ref = await sh(client)
    status, body = await client.call(
        "POST", f"/session/{ref}", data=b"mode=query", content_type="application/json"
    )
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await client.call("POST", f"/session/{ref}", json_body="query")
    assert_problem(status, body, 400, "invalid-api-params")
    polls = await run_to_end(client, ref, "echo fine")
    assert stdout_of(polls) == "fine\n"


async def test_continue_with_a_foreign_run_id_is_refused(client: SignedClient) -> None:
    ref = await sh(client)
    status, body = await execute(client, ref, mode="input", code="x", runId="never-started")
    assert_problem(status, body, 400, "invalid-api-params")


async def test_execute_on_unknown_or_destroyed_session(client: SignedClient) -> None:
    name = unique_name()
    await create_session(client, "bash", name)
    await client.call("DELETE", f"/session/{name}")
    status, body = await execute(client, name, mode="query", code="echo x")
    assert_problem(status, body, 404, "object-not-found")
