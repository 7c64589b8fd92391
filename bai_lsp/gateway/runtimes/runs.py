"""Runs and polls: Backend.AI's execute semantics (§4), shared by every runner.

A runner's driver pushes console records and control records into its run's channel; each
``execute`` call is one poll that drains the channel. A poll answers as soon as something
is there: the first complete line after a quiet spell goes out at once (a ``print`` shows
up in the time the kernel takes, not a coalescing window later); otherwise, after the first
record, it keeps collecting only while more arrives within a few milliseconds (so a burst
comes as one answer), and a control record ends it at once. The flush timeout is only the
upper bound for a poll that sees nothing.

An answer's console is bounded by its JSON-encoded size (``MAX_POLL_BYTES``, escaping
included), not by characters: the official SDK's WebSocket refuses frames over 4 MiB
(aiohttp's default ``max_msg_size``), and control characters grow 6-fold when escaped.
Each record is encoded once, to size it, and the answer carries that encoding
(:class:`PolledResult`) so the stream sends it as it is. A record that does not fit waits,
still encoded, for the next answer; one that does not fit even alone is split.

The channel is bounded (4096 records, as the agent's queue) and blocks the producer when
full, so output is never dropped: a client that polls after a gap gets everything. Only
when another run is waiting to start does a full buffer drop its overflow, so that a run
nobody collects cannot block the session forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import orjson

from bai_lsp.gateway.runtimes.base import ExecutionRequestError
from bai_lsp.wire.execute import ConsoleRecord, ExecutionResult, RunStatus

#: Records buffered per run before the producer waits (the agent's queue size).
MAX_BUFFERED_RECORDS = 4096
#: ... or characters buffered per run (large kernel writes are paced by it, kernel_output.py).
MAX_BUFFERED_CHARS = 16 * 1024 * 1024
#: ... and all runs of the gateway together: past this, a run holding more than
#: ``MIN_BUFFERED_SHARE`` waits too (50 busy runs must not mean 50 times the per-run bound; a
#: run holding little never waits for the others, so each keeps its share).
MAX_BUFFERED_CHARS_ALL = 64 * 1024 * 1024
MIN_BUFFERED_SHARE = 1024 * 1024
#: Longer stdout/stderr text is split into records of at most this many characters
#: (Backend.AI truncates at 10 MiB; splitting loses nothing). Consecutive records of one
#: stream are merged in the buffer up to this size.
MAX_RECORD_CHARS = 1024 * 1024
#: After a record, a poll waits this long for the next one before answering.
COALESCE_QUIET = 0.005
#: ... or this long when the output so far ends mid-line (likely a prompt about to be
#: followed by ``waiting-input``, which batch runners detect every 30 ms).
COALESCE_QUIET_PARTIAL_LINE = 0.04
#: ... but answers at the latest this long after its first record.
COALESCE_MAX = 0.05
#: A poll's console holds at most this many bytes once JSON-encoded (UTF-8, as the frame
#: goes on the wire): the SDK's 4 MiB frame limit less room for the envelope.
MAX_POLL_BYTES = 4 * 1024 * 1024 - 64 * 1024
#: Encoded bytes counted per record for its ``["stdout", ...]`` wrapping.
RECORD_OVERHEAD = 16
#: A run whose last answered output is older than this is quiet: its next first complete
#: line is answered without coalescing.
QUIET_BEFORE_FIRST = COALESCE_MAX
#: Finished runs remembered so that a repeated or late ``continue`` still gets its answer.
FINISHED_RUNS_KEPT = 16

log = logging.getLogger(__name__)


@attrs.frozen
class Control:
    """A control record: ends a poll at once."""

    status: str
    exit_code: int | None = None
    options: dict[str, Any] | None = None


class _Text:
    """Stream text being gathered in the buffer (joined once, when it is taken out)."""

    __slots__ = ("encoded", "kind", "parts", "size")

    def __init__(self, kind: str, text: str, encoded: bytes | None = None) -> None:
        self.kind = kind
        self.parts = [text]
        self.size = len(text)
        self.encoded = encoded  # its text's JSON when a poll encoded it and put it back

    def record(self) -> ConsoleRecord:
        return ConsoleRecord(self.kind, "".join(self.parts))


Item = ConsoleRecord | Control


@attrs.define
class PolledResult(ExecutionResult):
    """A poll's answer with its console already JSON-encoded (``console_json``, UTF-8 JSON
    of ``to_json()["console"]``): the stream writes it without encoding the
    text a second time. Dropped (``None``) once sent, so a journal keeps only the text."""

    console_json: bytes | None = None


_Stored = ConsoleRecord | Control | _Text


class Channel:
    """A bounded FIFO of records; producers wait when it is full, so nothing is dropped
    unless the run is abandoned (see :meth:`abandon`)."""

    #: Characters buffered by every run of this process.
    total_chars = 0

    def __init__(self, maxsize: int = MAX_BUFFERED_RECORDS) -> None:
        self._items: collections.deque[_Stored] = collections.deque()
        self._maxsize = maxsize
        self._abandoned = False
        self._chars = 0
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def __len__(self) -> int:
        return len(self._items)

    def abandon(self) -> None:
        """Nobody polls this run any more: from now on, output that does not fit is dropped
        (control records are always kept) so its producer can finish."""
        self._abandoned = True
        self._writable.set()

    def _full_own(self) -> bool:
        return len(self._items) >= self._maxsize or self._chars >= MAX_BUFFERED_CHARS

    def _full(self) -> bool:
        """Full for a producer that can wait: its own bound, or the process's while this
        run holds more than its share."""
        return self._full_own() or (
            Channel.total_chars >= MAX_BUFFERED_CHARS_ALL and self._chars >= MIN_BUFFERED_SHARE
        )

    def _count(self, chars: int) -> None:
        self._chars += chars
        Channel.total_chars += chars

    def __del__(self) -> None:
        # A forgotten run (its session ended, or it was dropped from the board) holding
        # output nobody collected no longer counts against the process.
        Channel.total_chars -= self._chars

    def _merge(self, item: Item) -> bool:
        """Append stream text to the last record of the same stream if it stays small."""
        if not self._items or not isinstance(item, ConsoleRecord):
            return False
        last = self._items[-1]
        if (
            isinstance(last, _Text)
            and last.kind == item.type
            and last.size + len(item.text) <= MAX_RECORD_CHARS
        ):
            last.parts.append(item.text)
            last.size += len(item.text)
            last.encoded = None
            self._count(len(item.text))
            return True
        return False

    def _append(self, item: Item) -> None:
        if not self._merge(item):
            stored: _Stored = item
            if isinstance(item, ConsoleRecord) and item.type in ("stdout", "stderr"):
                stored = _Text(item.type, item.text)
            self._items.append(stored)
            self._count(_size(stored))
        self._readable.set()

    async def put(self, item: Item) -> None:
        if self._abandoned and self._full_own():  # only its own bound drops output
            if isinstance(item, Control):
                self._append(item)
            return
        while self._full() and not self._abandoned:
            if self._merge(item):
                return
            self._writable.clear()
            await self._writable.wait()
        self._append(item)

    def unget(self, record: ConsoleRecord, encoded: bytes | None = None) -> None:
        """Put a record (or the rest of a split one) back at the head: it is answered next,
        with ``encoded``, its JSON if the poll had it already."""
        stored: _Stored = record
        if record.type in ("stdout", "stderr"):
            stored = _Text(record.type, record.text, encoded)
        self._items.appendleft(stored)
        self._count(_size(stored))
        self._readable.set()

    def get_nowait(self) -> Item | None:
        taken = self.take()
        return None if taken is None else taken[0]

    def take(self) -> tuple[Item, bytes | None] | None:
        """The head record, and its JSON if a poll encoded it before putting it back."""
        if not self._items:
            return None
        stored = self._items.popleft()
        self._count(-_size(stored))
        if not self._items:
            self._readable.clear()
        if not self._full():
            self._writable.set()
        if isinstance(stored, _Text):
            return stored.record(), stored.encoded
        return stored, None

    def force(self, item: Item) -> None:
        self._items.append(item)
        self._count(_size(item))
        self._readable.set()

    async def wait_readable(self, seconds: float) -> bool:
        if self._items:
            return True
        if seconds <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._readable.wait(), seconds)
        return bool(self._items)


def _size(item: _Stored) -> int:
    if isinstance(item, _Text):
        return item.size
    if isinstance(item, ConsoleRecord):
        return len(item.text) + len(item.data or "")
    return 0


def _encode(text: str) -> bytes:
    """``text`` as a JSON string, quotes included, in UTF-8 as on the wire (orjson: a 20th of
    ``json``'s C encoder, 42 % of the gateway's samples in a block flood)."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return json.dumps(text).encode("ascii")


