"""Code intelligence from the live session: completion, hover, variables, data preview.

Everything here looks at a session that already runs; nothing starts one (a session whose
ref this server does not know yet is looked up by name in the background, once a minute,
and used from the next request on). Completion goes through Backend.AI's ``complete`` API.
Hover, variables and inspect run a small Python snippet (``live_kernel.py``) marked with
``wire.helper.HELPER_MARKER`` by REST polls of its own: it is not a run (no
``runStarted``, no run log, no ``busy`` status), it runs only while the session is idle and
holds the session's run lock meanwhile, so a run asked for then waits the few milliseconds
it takes. The embedded gateway executes it silently; a manager counts it as a query.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import attrs

from bai_lsp.domain import documents
from bai_lsp.domain.backend import Backend, translate
from bai_lsp.domain.errors import (
    BackendError,
    DomainError,
    InvalidParamsError,
    NoSessionError,
    SessionBusyError,
)
from bai_lsp.domain.settings import Settings
from bai_lsp.domain.workspaces import ComputeSession, Workspaces
from bai_lsp.wire.helper import HELPER_MARKER

log = logging.getLogger(__name__)

#: How long a completion may take on an idle session before it answers empty, incomplete.
COMPLETE_TIMEOUT_S = 2.0
#: How long hover, variables and inspect wait for their snippet.
HELPER_TIMEOUT_S = 10.0
#: How long a helper waits for a finished run to let go of its session (its wrap-up).
WRAP_UP_WAIT_S = 5.0
#: A backend that failed a completion is not asked again for this long (a 23.09 manager
#: answers 500 after a 10 s agent timeout every time).
COMPLETE_BACKOFF_S = 60.0
#: ... and one that did not answer within ``COMPLETE_TIMEOUT_S`` for this long (its request
#: may still be running there: asking on every keystroke would pile them up).
SLOW_COMPLETE_BACKOFF_S = 10.0
#: Sessions whose ref is unknown are looked up by name at most this often.
DISCOVER_EVERY_S = 60.0
#: Completion items sent at most (an empty prefix after ``(`` offers every name).
MAX_ITEMS = 500
DEFAULT_PAGE = 50
MAX_PAGE = 1000
LIVE_STATUSES = ("idle", "busy", "waiting-input", "reconnecting")
BUSY_STATUSES = ("busy", "waiting-input", "reconnecting")

_WORD_BEFORE = re.compile(r"[A-Za-z_0-9.]*$")
_WORD_AFTER = re.compile(r"^[A-Za-z_0-9]*")


@attrs.frozen
class CompletionAnswer:
    """``textDocument/completion``: ``items`` replace ``[start, cursor)`` on the cursor's line."""

    items: list[str]
    incomplete: bool
    line: int = 0
    start: int = 0
    """Column (in the document's position encoding) where the replaced word starts."""
    end: int = 0


@attrs.frozen
class HoverAnswer:
    markdown: str
    line: int
    start: int
    end: int


@attrs.frozen
class Variable:
    name: str
    type: str
    summary: str
    size: int | None = None
    shape: list[int] | None = None


@attrs.frozen
class VariableList:
    variables: list[Variable]


@attrs.frozen
class Rows:
    columns: list[str]
    data: list[list[Any]]
    total: int


@attrs.frozen
class Inspection:
    name: str
    type: str
    summary: str
    rows: Rows | None = None


def _column(line: str, index: int, encoding: str) -> int:
    """A Python string index as an LSP column in ``encoding``."""
    head = line[:index]
    if encoding == "utf-8":
        return len(head.encode("utf-8"))
    if encoding == "utf-32":
        return len(head)
    return len(head.encode("utf-16-le")) // 2


@functools.cache
def _helper_source() -> str:
    """Read once: every hover and variables request sends it, from the event loop."""
    return resources.files("bai_lsp.domain").joinpath("live_kernel.py").read_text("utf-8")


def helper_code(request: dict[str, Any], mark: str) -> str:
    """The snippet sent to the kernel: ``live_kernel.py`` run in a namespace of its own,
    given the user's namespace (``globals()`` of a top-level cell) to look at."""
    scope = (
        '{"__name__": "__bai_lsp_helper__", "_NS": globals(), '
        f'"_REQUEST": __import__("json").loads({json.dumps(request)!r}), "_MARK": {mark!r}}}'
    )
    return f"{HELPER_MARKER}\nexec({_helper_source()!r}, {scope})\n"


