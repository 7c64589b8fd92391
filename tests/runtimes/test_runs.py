"""The poll engine (Backend.AI §4 semantics) with plain drivers: bursts, bounds, abandonment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bai_lsp.gateway.runtimes.runs import (
    MAX_BUFFERED_RECORDS,
    MAX_POLL_CHARS,
    MAX_RECORD_CHARS,
    Run,
    RunBoard,
)
from bai_lsp.wire.execute import RunStatus


async def test_a_burst_comes_as_one_answer_and_control_ends_the_poll() -> None:
    board = RunBoard()

    async def driver(run: Run) -> None:
        for i in range(50):
            await run.stdout(f"{i}\n")
        await run.stderr("warn\n")
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    await asyncio.sleep(0.05)  # the records are buffered before anyone polls
    start = time.monotonic()
    result = await run.poll(2.0)
    assert time.monotonic() - start < 1.0
    assert result.status == "finished" and result.exit_code == 0
    assert [r.to_json() for r in result.console] == [
        ["stdout", "".join(f"{i}\n" for i in range(50))],
        ["stderr", "warn\n"],
    ]


async def test_an_empty_poll_waits_the_flush_window_then_continues() -> None:
    board = RunBoard()
    release = asyncio.Event()

    async def driver(run: Run) -> None:
        await release.wait()
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    start = time.monotonic()
    result = await run.poll(0.2)
    elapsed = time.monotonic() - start
    assert result.status == "continued" and result.console == []
    assert 0.15 < elapsed < 1.5
    release.set()
    assert (await run.poll(2.0)).status == "finished"


async def test_output_is_kept_while_nobody_polls() -> None:
    board = RunBoard()

    count = MAX_BUFFERED_RECORDS + 500

    async def driver(run: Run) -> None:
        for i in range(count):  # alternating streams: records that cannot be merged
            await (run.stdout(f"{i}\n") if i % 2 else run.stderr(f"{i}\n"))
        await run.stdout("x" * (3 * MAX_RECORD_CHARS + 5))
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    await asyncio.sleep(0.2)
    assert len(run.channel) == MAX_BUFFERED_RECORDS, "the producer waits when the buffer is full"
    records = []
    result = await run.poll(1.0)
    records += result.console
    while result.status != "finished":
        result = await run.poll(1.0)
        records += result.console
    text = "".join(r.text for r in records)
    lines = text.split("\n")
    assert [int(n) for n in lines[:count]] == list(range(count))
    assert lines[count:] == ["x" * (3 * MAX_RECORD_CHARS + 5)]
    # Every answer stays bounded (Backend.AI caps one record at 10 MiB).
    assert max(len(r.text) for r in records) <= MAX_POLL_CHARS + MAX_RECORD_CHARS


async def test_a_run_nobody_collects_does_not_block_the_next_one() -> None:
    board = RunBoard()

    async def flood(run: Run) -> None:
        for i in range(MAX_BUFFERED_RECORDS * 2):
            await (run.stdout(f"{i}\n") if i % 2 else run.stderr(f"{i}\n"))
        await run.control(RunStatus.FINISHED, 0)

    async def quick(run: Run) -> None:
        await run.stdout("next\n")
        await run.control(RunStatus.FINISHED, 0)

    first = await board.start("query", None, flood)
    await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        second = await board.start("query", None, quick)
        result = await second.poll(2.0)
    assert result.status == "finished" and result.console[0].text == "next\n"
    # The abandoned run still ends with its control record.
    while (late := await first.poll(0.5)).status != "finished":
        pass
    assert late.exit_code == 0


async def test_a_finished_run_id_can_be_used_again() -> None:
    board = RunBoard()

    def saying(text: str) -> Callable[[Run], Awaitable[None]]:
        async def driver(run: Run) -> None:
            await run.stdout(text)
            await run.control(RunStatus.FINISHED, 0)

        return driver

    first = await board.start("query", "fixed-id", saying("one"))
    assert (await first.poll(2.0)).console[0].text == "one"
    second = await board.start("query", "fixed-id", saying("two"))
    assert second is not first
    assert (await second.poll(2.0)).console[0].text == "two"
