"""Every run's output, kept on disk so an editor reload or a server restart loses nothing.

The log is JSON lines under ``<state dir>/runs/``: ``runs.jsonl`` is appended to; past
``SEGMENT_BYTES`` it is rotated to ``runs.1.jsonl`` (``runs.1`` → ``runs.2``…) and segments
beyond ``SEGMENTS`` are deleted, so the log never exceeds ``SEGMENTS * SEGMENT_BYTES``. One
run logs at most ``RUN_BYTES`` of output (the full output of a flood is in the run's spill
file, ``runFinished.outputFile``). Writes happen in a background task off the event loop,
in arrival order; ``close`` waits for them.

Runs left going on their session when the server stopped (``onExit: "keep"``) are logged
``detached``: their ``start`` entry holds what re-attaching needs (``RunContext``) and the
``detached`` entry the last answer number received. The next server *claims* them (an
``attach`` entry with its pid, written under a file lock, so two servers starting together
never follow the same run) and goes on appending to the same run id. Entries older servers
wrote lack these fields; such runs are simply not re-attachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.errors import UnknownRunError
from bai_lsp.domain.events import OutputBatch, Record, RunFinished, RunStarted

log = logging.getLogger(__name__)

SEGMENT_BYTES = 8 * 1024 * 1024
SEGMENTS = 4
RUN_BYTES = 1024 * 1024
#: Runs ``runs.list`` answers with at most (newest first).
LIST_LIMIT = 200
#: A run detached longer ago than this is not re-attached (its backend has surely moved on).
REATTACH_MAX_AGE_S = 24 * 3600
CLAIM_LOCK = "reattach.lock"
#: Characters of a run's code the log keeps (for ``runs.export``).
CODE_CHARS = 256 * 1024
#: How every output entry starts (``_put`` writes compact JSON, keys in this order).
_OUT_PREFIX = '{"k":"out","runId":"'


@attrs.frozen
class RunEntry:
    """One logged run, as ``backendai.runs.list`` reports it."""

    run_id: str
    uri: str
    mode: str
    session_name: str
    started_at: float
    """Unix time (seconds)."""
    status: str | None = None
    """``None`` while the run had not finished when the log was last written."""
    exit_code: int | None = None
    duration_ms: int | None = None
    message: str | None = None
    """Why the run failed, when the log says (e.g. its session ended while no server ran)."""


@attrs.frozen
class RunContext:
    """What following a run again from another server process needs (logged at its start)."""

    endpoint: str
    """The endpoint the client talked to (the embedded gateway's loopback URL included)."""
    access_key: str
    """Which keypair (an identifier, not a secret): another keypair cannot see the session."""
    folder: str
    session_ref: str
    image: str
    language: str
    transport: str
    """``rest`` or ``websocket`` (``runTransport`` when the run started)."""
    embedded: bool


@attrs.frozen
class DetachedRun:
    """A run a server left going on its session when it stopped."""

    entry: RunEntry
    context: RunContext
    wire_seq: int
    resumable: bool
    detached_at: float
    logged_bytes: int
    """Output bytes already in the log for this run (its per-run cap goes on from there)."""
    waiting_input: tuple[str, bool] | None = None
    """``(prompt, password)`` when the run was waiting for input as the server stopped."""
    crashed: bool = False
    """The server following it died without detaching it (``kill -9``, a crash): what it had
    received but not yet logged is missing, and a resumable run's position is unknown."""


#: (``RunLog.list`` shadows the builtin inside the class.)
DetachedRuns = list[DetachedRun]
Transcripts = list["Transcript"]


@attrs.frozen
class RunList:
    runs: list[RunEntry]


@attrs.frozen
class RunReplay:
    """``backendai.runs.replay``: the run's logged output, in order."""

    run: RunEntry
    records: list[Record]
    truncated: bool


@attrs.frozen
class Transcript:
    """A logged run with its code and output (``runs.media``, ``runs.export``)."""

    run: RunEntry
    code: str
    """Empty for runs logged before the log kept code."""
    records: list[Record]


class RunLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._queue: list[str] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._logged: dict[str, int] = {}
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self.directory / "runs.jsonl"

    # --- writing ------------------------------------------------------------------------

    def _put(self, entry: dict[str, Any]) -> None:
        self._queue.append(json.dumps(entry, separators=(",", ":")) + "\n")
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_loop())
        self._wake.set()

    def started(
        self, event: RunStarted, context: RunContext | None = None, code: str | None = None
    ) -> None:
        """``code`` (the snippet, cut at ``CODE_CHARS``) is what ``runs.export`` shows."""
        self._logged[event.run_id] = 0
        entry: dict[str, Any] = {
            "k": "start",
            "runId": event.run_id,
            "uri": event.uri,
            "mode": event.mode,
            "session": event.session_name,
            "t": time.time(),
        }
        if code is not None:
            entry["code"] = code[:CODE_CHARS]
        if context is not None:
            entry.update(
                ref=context.session_ref,
                endpoint=context.endpoint,
                accessKey=context.access_key,
                folder=context.folder,
                image=context.image,
                language=context.language,
                transport=context.transport,
                embedded=context.embedded,
                pid=os.getpid(),
            )
        self._put(entry)

    def detached(
        self,
        run_id: str,
        wire_seq: int,
        resumable: bool,
        ref: str | None,
        waiting: tuple[str, bool] | None = None,
    ) -> None:
        """The server stops while the run goes on on its session: the next one re-attaches.

        ``waiting`` is ``(prompt, password)`` when the run was waiting for input: the backend
        reports that only once, so the next server must ask again by itself.
        """
        self._logged.pop(run_id, None)
        entry: dict[str, Any] = {
            "k": "detached",
            "runId": run_id,
            "wireSeq": wire_seq,
            "resumable": resumable,
            "t": time.time(),
        }
        if ref:
            entry["ref"] = ref
        if waiting is not None:
            entry["input"] = {"prompt": waiting[0], "password": waiting[1]}
        self._put(entry)

    def resumed(self, run: DetachedRun) -> None:
        """Log the re-attached run's output under its id again (within its per-run cap)."""
        self._logged[run.entry.run_id] = run.logged_bytes

    def sink(
        self,
        run_id: str,
        send: Callable[[OutputBatch], None],
        wire_seq: Callable[[], int | None] | None = None,
    ) -> Callable[[OutputBatch], None]:
        """``send``, also logging the batch.

        ``wire_seq`` tells the number of the last backend answer whose records are all in
        the batches logged so far; it is logged with each batch (``ws``), so that after a
        crash the next server knows from where to ask the backend again.
        """

        def tee(batch: OutputBatch) -> None:
            send(batch)
            try:
                self._log_batch(run_id, batch, wire_seq() if wire_seq else None)
            except Exception:
                log.exception("could not log output of run %s", run_id)

        return tee

    def _log_batch(self, run_id: str, batch: OutputBatch, wire_seq: int | None = None) -> None:
        used = self._logged.get(run_id)
        if used is None or used >= RUN_BYTES:
            return
        records = []
        for record in batch.records:
            if used + record.size > RUN_BYTES:
                records.append({"type": "stderr", "text": "[bai-lsp] run log full\n", "cut": 1})
                used = RUN_BYTES
                break
            used += record.size
            records.append({k: v for k, v in attrs.asdict(record).items() if v is not None})
        self._logged[run_id] = used
        entry: dict[str, Any] = {"k": "out", "runId": run_id, "records": records}
        if wire_seq:
            entry["ws"] = wire_seq
        self._put(entry)

    def finished(self, event: RunFinished) -> None:
        self._logged.pop(event.run_id, None)
        entry: dict[str, Any] = {
            "k": "end",
            "runId": event.run_id,
            "status": event.status,
            "exitCode": event.exit_code,
            "durationMs": event.duration_ms,
        }
        if event.message and event.status != "finished":
            entry["message"] = event.message
        self._put(entry)

    async def _write_loop(self) -> None:
        while self._queue:
            self._wake.clear()
            lines, self._queue = self._queue, []
            async with self._lock:
                try:
                    await asyncio.to_thread(self._append, "".join(lines))
                except OSError:
                    log.exception("could not write the run log in %s", self.directory)

    def _append(self, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(text) > SEGMENT_BYTES:
            self._rotate()
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text)

    def _rotate(self) -> None:
        oldest = self.directory / f"runs.{SEGMENTS - 1}.jsonl"
        oldest.unlink(missing_ok=True)
        for n in range(SEGMENTS - 2, 0, -1):
            src = self.directory / f"runs.{n}.jsonl"
            if src.exists():
                src.replace(self.directory / f"runs.{n + 1}.jsonl")
        self.path.replace(self.directory / "runs.1.jsonl")

    async def close(self) -> None:
        """Wait until everything logged so far is on disk."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        if self._queue:
            self._writer = asyncio.ensure_future(self._write_loop())
            await self._writer

    # --- reading ------------------------------------------------------------------------

    def _segments(self) -> list[Path]:
        older = [self.directory / f"runs.{n}.jsonl" for n in range(SEGMENTS - 1, 0, -1)]
        return [p for p in [*older, self.path] if p.exists()]

    def _entries(self, output_of: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """The log's entries in order; with ``output_of``, output entries only of the runs it
        accepts (output is nearly all of the log: the others are not even parsed)."""
        out: list[dict[str, Any]] = []
        for segment in self._segments():
            with segment.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    if output_of is not None and line.startswith(_OUT_PREFIX):
                        end = line.find('"', len(_OUT_PREFIX))
                        if end < 0 or not output_of(line[len(_OUT_PREFIX) : end]):
                            continue
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash mid-write
                    if isinstance(entry, dict):
                        out.append(entry)
        return out

    def _runs(self, entries: list[dict[str, Any]]) -> dict[str, RunEntry]:
        runs: dict[str, RunEntry] = {}
        for e in entries:
            run_id = str(e.get("runId", ""))
            if e.get("k") == "start":
                runs[run_id] = RunEntry(
                    run_id,
                    str(e.get("uri", "")),
                    str(e.get("mode", "")),
                    str(e.get("session", "")),
                    float(e.get("t", 0)),
                )
            elif e.get("k") == "end" and run_id in runs:
                runs[run_id] = attrs.evolve(
                    runs[run_id],
                    status=e.get("status"),
                    exit_code=e.get("exitCode"),
                    duration_ms=e.get("durationMs"),
                    message=e.get("message"),
                )
        return runs

    async def list(self, uri: str | None = None) -> RunList:
        await self.close()
        runs = self._runs(await asyncio.to_thread(self._entries, lambda _: False))
        chosen = [r for r in runs.values() if uri is None or r.uri == uri]
        chosen.sort(key=lambda r: r.started_at, reverse=True)
        return RunList(chosen[:LIST_LIMIT])

    async def replay(self, run_id: str) -> RunReplay:
        await self.close()
        entries = await asyncio.to_thread(self._entries, run_id.__eq__)
        run = self._runs(entries).get(run_id)
        if run is None:
            raise UnknownRunError(
                f"No run with id {run_id!r} is in the run log (it keeps the last "
                f"{SEGMENTS * SEGMENT_BYTES // (1024 * 1024)} MiB of output)."
            )
        records: list[Record] = []
        truncated = False
        for e in entries:
            if e.get("k") != "out" or e.get("runId") != run_id:
                continue
            for r in e.get("records") or []:
                truncated = truncated or bool(r.get("cut"))
                records.append(
                    Record(str(r.get("type")), r.get("text"), r.get("mime"), r.get("data"))
                )
        return RunReplay(run, records, truncated)

    async def transcripts(self, wanted: Callable[[RunEntry], bool]) -> Transcripts:
        """Runs ``wanted`` accepts with their code and logged output, oldest first."""
        await self.close()
        heads = await asyncio.to_thread(self._entries, lambda _: False)
        runs = {k: v for k, v in self._runs(heads).items() if wanted(v)}
        codes = {
            str(e.get("runId")): str(e.get("code") or "") for e in heads if e.get("k") == "start"
        }
        entries = await asyncio.to_thread(self._entries, runs.__contains__)
        records: dict[str, list[Record]] = {run_id: [] for run_id in runs}
        for e in entries:
            if e.get("k") == "out" and e.get("runId") in records:
                records[str(e["runId"])].extend(
                    Record(str(r.get("type")), r.get("text"), r.get("mime"), r.get("data"))
                    for r in e.get("records") or []
                )
        ordered = sorted(runs.values(), key=lambda r: r.started_at)
        return [Transcript(r, codes.get(r.run_id, ""), records[r.run_id]) for r in ordered]

    # --- re-attaching ---------------------------------------------------------------------

    async def detached_runs(
        self, wanted: Callable[[RunContext], bool], *, claim: bool = False
    ) -> DetachedRuns:
        """Runs left going on their session (detached, not finished, not claimed by a live
        server, detached at most ``REATTACH_MAX_AGE_S`` ago) whose context ``wanted`` accepts.

        With ``claim`` they are also marked as followed by this process (an ``attach`` entry
        written under a file lock), so no other server re-attaches them too.
        """
        await self.close()
        async with self._lock:
            return await asyncio.to_thread(self._detached_runs, wanted, claim)

    def _detached_runs(self, wanted: Callable[[RunContext], bool], claim: bool) -> DetachedRuns:
        if not self.directory.exists():
            return []
        with open(self.directory / CLAIM_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                now = time.time()
                control = self._entries(output_of=lambda _: False)
                chosen = {d.entry.run_id for d in _detached(control, now) if wanted(d.context)}
                found = []
                if chosen:  # their logged output (bytes, last answer number) too
                    entries = self._entries(output_of=chosen.__contains__)
                    found = [d for d in _detached(entries, now) if d.entry.run_id in chosen]
                if claim and found:
                    now, pid = time.time(), os.getpid()
                    self._append(
                        "".join(
                            json.dumps(
                                {"k": "attach", "runId": d.entry.run_id, "pid": pid, "t": now},
                                separators=(",", ":"),
                            )
                            + "\n"
                            for d in found
                        )
                    )
                return found
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _context(e: dict[str, Any]) -> RunContext | None:
    """The re-attach context of a start entry; ``None`` for entries of older servers."""
    if not isinstance(e.get("endpoint"), str) or not isinstance(e.get("folder"), str):
        return None
    with contextlib.suppress(TypeError, ValueError):
        return RunContext(
            endpoint=str(e["endpoint"]),
            access_key=str(e.get("accessKey") or ""),
            folder=str(e["folder"]),
            session_ref=str(e.get("ref") or e.get("session") or ""),
            image=str(e.get("image") or ""),
            language=str(e.get("language") or ""),
            transport=str(e.get("transport") or "websocket"),
            embedded=bool(e.get("embedded")),
        )
    return None


def _detached(entries: list[dict[str, Any]], now: float) -> list[DetachedRun]:
    starts: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}  # the last detached/attach/end entry of each run
    detached_at: dict[str, dict[str, Any]] = {}
    logged: dict[str, int] = {}
    logged_seq: dict[str, int] = {}
    for e in entries:
        run_id = e.get("runId")
        if not isinstance(run_id, str):
            continue
        kind = e.get("k")
        if kind == "start":
            starts[run_id] = e
            last.pop(run_id, None)
            detached_at.pop(run_id, None)
            logged[run_id] = 0
            logged_seq[run_id] = 0
        elif kind in ("detached", "attach", "end"):
            last[run_id] = e
            if kind == "detached":
                detached_at[run_id] = e
        elif kind == "out" and run_id in logged:
            if isinstance(e.get("ws"), int):
                logged_seq[run_id] = max(logged_seq[run_id], e["ws"])
            for r in e.get("records") or []:
                if isinstance(r, dict):
                    logged[run_id] += len(str(r.get("text") or "").encode())
                    logged[run_id] += len(str(r.get("data") or ""))
    out: list[DetachedRun] = []
    for run_id, start in starts.items():
        state = last.get(run_id)
        if state is not None and state.get("k") == "end":
            continue
        # who follows the run now: the server that started it, or the last one that claimed it
        follower = start if state is None or state.get("k") != "attach" else state
        detached = detached_at.get(run_id)
        followed = state is None or state.get("k") == "attach"
        if followed and _pid_alive(int(follower.get("pid") or 0)):
            continue  # a live server follows it
        context = _context(start)
        if context is None:
            continue
        when = float((detached or start).get("t") or 0)
        if now - when > REATTACH_MAX_AGE_S:
            continue
        crashed = detached is None or (state is not None and state is not detached)
        detached = detached or {}
        if detached.get("ref"):
            context = attrs.evolve(context, session_ref=str(detached["ref"]))
        asked = detached.get("input")
        waiting = (
            (str(asked.get("prompt") or ""), bool(asked.get("password")))
            if isinstance(asked, dict) and not crashed
            else None
        )
        entry = RunEntry(
            run_id,
            str(start.get("uri", "")),
            str(start.get("mode", "")),
            str(start.get("session", "")),
            float(start.get("t", 0)),
        )
        out.append(
            DetachedRun(
                entry=entry,
                context=context,
                wire_seq=int(detached.get("wireSeq") or logged_seq.get(run_id) or 0),
                resumable=bool(detached.get("resumable") or (crashed and logged_seq.get(run_id))),
                detached_at=when,
                logged_bytes=logged.get(run_id, 0),
                waiting_input=waiting,
                crashed=crashed,
            )
        )
    out.sort(key=lambda d: d.entry.started_at)
    return out
