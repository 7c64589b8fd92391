"""``completions()``: the kernel's candidates, and ``busy`` while a cell runs (live gateway)."""

from __future__ import annotations

from bai_lsp.backendai import BackendAIClient
from bai_lsp.backendai.complete import Completions, parse_completions

from .conftest import SessionFactory, run_rest


async def test_completions_from_the_kernel_and_busy_while_a_cell_runs(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = (await new_session("python:3.11")).ref
    await run_rest(client, ref, "import json")
    idle = await client.completions(ref, "json.du", {"row": 0, "col": 7})
    assert "json.dumps" in idle.matches and idle.busy is False

    running = await client.execute(
        ref, mode="query", code="import time\nprint('go', flush=True)\ntime.sleep(60)"
    )
    assert running.status == "continued"
    busy = await client.completions(ref, "json.du")
    assert busy == Completions([], busy=True)
    await client.interrupt(ref)
    while running.status != "finished":
        running = await client.execute(ref, mode="continue", run_id=running.run_id)


def test_a_managers_answer_without_flags_is_not_busy() -> None:
    assert parse_completions({"result": {"status": "finished", "completions": ["a"]}}) == (
        Completions(["a"], busy=False)
    )
    assert parse_completions({"result": None}) == Completions([])
    assert parse_completions("<html>") == Completions([])
