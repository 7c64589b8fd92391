"""A run's output on its way to the editor: ordered, coalesced, bounded.

The editor gets ``backendai/output`` notifications at most once per ``1/60 s`` per run (or
per ``output.flushIntervalMs`` when that is longer), each carrying at most
``MAX_NOTIFICATION_BYTES`` of text, so a flood never turns into a message storm or one
giant message. Only when whole notifications are queued (one big write) does a tick send
several of them (``MAX_NOTIFICATIONS_PER_FLUSH``), so such output is not held below the
pipe's speed.
The first output of a quiet run goes out immediately. Past ``output.maxBytesPerRun`` the
rest is not forwarded but appended to a spill file (which also receives what was shown),
so nothing is lost; memory stays bounded by the budget.

A backlogged run notifies on a fixed cadence (each deadline one interval after the previous
one, not after the moment the previous flush actually ran), so a late timer does not slow
the run below 60 ticks a second. And :meth:`RunOutput.feed` waits while more than
``MAX_PENDING_CHARS`` are queued: the run's reader stops reading, the backlog stays in the
gateway's bounded buffer and, past that, the kernel waits — instead of a 100 MB flood
sitting in the language server's memory. Nothing is dropped and the order is kept.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import attrs

from bai_lsp.domain.events import OutputBatch, Record
from bai_lsp.domain.settings import OutputSettings
from bai_lsp.wire.execute import ConsoleRecord

log = logging.getLogger(__name__)

#: Text bytes per notification; a single media record may exceed it (it cannot be split).
#: Line output coalesces into one notification per tick, up to 15 MB/s at 60 ticks a second,
#: above what a kernel's line-wise printing produces (~9 MB/s), while no message is large
#: enough to stall an editor.
MAX_NOTIFICATION_BYTES = 256 * 1024
#: The fastest a run may notify: 60 ticks a second.
MIN_INTERVAL_S = 1 / 60
#: Full notifications one tick may send when that much is queued: with a one-block write
#: the queue is always full, and one notification per tick capped it at 15 MB/s while the
#: kernel writes 100 MB/s and the LSP pipe carries 270 MB/s (docs/performance.md).
MAX_NOTIFICATIONS_PER_FLUSH = 16
#: Characters queued for the editor (per run) above which ``feed`` waits for them to drain.
MAX_PENDING_CHARS = 2 * 1024 * 1024
#: What was shown is kept (for the spill file, should the run pass its budget) in memory up
#: to this many characters, then on disk: a large ``output.maxBytesPerRun`` must not mean
#: as much memory.
MAX_SHOWN_IN_MEMORY = 2 * 1024 * 1024
#: ... and at all only up to this many: a run shown in full past it (a budget raised that
#: high) keeps no copy, and should it pass its budget after all, its file says the first
#: part was shown and holds the rest. Copying every shown byte to disk took more of
#: bai-lsp's time than anything else in a block flood (docs/performance.md §14).
MAX_SHOWN_COPY = 64 * 1024 * 1024
#: Process-wide bounds (all runs of this server together; 50 busy workspaces must not mean
#: 50 times the per-run bounds): characters queued for the editor, above which a run with
#: more than ``MIN_PENDING_SHARE`` queued waits too; and what was shown kept in memory,
#: above which a run keeps it on disk.
MAX_PENDING_CHARS_ALL = 16 * 1024 * 1024
MAX_SHOWN_IN_MEMORY_ALL = 16 * 1024 * 1024
#: A run with no more than this queued never waits for the others: a quiet run's output is
#: not held up by floods elsewhere, and each run keeps draining its own queue (fairness).
MIN_PENDING_SHARE = 256 * 1024


class _ProcessTotals:
    """What all ``RunOutput`` of this process hold in memory."""

    pending = 0
    shown = 0


TOTALS = _ProcessTotals()


def to_records(console: Iterable[ConsoleRecord]) -> list[Record]:
    """Backend.AI console records → protocol records (media without the ``data:`` prefix)."""
    out: list[Record] = []
    for item in console:
        if item.type in ("stdout", "stderr"):
            if item.text:
                out.append(Record(item.type, text=item.text))
        elif item.type == "log":
            if item.text:
                out.append(Record("stderr", text=item.text))
        elif item.type == "html":
            out.append(Record("html", data=item.text))
        elif item.type == "media" and item.mime:
            data = item.data or ""
            if item.mime == "text/html":
                out.append(Record("html", data=data))
                continue
            if data.startswith("data:") and "," in data:
                data = data.split(",", 1)[1]
            out.append(Record("media", mime=item.mime, data=data))
    return out


def split_text(text: str, limit: int) -> tuple[str, str]:
    """Cut ``text`` so the head's UTF-8 size is at most ``limit`` bytes (on a char boundary)."""
    if len(text) * 4 <= limit:
        return text, ""
    if text.isascii():
        return text[:limit], text[limit:]
    raw = text.encode()
    if len(raw) <= limit:
        return text, ""
    head = raw[:limit].decode("utf-8", errors="ignore")
    return head, text[len(head) :]


