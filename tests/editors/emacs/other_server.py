"""A stand-in for another language server (pyright, pylsp) that eglot attaches to a buffer.

The Emacs test checks that backendai.el still runs code in a buffer this server manages
(eglot allows one server per buffer, so bai-lsp then runs as a side connection).
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("other-server", "v1")


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
    return types.Hover(contents="hover from the other server")


if __name__ == "__main__":
    server.start_io()