class Live:
    def __init__(self, workspaces: Workspaces, settings_for: Callable[[str], Settings]) -> None:
        self._workspaces = workspaces
        self._settings_for = settings_for
        self._no_completion_until: dict[str, float] = {}
        self._looked_up: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- which session ------------------------------------------------------------------

    def _session(self, folder: str, language_id: str) -> tuple[ComputeSession, Settings]:
        settings = self._settings_for(folder)
        image = settings.image_for(language_id) if language_id else settings.primary_image
        return self._workspaces.session_for(folder, image, settings), settings

    @staticmethod
    def _is_live(session: ComputeSession) -> bool:
        return session.ref is not None and session.status in LIVE_STATUSES

    @staticmethod
    def _is_busy(session: ComputeSession) -> bool:
        # The status, not the run lock: a finished run still holds the lock for its wrap-up
        # after the editor heard runFinished, and the kernel is idle by then.
        return session.status in BUSY_STATUSES

    def _discover(self, session: ComputeSession, settings: Settings) -> None:
        """Look the session up by name in the background (a restarted editor's kept one)."""
        now = time.monotonic()
        if session.ref is not None or now - self._looked_up.get(session.name, -1e9) < (
            DISCOVER_EVERY_S
        ):
            return
        self._looked_up[session.name] = now

        async def look() -> None:
            try:
                await self._workspaces.refresh(session, settings)
            except Exception:
                log.debug("no session %s to complete from", session.name, exc_info=True)

        task = asyncio.ensure_future(look())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _live_session(
        self, folder: str, language_id: str
    ) -> tuple[ComputeSession, Settings] | None:
        session, settings = self._session(folder, language_id)
        if session.ref is None:
            try:
                await self._workspaces.refresh(session, settings)
            except DomainError:
                return None
        return (session, settings) if self._is_live(session) else None

    # --- completion -----------------------------------------------------------------------

    async def complete(
        self, folder: str, language_id: str, text: str, position: Any, encoding: str
    ) -> CompletionAnswer | None:
        """``None`` when no session runs; empty and incomplete while it is busy."""
        session, settings = self._session(folder, language_id)
        if not self._is_live(session):
            self._discover(session, settings)
            return None
        row, line, index = _cursor(text, position, encoding)
        prefix = line[:index]
        word = _WORD_BEFORE.search(prefix)
        typed = word.group(0) if word else ""
        segment = typed.rsplit(".", 1)[-1]
        start = _column(line, index - len(segment), encoding)
        cursor = _column(line, index, encoding)
        empty = CompletionAnswer([], True, row, start, cursor)
        if self._is_busy(session):
            return empty
        if time.monotonic() < self._no_completion_until.get(session.name, 0.0):
            return CompletionAnswer([], False, row, start, cursor)
        conn = await self._workspaces.connection(settings)
        options = {"row": 0, "col": len(prefix), "line": line, "post": line[index:]}
        try:
            answer = await asyncio.wait_for(
                conn.completions(session.ref or session.name, prefix, options),
                COMPLETE_TIMEOUT_S,
            )
        except TimeoutError:
            self._no_completion_until[session.name] = time.monotonic() + SLOW_COMPLETE_BACKOFF_S
            return empty
        except Exception as exc:
            log.info("completion failed on %s: %s", session.name, exc)
            self._no_completion_until[session.name] = time.monotonic() + COMPLETE_BACKOFF_S
            return CompletionAnswer([], False, row, start, cursor)
        if answer.busy:  # another client's cell holds the kernel
            return empty
        base = typed[: len(typed) - len(segment)]
        items: list[str] = []
        for match in answer.matches:
            label = str(match)
            if base and label.startswith(base):
                label = label[len(base) :]
            elif "." in label and not base:
                continue
            if label and label not in items:
                items.append(label)
        return CompletionAnswer(items[:MAX_ITEMS], len(items) > MAX_ITEMS, row, start, cursor)

    # --- helper snippets ------------------------------------------------------------------

    async def _ask(
        self, session: ComputeSession, settings: Settings, request: dict[str, Any]
    ) -> dict[str, Any]:
        busy = SessionBusyError(
            f"Session {session.name} is running code; this is available again when it is idle."
        )
        if self._is_busy(session):
            raise busy
        conn = await self._workspaces.connection(settings)
        # The editor asks as soon as it hears runFinished, while the run may still hold the
        # lock for its wrap-up (diagnostics): wait that out, but not a queued run.
        try:
            await asyncio.wait_for(session.run_lock.acquire(), WRAP_UP_WAIT_S)
        except TimeoutError:
            raise busy from None
        try:
            mark = f"bai-lsp-helper-{secrets.token_hex(8)}:"
            try:
                code = helper_code(request, mark)
                out = await asyncio.wait_for(
                    _run_to_end(conn, session.ref or session.name, code), HELPER_TIMEOUT_S
                )
            except TimeoutError:
                await _interrupt(conn, session.ref or session.name)
                raise BackendError(
                    f"Session {session.name} took more than {HELPER_TIMEOUT_S:g} s to describe "
                    "its variables; it was interrupted."
                ) from None
            except DomainError:
                raise
            except Exception as exc:
                raise translate(exc, conn.endpoint) from None
        finally:
            session.run_lock.release()
        for line in out.splitlines():
            if line.startswith(mark):
                answer = json.loads(line[len(mark) :])
                if isinstance(answer, dict):
                    return answer
        raise BackendError(
            f"Session {session.name} cannot describe its variables: this works in Python "
            "sessions only."
        )

    async def hover(
        self, folder: str, language_id: str, text: str, position: Any, encoding: str
    ) -> HoverAnswer | None:
        if language_id != "python":
            return None  # the snippet is Python: other sessions would only get an error
        session, settings = self._session(folder, language_id)
        if not self._is_live(session):
            self._discover(session, settings)
            return None
        if self._is_busy(session):
            return None
        row, line, index = _cursor(text, position, encoding)
        before = _WORD_BEFORE.search(line[:index])
        after = _WORD_AFTER.search(line[index:])
        expr = (before.group(0) if before else "") + (after.group(0) if after else "")
        expr = expr.strip(".")
        if not expr or not all(part.isidentifier() for part in expr.split(".")):
            return None
        try:
            answer = await self._ask(session, settings, {"op": "hover", "expr": expr})
        except DomainError:
            return None
        if not answer.get("found"):
            return None
        start = index - len(before.group(0) if before else "")
        end = index + len(after.group(0) if after else "")
        return HoverAnswer(
            _hover_markdown(answer),
            row,
            _column(line, start, encoding),
            _column(line, end, encoding),
        )

    async def variables(self, folder: str, language_id: str) -> VariableList:
        session, settings = await self._require(folder, language_id)
        answer = await self._ask(session, settings, {"op": "variables"})
        _raise_error(answer)
        return VariableList(
            [
                Variable(
                    name=str(v.get("name")),
                    type=str(v.get("type")),
                    summary=str(v.get("summary", "")),
                    size=v.get("size") if isinstance(v.get("size"), int) else None,
                    shape=v.get("shape") if isinstance(v.get("shape"), list) else None,
                )
                for v in answer.get("variables") or []
                if isinstance(v, dict)
            ]
        )

    async def inspect(
        self,
        folder: str,
        language_id: str,
        name: str,
        offset: int | None = None,
        limit: int | None = None,
    ) -> Inspection:
        if offset is not None and offset < 0:
            raise InvalidParamsError(
                f"backendai.session.inspect: 'offset' must be >= 0, got {offset}."
            )
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise InvalidParamsError(
                f"backendai.session.inspect: 'limit' must be between 1 and {MAX_PAGE}, got {limit}."
            )
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise InvalidParamsError(
                f"backendai.session.inspect: 'name' must be a variable name such as df or "
                f"obj.attr, got {name!r:.60}."
            )
        session, settings = await self._require(folder, language_id)
        request = {"op": "inspect", "name": name, "offset": offset or 0}
        request["limit"] = limit or DEFAULT_PAGE
        answer = await self._ask(session, settings, request)
        _raise_error(answer)
        rows = answer.get("rows")
        return Inspection(
            name=name,
            type=str(answer.get("type")),
            summary=str(answer.get("summary", "")),
            rows=(
                Rows(list(rows["columns"]), list(rows["data"]), int(rows["total"]))
                if isinstance(rows, dict)
                else None
            ),
        )

    async def _require(self, folder: str, language_id: str) -> tuple[ComputeSession, Settings]:
        if language_id not in ("", "python"):
            raise InvalidParamsError(
                f"Variables are read from Python sessions only; this document is "
                f"{language_id!r} (use a Python file or the workspace folder's URI)."
            )
        found = await self._live_session(folder, language_id)
        if found is None:
            raise NoSessionError(
                "No Backend.AI session runs for this workspace: run some code first "
                "(variables are read from the running session, which is not started for this)."
            )
        return found


