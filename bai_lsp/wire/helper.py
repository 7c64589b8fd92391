"""Introspection snippets (completion's neighbours: hover, variables, data preview).

bai-lsp asks the session about its own state by running a small Python snippet whose first
line is ``HELPER_MARKER``. A Backend.AI manager runs it like any query (it cannot be told
apart: it counts as an execution there, and a Jupyter-based image adds it to ``In``). The
embedded gateway recognises the marker and runs it *silently*: no history, ``_``/``Out``
untouched, the execution count unchanged, not counted in ``numQueriesExecuted``.
"""

from __future__ import annotations

HELPER_MARKER = "#bai-lsp:helper"


def is_helper(code: str) -> bool:
    return code.startswith(HELPER_MARKER + "\n")
