"""Every LSP feature and command of bai-lsp, registered in one place.

Commands are one declarative table, ``COMMAND_TABLE``: name → argument class (protocol.py,
validated by cattrs in arguments.py) → one service call. ``create_server`` registers them
in a loop, each behind ``rpc_errors``, so adding a command is one table entry.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
from lsprotocol import types

from bai_lsp.domain import export
from bai_lsp.domain.apps import Apps
from bai_lsp.domain.errors import DomainError
from bai_lsp.domain.launcher import Launcher
from bai_lsp.domain.terminals import Terminals, target_session
from bai_lsp.lsp import diagnostics, live_lsp, protocol
from bai_lsp.lsp.arguments import parse_args
from bai_lsp.lsp.errors import rpc_errors
from bai_lsp.lsp.parent import watch_parent
from bai_lsp.lsp.protocol import (
    ConfigureArgs,
    ExportArgs,
    InspectArgs,
    NoArgs,
    OpenAppArgs,
    RunCellArgs,
    RunFileArgs,
    RunIdArgs,
    RunSelectionArgs,
    RunsListArgs,
    SendInputArgs,
    TerminalArgs,
    TerminalInputArgs,
    TerminalOpenArgs,
    TerminalResizeArgs,
    UriArgs,
    VFolderFilesArgs,
    VFolderNameArgs,
    VFolderTransferArgs,
)
from bai_lsp.lsp.server import BaiLanguageServer
from bai_lsp.lsp.settings_sync import pull_configuration

A = TypeVar("A")


@attrs.frozen
class Services:
    """What a command's service call may use: the server (engine, documents), the
    session's terminals and apps, and the launcher (with its vfolders)."""

    ls: BaiLanguageServer
    terminals: Terminals
    apps: Apps
    launcher: Launcher


@attrs.frozen
class Command(Generic[A]):
    """One ``workspace/executeCommand`` command: its argument class and its service call."""

    name: str
    args: type[A]
    call: Callable[[Services, A], Awaitable[Any]]


async def _terminal_open(s: Services, a: TerminalOpenArgs) -> Any:
    session, settings = target_session(s.ls.engine, await s.ls.session_target(a.uri))
    return await s.terminals.open(session, settings, a.cols, a.rows)


async def _session_apps(s: Services, a: UriArgs) -> Any:
    session, settings = target_session(s.ls.engine, await s.ls.session_target(a.uri))
    return await s.apps.list(session, settings)


async def _session_open_app(s: Services, a: OpenAppArgs) -> Any:
    session, settings = target_session(s.ls.engine, await s.ls.session_target(a.uri))
    return await s.apps.open(session, settings, a.app)


async def _run_selection(s: Services, a: RunSelectionArgs) -> Any:
    return await s.ls.engine.run_selection(await s.ls.document(a.uri), a.range)


async def _run_cell(s: Services, a: RunCellArgs) -> Any:
    return await s.ls.engine.run_cell(await s.ls.document(a.uri), a.position)


async def _run_file(s: Services, a: RunFileArgs) -> Any:
    return await s.ls.engine.run_file(await s.ls.document(a.uri), a.mode)


async def _send_input(s: Services, a: SendInputArgs) -> None:
    s.ls.engine.send_input(a.run_id, a.text)


async def _session_start(s: Services, a: UriArgs) -> Any:
    return await s.ls.engine.session_start(await s.ls.session_target(a.uri))


async def _session_restart(s: Services, a: UriArgs) -> Any:
    return await s.ls.engine.session_restart(await s.ls.session_target(a.uri))


async def _session_destroy(s: Services, a: UriArgs) -> Any:
    return await s.ls.engine.session_destroy(await s.ls.session_target(a.uri))


async def _session_status(s: Services, a: UriArgs) -> Any:
    return await s.ls.engine.session_status(await s.ls.session_target(a.uri))


async def _session_variables(s: Services, a: UriArgs) -> Any:
    target = await s.ls.session_target(a.uri)
    return await s.ls.engine.live.variables(target.folder_uri, target.language_id)


async def _session_inspect(s: Services, a: InspectArgs) -> Any:
    target = await s.ls.session_target(a.uri)
    return await s.ls.engine.live.inspect(
        target.folder_uri, target.language_id, a.name, a.offset, a.limit
    )


async def _session_options(s: Services, a: UriArgs) -> Any:
    return await s.launcher.options((await s.ls.session_target(a.uri)).folder_uri)


async def _session_configure(s: Services, a: ConfigureArgs) -> Any:
    return await s.launcher.configure((await s.ls.session_target(a.uri)).folder_uri, a)


