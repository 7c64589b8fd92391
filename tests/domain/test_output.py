"""Output coalescing as the editor experiences it: order, seq, rate, size and the budget."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bai_lsp.domain import output
from bai_lsp.domain.events import OutputBatch, Record
from bai_lsp.domain.output import (
    MAX_NOTIFICATION_BYTES,
    MAX_NOTIFICATIONS_PER_FLUSH,
    MAX_PENDING_CHARS,
    MIN_INTERVAL_S,
    RunOutput,
    to_records,
)
from bai_lsp.domain.settings import OutputSettings
from bai_lsp.wire.execute import ConsoleRecord


def collect(tmp_path: Path, **kw: int) -> tuple[RunOutput, list[tuple[float, OutputBatch]]]:
    sent: list[tuple[float, OutputBatch]] = []
    loop = asyncio.get_running_loop()
    out = RunOutput(
        "run1",
        lambda batch: sent.append((loop.time(), batch)),
        OutputSettings(**kw),
        tmp_path,
    )
    return out, sent


def text_of(sent: list[tuple[float, OutputBatch]], kind: str = "stdout") -> str:
    return "".join(r.text or "" for _, b in sent for r in b.records if r.type == kind)


async def test_first_output_goes_out_at_once(tmp_path: Path) -> None:
    out, sent = collect(tmp_path)
    await out.feed([Record("stdout", text="hello\n")])
    await asyncio.sleep(0)
    assert len(sent) == 1
    assert sent[0][1].records == [Record("stdout", text="hello\n")]


async def test_a_flood_is_coalesced_in_order_at_most_60_per_second(tmp_path: Path) -> None:
    out, sent = collect(tmp_path)
    lines = [f"line {i}\n" for i in range(20000)]
    for i in range(0, len(lines), 50):
        await out.feed([Record("stdout", text="".join(lines[i : i + 50]))])
        await asyncio.sleep(0.001)
    summary = await out.close()
    assert text_of(sent) == "".join(lines)
    assert [b.seq for _, b in sent] == list(range(len(sent)))
    # At most 60 a second: the k-th notification after another comes at least k - 1
    # intervals later (they follow a cadence, so one may come a little after its deadline
    # and the next on time).
    times = [t for t, _ in sent]
    for (i, a), (j, b) in itertools.combinations(enumerate(times), 2):
        assert b - a >= (j - i - 1) * MIN_INTERVAL_S - 0.001, (i, j, b - a)
    assert summary.notifications == len(sent)
    assert summary.output_file is None


async def test_huge_single_output_is_split_into_bounded_notifications(tmp_path: Path) -> None:
    out, sent = collect(tmp_path)
    big = "é" * (MAX_NOTIFICATION_BYTES * 2)  # 2 bytes each: 4 notifications
    await out.feed([Record("stdout", text=big)])
    await out.close()
    assert text_of(sent) == big
    assert all(
        sum(len((r.text or "").encode()) for r in b.records) <= MAX_NOTIFICATION_BYTES
        for _, b in sent
    )
    assert len(sent) == 4


async def test_one_big_write_is_not_held_to_one_notification_per_tick(tmp_path: Path) -> None:
    """A one-block write queues whole notifications: a tick sends several of them (each
    still bounded), so 4 MiB does not take 16 ticks (a 15 MB/s ceiling)."""
    out, sent = collect(tmp_path)
    notifications = 16
    big = "x" * (MAX_NOTIFICATION_BYTES * notifications)
    await out.feed([Record("stdout", text=big)])
    await out.close()
    assert text_of(sent) == big
    assert [b.seq for _, b in sent] == list(range(notifications))
    assert all(len(b.records[0].text or "") == MAX_NOTIFICATION_BYTES for _, b in sent)
    # Sent in bursts of whole notifications: far fewer ticks than notifications.
    ticks = 1 + sum(1 for (a, _), (b, _) in itertools.pairwise(sent) if b - a > MIN_INTERVAL_S / 2)
    assert ticks <= 16 // MAX_NOTIFICATIONS_PER_FLUSH + 1 <= 4, ticks


async def test_kinds_keep_their_relative_order(tmp_path: Path) -> None:
    out, sent = collect(tmp_path)
    await out.feed(
        [
            Record("stdout", text="a"),
            Record("stderr", text="b"),
            Record("media", mime="image/png", data="AAAA"),
            Record("stdout", text="c"),
        ]
    )
    await out.close()
    kinds = [r.type for _, b in sent for r in b.records]
    assert kinds == ["stdout", "stderr", "media", "stdout"]


async def test_past_the_budget_output_goes_to_a_file(tmp_path: Path) -> None:
    out, sent = collect(tmp_path, max_bytes_per_run=1000)
    chunks = [f"{i:04d}" + "x" * 95 + "\n" for i in range(50)]  # 100 bytes each
    for chunk in chunks:
        await out.feed([Record("stdout", text=chunk)])
    summary = await out.close()
    shown = text_of(sent)
    assert shown == "".join(chunks)[:1000]
    notice = text_of(sent, "stderr")
    assert "output.maxBytesPerRun (1000 bytes)" in notice
    assert summary.output_file is not None
    assert summary.output_file in notice
    assert Path(summary.output_file).read_text() == "".join(chunks)
    assert summary.total_bytes == 5000
    assert (Path(summary.output_file).stat().st_mode & 0o777) == 0o600


async def test_prompt_tail_is_the_unfinished_stdout_line(tmp_path: Path) -> None:
    out, _ = collect(tmp_path)
    await out.feed([Record("stdout", text="hello\nYour name: ")])
    assert out.prompt_tail == "Your name: "
    await out.close()


def test_backend_console_records_become_protocol_records() -> None:
    records = to_records(
        [
            ConsoleRecord.stdout("out"),
            ConsoleRecord.stderr("err"),
            ConsoleRecord.media("image/png", "data:image/png;base64,iVBOR"),
            ConsoleRecord.media("image/svg+xml", "<svg/>"),
            ConsoleRecord.media("text/html", "<b>x</b>"),
            ConsoleRecord("html", "<i>y</i>"),
            ConsoleRecord.stdout(""),
        ]
    )
    assert records == [
        Record("stdout", text="out"),
        Record("stderr", text="err"),
        Record("media", mime="image/png", data="iVBOR"),
        Record("media", mime="image/svg+xml", data="<svg/>"),
        Record("html", data="<b>x</b>"),
        Record("html", data="<i>y</i>"),
    ]


async def test_a_fast_producer_waits_instead_of_queueing_without_bound(tmp_path: Path) -> None:
    """A flood faster than the notifications drain makes ``feed`` wait (the run's reader then
    stops reading): the queue stays bounded, and everything arrives, in order."""
    pending_seen: list[int] = []
    sent: list[OutputBatch] = []
    out = RunOutput(
        "run1",
        lambda batch: (sent.append(batch), pending_seen.append(out.pending_chars)),
        OutputSettings(max_bytes_per_run=1 << 40),
        tmp_path,
    )
    blocks = [f"{i:08d}".ljust(1024 * 1024, "x") for i in range(12)]  # 12 MiB, 1 MiB each
    for block in blocks:
        await out.feed([Record("stdout", text=block)])
        pending_seen.append(out.pending_chars)
        assert out.pending_chars <= MAX_PENDING_CHARS
    summary = await out.close()
    assert max(pending_seen) <= MAX_PENDING_CHARS + 1024 * 1024
    assert "".join(r.text or "" for b in sent for r in b.records) == "".join(blocks)
    assert [b.seq for b in sent] == list(range(len(sent)))
    assert summary.forwarded_bytes == 12 * 1024 * 1024 and out.pending_chars == 0


async def test_a_large_budget_keeps_what_was_shown_on_disk_not_in_memory(
    tmp_path: Path,
) -> None:
    """With the budget raised (say to see 100 MB), what was shown stays copied on disk, not
    in memory; the copy becomes the output file if the run passes the budget after all."""
    budget = 20 * 1024 * 1024
    out, sent = collect(tmp_path, max_bytes_per_run=budget)
    blocks = [f"{i:04d}".ljust(1024 * 1024, "y") for i in range(24)]
    for block in blocks[:12]:
        await out.feed([Record("stdout", text=block)])
    assert len(list(tmp_path.iterdir())) == 1  # the copy is on disk already
    assert out.output_file is None  # within the budget so far: nothing to point to
    for block in blocks[12:]:
        await out.feed([Record("stdout", text=block)])
    summary = await out.close()
    assert text_of(sent) == "".join(blocks)[:budget]
    assert summary.output_file is not None
    assert Path(summary.output_file).read_text() == "".join(blocks)


async def test_a_run_shown_past_the_copy_bound_keeps_no_copy_and_its_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``MAX_SHOWN_COPY`` shown characters (a budget raised that high), what is shown is
    no longer copied to disk; if the run passes its budget after all, the editor is told the
    file holds the rest, and the file says what was shown and holds everything after it."""
    monkeypatch.setattr(output, "MAX_SHOWN_COPY", 3 * 1024 * 1024)
    budget = 6 * 1024 * 1024
    out, sent = collect(tmp_path, max_bytes_per_run=budget)
    blocks = [f"{i:04d}".ljust(1024 * 1024, "w") for i in range(8)]
    for block in blocks[:4]:
        await out.feed([Record("stdout", text=block)])
    assert list(tmp_path.iterdir()) == []  # past 3 MiB shown: no copy on disk any more
    for block in blocks[4:]:
        await out.feed([Record("stdout", text=block)])
    summary = await out.close()
    assert text_of(sent) == "".join(blocks)[:budget]
    notice = text_of(sent, "stderr")
    assert f"The rest of the output is in {summary.output_file}" in notice
    assert summary.output_file is not None
    file_text = Path(summary.output_file).read_text()
    head, rest = file_text.split("\n", 1)
    assert head == (
        f"[bai-lsp] The first {budget} bytes of this run's output were shown in the editor "
        "and are not repeated here; the rest follows."
    )
    assert rest == "".join(blocks)[budget:]


