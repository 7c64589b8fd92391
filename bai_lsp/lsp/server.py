"""The pygls server object: the front end the domain talks to, and document lookup.

Handlers live in ``handlers.py``; this module only adapts LSP facilities (notifications,
requests, progress, messages, open documents) to the domain's ``Frontend`` protocol.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from lsprotocol import types
from pygls import uris
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from bai_lsp import __version__
from bai_lsp.domain.compose import compose
from bai_lsp.domain.documents import language_for_path
from bai_lsp.domain.engine import SessionTarget, SourceDocument
from bai_lsp.domain.errors import UnknownDocumentError
from bai_lsp.domain.events import (
    InputRequest,
    OutputBatch,
    RunFinished,
    RunStarted,
    SessionStatus,
)
from bai_lsp.lsp import protocol

log = logging.getLogger(__name__)

_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


#: The ``workDoneToken`` of the ``executeCommand`` being run (a one-item list, emptied when
#: its progress begins, so one token never gets two ``begin``s).
CLIENT_PROGRESS_TOKEN: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "bai_client_progress_token", default=None
)


class _LspProgress:
    def __init__(self, server: BaiLanguageServer, token: str | None) -> None:
        self._server = server
        self._token = token

    def report(self, message: str, percentage: int | None = None) -> None:
        if self._token is not None:
            self._server.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    async def wait_cancelled(self) -> None:
        future = self._server.work_done_progress.tokens.get(self._token or "")
        if future is None:
            await asyncio.Event().wait()
            return
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise
            return
        await asyncio.Event().wait()  # resolved without cancel: never "cancelled"


class LspFrontend:
    """The domain's ``Frontend`` over LSP: notifications, requests, messages, progress."""

    def __init__(self, server: BaiLanguageServer) -> None:
        self._ls = server

    def run_started(self, event: RunStarted) -> None:
        self._ls.protocol.notify(protocol.RUN_STARTED_NOTIFICATION, event)

    def output(self, batch: OutputBatch) -> None:
        self._ls.protocol.notify(protocol.OUTPUT_NOTIFICATION, batch)

    def run_finished(self, event: RunFinished) -> None:
        self._ls.protocol.notify(protocol.RUN_FINISHED_NOTIFICATION, event)

    def session_status(self, event: SessionStatus) -> None:
        self._ls.protocol.notify(protocol.SESSION_STATUS_NOTIFICATION, event)

    @property
    def answers_input(self) -> bool:
        experimental = get_capability(self._ls.client_capabilities, "experimental", None)
        if not isinstance(experimental, dict):
            return False
        ours = experimental.get(protocol.EXPERIMENTAL_CAPABILITY)
        return isinstance(ours, dict) and ours.get("input") is True

    @property
    def echoes_input(self) -> bool:
        return True

    async def ask_input(self, request: InputRequest) -> str | None:
        answer: Any = await self._ls.protocol.send_request_async(protocol.INPUT_REQUEST, request)
        if answer is None:
            return None
        text = answer.get("text") if isinstance(answer, dict) else getattr(answer, "text", None)
        return text if isinstance(text, str) else None

    def show_message(self, level: str, text: str) -> None:
        self._ls.window_show_message(
            types.ShowMessageParams(type=_LEVELS.get(level, types.MessageType.Info), message=text)
        )

    @asynccontextmanager
    async def progress(self, title: str) -> AsyncIterator[_LspProgress]:
        token: Any = None
        given = CLIENT_PROGRESS_TOKEN.get()
        if given:
            # the editor's own token for this command: used once, not created, and not
            # cancellable through it (the editor cancels the request itself)
            token = given.pop()
            self._ls.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=title, cancellable=False, percentage=0)
            )
            try:
                yield _LspProgress(self._ls, token)
            finally:
                self._ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
                self._ls.work_done_progress.tokens.pop(token, None)
            return
        if get_capability(self._ls.client_capabilities, "window.work_done_progress", False):
            token = f"backendai-{uuid.uuid4().hex}"
            try:
                await self._ls.work_done_progress.create_async(token)
            except Exception:  # the client refused: carry on without a progress bar
                log.info("client refused work-done progress %s", token)
                token = None
        if token is not None:
            self._ls.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
            )
        try:
            yield _LspProgress(self._ls, token)
        finally:
            if token is not None:
                self._ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
                self._ls.work_done_progress.tokens.pop(token, None)


#: What a refused request becomes once answered: pygls' dispatcher ignores it.
_ANSWERED = SimpleNamespace(jsonrpc="answered")


_CONTENT_TYPE = (
    f"Content-Type: {LanguageServerProtocol.CONTENT_TYPE}; "
    f"charset={LanguageServerProtocol.CHARSET}\r\n\r\n"
).encode()