#: Every command of docs/protocol.md. Adding a command: one entry here (its argument class in
#: protocol.py, a row in docs/protocol.md).
COMMAND_TABLE: tuple[Command[Any], ...] = (
    Command(protocol.RUN_SELECTION, RunSelectionArgs, _run_selection),
    Command(protocol.RUN_CELL, RunCellArgs, _run_cell),
    Command(protocol.RUN_FILE, RunFileArgs, _run_file),
    Command(protocol.SEND_INPUT, SendInputArgs, _send_input),
    Command(
        protocol.INTERRUPT,
        UriArgs,
        lambda s, a: s.ls.engine.interrupt(s.ls.folder_of(a.uri), a.uri),
    ),
    Command(protocol.SESSION_START, UriArgs, _session_start),
    Command(protocol.SESSION_RESTART, UriArgs, _session_restart),
    Command(protocol.SESSION_DESTROY, UriArgs, _session_destroy),
    Command(protocol.SESSION_STATUS, UriArgs, _session_status),
    Command(protocol.SESSION_LIST, NoArgs, lambda s, a: s.ls.engine.session_list()),
    Command(protocol.TERMINAL_OPEN, TerminalOpenArgs, _terminal_open),
    Command(
        protocol.TERMINAL_INPUT,
        TerminalInputArgs,
        lambda s, a: s.terminals.input(a.terminal_id, a.data),
    ),
    Command(
        protocol.TERMINAL_RESIZE,
        TerminalResizeArgs,
        lambda s, a: s.terminals.resize(a.terminal_id, a.cols, a.rows),
    ),
    Command(protocol.TERMINAL_CLOSE, TerminalArgs, lambda s, a: s.terminals.close(a.terminal_id)),
    Command(protocol.SESSION_APPS, UriArgs, _session_apps),
    Command(protocol.SESSION_OPEN_APP, OpenAppArgs, _session_open_app),
    Command(protocol.RUNS_LIST, RunsListArgs, lambda s, a: s.ls.engine.runs_list(a.uri)),
    Command(protocol.RUNS_REPLAY, RunIdArgs, lambda s, a: s.ls.engine.runs_replay(a.run_id)),
    Command(protocol.SESSION_VARIABLES, UriArgs, _session_variables),
    Command(protocol.SESSION_INSPECT, InspectArgs, _session_inspect),
    Command(
        protocol.RUNS_MEDIA, RunsListArgs, lambda s, a: export.media(s.ls.engine.runlog, a.uri)
    ),
    Command(
        protocol.RUNS_EXPORT,
        ExportArgs,
        lambda s, a: export.export(s.ls.engine.runlog, a.uri, a.format, a.path),
    ),
    Command(protocol.SESSION_OPTIONS, UriArgs, _session_options),
    Command(protocol.SESSION_CONFIGURE, ConfigureArgs, _session_configure),
    Command(protocol.VFOLDERS_LIST, NoArgs, lambda s, a: s.launcher.vfolder_call("list")),
    Command(
        protocol.VFOLDERS_CREATE,
        VFolderNameArgs,
        lambda s, a: s.launcher.vfolder_call("create", a.name),
    ),
    Command(
        protocol.VFOLDERS_FILES,
        VFolderFilesArgs,
        lambda s, a: s.launcher.vfolder_call("files", a.name, a.path),
    ),
    Command(
        protocol.VFOLDERS_UPLOAD,
        VFolderTransferArgs,
        lambda s, a: s.launcher.vfolder_call("upload", a.name, a.path, a.local_path),
    ),
    Command(
        protocol.VFOLDERS_DOWNLOAD,
        VFolderTransferArgs,
        lambda s, a: s.launcher.vfolder_call("download", a.name, a.path, a.local_path),
    ),
    Command(protocol.VFOLDERS_READ, UriArgs, lambda s, a: s.launcher.vfolder_call("read", a.uri)),
)

#: The command names the server advertises (``executeCommandProvider.commands``).
COMMANDS: tuple[str, ...] = tuple(command.name for command in COMMAND_TABLE)


def _handler(command: Command[Any], services: Services) -> Callable[..., Awaitable[Any]]:
    """The registered handler: parse the argument, make the call, map failures to RPC errors."""

    @rpc_errors
    async def handle(ls: BaiLanguageServer, *args: Any) -> Any:
        return await command.call(services, parse_args(command.args, command.name, args))

    handle.__name__ = handle.__qualname__ = command.name.replace(".", "_")
    return handle


async def _from_session(
    ls: BaiLanguageServer,
    uri: str,
    position: types.Position,
    ask: Callable[[str, str, str, Any, str], Awaitable[A | None]],
) -> A | None:
    """What the live session answers at a position; ``None`` (the LSP's "nothing here")
    for an unknown document or a failure, never an error popping up while typing."""
    try:
        doc = await ls.document(uri)
        return await ask(doc.folder_uri, doc.language_id, doc.text, position, doc.encoding)
    except DomainError:
        return None


def create_server(state_dir: Path | None = None) -> BaiLanguageServer:
    """A server with every feature and command of docs/protocol.md registered."""
    server = BaiLanguageServer(state_dir=state_dir)
    server.engine.diagnostics.publisher = diagnostics.publisher(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: BaiLanguageServer, params: types.InitializeParams) -> None:
        ls.engine.set_initialization_options(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: BaiLanguageServer, params: types.InitializedParams) -> None:
        await pull_configuration(ls)
        ls.engine.prepare()
        if ls.process_id and ls.process_id != os.getpid():
            ls.parent_watch = asyncio.ensure_future(watch_parent(ls.process_id, ls.engine.shutdown))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: BaiLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        await pull_configuration(ls, pushed=params.settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(
        ls: BaiLanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        await pull_configuration(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: BaiLanguageServer, *args: Any) -> None:
        await ls.terminals.close_all("The language server is shutting down.")
        await ls.apps.close_all()
        await ls.engine.shutdown()

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=list(protocol.COMPLETION_TRIGGERS)),
    )
    async def completion(
        ls: BaiLanguageServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        answer = await _from_session(
            ls, params.text_document.uri, params.position, ls.engine.live.complete
        )
        return None if answer is None else live_lsp.completion_list(answer)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: BaiLanguageServer, params: types.HoverParams) -> types.Hover | None:
        answer = await _from_session(
            ls, params.text_document.uri, params.position, ls.engine.live.hover
        )
        return None if answer is None else live_lsp.hover(answer)

    services = Services(server, server.terminals, server.apps, server.launcher)
    for command in COMMAND_TABLE:
        server.command(command.name)(_handler(command, services))

    return server
