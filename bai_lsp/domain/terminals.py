"""Interactive terminals in a workspace's compute session (the pty stream, §5.2).

A terminal is owned here, not by the request that opened it: it lives until the editor
closes it, the shell exits or the session ends, and then the editor is told once why
(``backendai/terminalClosed``). Its output is coalesced like a run's (at most 60
notifications a second, each bounded); when the editor cannot keep up, reading from the
socket pauses, so the shell blocks on a full terminal instead of our memory growing.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import uuid
from collections.abc import Callable

import attrs

from bai_lsp.domain.backend import PtyStream, is_not_found, translate
from bai_lsp.domain.engine import Engine, SessionTarget
from bai_lsp.domain.errors import DomainError, InvalidParamsError
from bai_lsp.domain.output import MIN_INTERVAL_S, split_text
from bai_lsp.domain.settings import Settings
from bai_lsp.domain.workspaces import ComputeSession, Workspaces

log = logging.getLogger(__name__)

#: Text bytes per ``terminalOutput`` notification.
MAX_TERMINAL_NOTIFICATION_BYTES = 64 * 1024
#: Unsent output held before reading from the session pauses.
MAX_PENDING_BYTES = 1024 * 1024
#: Terminal sizes accepted (what a pty and the gateway accept).
MAX_DIMENSION = 999

#: WebSocket close codes of the pty stream → why the terminal closed.
_CLOSE_OK, _CLOSE_GOING_AWAY = 1000, 1001


class UnknownTerminalError(DomainError):
    kind = "unknownTerminal"


def target_session(engine: Engine, target: SessionTarget) -> tuple[ComputeSession, Settings]:
    """The session a terminal or an app of ``target`` lives in (the one runs use)."""
    return engine.session_of(target)


@attrs.frozen
class TerminalOpened:
    """What ``backendai.terminal.open`` answers."""

    terminal_id: str
    session_name: str


@attrs.frozen
class TerminalOutput:
    """``backendai/terminalOutput``: raw terminal text (escape sequences included)."""

    terminal_id: str
    data: str


@attrs.frozen
class TerminalClosed:
    """``backendai/terminalClosed``: sent once per terminal, after its last output."""

    terminal_id: str
    reason: str


def check_size(cols: int, rows: int) -> None:
    for name, value in (("cols", cols), ("rows", rows)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DIMENSION:
            raise InvalidParamsError(
                f"The terminal's {name} must be an integer from 1 to {MAX_DIMENSION}, "
                f"got {value!r:.40}."
            )


class _Coalescer:
    """Terminal bytes → bounded notifications, at most one per ``MIN_INTERVAL_S``."""

    def __init__(self, terminal_id: str, send: Callable[[TerminalOutput], None]) -> None:
        self._id = terminal_id
        self._send = send
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._pending_bytes = 0
        self._last = -1e9
        self._timer: asyncio.TimerHandle | None = None
        self._room = asyncio.Event()
        self._room.set()

    async def feed(self, chunk: bytes) -> None:
        text = self._decoder.decode(chunk)
        if text:
            self._pending += text
            self._pending_bytes += len(chunk)
            self._schedule()
        if self._pending_bytes > MAX_PENDING_BYTES:
            self._room.clear()
            await self._room.wait()

    def _schedule(self) -> None:
        if self._timer is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last + MIN_INTERVAL_S - loop.time())
        if delay == 0:
            self._flush_one()
        else:
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._flush_one()

    def _flush_one(self) -> None:
        head, rest = split_text(self._pending, MAX_TERMINAL_NOTIFICATION_BYTES)
        self._pending = rest
        self._pending_bytes = len(rest.encode())
        self._last = asyncio.get_running_loop().time()
        if head:
            self._send(TerminalOutput(self._id, head))
        if self._pending_bytes <= MAX_PENDING_BYTES // 2:
            self._room.set()
        self._schedule()

    def drain(self) -> None:
        """Send everything still pending (at close), in bounded pieces."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending += self._decoder.decode(b"", final=True)
        while self._pending:
            head, self._pending = split_text(self._pending, MAX_TERMINAL_NOTIFICATION_BYTES)
            self._send(TerminalOutput(self._id, head))
        self._room.set()


@attrs.define(eq=False)
class Terminal:
    id: str
    session: ComputeSession
    stream: PtyStream
    output: _Coalescer
    reader: asyncio.Task[None] | None = None
    close_reason: str | None = None


