"""``BackendAIClient``: the typed Backend.AI operations bai-lsp needs (seam 2).

Each method is one documented API call (docs/client.md maps them onto the wire), sent the
way the SDK 23.9.10 sends it against a v7 manager. The client is an async context manager:
entering negotiates the API version (and logs in for ``endpoint_type=session``), leaving
closes the connection pool.

The calls live in modules named after what they touch: ``connection.py`` (transport,
version, ``versions()``), ``sessions.py``, ``files.py``, ``execute.py`` and ``complete.py``.
"""

from __future__ import annotations

from bai_lsp.backendai.complete import CompleteCalls
from bai_lsp.backendai.execute import EXEC_MODES, ExecuteCalls
from bai_lsp.backendai.files import (
    MAX_DOWNLOAD_FILES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_FILES,
    FileCalls,
    parse_multipart,
    untar,
)
from bai_lsp.backendai.sessions import DEFAULT_LIST_FIELDS, SessionCalls, StatusCallback

__all__ = [
    "DEFAULT_LIST_FIELDS",
    "EXEC_MODES",
    "MAX_DOWNLOAD_FILES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_FILES",
    "BackendAIClient",
    "StatusCallback",
    "parse_multipart",
    "untar",
]


class BackendAIClient(SessionCalls, FileCalls, ExecuteCalls, CompleteCalls):
    """An open connection to one Backend.AI (manager or web server) for one user."""
