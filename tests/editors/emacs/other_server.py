"""A stand-in for another language server (pyright, pylsp) attached to the same buffer.

The Emacs test checks that backendai.el still runs code in a buffer this server manages
(eglot allows one server per buffer, so bai-lsp then runs as a side connection); the
Neovim and Emacs live-session tests check that completion offers this server's item and
the session's side by side.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("other-server", "v1")


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
    return types.Hover(contents="hover from the other server")


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
def completion(ls: LanguageServer, params: types.CompletionParams) -> types.CompletionList:
    return types.CompletionList(
        is_incomplete=False, items=[types.CompletionItem(label="from_other_server")]
    )


if __name__ == "__main__":
    server.start_io()
