"""Runtime errors as editor diagnostics: a failed run's console text is parsed (``parsers``),
placed on local lines (``mapping``) and published per document.

Diagnostics belong to the run that found them: the next run of the same region (or of the
whole file, which covers every region of it) replaces them, so a successful re-run clears
them and nothing else does. Documents that end up with no diagnostics get an empty list,
which is how LSP clears them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import attrs

from bai_lsp.domain.diagnostics.mapping import Placed, RunOrigin, place
from bai_lsp.domain.diagnostics.parsers import PARSERS, Hit, parse
from bai_lsp.domain.events import OutputBatch

log = logging.getLogger(__name__)

#: Console text kept per run for parsing: its head (compilers report first) and its tail
#: (tracebacks come last); a flood in between is not worth the memory.
KEEP_HEAD = 256 * 1024
KEEP_TAIL = 256 * 1024


@attrs.frozen
class Diagnostic:
    """One diagnostic, transport-neutral (0-based line, code-unit columns)."""

    line: int
    start: int
    end: int
    message: str
    severity: str
    source: str


Publisher = Callable[[str, list[Diagnostic]], None]


@attrs.define
class _Pending:
    origin: RunOrigin
    head: str = ""
    tail: str = ""


def _covers(new: RunOrigin, old: RunOrigin) -> bool:
    if new.uri != old.uri:
        return False
    if new.whole_file or old.whole_file:
        return new.whole_file
    assert new.end_line is not None and old.end_line is not None
    return new.start_line <= old.end_line and old.start_line <= new.end_line


class DiagnosticsTracker:
    def __init__(self, publisher: Publisher | None = None) -> None:
        self.publisher = publisher
        self._pending: dict[str, _Pending] = {}
        self._shown: dict[str, list[tuple[RunOrigin, Diagnostic]]] = {}

    def begin(self, run_id: str, origin: RunOrigin) -> None:
        self._pending[run_id] = _Pending(origin)

    def discard(self, run_id: str) -> None:
        self._pending.pop(run_id, None)

    def sink(
        self, run_id: str, send: Callable[[OutputBatch], None]
    ) -> Callable[[OutputBatch], None]:
        """``send``, also keeping the batch's console text for ``finish``."""

        def tee(batch: OutputBatch) -> None:
            pending = self._pending.get(run_id)
            if pending is not None:
                for record in batch.records:
                    if record.text and record.type in ("stdout", "stderr"):
                        self._keep(pending, record.text)
            send(batch)

        return tee

    def feed_text(self, run_id: str, text: str) -> None:
        pending = self._pending.get(run_id)
        if pending is not None:
            self._keep(pending, text)

    @staticmethod
    def _keep(pending: _Pending, text: str) -> None:
        room = KEEP_HEAD - len(pending.head)
        if room > 0:
            pending.head += text[:room]
            text = text[room:]
        if text:
            pending.tail = (pending.tail + text)[-KEEP_TAIL:]

    async def finish(self, run_id: str, status: str) -> None:
        """Replace the diagnostics of this run's region with what its output reports."""
        pending = self._pending.pop(run_id, None)
        if pending is None:
            return
        origin = pending.origin
        placed: list[Placed] = []
        if status != "finished" or pending.head or pending.tail:
            hits = parse(pending.head + pending.tail)
            if hits and status != "interrupted":
                placed = await asyncio.to_thread(place, origin, hits)
        touched: set[str] = set()
        for uri, entries in self._shown.items():
            kept = [(o, d) for o, d in entries if not _covers(origin, o)]
            if len(kept) != len(entries):
                self._shown[uri] = kept
                touched.add(uri)
        seen: set[tuple[str, int, str]] = set()
        for p in placed:
            key = (p.uri, p.line, p.hit.message)
            if key in seen:
                continue
            seen.add(key)
            diag = Diagnostic(p.line, p.start, p.end, p.hit.message, p.hit.severity, p.hit.source)
            self._shown.setdefault(p.uri, []).append((origin, diag))
            touched.add(p.uri)
        for uri in sorted(touched):
            self._publish(uri)

    def shown(self, uri: str) -> list[Diagnostic]:
        return [d for _, d in self._shown.get(uri, [])]

    def _publish(self, uri: str) -> None:
        diags = self.shown(uri)
        if not diags:
            self._shown.pop(uri, None)
        if self.publisher is None:
            return
        try:
            self.publisher(uri, diags)
        except Exception:
            log.exception("could not publish diagnostics for %s", uri)


__all__ = [
    "PARSERS",
    "Diagnostic",
    "DiagnosticsTracker",
    "Hit",
    "RunOrigin",
    "parse",
]
