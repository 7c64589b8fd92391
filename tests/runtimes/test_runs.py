"""The poll engine (Backend.AI §4 semantics) with plain drivers: bursts, bounds, abandonment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import orjson
import pytest

from bai_lsp.gateway.runtimes import runs
from bai_lsp.gateway.runtimes.runs import (
    MAX_BUFFERED_RECORDS,
    MAX_POLL_BYTES,
    MAX_RECORD_CHARS,
    Channel,
    Run,
    RunBoard,
)
from bai_lsp.wire.execute import ConsoleRecord, RunStatus


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
    assert max(len(r.text) for r in records) <= MAX_POLL_BYTES


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


async def _collect(run: Run) -> list[dict[str, object]]:
    """Every answer of ``run`` as the JSON frame a stream client receives (the text the
    stream sends, which reuses the poll's encoding, decodes to the answer itself)."""
    frames = []
    while True:
        result = await run.poll(1.0)
        sent = runs.frame_bytes(result, with_run_id=False)
        assert len(sent) < 4 * 1024 * 1024
        assert json.loads(sent) == result.to_json(with_run_id=False)
        frames.append(json.loads(sent))
        if result.status == "finished":
            return frames


async def test_the_sent_frame_is_the_answer_whatever_it_holds() -> None:
    """Merged stdout, stderr between, media, html, escapes and astral text: the frame
    written from the poll's own encoding is exactly the answer's JSON."""
    board = RunBoard()

    async def driver(run: Run) -> None:
        await run.stdout('a "quoted" \\ line\n')
        await run.emit(ConsoleRecord.media("image/png", "iVBORw0KGgo="))
        await run.stdout("\x1b[1m\U0001f600 é\n")
        await run.stdout("x" * MAX_RECORD_CHARS)  # not merged with the line before
        await run.stdout("tail\n")
        await run.stderr("\x00err\n")
        await run.emit(ConsoleRecord("html", "<b>\u2028</b>"))
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    frames = await _collect(run)
    console = [item for frame in frames for item in frame["console"]]  # type: ignore[attr-defined]
    assert ["media", ["image/png", "iVBORw0KGgo="]] in console
    assert ["html", "<b>\u2028</b>"] in console
    stdout = "".join(data for kind, data in console if kind == "stdout")
    assert stdout == 'a "quoted" \\ line\n\x1b[1m\U0001f600 é\n' + "x" * MAX_RECORD_CHARS + "tail\n"
    assert "".join(data for kind, data in console if kind == "stderr") == "\x00err\n"


async def test_a_block_flood_comes_in_order_in_frames_the_sdk_accepts() -> None:
    """A 10 MiB write (kernel_output.py hands it over in 1 MiB slices) reaches the client
    whole and in order, each frame under the SDK's 4 MiB, and with more than one slice per
    frame (not one frame per slice)."""
    board = RunBoard()
    text = "".join(f"{i:07d}" + "y" * 92 + "\n" for i in range(100_000))  # 10 MB

    async def driver(run: Run) -> None:
        for start in range(0, len(text), MAX_RECORD_CHARS):
            await run.stdout(text[start : start + MAX_RECORD_CHARS])
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    frames = await _collect(run)
    console = [item for frame in frames for item in frame["console"]]  # type: ignore[attr-defined]
    assert "".join(data for _, data in console) == text
    assert len([f for f in frames if f["console"]]) < len(text) // MAX_RECORD_CHARS


async def test_every_answer_fits_the_sdks_4_mib_frame_once_escaped() -> None:
    """Control characters and astral emoji grow 6- and 12-fold in JSON: answers are cut by
    their encoded size, so the official SDK (aiohttp's 4 MiB max_msg_size) can read them."""
    board = RunBoard()
    text = ("\x01\x1b[1m" + "\U0001f600" * 3 + "é\n") * 300_000  # ~3.3 M chars, ~26 MB encoded

    async def driver(run: Run) -> None:
        await run.stdout(text)
        await run.stderr("\x00" * 2_000_000)
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    frames = await _collect(run)
    sizes = [len(orjson.dumps(frame)) for frame in frames]  # UTF-8, as sent
    assert max(sizes) < 4 * 1024 * 1024, sizes
    assert len(frames) > 6  # really split, not one giant answer
    console = [item for frame in frames for item in frame["console"]]  # type: ignore[attr-defined]
    stdout = "".join(data for kind, data in console if kind == "stdout")
    stderr = "".join(data for kind, data in console if kind == "stderr")
    assert stdout == text and stderr == "\x00" * 2_000_000


async def test_the_first_line_of_a_quiet_run_is_answered_at_once() -> None:
    """A print in a running cell is not held back for the coalescing window; the lines that
    follow it closely still come together."""
    board = RunBoard()
    go = asyncio.Event()

    async def driver(run: Run) -> None:
        await run.stdout("first\n")
        await go.wait()
        for i in range(20):
            await run.stdout(f"{i}\n")
            await asyncio.sleep(0.001)
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    first = await run.poll(2.0)
    assert first.status == "continued" and [r.text for r in first.console] == ["first\n"]
    go.set()
    rest = await _collect(run)
    texts = [item[1] for frame in rest for item in frame["console"]]  # type: ignore[attr-defined]
    assert "".join(texts) == "".join(f"{i}\n" for i in range(20))
    assert len(texts) < 10, texts  # a burst after the first line is coalesced


async def test_a_prompt_without_newline_waits_for_waiting_input() -> None:
    board = RunBoard()

    async def driver(run: Run) -> None:
        await run.stdout("Your name: ")
        await asyncio.sleep(0.01)
        name = await run.read_input({"is_password": False})
        await run.stdout(f"hi {name}\n")
        await run.control(RunStatus.FINISHED, 0)

    run = await board.start("query", None, driver)
    result = await run.poll(2.0)
    assert result.status == "waiting-input"
    assert [r.text for r in result.console] == ["Your name: "]


async def test_runs_together_are_bounded_but_a_run_holding_little_never_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Process-wide: past the gateway's bound for all runs, a run holding more than its
    share stops taking output (its kernel waits) until its own client reads; a run holding
    little still takes output at once."""
    before = Channel.total_chars
    monkeypatch.setattr(runs, "MAX_BUFFERED_CHARS_ALL", before + 4 * MAX_RECORD_CHARS)
    flood, other, quiet = Channel(), Channel(), Channel()
    chunk = ConsoleRecord("stdout", "x" * MAX_RECORD_CHARS)  # too big to merge with the next
    for _ in range(2):
        await asyncio.wait_for(flood.put(chunk), 1)
        await asyncio.wait_for(other.put(chunk), 1)
    held = asyncio.ensure_future(flood.put(chunk))
    await asyncio.sleep(0.05)
    assert not held.done()  # 4 Mi in all: over the bound, and this run holds 2 Mi
    await asyncio.wait_for(quiet.put(ConsoleRecord("stdout", "quiet\n")), 1)
    while flood.get_nowait() is not None:  # its client reads what it holds
        pass
    await asyncio.wait_for(held, 1)
    texts = []
    while (item := flood.get_nowait()) is not None:
        texts.append(item)
    assert len(texts) == 1  # the held record, not lost
    del flood, other, quiet, held, item
    assert Channel.total_chars == before