class BaiProtocol(LanguageServerProtocol):
    """pygls runs a command as an inner task of the ``executeCommand`` request, and its
    ``$/cancelRequest`` only cancels the outer future; this also cancels the command's task
    (so a cancelled run is interrupted instead of running on unseen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_tasks: dict[Any, asyncio.Task[Any]] = {}

    def _send_data(self, data: Any) -> None:
        """pygls' framing with orjson: the standard library's ``json.dumps`` encoded output
        notifications at 0.45 GB/s, nearly half of bai-lsp's CPU in a block flood (orjson:
        over 10 GB/s). The body is UTF-8 and ``Content-Length`` counts its bytes (LSP's
        default charset). What orjson refuses (a lone surrogate in output text, an integer
        past 64 bits) goes pygls' way, ASCII-escaped."""
        if not data or self.writer is None or not self._include_headers:
            super()._send_data(data)  # the WebSocket transport's writer is pygls' own
            return
        try:
            body = orjson.dumps(data, default=self._serialize_message)
        except (TypeError, orjson.JSONEncodeError):
            super()._send_data(data)
            return
        self.writer.write(b"Content-Length: %d\r\n%s" % (len(body), _CONTENT_TYPE) + body)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        task = self.command_tasks.pop(msg_id, None)
        if task is not None and not task.done():
            task.cancel()

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        """A ``workDoneToken`` the editor sent with the command is the token of the command's
        progress (LSP "client-initiated progress"); the command's task inherits it."""
        token = params.work_done_token
        CLIENT_PROGRESS_TOKEN.set([token] if token is not None else None)
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams.of(
                ValueError(f"Command name {params.command!r} is not defined")
            )
        # Every command handler takes ``(ls, *args)`` and reads its arguments itself
        # (handlers.py): pygls would resolve the handler's type hints on every call to map
        # them (``typing.get_type_hints``, a tenth of a millisecond per run).
        result = yield handler, tuple(params.arguments or ()), {}
        return result

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        """pygls fills ``serverInfo`` (name, version); this adds the protocol version the
        editor plugins compare with their own."""
        result = yield from super().lsp_initialize(params)
        experimental = result.capabilities.experimental
        ours = dict(experimental) if isinstance(experimental, dict) else {}
        ours[protocol.EXPERIMENTAL_CAPABILITY] = {"protocolVersion": protocol.PROTOCOL_VERSION}
        result.capabilities.experimental = ours
        return result

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls drops a request whose params do not fit the method's type (e.g.
        ``executeCommand`` with ``"arguments": 7``) without answering it, so the editor's
        request would wait forever: answer it with the JSON-RPC error instead."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            msg_id = data.get("id")
            if "method" not in data or isinstance(msg_id, bool):
                raise
            if not isinstance(msg_id, int | str):
                raise
            self._send_response(msg_id, error=exc.to_response_error())
            return _ANSWERED


class BaiLanguageServer(LanguageServer):
    """The bai-lsp server: owns the domain services (``compose``); ``LspFrontend`` is its
    voice."""

    protocol: BaiProtocol

    def __init__(self, state_dir: Path | None = None) -> None:
        super().__init__("bai-lsp", __version__, protocol_cls=BaiProtocol)
        self.frontend = LspFrontend(self)
        services = compose(
            self.frontend,
            state_dir,
            terminal_output=lambda e: self.protocol.notify(
                protocol.TERMINAL_OUTPUT_NOTIFICATION, e
            ),
            terminal_closed=lambda e: self.protocol.notify(
                protocol.TERMINAL_CLOSED_NOTIFICATION, e
            ),
        )
        self.engine = services.engine
        self.terminals = services.terminals
        self.apps = services.apps
        self.launcher = services.launcher
        self.parent_watch: asyncio.Future[None] | None = None  # lsp/parent.py

    # --- documents ----------------------------------------------------------------------

    @property
    def position_encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    def folder_of(self, uri: str) -> str:
        """The workspace folder containing ``uri`` (longest match), else the root or the
        document's own directory."""
        best = ""
        for folder in self.workspace.folders.values():
            base = folder.uri.rstrip("/") + "/"
            # the folder's own URI (e.g. interrupt from the status bar) belongs to it too
            if (uri.rstrip("/") + "/").startswith(base) and len(base) > len(best):
                best = folder.uri.rstrip("/")
        if best:
            return best
        root = self.workspace.root_uri
        if root and uri.startswith(root.rstrip("/") + "/"):
            return root.rstrip("/")
        return uri.rsplit("/", 1)[0] if "/" in uri else uri

    async def document(self, uri: str) -> SourceDocument:
        """The text to run: the editor's buffer when open, else the file on disk."""
        open_doc = self.workspace.text_documents.get(uri)
        path = uris.to_fs_path(uri)
        if open_doc is not None:
            text, language = open_doc.source, open_doc.language_id or ""
        elif path is not None and await asyncio.to_thread(Path(path).is_file):
            try:
                text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UnknownDocumentError(f"Cannot read {path}: {exc}") from None
            language = ""
        else:
            raise UnknownDocumentError(
                f"The document {uri} is not open in the editor and is not a readable file."
            )
        if not language and path is not None:
            language = language_for_path(path)
        return SourceDocument(
            uri=uri,
            text=text,
            language_id=language or "plaintext",
            path=path,
            folder_uri=self.folder_of(uri),
            folder_path=uris.to_fs_path(self.folder_of(uri)),
            encoding=self.position_encoding,
        )

    async def session_target(self, uri: str) -> SessionTarget:
        """A folder URI means the folder's main session; a document URI, its language's."""
        folder = self.folder_of(uri)
        if uri.rstrip("/") == folder or uri in (f.uri for f in self.workspace.folders.values()):
            return SessionTarget(folder_uri=uri.rstrip("/"))
        path = uris.to_fs_path(uri)
        if (
            uri not in self.workspace.text_documents
            and path
            and await asyncio.to_thread(Path(path).is_dir)
        ):
            return SessionTarget(folder_uri=uri.rstrip("/"))
        document = await self.document(uri)
        return SessionTarget(folder_uri=document.folder_uri, language_id=document.language_id)