def _dumps(value: Any) -> bytes:
    try:  # orjson refuses lone surrogates and keys that are not strings
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value).encode("utf-8")


_MAX_ESCAPE = 12  # the most bytes a character takes (astral, escaped when a lone surrogate is near)
_SEPARATOR = b","  # between two items of an encoded list (orjson's)


def _item_json(record: ConsoleRecord, encoded_text: bytes | None = None) -> bytes:
    """``record``'s JSON (the one time its text is encoded; ``encoded_text``: the text's
    encoding, quotes included, if known)."""
    if record.type == "media":
        return _dumps(record.to_json())
    if encoded_text is None:
        encoded_text = _encode(record.text)
    return b"[" + _encode(record.type) + _SEPARATOR + encoded_text + b"]"


def _quoted_text_json(item_json: bytes) -> bytes:
    """The encoded text (quotes included) of a stdout/stderr item's JSON."""
    return item_json[item_json.index(_SEPARATOR) + len(_SEPARATOR) : -1]


def merged(records: list[ConsoleRecord], items: list[bytes]) -> tuple[list[ConsoleRecord], bytes]:
    """An answer's console and its JSON (``items[i]`` is ``records[i]``'s): consecutive
    stdout (or stderr) records merged up to ``MAX_RECORD_CHARS`` as the buffer merges them
    (larger ones are not copied once more only to be joined: 1 MiB slices of a flood)."""
    out: list[ConsoleRecord] = []
    out_items: list[bytes] = []
    for record, item in zip(records, items, strict=True):
        last = out[-1] if out else None
        if (
            last is not None
            and last.type == record.type
            and record.type in ("stdout", "stderr")
            and len(last.text) + len(record.text) <= MAX_RECORD_CHARS
        ):
            out[-1] = ConsoleRecord(record.type, last.text + record.text)
            out_items[-1] = out_items[-1][:-2] + _quoted_text_json(item)[1:] + b"]"
        else:
            out.append(record)
            out_items.append(item)
    return out, b"[" + _SEPARATOR.join(out_items) + b"]"


