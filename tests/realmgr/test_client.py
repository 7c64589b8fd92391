"""bai-lsp's Backend.AI client against the real manager 26.9.6: what a user of it would notice."""

from __future__ import annotations

import asyncio

import pytest
from support.realbackendai.cluster import Cluster

from bai_lsp.backendai import (
    AuthenticationError,
    BackendAIClient,
    NotFoundError,
    SessionSpec,
)
from bai_lsp.wire.execute import BatchOptions, ExecutionResult

from .conftest import config_for, unique


async def run_to_end(
    client: BackendAIClient, ref: str, code: str, *, answers: tuple[str, ...] = ()
) -> tuple[list[ExecutionResult], str]:
    """Query mode, continued until finished; each `waiting-input` gets the next answer."""
    results = [await client.execute(ref, mode="query", code=code)]
    pending = list(answers)
    while results[-1].status != "finished":
        last = results[-1]
        if last.status == "waiting-input":
            results.append(
                await client.execute(ref, mode="input", code=pending.pop(0), run_id=last.run_id)
            )
        else:
            results.append(await client.execute(ref, mode="continue", run_id=last.run_id))
    text = "".join(r.text for res in results for r in res.console if r.type == "stdout")
    return results, text


async def test_the_client_settles_on_v9(client: BackendAIClient) -> None:
    assert await client.versions() == {"version": "v9.20250722", "manager": "26.9.6"}
    assert client.api_version == "v9.20250722"
    assert client.newest


async def test_a_wrong_secret_key_is_refused_with_a_clear_message(realmgr: Cluster) -> None:
    async with BackendAIClient(config_for(realmgr, secret_key="x" * 40)) as c:
        with pytest.raises(AuthenticationError) as refused:
            await c.list_sessions()
    assert str(refused.value) == (
        f"Backend.AI refused the credentials for access key {realmgr.access_key}: "
        "HMAC signature mismatch. Check BACKEND_SECRET_KEY."
    )


async def test_an_unknown_access_key_is_refused_with_a_clear_message(realmgr: Cluster) -> None:
    async with BackendAIClient(config_for(realmgr, access_key="AKIA0000000000000000")) as c:
        with pytest.raises(AuthenticationError) as refused:
            await c.list_sessions()
    assert str(refused.value) == (
        "Backend.AI refused the credentials for access key AKIA0000000000000000: "
        "Access key not found in HMAC. Check BACKEND_ACCESS_KEY."
    )


async def test_get_or_create_twice_reuses_the_session_then_destroy_ends_it(
    client: BackendAIClient,
) -> None:
    name = unique("twice")
    first = await client.get_or_create(SessionSpec(image="python", name=name))
    second = await client.get_or_create(SessionSpec(image="python", name=name))
    assert first.created and first.status == "RUNNING"
    assert not second.created and second.id == first.id
    info = await client.session_info(name)
    assert info["status"] == "RUNNING"
    assert info["image"] == "cr.backend.ai/stable/python:3.13-ubuntu24.04"
    # 26.9 only marks the session; the client waits until it is gone before answering
    assert await client.destroy(name) == {"stats": {"status": "terminated"}}
    with pytest.raises(NotFoundError) as gone:
        await client.session_info(name)
    assert str(gone.value) == "Backend.AI: Entity not found: No SessionRow matches the given key."
    page = await client.list_sessions(status="TERMINATED", filter=f'name == "{name}"')
    assert [item["status"] for item in page.items] == ["TERMINATED"]


async def test_query_keeps_state_and_reports_errors(
    client: BackendAIClient, shared_session: str
) -> None:
    _, out = await run_to_end(client, shared_session, "answer = 6 * 7\nprint(answer)")
    assert out == "42\n"
    _, out = await run_to_end(client, shared_session, "answer + 1")
    assert out == "43"  # an expression's value, as Jupyter shows it
    results, _ = await run_to_end(client, shared_session, "def f():\n    1/0\nf()")
    assert results[-1].exit_code == 1
    assert "ZeroDivisionError" in "".join(r.text for r in results[-1].console)