class Terminals:
    """The open terminals of one server, by id."""

    def __init__(
        self,
        workspaces: Workspaces,
        send_output: Callable[[TerminalOutput], None],
        send_closed: Callable[[TerminalClosed], None],
    ) -> None:
        self._workspaces = workspaces
        self._send_output = send_output
        self._send_closed = send_closed
        self._open: dict[str, Terminal] = {}

    def __len__(self) -> int:
        return len(self._open)

    async def open(
        self, session: ComputeSession, settings: Settings, cols: int, rows: int
    ) -> TerminalOpened:
        """Get or create the session (as a run does), then open its terminal at this size."""
        check_size(cols, rows)
        conn = await self._workspaces.connection(settings)
        for attempt in (1, 2):
            client, ref = await self._workspaces.ensure(session, settings)
            try:
                stream = await client.open_pty(ref)
                break
            except Exception as exc:
                if attempt == 1 and is_not_found(exc):
                    await self._workspaces.lost(session, settings)
                    continue
                raise translate(exc, conn.endpoint) from None
        terminal_id = f"term-{uuid.uuid4().hex[:12]}"
        terminal = Terminal(
            terminal_id, session, stream, _Coalescer(terminal_id, self._send_output)
        )
        try:
            await stream.resize(rows, cols)
        except Exception as exc:
            await stream.close()
            raise translate(exc, conn.endpoint) from None
        self._open[terminal_id] = terminal
        terminal.reader = asyncio.ensure_future(self._read(terminal))
        log.info("terminal %s opened on %s (%dx%d)", terminal_id, session.name, cols, rows)
        return TerminalOpened(terminal_id, session.name)

    def _get(self, terminal_id: str) -> Terminal:
        terminal = self._open.get(terminal_id)
        if terminal is None:
            raise UnknownTerminalError(
                f"No open terminal has the id {terminal_id!r} (it was closed, or never opened)."
            )
        return terminal

    async def input(self, terminal_id: str, data: str) -> None:
        terminal = self._get(terminal_id)
        if not data:
            return
        try:
            await terminal.stream.write(data.encode("utf-8", "surrogateescape"))
        except Exception as exc:
            log.info("terminal %s: input failed: %s", terminal_id, exc)
            raise UnknownTerminalError(
                f"The terminal {terminal_id!r} is closing; the input was not sent."
            ) from None

    async def resize(self, terminal_id: str, cols: int, rows: int) -> None:
        terminal = self._get(terminal_id)
        check_size(cols, rows)
        try:
            await terminal.stream.resize(rows, cols)
        except Exception as exc:
            log.info("terminal %s: resize failed: %s", terminal_id, exc)
            raise UnknownTerminalError(f"The terminal {terminal_id!r} is closing.") from None

    async def close(self, terminal_id: str, reason: str = "Closed by the editor.") -> None:
        terminal = self._get(terminal_id)
        terminal.close_reason = terminal.close_reason or reason
        with contextlib.suppress(Exception):
            await terminal.stream.close()
        if terminal.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await terminal.reader

    async def close_all(self, reason: str) -> None:
        for terminal_id in list(self._open):
            with contextlib.suppress(UnknownTerminalError):
                await self.close(terminal_id, reason)

    async def _read(self, terminal: Terminal) -> None:
        """Forward output until the socket ends; then say why, exactly once."""
        error: str | None = None
        try:
            async for chunk in terminal.stream:
                await terminal.output.feed(chunk)
        except Exception as exc:
            log.info("terminal %s broke", terminal.id, exc_info=True)
            error = f"The connection to the session broke: {exc}"
        finally:
            terminal.output.drain()
            self._open.pop(terminal.id, None)
            reason = terminal.close_reason or error or self._why(terminal)
            with contextlib.suppress(Exception):
                await terminal.stream.close()
            log.info("terminal %s closed: %s", terminal.id, reason)
            self._send_closed(TerminalClosed(terminal.id, reason))

    def _why(self, terminal: Terminal) -> str:
        try:
            code = terminal.stream.close_code
        except Exception:
            code = None
        name = terminal.session.name
        if code == _CLOSE_OK:
            return "The shell exited."
        if code == _CLOSE_GOING_AWAY:
            return f"Session {name} ended."
        return f"The terminal of session {name} was closed by the backend (code {code})."
