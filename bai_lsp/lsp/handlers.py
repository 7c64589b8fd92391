"""Every LSP feature and command of bai-lsp, registered in one place.

Each handler reads its params, makes one domain call and returns what the domain gives
back; errors leave through ``rpc_errors`` as the documented JSON-RPC codes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from lsprotocol import types

from bai_lsp.domain.apps import AppList, Apps, OpenedApp
from bai_lsp.domain.events import RunResult, SessionList, SessionStatus
from bai_lsp.domain.runlog import RunList, RunReplay
from bai_lsp.domain.terminals import TerminalOpened, Terminals, target_session
from bai_lsp.lsp import diagnostics, protocol
from bai_lsp.lsp.errors import rpc_errors
from bai_lsp.lsp.parent import watch_parent
from bai_lsp.lsp.protocol import (
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
    parse_args,
)
from bai_lsp.lsp.server import BaiLanguageServer
from bai_lsp.lsp.settings_sync import pull_configuration


def create_server(state_dir: Path | None = None) -> BaiLanguageServer:
    """A server with every feature and command of docs/protocol.md registered."""
    server = BaiLanguageServer(state_dir=state_dir)
    terminals = Terminals(
        server.engine.workspaces,
        send_output=lambda e: server.protocol.notify(protocol.TERMINAL_OUTPUT_NOTIFICATION, e),
        send_closed=lambda e: server.protocol.notify(protocol.TERMINAL_CLOSED_NOTIFICATION, e),
    )
    apps = Apps(server.engine.workspaces)
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
        await terminals.close_all("The language server is shutting down.")
        await apps.close_all()
        await ls.engine.shutdown()

    @server.command(protocol.RUN_SELECTION)
    @rpc_errors
    async def run_selection(ls: BaiLanguageServer, *args: Any) -> RunResult:
        params = parse_args(RunSelectionArgs, protocol.RUN_SELECTION, args)
        return await ls.engine.run_selection(await ls.document(params.uri), params.range)

    @server.command(protocol.RUN_CELL)
    @rpc_errors
    async def run_cell(ls: BaiLanguageServer, *args: Any) -> RunResult:
        params = parse_args(RunCellArgs, protocol.RUN_CELL, args)
        return await ls.engine.run_cell(await ls.document(params.uri), params.position)

    @server.command(protocol.RUN_FILE)
    @rpc_errors
    async def run_file(ls: BaiLanguageServer, *args: Any) -> RunResult:
        params = parse_args(RunFileArgs, protocol.RUN_FILE, args)
        return await ls.engine.run_file(await ls.document(params.uri), params.mode)

    @server.command(protocol.SEND_INPUT)
    @rpc_errors
    async def send_input(ls: BaiLanguageServer, *args: Any) -> None:
        params = parse_args(SendInputArgs, protocol.SEND_INPUT, args)
        ls.engine.send_input(params.run_id, params.text)

    @server.command(protocol.INTERRUPT)
    @rpc_errors
    async def interrupt(ls: BaiLanguageServer, *args: Any) -> None:
        params = parse_args(UriArgs, protocol.INTERRUPT, args)
        await ls.engine.interrupt(ls.folder_of(params.uri), params.uri)

    @server.command(protocol.SESSION_START)
    @rpc_errors
    async def session_start(ls: BaiLanguageServer, *args: Any) -> SessionStatus:
        params = parse_args(UriArgs, protocol.SESSION_START, args)
        return await ls.engine.session_start(await ls.session_target(params.uri))

    @server.command(protocol.SESSION_RESTART)
    @rpc_errors
    async def session_restart(ls: BaiLanguageServer, *args: Any) -> SessionStatus:
        params = parse_args(UriArgs, protocol.SESSION_RESTART, args)
        return await ls.engine.session_restart(await ls.session_target(params.uri))

    @server.command(protocol.SESSION_DESTROY)
    @rpc_errors
    async def session_destroy(ls: BaiLanguageServer, *args: Any) -> SessionStatus:
        params = parse_args(UriArgs, protocol.SESSION_DESTROY, args)
        return await ls.engine.session_destroy(await ls.session_target(params.uri))

    @server.command(protocol.SESSION_STATUS)
    @rpc_errors
    async def session_status(ls: BaiLanguageServer, *args: Any) -> SessionStatus:
        params = parse_args(UriArgs, protocol.SESSION_STATUS, args)
        return await ls.engine.session_status(await ls.session_target(params.uri))

    @server.command(protocol.SESSION_LIST)
    @rpc_errors
    async def session_list(ls: BaiLanguageServer, *args: Any) -> SessionList:
        parse_args(NoArgs, protocol.SESSION_LIST, args)
        return await ls.engine.session_list()

    @server.command(protocol.TERMINAL_OPEN)
    @rpc_errors
    async def terminal_open(ls: BaiLanguageServer, *args: Any) -> TerminalOpened:
        params = parse_args(TerminalOpenArgs, protocol.TERMINAL_OPEN, args)
        session, settings = target_session(ls.engine, await ls.session_target(params.uri))
        return await terminals.open(session, settings, params.cols, params.rows)

    @server.command(protocol.TERMINAL_INPUT)
    @rpc_errors
    async def terminal_input(ls: BaiLanguageServer, *args: Any) -> None:
        params = parse_args(TerminalInputArgs, protocol.TERMINAL_INPUT, args)
        await terminals.input(params.terminal_id, params.data)

    @server.command(protocol.TERMINAL_RESIZE)
    @rpc_errors
    async def terminal_resize(ls: BaiLanguageServer, *args: Any) -> None:
        params = parse_args(TerminalResizeArgs, protocol.TERMINAL_RESIZE, args)
        await terminals.resize(params.terminal_id, params.cols, params.rows)

    @server.command(protocol.TERMINAL_CLOSE)
    @rpc_errors
    async def terminal_close(ls: BaiLanguageServer, *args: Any) -> None:
        params = parse_args(TerminalArgs, protocol.TERMINAL_CLOSE, args)
        await terminals.close(params.terminal_id)

    @server.command(protocol.SESSION_APPS)
    @rpc_errors
    async def session_apps(ls: BaiLanguageServer, *args: Any) -> AppList:
        params = parse_args(UriArgs, protocol.SESSION_APPS, args)
        session, settings = target_session(ls.engine, await ls.session_target(params.uri))
        return await apps.list(session, settings)

    @server.command(protocol.SESSION_OPEN_APP)
    @rpc_errors
    async def session_open_app(ls: BaiLanguageServer, *args: Any) -> OpenedApp:
        params = parse_args(OpenAppArgs, protocol.SESSION_OPEN_APP, args)
        session, settings = target_session(ls.engine, await ls.session_target(params.uri))
        return await apps.open(session, settings, params.app)

    @server.command(protocol.RUNS_LIST)
    @rpc_errors
    async def runs_list(ls: BaiLanguageServer, *args: Any) -> RunList:
        params = parse_args(RunsListArgs, protocol.RUNS_LIST, args)
        return await ls.engine.runs_list(params.uri)

    @server.command(protocol.RUNS_REPLAY)
    @rpc_errors
    async def runs_replay(ls: BaiLanguageServer, *args: Any) -> RunReplay:
        params = parse_args(RunIdArgs, protocol.RUNS_REPLAY, args)
        return await ls.engine.runs_replay(params.run_id)

    return server
