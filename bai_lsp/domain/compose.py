"""The composition root: every domain service of one server, built in one place.

``compose`` is called once by the LSP server and once by ``bai-lsp run``; it is the only
place that chooses the backend factory (``connect.Connector`` unless a test passes another
``Connect``), so every service — runs, sessions, terminals, apps — reaches the backend
through the same ``Workspaces`` and the same typed ``Backend`` seam.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from bai_lsp.domain.apps import Apps
from bai_lsp.domain.backend import Connect
from bai_lsp.domain.connect import Connector
from bai_lsp.domain.embedded import default_state_dir
from bai_lsp.domain.engine import Engine
from bai_lsp.domain.frontend import Frontend
from bai_lsp.domain.launcher import Launcher
from bai_lsp.domain.terminals import TerminalClosed, TerminalOutput, Terminals
from bai_lsp.domain.vfolders import VFolders
from bai_lsp.domain.workspaces import Workspaces


@attrs.frozen
class Services:
    """What the transport drives: the engine (settings, runs, sessions), terminals, apps,
    the launcher (with its vfolders)."""

    engine: Engine
    terminals: Terminals
    apps: Apps
    launcher: Launcher


def _drop(_: object) -> None:
    """Terminal events of a front end without terminals (``bai-lsp run``)."""


def compose(
    frontend: Frontend,
    state_dir: Path | None = None,
    *,
    connect: Connect | None = None,
    terminal_output: Callable[[TerminalOutput], None] = _drop,
    terminal_closed: Callable[[TerminalClosed], None] = _drop,
) -> Services:
    state = state_dir or default_state_dir()
    workspaces = Workspaces(frontend, connect or Connector(state))
    engine = Engine(frontend, workspaces, state)
    return Services(
        engine=engine,
        terminals=Terminals(workspaces, terminal_output, terminal_closed),
        apps=Apps(workspaces),
        launcher=Launcher(engine, VFolders(frontend)),
    )
