"""Code runners behind the ``Runtime`` protocol (docs/architecture.md, Seam 1; docs/images.md)."""

from bai_lsp.gateway.runtimes.base import (
    REST_FLUSH_TIMEOUT,
    STREAM_FLUSH_TIMEOUT,
    ExecutionRequestError,
    Pty,
    Runtime,
    RuntimeFailure,
)
from bai_lsp.gateway.runtimes.images import ImageConfigError, ImageSpec, ImageTable, ServicePort
from bai_lsp.gateway.runtimes.procs import clean_environ, kill_tree, tree_members
from bai_lsp.gateway.runtimes.session import SessionRuntime, create_runtime

__all__ = [
    "REST_FLUSH_TIMEOUT",
    "STREAM_FLUSH_TIMEOUT",
    "ExecutionRequestError",
    "ImageConfigError",
    "ImageSpec",
    "ImageTable",
    "Pty",
    "Runtime",
    "RuntimeFailure",
    "ServicePort",
    "SessionRuntime",
    "clean_environ",
    "create_runtime",
    "kill_tree",
    "tree_members",
]
