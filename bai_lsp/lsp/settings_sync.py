"""Pulling the ``backendai`` section from the client (``workspace/configuration``).

One item per workspace folder (scoped) plus one unscoped item; clients that cannot answer
pulls get their pushed ``didChangeConfiguration`` settings used instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability

from bai_lsp.lsp.protocol import SECTION

if TYPE_CHECKING:
    from bai_lsp.lsp.server import BaiLanguageServer

log = logging.getLogger(__name__)


def workspace_folders(ls: BaiLanguageServer) -> list[str]:
    folders = [f.uri.rstrip("/") for f in ls.workspace.folders.values()]
    if not folders and ls.workspace.root_uri:
        folders = [ls.workspace.root_uri.rstrip("/")]
    return folders


async def pull_configuration(ls: BaiLanguageServer, pushed: Any = None) -> None:
    folders = workspace_folders(ls)
    if get_capability(ls.client_capabilities, "workspace.configuration", False):
        items = [types.ConfigurationItem(section=SECTION, scope_uri=f) for f in folders]
        items.append(types.ConfigurationItem(section=SECTION))
        try:
            answer = await ls.workspace_configuration_async(types.ConfigurationParams(items=items))
        except Exception:
            log.warning("the client did not answer workspace/configuration", exc_info=True)
            return
        answers = list(answer or [])
        answers += [None] * (len(items) - len(answers))
        ls.engine.set_configuration(answers[-1], dict(zip(folders, answers[:-1], strict=True)))
    elif isinstance(pushed, dict):
        ls.engine.set_configuration(pushed.get(SECTION, pushed), {})