def _raise_error(answer: dict[str, Any]) -> None:
    if "error" in answer:
        raise InvalidParamsError(str(answer["error"]))


def _cursor(text: str, position: Any, encoding: str) -> tuple[int, str, int]:
    """``(row, line text without its end, index)`` of an LSP position (clamped)."""
    lines = documents.split_lines(text)
    row = min(max(int(position.line), 0), len(lines) - 1)
    line = lines[row].rstrip("\r\n")
    index = documents.column_to_index(line, max(int(position.character), 0), encoding)
    return row, line, max(index, 0) if index >= 0 else len(line)


def _hover_markdown(answer: dict[str, Any]) -> str:
    name, kind = str(answer.get("name")), str(answer.get("type"))
    head = f"{name}{answer['signature']}" if answer.get("signature") else f"{name}: {kind}"
    parts = [f"```python\n{head}\n```"]
    if answer.get("signature"):
        parts.append(f"*{kind}*")
    if answer.get("repr"):
        parts.append(f"```\n{answer['repr']}\n```")
    if answer.get("doc"):
        parts.append(str(answer["doc"]))
    parts.append("*from the Backend.AI session*")
    return "\n\n".join(parts)


async def _run_to_end(client: Backend, ref: str, code: str) -> str:
    """Run ``code`` by REST polls to its end; its stdout."""
    result = await client.execute(ref, mode="query", code=code)
    out: list[str] = []
    while True:
        out.extend(r.text for r in result.console if r.type == "stdout")
        if result.status == "waiting-input":
            raise BackendError("The variables snippet unexpectedly asked for input.")
        if result.status in ("finished", "exec-timeout"):
            return "".join(out)
        result = await client.execute(ref, mode="continue", run_id=result.run_id)


async def _interrupt(client: Backend, ref: str) -> None:
    try:
        await client.interrupt(ref)
    except Exception:
        log.debug("could not interrupt the helper snippet on %s", ref, exc_info=True)
