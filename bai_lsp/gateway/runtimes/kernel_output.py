"""Runs inside the gateway's ipykernels (imported by their startup line, never by the gateway).

ipykernel turns whatever accumulated on ``sys.stdout`` between two flushes into one iopub
message, so ``sys.stdout.write('x' * 100_000_000)`` becomes one 100 MB message that the
gateway's jupyter_client must receive and decode whole (about three times its size in
memory at once). Here a large write is handed to ipykernel in slices of ``chunk``
characters, each flushed as its own message: the gateway then holds a slice at a time, and
the output starts flowing while the rest is still being sent. Small writes are untouched
(ipykernel's own flush interval batches them).

It must not import anything of bai-lsp (it runs in the user's kernel) and must leave no
names in the user's namespace: the startup line calls :func:`install` through
``__import__``.
"""

from __future__ import annotations

import sys
from typing import Any

#: Characters per iopub message for one large write.
DEFAULT_CHUNK = 1024 * 1024


def install(chunk: int = DEFAULT_CHUNK) -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` (ipykernel's OutStreams) slice large writes.

    IPython 9 wraps ``stream.write`` for the length of every cell (to keep output history)
    and puts back what it found afterwards, so the slicing wrapper is (re)applied at the
    start of each cell, around whatever ``write`` is current then.
    """
    _wrap_streams(chunk)
    shell = _shell()
    if shell is not None:
        shell.events.register("pre_execute", lambda: _wrap_streams(chunk))


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _wrap_streams(chunk: int) -> None:
    streams: tuple[Any, ...] = (sys.stdout, sys.stderr)
    for stream in streams:
        if not hasattr(stream, "pub_thread"):
            continue  # not an ipykernel OutStream: leave it alone
        if getattr(stream.write, "_bai_lsp_sliced", False):
            continue
        stream._bai_lsp_chunk = chunk
        stream.write = _sliced(stream, stream.write, chunk)


def _sliced(stream: Any, write: Any, chunk: int) -> Any:
    def sliced_write(text: str) -> Any:
        if not isinstance(text, str) or len(text) <= chunk:
            return write(text)
        for start in range(0, len(text), chunk):
            write(text[start : start + chunk])
            stream.flush()  # one message per slice; waits until the IO thread sent it
        return len(text)

    sliced_write._bai_lsp_sliced = True  # type: ignore[attr-defined]
    return sliced_write