async def test_a_run_within_a_large_budget_leaves_no_file(tmp_path: Path) -> None:
    out, sent = collect(tmp_path, max_bytes_per_run=1 << 40)
    blocks = ["z" * 1024 * 1024 for _ in range(10)]
    for block in blocks:
        await out.feed([Record("stdout", text=block)])
    summary = await out.close()
    assert text_of(sent) == "".join(blocks)
    assert summary.output_file is None
    assert list(tmp_path.iterdir()) == []


async def test_runs_together_are_bounded_but_a_quiet_run_never_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process-wide: floods in two runs, each within its own bound, together past the
    server's bound, make their readers wait; a third run's short output goes out at once."""
    monkeypatch.setattr(output, "MAX_PENDING_CHARS_ALL", 1024 * 1024)
    monkeypatch.setattr(output, "MAX_NOTIFICATIONS_PER_FLUSH", 1)
    before = output.TOTALS.pending
    (a, sent_a), (b, sent_b), (q, sent_q) = (collect(tmp_path) for _ in range(3))
    flood = "x" * (1536 * 1024)  # 256 Ki go out in the first tick, 1.25 Mi stay queued
    feeding = [asyncio.ensure_future(run.feed([Record("stdout", text=flood)])) for run in (a, b)]
    await asyncio.sleep(0)
    assert a.pending_chars <= MAX_PENDING_CHARS and b.pending_chars <= MAX_PENDING_CHARS
    assert output.TOTALS.pending - before > output.MAX_PENDING_CHARS_ALL
    assert not any(task.done() for task in feeding)  # held: the server is over its bound
    await asyncio.wait_for(q.feed([Record("stdout", text="quiet\n")]), 1)
    assert text_of(sent_q) == "quiet\n"  # not held up by the floods
    await asyncio.gather(*feeding)
    for run in (a, b, q):
        await run.close()
    assert text_of(sent_a) == flood and text_of(sent_b) == flood
    assert output.TOTALS.pending == before
