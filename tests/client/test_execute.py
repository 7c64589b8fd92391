"""Execution over REST polling and over the WebSocket give the same records (live gateway)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import pytest

from bai_lsp.backendai import BackendAIClient, InvalidRequestError
from bai_lsp.wire.execute import BatchOptions, ExecutionResult, aggregate

from .conftest import SessionFactory, run_rest, run_stream, text_of

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()

PYTHON_CASES = {
    "streams": "import sys\nprint('out 1')\nprint('err 1', file=sys.stderr)\nprint('out 2')",
    "media": (
        "from IPython.display import display, Image, HTML\n"
        "import base64\n"
        f"display(Image(data=base64.b64decode('{PNG}'), format='png'))\n"
        "display(HTML('<b>bold</b>'))\n"
        "print('after')"
    ),
    "error": "print('before')\n1 / 0",
    "slow": "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(1.2)",
    "value": "6 * 7",
}


def summary(results: Sequence[ExecutionResult]) -> dict[str, Any]:
    """What a user sees of a run: the records in order, the steps, the end."""
    records = aggregate([r for result in results for r in result.console])
    steps = [r.status for r in results if r.status != "continued"]
    return {
        "records": [r.to_json() for r in records],
        "steps": steps,
        "exit_code": results[-1].exit_code,
        "input_options": [r.options for r in results if r.status == "waiting-input"],
    }


@pytest.mark.parametrize("case", sorted(PYTHON_CASES))
async def test_rest_and_websocket_give_identical_records(
    client: BackendAIClient, new_session: SessionFactory, case: str
) -> None:
    # two fresh kernels, so both runs are execution 1 (tracebacks name the cell number)
    one, two = await new_session("python:3.11"), await new_session("python:3.11")
    code = PYTHON_CASES[case]
    rest = await run_rest(client, one.ref, code)
    stream = await run_stream(client, two.ref, code)
    assert summary(rest) == summary(stream)
    assert all(r.run_id is None for r in stream)  # the socket is the run
    assert len({r.run_id for r in rest}) == 1
    if case == "slow":
        assert "continued" in [r.status for r in rest]  # several polls were needed
        assert text_of(rest) == "0\n1\n2\n"
    if case == "media":
        records = summary(rest)["records"]
        assert records[0] == ["media", ["image/png", f"data:image/png;base64,{PNG}"]]
        assert records[1] == ["media", ["text/html", "<b>bold</b>"]]
    if case == "error":
        assert summary(rest)["exit_code"] == 1
        assert "ZeroDivisionError" in text_of(rest)


async def test_input_and_password_prompts_both_ways(
    any_client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("python:3.11", via=any_client)
    code = (
        "import getpass\n"
        "name = input('Name? ')\n"
        "secret = getpass.getpass('Password: ')\n"
        "print(f'hello {name}, {len(secret)} chars')"
    )
    rest = await run_rest(any_client, ref.ref, code, inputs=["Ada", "hunter2"])
    stream = await run_stream(any_client, ref.ref, code, inputs=["Ada", "hunter2"])
    assert summary(rest) == summary(stream)
    assert summary(rest)["input_options"] == [{"is_password": False}, {"is_password": True}]
    waiting = [r for r in rest if r.status == "waiting-input"]
    assert [w.is_password_prompt for w in waiting] == [False, True]
    assert text_of(rest).endswith("hello Ada, 7 chars\n")
    assert "hunter2" not in text_of(rest)


async def test_batch_mode_both_ways(
    any_client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("python:3.11", via=any_client)
    await any_client.upload(
        ref.ref, [("main.py", b"import sys\nprint('batch', sys.argv[1:])\nsys.exit(3)\n")]
    )
    options = BatchOptions(clean="echo cleaning", build="", exec="python main.py arg")
    rest = await run_rest(any_client, ref.ref, "", mode="batch", options=options)
    stream = await run_stream(any_client, ref.ref, "", mode="batch", options=options)
    assert summary(rest) == summary(stream)
    assert summary(rest)["steps"] == ["clean-finished", "build-finished", "finished"]
    assert summary(rest)["exit_code"] == 3
    assert "cleaning\n" in text_of(rest) and "batch ['arg']\n" in text_of(rest)


async def test_bash_query_both_ways(client: BackendAIClient, new_session: SessionFactory) -> None:
    ref = await new_session("bash")
    code = (
        "echo one; printf 'Name? '; read n; echo \"hi $n\"; sleep 0.3; echo two >&2; sh -c 'exit 4'"
    )
    rest = await run_rest(client, ref.ref, code, inputs=["Bob"])
    stream = await run_stream(client, ref.ref, code, inputs=["Bob"])
    assert summary(rest) == summary(stream)
    assert summary(rest)["exit_code"] == 4
    assert text_of(rest) == "one\nName? hi Bob\ntwo\n"


async def test_execute_mode_checks(client: BackendAIClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await client.execute("some-session", mode="continued", code="")
    assert caught.value.user_message == (
        "Invalid execution mode 'continued': use one of query, continue, input, batch."
    )
    with pytest.raises(InvalidRequestError, match="needs the run_id"):
        await client.execute("some-session", mode="input", code="x")
    with pytest.raises(InvalidRequestError, match="Invalid streaming execution mode 'input'"):
        client.stream_execute("some-session", mode="input", code="x")
    with pytest.raises(InvalidRequestError, match="Invalid session reference"):
        await client.session_info("a/b")


async def test_complete(client: BackendAIClient, new_session: SessionFactory) -> None:
    ref = await new_session("python:3.11")
    await client.execute(ref.ref, mode="query", code="import os")
    completions = await client.complete(ref.ref, "os.pat", {"row": 0, "col": 6})
    assert "os.path" in completions or "path" in completions


async def test_pty(any_client: BackendAIClient, new_session: SessionFactory) -> None:
    ref = await new_session("bash", via=any_client)
    async with any_client.stream_pty(ref.ref) as pty:
        await pty.resize(30, 100)
        await pty.ping()
        await pty.write("stty size; echo pty-$((6*7))\n")
        seen = b""

        async def read_until(marker: bytes) -> None:
            nonlocal seen
            async for chunk in pty:
                seen += chunk
                if marker in seen:
                    return

        await asyncio.wait_for(read_until(b"pty-42"), 20)
        assert b"30 100" in seen
        await pty.write(b"exit\n")
        async for _ in pty:  # the socket closes when the shell exits
            pass
    assert pty.closed


async def test_leaving_a_stream_early_frees_the_session(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    """Closing the socket mid-run makes the server interrupt it; the next run starts at once."""
    ref = await new_session("python:3.11")
    async with client.stream_execute(
        ref.ref, mode="query", code="import time\nprint('a', flush=True)\ntime.sleep(60)"
    ) as stream:
        async for frame in stream:
            if frame.console:
                break
    assert stream.closed
    results = await asyncio.wait_for(run_stream(client, ref.ref, "print(2)"), 30)
    assert text_of(results) == "2\n" and results[-1].status == "finished"
