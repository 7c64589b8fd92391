"""Per-run journals: the gateway's resumable-runs extension (docs/gateway.md).

Backend.AI loses an answer that is cut in transit (``continue`` only returns what is new)
and interrupts a streamed run whose socket closes. A client that opts in (a WebSocket first
frame with ``runId`` + ``resumable``, or ``ack`` in a REST execute body) gets numbered
answers instead (``seq`` 1, 2, 3…), and the gateway keeps every answer it sent until the
client acknowledges it (``ack`` = the highest ``seq`` received). A ``continue`` with ``ack``
first gets the unacknowledged answers again, so a poll may simply be repeated after a
network failure: nothing is lost, nothing is delivered twice.

The journal is bounded by characters (a flood nobody acknowledges must not fill the
memory): the oldest answers are dropped first, and what a client then cannot get back is
reported to it once, as ``lost`` characters on its next answer. Polls of one run go
through the journal's lock, one at a time, so an answer is never split between a poll
whose client has gone and the poll that replaces it.
"""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from collections.abc import Awaitable, Callable

import attrs

from bai_lsp.wire.execute import ConsoleRecord, ExecutionResult, RunStatus, aggregate

#: Characters of unacknowledged answers kept per run.
JOURNAL_CHARS = 16 * 1024 * 1024
#: ... and by all runs of the gateway together: past this, a journal holding more than
#: ``MIN_JOURNAL_SHARE`` drops its oldest answers too. A stream does not acknowledge its
#: frames, so each busy streamed run kept its last 16 Mi characters (10 busy workspaces:
#: 170 of the gateway's 477 MB); what a resuming client needs is what was in flight when
#: its socket dropped, and anything dropped before it is reported as ``lost``.
JOURNAL_CHARS_ALL = 16 * 1024 * 1024
MIN_JOURNAL_SHARE = 512 * 1024
#: Seconds a streamed run whose socket dropped is kept for a REST ``continue`` to re-attach
#: before it is interrupted as Backend.AI would at once.
DETACH_GRACE = 300.0
#: ... and at most this many answers (a quiet run's empty polls are not kept at all).
JOURNAL_ENTRIES = 65536
#: Journals kept per session (the oldest idle ones are forgotten first).
JOURNALS_PER_SESSION = 16


def answer_chars(result: ExecutionResult) -> int:
    return sum(len(r.text) + len(r.data or "") for r in result.console)


