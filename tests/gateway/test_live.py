"""Completion and silent introspection snippets on the gateway's Python sessions."""

from __future__ import annotations

from support.signed import SignedClient

from bai_lsp.wire.helper import HELPER_MARKER

from .conftest import create_session, unique_name
from .test_execute import execute, run_to_end, stdout_of


async def python_session(client: SignedClient) -> str:
    name = unique_name("live")
    await create_session(client, "python", name)
    return name


async def test_complete_route_and_complete_mode_answer_from_the_kernel(
    client: SignedClient,
) -> None:
    ref = await python_session(client)
    await run_to_end(client, ref, "import json\nxs = [3, 1, 2]")
    status, body = await client.call(
        "POST",
        f"/session/{ref}/complete",
        json_body={"code": "json.du", "options": {"row": 0, "col": 0, "line": "", "post": ""}},
    )
    assert status == 200, body
    assert body["result"]["status"] == "finished"
    assert "json.dumps" in body["result"]["completions"]
    assert "busy" not in body["result"]
    status, body = await execute(
        client, ref, mode="complete", code="xs.so\nprint(1)", options={"row": 0, "col": 5}
    )
    assert status == 200 and "xs.sort" in body["result"]["completions"], body


async def test_completion_during_a_running_cell_answers_busy_at_once(
    client: SignedClient,
) -> None:
    ref = await python_session(client)
    status, first = await execute(
        client, ref, mode="query", code="import time\nprint('started', flush=True)\ntime.sleep(60)"
    )
    assert status == 200 and first["result"]["status"] == "continued", first
    status, body = await client.call(
        "POST", f"/session/{ref}/complete", json_body={"code": "pri", "options": {}}
    )
    assert status == 200, body
    assert body["result"] == {"status": "finished", "completions": [], "busy": True}
    assert (await client.call("POST", f"/session/{ref}/interrupt"))[0] == 204
    run_id = first["result"]["runId"]
    while (await execute(client, ref, mode="continue", runId=run_id))[1]["result"][
        "status"
    ] != "finished":
        pass


async def test_a_helper_snippet_leaves_no_trace_in_the_kernel(client: SignedClient) -> None:
    ref = await python_session(client)
    await run_to_end(client, ref, "41 + 1")
    info = (await client.call("GET", f"/session/{ref}"))[1]
    queries = info["numQueriesExecuted"]

    helper = await run_to_end(client, ref, f"{HELPER_MARKER}\nprint('from helper', _)\n7 * 6 + 100")
    assert stdout_of(helper) == "from helper 42\n"  # no execute_result of the last line

    after = await run_to_end(client, ref, "print(_, len(Out), len(In))")
    # ``_`` is still the user's 42 and the history holds only the user's two cells.
    assert stdout_of(after) == "42 1 3\n"
    info = (await client.call("GET", f"/session/{ref}"))[1]
    assert info["numQueriesExecuted"] == queries + 1


async def test_node_sessions_complete_dotted_names_and_globals(client: SignedClient) -> None:
    name = unique_name("live-node")
    await create_session(client, "node", name)
    await run_to_end(client, name, "var xs = [1, 2]; globalThis.config = {alpha: 1, beta: 2};")
    answers = {}
    for code in ("xs.pu", "config.al", "conf", "nothing.he", "xs.__pro"):
        status, body = await client.call(
            "POST", f"/session/{name}/complete", json_body={"code": code, "options": {}}
        )
        assert status == 200, body
        answers[code] = body["result"]["completions"]
    assert "xs.push" in answers["xs.pu"]
    assert answers["config.al"] == ["config.alpha"]
    assert "config" in answers["conf"]
    assert answers["nothing.he"] == []
    assert answers["xs.__pro"] == []  # dunder names are left out
    # the session goes on as before: nothing was added to its globals
    polls = await run_to_end(client, name, "console.log(typeof _, xs.length)")
    assert stdout_of(polls) == "undefined 2\n"