@attrs.frozen
class OutputSummary:
    total_bytes: int
    forwarded_bytes: int
    notifications: int
    output_file: str | None


def _as_log_text(record: Record) -> str:
    if record.type in ("stdout", "stderr"):
        return record.text or ""
    if record.type == "media":
        return f"\n[media {record.mime}, {len(record.data or '')} bytes]\n"
    return f"\n[html, {len(record.data or '')} bytes]\n"


class RunOutput:
    """Coalesces one run's records into ``OutputBatch`` notifications sent through ``send``."""

    def __init__(
        self,
        run_id: str,
        send: Callable[[OutputBatch], None],
        settings: OutputSettings,
        spill_dir: Path,
    ) -> None:
        self.run_id = run_id
        self._send = send
        self._budget = settings.max_bytes_per_run
        self._interval = max(settings.flush_interval_ms / 1000, MIN_INTERVAL_S)
        self._spill_dir = spill_dir
        self._pending: collections.deque[Record] = collections.deque()
        self._pending_chars = 0
        self._room = asyncio.Event()
        self._room.set()
        self._seq = 0
        self._last_sent = -1e9
        #: The deadline the scheduled flush is for (``None``: flushing at once, quiet run).
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self._accounted = 0
        self._total = 0
        self._shown: list[str] = []
        self._shown_chars = 0
        #: What was shown goes to the spill file as it comes (it outgrew memory).
        self._shown_on_disk = False
        #: Past ``MAX_SHOWN_COPY``: what was shown is no longer copied.
        self._no_copy = False
        self._over = False
        self._spill: IO[str] | None = None
        self._spill_path: Path | None = None
        self._tail = ""

    @property
    def prompt_tail(self) -> str:
        """The stdout text after the last newline: what an ``input()`` prompt printed."""
        return self._tail

    def input_answered(self) -> None:
        """The prompt was answered: what follows starts a new line."""
        self._tail = ""

    @property
    def output_file(self) -> str | None:
        """The file with the run's whole output, once it passed its budget."""
        return str(self._spill_path) if self._spill_path and self._over else None

    @property
    def pending_chars(self) -> int:
        """Characters (and media bytes) queued but not sent yet."""
        return self._pending_chars

    async def feed(self, records: Iterable[Record]) -> None:
        """Queue records for the editor; past the budget, write them to the spill file.

        Returns once the queue is back under ``MAX_PENDING_CHARS`` (backpressure on the
        caller, which reads the run's output)."""
        spill: list[str] = []
        for record in records:
            size = record.size
            self._total += size
            if record.type == "stdout":
                tail = (self._tail + (record.text or ""))[-4096:]
                self._tail = tail.rsplit("\n", 1)[-1]
            if self._over:
                spill.append(_as_log_text(record))
                continue
            room = self._budget - self._accounted
            if size <= room:
                self._enqueue(record)
                self._accounted += size
                if self._no_copy:
                    continue
                if self._accounted > MAX_SHOWN_COPY:
                    await self._drop_copy()
                    spill = []
                    continue
                shown = _as_log_text(record)
                if self._shown_on_disk:
                    spill.append(shown)
                else:
                    self._shown.append(shown)
                    self._shown_chars += len(shown)
                    TOTALS.shown += len(shown)
                continue
            self._over = True
            if record.type in ("stdout", "stderr") and room > 0:
                head, _ = split_text(record.text or "", room)
                if head:
                    self._enqueue(Record(record.type, text=head))
            if self._no_copy:
                spill.append(
                    f"[bai-lsp] The first {self._accounted} bytes of this run's output were "
                    "shown in the editor and are not repeated here; the rest follows.\n"
                )
            spill.extend(self._shown)
            self._shown = []
            self._forget_shown()
            spill.append(_as_log_text(record))
            if self._spill_path is None:
                self._spill_path = self._new_spill_path()
            where = "The rest of the output" if self._no_copy else "The full output"
            self._enqueue(
                Record(
                    "stderr",
                    text=(
                        f"\n[bai-lsp] This run's output passed output.maxBytesPerRun "
                        f"({self._budget} bytes); the rest is not shown here. "
                        f"{where} is in {self._spill_path}\n"
                    ),
                )
            )
        if (
            not self._over
            and not self._shown_on_disk
            and (
                self._shown_chars > MAX_SHOWN_IN_MEMORY
                or (TOTALS.shown > MAX_SHOWN_IN_MEMORY_ALL and self._shown_chars > 0)
            )
        ):
            self._shown_on_disk = True
            spill = self._shown + spill
            self._shown = []
            self._forget_shown()
            self._spill_path = self._new_spill_path()
        if spill:
            await asyncio.to_thread(self._write_spill, "".join(spill))
        self._schedule()
        while self._pending_chars > MAX_PENDING_CHARS or (
            TOTALS.pending > MAX_PENDING_CHARS_ALL and self._pending_chars > MIN_PENDING_SHARE
        ):
            self._room.clear()
            await self._room.wait()

    async def _drop_copy(self) -> None:
        """Stop copying what is shown (``MAX_SHOWN_COPY``): the copy so far goes too."""
        self._no_copy = True
        self._shown = []
        self._forget_shown()
        self._shown_on_disk = False
        spill, path = self._spill, self._spill_path
        self._spill = self._spill_path = None
        if spill is not None:
            await asyncio.to_thread(spill.close)
        if path is not None:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    def _forget_shown(self) -> None:
        TOTALS.shown -= self._shown_chars
        self._shown_chars = 0

    async def drain(self) -> None:
        """Wait until everything queued has been sent."""
        self._schedule()
        await self._drained.wait()

    async def close(self) -> OutputSummary:
        await self.drain()
        self._forget_shown()
        if self._spill is not None:
            await asyncio.to_thread(self._spill.close)
            if not self._over and self._spill_path is not None:
                # Only a copy of what the editor got: the run stayed within its budget.
                await asyncio.to_thread(self._spill_path.unlink, missing_ok=True)
        return OutputSummary(
            total_bytes=self._total,
            forwarded_bytes=self._accounted,
            notifications=self._seq,
            output_file=self.output_file,
        )

    def _new_spill_path(self) -> Path:
        return self._spill_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.run_id}.log"

    def _write_spill(self, text: str) -> None:
        if self._spill is None:
            assert self._spill_path is not None
            self._spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self._spill_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._spill = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
        self._spill.write(text)

    def _enqueue(self, record: Record) -> None:
        last = self._pending[-1] if self._pending else None
        text = record.text or ""
        if (
            last is not None
            and record.type in ("stdout", "stderr")
            and last.type == record.type
            and len(last.text or "") + len(text) <= MAX_NOTIFICATION_BYTES
        ):
            self._pending[-1] = Record(record.type, text=(last.text or "") + text)
        elif record.type in ("stdout", "stderr") and len(text) > MAX_NOTIFICATION_BYTES:
            # Cut once here rather than re-slicing the whole rest on every flush.
            for start in range(0, len(text), MAX_NOTIFICATION_BYTES):
                self._pending.append(
                    Record(record.type, text=text[start : start + MAX_NOTIFICATION_BYTES])
                )
        else:
            self._pending.append(record)
        self._pending_chars += _queued_size(record)
        TOTALS.pending += _queued_size(record)
        self._drained.clear()

    def _schedule(self) -> None:
        if self._timer is not None or not self._pending:
            if not self._pending and self._timer is None:
                self._drained.set()
            return
        loop = asyncio.get_running_loop()
        due = self._last_sent + self._interval
        if due <= loop.time():
            self._due = None
            self._flush()  # quiet until now: the first output goes out without waiting
        else:
            self._due = due
            self._timer = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        sent = 0
        # A backlog of whole notifications goes out in one tick (up to
        # ``MAX_NOTIFICATIONS_PER_FLUSH``): a one-block write then reaches the editor at the
        # pipe's speed, while small records still coalesce into one notification per tick.
        while self._pending and sent < MAX_NOTIFICATIONS_PER_FLUSH:
            if sent and self._pending_chars < MAX_NOTIFICATION_BYTES:
                break
            if not self._send_one():
                break
            sent += 1
        if sent:
            now = asyncio.get_running_loop().time()
            due = self._due
            # On a cadence: the next deadline follows this one, unless this flush is so
            # late that keeping the cadence would send a burst to catch up.
            self._last_sent = due if due is not None and now - due < self._interval else now
            self._due = None
            if self._pending_chars <= MAX_PENDING_CHARS:
                self._room.set()
        self._schedule()

    def _send_one(self) -> bool:
        """Send one notification of at most ``MAX_NOTIFICATION_BYTES`` from the queue."""
        batch: list[Record] = []
        room = MAX_NOTIFICATION_BYTES
        sent_chars = 0
        while self._pending and room > 0:
            record = self._pending[0]
            if record.type in ("stdout", "stderr"):
                head, rest = split_text(record.text or "", room)
                if not head:
                    break
                batch.append(Record(record.type, text=head))
                sent_chars += len(head)
                room -= len(head) if head.isascii() else len(head.encode())
                if rest:
                    self._pending[0] = Record(record.type, text=rest)
                    break
                self._pending.popleft()
            else:
                if batch and record.size > room:
                    break
                batch.append(self._pending.popleft())
                sent_chars += _queued_size(record)
                room -= record.size
        if not batch:
            return False
        left = self._pending_chars - sent_chars if self._pending else 0
        TOTALS.pending += left - self._pending_chars
        self._pending_chars = left
        try:
            self._send(OutputBatch(self.run_id, self._seq, batch))
        except Exception:  # the editor went away; keep the run going
            log.exception("could not send output of run %s", self.run_id)
        self._seq += 1
        return True


def _queued_size(record: Record) -> int:
    return len(record.text or "") + len(record.data or "")
