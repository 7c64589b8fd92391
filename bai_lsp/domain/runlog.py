"""Every run's output, kept on disk so an editor reload or a server restart loses nothing.

The log is JSON lines under ``<state dir>/runs/``: ``runs.jsonl`` is appended to; past
``SEGMENT_BYTES`` it is rotated to ``runs.1.jsonl`` (``runs.1`` → ``runs.2``…) and segments
beyond ``SEGMENTS`` are deleted, so the log never exceeds ``SEGMENTS * SEGMENT_BYTES``. One
run logs at most ``RUN_BYTES`` of output (the full output of a flood is in the run's spill
file, ``runFinished.outputFile``). Writes happen in a background task off the event loop,
in arrival order; ``close`` waits for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
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


@attrs.frozen
class RunList:
    runs: list[RunEntry]


@attrs.frozen
class RunReplay:
    """``backendai.runs.replay``: the run's logged output, in order."""

    run: RunEntry
    records: list[Record]
    truncated: bool


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

    def started(self, event: RunStarted) -> None:
        self._logged[event.run_id] = 0
        self._put(
            {
                "k": "start",
                "runId": event.run_id,
                "uri": event.uri,
                "mode": event.mode,
                "session": event.session_name,
                "t": time.time(),
            }
        )

    def sink(
        self, run_id: str, send: Callable[[OutputBatch], None]
    ) -> Callable[[OutputBatch], None]:
        """``send``, also logging the batch."""

        def tee(batch: OutputBatch) -> None:
            send(batch)
            try:
                self._log_batch(run_id, batch)
            except Exception:
                log.exception("could not log output of run %s", run_id)

        return tee

    def _log_batch(self, run_id: str, batch: OutputBatch) -> None:
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
        self._put({"k": "out", "runId": run_id, "records": records})

    def finished(self, event: RunFinished) -> None:
        self._logged.pop(event.run_id, None)
        self._put(
            {
                "k": "end",
                "runId": event.run_id,
                "status": event.status,
                "exitCode": event.exit_code,
                "durationMs": event.duration_ms,
            }
        )

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

    def _entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for segment in self._segments():
            with segment.open(encoding="utf-8", errors="replace") as f:
                for line in f:
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
                )
        return runs

    async def list(self, uri: str | None = None) -> RunList:
        await self.close()
        runs = self._runs(await asyncio.to_thread(self._entries))
        chosen = [r for r in runs.values() if uri is None or r.uri == uri]
        chosen.sort(key=lambda r: r.started_at, reverse=True)
        return RunList(chosen[:LIST_LIMIT])

    async def replay(self, run_id: str) -> RunReplay:
        await self.close()
        entries = await asyncio.to_thread(self._entries)
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