async def test_input_and_getpass_wait_for_the_answer(
    client: BackendAIClient, shared_session: str
) -> None:
    code = (
        "import getpass\nname = input('who? ')\npw = getpass.getpass('pw? ')\nprint(name, len(pw))"
    )
    results, out = await run_to_end(client, shared_session, code, answers=("bob", "hunter2"))
    prompts = [r for r in results if r.status == "waiting-input"]
    assert [p.options for p in prompts] == [{"is_password": False}, {"is_password": True}]
    assert out.endswith("bob 7\n")


async def test_long_runs_stream_in_steps_and_can_be_interrupted(
    client: BackendAIClient, shared_session: str
) -> None:
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(1.5)"
    results, out = await run_to_end(client, shared_session, code)
    assert "continued" in [r.status for r in results]  # the manager flushed before the end
    assert out == "0\n1\n2\n"
    started = await client.execute(
        shared_session, mode="query", code="import time\nprint('go', flush=True)\ntime.sleep(60)"
    )
    assert started.status == "continued"
    await client.interrupt(shared_session)
    last = started
    while last.status != "finished":
        last = await client.execute(shared_session, mode="continue", run_id=started.run_id)
    assert "KeyboardInterrupt" in "".join(r.text for r in last.console)
    _, out = await run_to_end(client, shared_session, "print('still here')")
    assert out == "still here\n"


async def test_batch_uploads_builds_and_runs(client: BackendAIClient, shared_session: str) -> None:
    program = b"import sys\nprint('batch', sum(range(10)))\nprint('to-stderr', file=sys.stderr)\n"
    await client.upload(shared_session, [("main.py", program)])
    names = {entry.filename for entry in await client.list_files(shared_session)}
    assert "main.py" in names
    options = BatchOptions(build="cp main.py built.py", exec="python built.py")
    # the WebSocket run, as bai-lsp streams it (the manager drives the continues itself)
    frames = []
    async with client.stream_execute(shared_session, mode="batch", code="", options=options) as run:
        async for frame in run:
            frames.append(frame)
    console = [(r.type, r.text) for frame in frames for r in frame.console]
    assert ("stdout", "batch 45\n") in console and ("stderr", "to-stderr\n") in console
    assert frames[-1].status == "finished" and frames[-1].exit_code == 0
    downloaded = await client.download(shared_session, ["built.py"])
    assert downloaded["built.py"] == program


async def test_listing_pages_through_more_than_25_sessions(client: BackendAIClient) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{i:02d}" for i in range(26)]
    # more CPU than the agent has: they stay PENDING (listed like any other) and cost nothing;
    # enqueue-only, as 26.9 otherwise holds the answer until the session is scheduled
    specs = [
        SessionSpec(image="python", name=n, resources={"cpu": 64}, enqueue_only=True) for n in names
    ]
    refs = [await client.get_or_create(spec, wait=False) for spec in specs]
    assert {ref.status for ref in refs} == {"PENDING"}
    try:
        seen: list[str] = []
        offset = 0
        while True:
            page = await client.list_sessions(
                limit=10, offset=offset, filter=f'name ilike "{prefix}-%"', order="+name"
            )
            assert page.total_count == 26
            seen += [item["name"] for item in page.items]
            offset += 10
            if offset >= page.total_count:
                break
        assert seen == names  # three pages, in order, none repeated or skipped
    finally:
        # forced: the scheduler may be trying the head of the queue right now
        destroyed = [await client.destroy(n, forced=True) for n in names]
    assert {d["stats"]["status"] for d in destroyed} <= {"cancelled", "terminated"}


async def test_session_events_tell_the_lifecycle(client: BackendAIClient) -> None:
    name = unique("events")
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        # by name only once it exists (the manager answers 404 before): all events, filtered
        async for event in client.session_events("*"):
            if event.session_name != name:
                continue
            seen.append((event.name, event.reason))
            if event.name == "session_terminated":
                return

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.5)
    await client.get_or_create(SessionSpec(image="python", name=name))
    await client.destroy(name)
    await asyncio.wait_for(watcher, 60)
    names = [n for n, _ in seen]
    assert names.index("session_started") < names.index("session_terminated")
    # 26.9 names the scheduler as the one that ended it (the user asked for termination)
    assert dict(seen)["session_terminated"] == "triggered-by-scheduler"