class RunJournal:
    """The numbered answers of one run that its client has not acknowledged yet."""

    #: Characters kept by every journal of this process.
    total_chars = 0

    def __init__(self, run_id: str, limit: int = JOURNAL_CHARS) -> None:
        self.run_id = run_id
        self.limit = limit
        self.seq = 0
        self._entries: collections.deque[tuple[int, ExecutionResult, int]] = collections.deque()
        self._chars = 0
        #: ``(seq, chars)`` of answers dropped by the bound before they were acknowledged.
        self._dropped: collections.deque[tuple[int, int]] = collections.deque()
        self._lost = 0
        #: One poll of this run at a time (stream or REST).
        self.lock = asyncio.Lock()
        #: The stream delivering this run; ``None`` once it detached or REST took over.
        self.owner: object | None = None
        #: Set when a REST request takes the run over from its stream.
        self.taken = asyncio.Event()
        self.grace: asyncio.Task[None] | None = None
        self.touched = time.monotonic()
        self.ended = False
        #: ``seq`` of the ``waiting-input`` answers whose input was delivered: an ``input``
        #: repeated with the same ``ack`` (its answer was lost) is not typed again.
        self.answered: set[int] = set()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    @chars.setter
    def chars(self, value: int) -> None:
        RunJournal.total_chars += value - self._chars
        self._chars = value

    def __del__(self) -> None:
        # A forgotten journal no longer counts against the process.
        RunJournal.total_chars -= self._chars

    def _over_bound(self) -> bool:
        return (
            self.chars > self.limit
            or len(self._entries) > JOURNAL_ENTRIES
            or (RunJournal.total_chars > JOURNAL_CHARS_ALL and self.chars > MIN_JOURNAL_SHARE)
        )

    @property
    def detached(self) -> bool:
        return self.grace is not None and not self.grace.done()

    def number(self, result: ExecutionResult) -> ExecutionResult:
        """Give ``result`` the next ``seq`` without keeping it (a client that does not ack)."""
        self.seq += 1
        result.seq = self.seq
        self.touched = time.monotonic()
        if result.status in RunStatus.TERMINAL:
            self.ended = True
        return result

    def record(self, result: ExecutionResult) -> ExecutionResult:
        """Number ``result`` and keep it until it is acknowledged."""
        self.number(result)
        size = answer_chars(result)
        if result.status == RunStatus.CONTINUED and not result.console and not result.files:
            return result  # nothing to lose: an empty poll of a quiet run
        self._entries.append((self.seq, result, size))
        self.chars += size
        while self._entries and self._over_bound():
            seq, _, chars = self._entries.popleft()
            self.chars -= chars
            if chars:
                self._dropped.append((seq, chars))
        return result

    def ack(self, acked: int) -> None:
        """The client has every answer up to ``acked``: forget them."""
        while self._entries and self._entries[0][0] <= acked:
            _, _, chars = self._entries.popleft()
            self.chars -= chars
        while self._dropped and self._dropped[0][0] <= acked:
            self._dropped.popleft()

    def replay(self, acked: int) -> ExecutionResult | None:
        """The answers after ``acked`` merged into one (up to the first that is not
        ``continued``, so a control status is never hidden), or ``None`` if there are none.

        They stay journaled until acknowledged, so a replay lost in transit comes again.
        Dropped answers after ``acked`` become ``lost`` (see :meth:`take_lost`).
        """
        self.ack(acked)
        self._lost += sum(chars for _, chars in self._dropped)
        self._dropped.clear()
        if not self._entries:
            return None
        records: list[ConsoleRecord] = []
        last: ExecutionResult | None = None
        for _, result, _ in self._entries:
            records.extend(result.console)
            last = result
            if result.status != RunStatus.CONTINUED:
                break
        assert last is not None
        return attrs.evolve(last, console=aggregate(records))

    def take_lost(self) -> int | None:
        """Characters the client could not get back, reported once."""
        lost, self._lost = self._lost, 0
        return lost or None

    def clear(self) -> None:
        """A request without ``ack`` (the SDK's): nothing is kept for this client."""
        self._entries.clear()
        self._dropped.clear()
        self.chars = 0

    def release(self) -> None:
        """Free the kept answers; a client that asks for them later is told they are lost."""
        while self._entries:
            seq, _, chars = self._entries.popleft()
            if chars:
                self._dropped.append((seq, chars))
        self.chars = 0

    def attach(self, owner: object) -> None:
        """A stream delivers this run (until it detaches or REST takes over)."""
        self.owner = owner
        self.taken.clear()

    def release_owner(self, owner: object) -> None:
        """``owner``'s stream has stopped delivering this run (ended, failed or left)."""
        if self.owner is owner:
            self.owner = None

    def take_over(self) -> None:
        """A REST request follows the run from now on: its stream (if any) stops
        forwarding, and a detached run is not interrupted any more."""
        self.owner = None
        self.taken.set()
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None

    def detach(self, grace: float, expire: Callable[[], Awaitable[None]]) -> None:
        """The stream dropped mid-run: wait ``grace`` seconds for a REST ``continue``,
        then ``expire`` (interrupt the run)."""
        self.owner = None

        async def wait() -> None:
            await asyncio.sleep(grace)
            if self.owner is None and not self.taken.is_set():
                await expire()

        self.grace = asyncio.create_task(wait(), name=f"detached-{self.run_id}")

    def cancel_grace(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None


# One board per session object, gone with it.
_BOARDS: weakref.WeakKeyDictionary[object, collections.OrderedDict[str, RunJournal]] = (
    weakref.WeakKeyDictionary()
)


def find(session: object, run_id: str | None) -> RunJournal | None:
    if not run_id:
        return None
    board = _BOARDS.get(session)
    return None if board is None else board.get(run_id)


def open_journal(session: object, run_id: str, limit: int = JOURNAL_CHARS) -> RunJournal:
    """The journal of ``run_id`` on ``session``, created if needed (oldest idle ones are
    forgotten beyond ``JOURNALS_PER_SESSION``)."""
    board = _BOARDS.setdefault(session, collections.OrderedDict())
    journal = board.get(run_id)
    if journal is None:
        # Runs of a session are serialised: a client starting a new one is done with the
        # answers of those that ended (a flood's journal must not outlive it).
        for old in board.values():
            if old.ended and old.owner is None and not old.detached:
                old.release()
        journal = board[run_id] = RunJournal(run_id, limit)
        idle = sorted(
            (j for j in board.values() if j is not journal and j.owner is None and not j.detached),
            key=lambda j: (not j.ended, j.touched),
        )
        while len(board) > JOURNALS_PER_SESSION and idle:
            board.pop(idle.pop(0).run_id, None)
    board.move_to_end(run_id)
    return journal