def fit_encoded(text: str, room: int) -> tuple[int, bytes]:
    """How many leading characters of ``text`` fit in ``room`` encoded bytes, and their
    encoding (quotes included)."""
    if room <= 0:
        return 0, b'""'
    fits = min(len(text), room // _MAX_ESCAPE)
    pieces = [_encode(text[:fits])[1:-1]]
    used = len(pieces[0])
    step = 64 * 1024
    while fits < len(text):
        block = text[fits : fits + step]
        encoded = _encode(block)[1:-1]
        if used + len(encoded) <= room:
            fits += len(block)
            used += len(encoded)
            pieces.append(encoded)
            continue
        if len(block) == 1:
            break
        step = max(1, len(block) // 2)
    return fits, b'"' + b"".join(pieces) + b'"'


def frame_bytes(result: ExecutionResult, *, with_run_id: bool, next_run: bool = False) -> bytes:
    """``result.to_json(...)`` as the UTF-8 JSON a stream sends, reusing the console a poll
    has encoded; ``next_run``: the socket takes the next run's request (``"next": true``)."""
    body = result.to_json(with_run_id=with_run_id)
    if next_run:
        body["next"] = True
    encoded = result.console_json if isinstance(result, PolledResult) else None
    if encoded is None:
        return _dumps(body)
    status = body.pop("status")
    del body["console"]
    rest = _dumps(body)[1:]  # never empty: exitCode, options and files are always there
    return b'{"status":' + _dumps(status) + b',"console":' + encoded + _SEPARATOR + rest


def new_run_id() -> str:
    return uuid.uuid4().hex


class Run:
    """One execution: its records, its input hand-over and its end."""

    def __init__(self, run_id: str, mode: str) -> None:
        self.run_id = run_id
        self.mode = mode
        self.channel = Channel()
        self.done = asyncio.Event()
        self.final: Control | None = None
        #: Event-loop time of the last output (input detection checks more often after it).
        self.last_output = 0.0
        #: Event-loop time of the last answer that carried output (``None``: none yet).
        self.last_answered: float | None = None
        self.task: asyncio.Task[None] | None = None
        self._input_waiter: asyncio.Future[str] | None = None
        self._typed_ahead: collections.deque[str] = collections.deque()

    @property
    def waiting_input(self) -> bool:
        return self._input_waiter is not None and not self._input_waiter.done()

    async def emit(self, record: ConsoleRecord) -> None:
        self.last_output = asyncio.get_running_loop().time()
        if record.type in ("stdout", "stderr") and len(record.text) > MAX_RECORD_CHARS:
            text = record.text
            for start in range(0, len(text), MAX_RECORD_CHARS):
                await self.channel.put(
                    ConsoleRecord(record.type, text[start : start + MAX_RECORD_CHARS])
                )
            return
        await self.channel.put(record)

    async def stdout(self, text: str) -> None:
        if text:
            await self.emit(ConsoleRecord.stdout(text))

    async def stderr(self, text: str) -> None:
        if text:
            await self.emit(ConsoleRecord.stderr(text))

    async def control(
        self, status: str, exit_code: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        await self.channel.put(Control(status, exit_code, options))

    async def read_input(self, options: dict[str, Any]) -> str:
        """Report ``waiting-input`` (once) and wait for the client's ``input`` text.

        Text the client sent before the program asked (type-ahead) is used without asking.
        """
        if self._typed_ahead:
            return self._typed_ahead.popleft()
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._input_waiter = waiter
        try:
            await self.control(RunStatus.WAITING_INPUT, None, options)
            return await waiter
        finally:
            self._input_waiter = None

    def end_now(self, message: str, exit_code: int) -> None:
        """Finish the run right away, past the channel's bound (the producer is going away)."""
        self.channel.force(ConsoleRecord.stderr(message))
        self.channel.force(Control(RunStatus.FINISHED, exit_code))

    def deliver_input(self, text: str) -> None:
        waiter = self._input_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(text)
        else:
            self._typed_ahead.append(text)

    async def poll(self, flush_timeout: float) -> ExecutionResult:
        if self.final is not None and not len(self.channel):
            return self._result(self.final, [], [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(flush_timeout, 0.0)
        records: list[ConsoleRecord] = []
        items: list[bytes] = []
        room = MAX_POLL_BYTES
        first_at: float | None = None
        while True:
            now = loop.time()
            if first_at is None:
                timeout = deadline - now
            else:
                timeout = min(deadline, first_at + COALESCE_MAX) - now
                last = records[-1]
                partial = last.type == "stdout" and not last.text.endswith("\n")
                timeout = min(timeout, COALESCE_QUIET_PARTIAL_LINE if partial else COALESCE_QUIET)
            if not await self.channel.wait_readable(timeout):
                break
            taken = self.channel.take()
            if taken is None:
                continue
            item, encoded = taken
            if isinstance(item, Control):
                if item.status in RunStatus.TERMINAL:
                    self.final = item
                    self.done.set()
                return self._result(item, records, items)
            fitted = self._fit(item, encoded, room, bool(records))
            if fitted is None:
                break
            item, item_json, split = fitted
            records.append(item)
            items.append(item_json)
            room -= len(item_json) + len(_SEPARATOR)
            if split:
                break
            if first_at is None:
                first_at = loop.time()
                if self._answer_first_at_once(item, first_at):
                    break
            if room <= RECORD_OVERHEAD:
                break
        return self._result(Control(RunStatus.CONTINUED), records, items)

    def _fit(
        self, record: ConsoleRecord, encoded: bytes | None, room: int, have_some: bool
    ) -> tuple[ConsoleRecord, bytes, bool] | None:
        """``record`` for an answer with ``room`` encoded bytes left: (what goes in, its
        JSON, whether the rest was put back), or ``None`` when it waits (whole, encoded) for
        the next answer. A record that cannot be cut (media) goes alone into an answer; a
        text record is cut only when it does not fit even alone."""
        item_json = _item_json(record, encoded)
        if len(item_json) + len(_SEPARATOR) <= room or (
            not have_some and record.type not in ("stdout", "stderr")
        ):
            return record, item_json, False
        if have_some:
            self.channel.unget(record, encoded=_quoted_text_json(item_json))
            return None
        fits, head = fit_encoded(record.text, room - RECORD_OVERHEAD)
        if fits == 0:  # cannot happen with MAX_POLL_BYTES >> one escaped character
            fits, head = 1, _encode(record.text[:1])
        self.channel.unget(ConsoleRecord(record.type, record.text[fits:]))
        part = ConsoleRecord(record.type, record.text[:fits])
        return part, _item_json(part, head), True

    def _answer_first_at_once(self, record: ConsoleRecord, now: float) -> bool:
        """Whether a poll answers with its first record alone: a complete line (or media)
        after a quiet spell, so the first output is not held for the coalescing window. A
        partial line may be a prompt about to be followed by ``waiting-input`` and waits."""
        quiet = self.last_answered is None or now - self.last_answered >= QUIET_BEFORE_FIRST
        if not quiet or len(self.channel):
            return False
        return not (record.type == "stdout" and not record.text.endswith("\n"))

    def _result(
        self,
        control: Control,
        records: list[ConsoleRecord],
        items: list[bytes],
    ) -> ExecutionResult:
        if records:
            self.last_answered = asyncio.get_running_loop().time()
        console, encoded = merged(records, items)
        return PolledResult(
            status=control.status,
            console=console,
            run_id=self.run_id,
            exit_code=control.exit_code,
            options=control.options,
            console_json=encoded,
        )


Driver = Callable[[Run], Awaitable[None]]


class RunBoard:
    """Which run is current, who waits behind it, and which finished runs can still be polled.

    The current run is released when its driver has ended (its final record is then in its
    channel), so a client that never collects ``finished`` cannot block the session.
    """

    def __init__(self) -> None:
        self.current: Run | None = None
        self._runs: collections.OrderedDict[str, Run] = collections.OrderedDict()
        self._start_lock = asyncio.Lock()
        self.closed = False

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    async def start(self, mode: str, run_id: str | None, driver: Driver) -> Run:
        """The run ``run_id``: the one in progress with that id, or a new one started once
        the current run has ended."""
        run_id = run_id or new_run_id()
        async with self._start_lock:
            existing = self._runs.get(run_id)
            if existing is not None and existing.task is not None and not existing.task.done():
                return existing  # a repeated start of a run in progress polls it
            self._runs.pop(run_id, None)  # a finished run's id may be used again
            while self.current is not None:
                # Backend.AI would wait forever behind a run whose output nobody collects
                # (its producer blocked on a full buffer); we let that run finish, dropping
                # only what overflows its buffer.
                self.current.channel.abandon()
                await self._released(self.current)
            if self.closed:
                raise ExecutionRequestError("the session has been shut down")
            run = Run(run_id, mode)
            self._remember(run)
            self.current = run
            run.task = asyncio.create_task(self._drive(run, driver), name=f"run-{run_id}")
            return run

    def lookup(self, mode: str, run_id: str | None) -> Run:
        if not run_id:
            raise ExecutionRequestError(f"mode {mode!r} needs the runId of the run to continue")
        run = self._runs.get(run_id)
        if run is None:
            raise ExecutionRequestError(
                f"no run with runId {run_id!r} in this session; start one with mode 'query' "
                "or 'batch'"
            )
        return run

    async def _released(self, run: Run) -> None:
        if run.task is not None:
            await asyncio.wait({run.task})

    async def _drive(self, run: Run, driver: Driver) -> None:
        try:
            await driver(run)
        except asyncio.CancelledError:
            run.end_now("\n[bai-lsp: the session is shutting down]\n", 130)
            raise
        except Exception as exc:
            log.exception("run %s failed", run.run_id)
            run.end_now(f"\n[bai-lsp: the runner failed: {exc}]\n", 1)
        finally:
            if self.current is run:
                self.current = None

    def _remember(self, run: Run) -> None:
        self._runs[run.run_id] = run
        finished = [r for r in self._runs.values() if r is not self.current and r.task is not None]
        for old in finished:
            if len(self._runs) <= FINISHED_RUNS_KEPT:
                break
            if old.task is not None and old.task.done():
                self._runs.pop(old.run_id, None)

    async def cancel_all(self) -> None:
        """End every unfinished driver, and refuse new runs (shutdown)."""
        self.closed = True
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
