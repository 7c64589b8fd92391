"""Runs inside the gateway's ipykernels (imported by their startup line; the gateway only
reads its constants).

ipykernel turns whatever accumulated on ``sys.stdout`` between two flushes into one iopub
message, so ``sys.stdout.write('x' * 100_000_000)`` becomes one 100 MB message that the
gateway's jupyter_client must receive and decode whole (about three times its size in
memory at once). Here a large write is handed to ipykernel in slices of ``chunk``
characters, each flushed as its own message: the gateway then holds a slice at a time, and
the output starts flowing while the rest is still being sent. Small writes go to
ipykernel as they are (its flush interval batches them).

Slicing alone would only move the backlog: the kernel sends far faster than an editor
reads, and the output would pile up in the gateway's ZeroMQ queue (a kernel printing lines
in a loop too: ten of them grew the gateway to 480 MB, all of it ZeroMQ's). So every write
is paced by credits: the gateway writes one byte to a FIFO (``CREDITS_ENV`` names it) for
each ``CREDIT_CHARS`` characters of stream output it has taken into its bounded run buffer,
and a writer with more than ``WINDOW_CHARS`` characters not yet credited waits — the kernel
waits while the reader is slow, as a program writing to a full terminal does. Without the
FIFO (or after ``CREDIT_TIMEOUT`` without a credit) writing goes on unpaced, so a gateway
problem can slow output but never stop it.

It must not import anything of bai-lsp (it runs in the user's kernel) and must leave no
names in the user's namespace: the startup line calls :func:`install` through
``__import__``.
"""

from __future__ import annotations

import os
import select
import sys
from typing import Any

#: Characters per iopub message for one large write.
DEFAULT_CHUNK = 1024 * 1024
#: The environment variable with the credit FIFO's path.
CREDITS_ENV = "BAI_LSP_KERNEL_CREDITS"
#: Characters one credit (one byte in the FIFO) stands for.
CREDIT_CHARS = 64 * 1024
#: Characters a writer may have written that the gateway has not credited yet: two of a
#: block flood's 1 MiB slices (one being taken while the next travels; 4 Mi measured no
#: faster), and what 50 busy kernels can have in flight at once (50 x 2 Mi).
WINDOW_CHARS = 2 * 1024 * 1024
#: A writer waits at most this long for one credit, then goes on unpaced.
CREDIT_TIMEOUT = 30.0


class _Credits:
    """The kernel's side of the credit FIFO (shared by stdout and stderr)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.fd: int | None = None
        self.outstanding = 0

    def wrote(self, chars: int) -> None:
        """``chars`` more were written: wait while too many are not credited yet."""
        if self.path is None:
            return
        self.outstanding += chars
        if self.outstanding <= WINDOW_CHARS:
            return
        self._take(0)
        while self.outstanding > WINDOW_CHARS:
            if not self._take(CREDIT_TIMEOUT):
                self.outstanding = 0  # no credit came: stop pacing this burst
                return

    def _take(self, timeout: float) -> bool:
        """Count the credits that arrived (waiting up to ``timeout`` for a first one)."""
        try:
            if self.fd is None:
                self.fd = os.open(self.path or "", os.O_RDONLY | os.O_NONBLOCK)
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if ready:
                got = len(os.read(self.fd, 4096))
                self.outstanding = max(0, self.outstanding - got * CREDIT_CHARS)
                return True
        except OSError:
            self.path = None  # no FIFO (gateway gone or an old one): unpaced from now on
        return False


def install(chunk: int = DEFAULT_CHUNK) -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` (ipykernel's OutStreams) slice large writes.

    IPython 9 wraps ``stream.write`` for the length of every cell (to keep output history)
    and puts back what it found afterwards, so the slicing wrapper is (re)applied at the
    start of each cell, around whatever ``write`` is current then.
    """
    credits = _Credits(os.environ.get(CREDITS_ENV))
    _wrap_streams(chunk, credits)
    shell = _shell()
    if shell is not None:
        shell.events.register("pre_execute", lambda: _wrap_streams(chunk, credits))


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _wrap_streams(chunk: int, credits: _Credits) -> None:
    streams: tuple[Any, ...] = (sys.stdout, sys.stderr)
    for stream in streams:
        if not hasattr(stream, "pub_thread"):
            continue  # not an ipykernel OutStream: leave it alone
        if getattr(stream.write, "_bai_lsp_sliced", False):
            continue
        stream._bai_lsp_chunk = chunk
        stream.write = _sliced(stream, stream.write, chunk, credits)


def _sliced(stream: Any, write: Any, chunk: int, credits: _Credits) -> Any:
    def sliced_write(text: str) -> Any:
        if not isinstance(text, str):
            return write(text)
        if len(text) <= chunk:
            written = write(text)
            credits.wrote(len(text))
            return written
        for start in range(0, len(text), chunk):
            piece = text[start : start + chunk]
            write(piece)
            stream.flush()  # one message per slice; waits until the IO thread sent it
            credits.wrote(len(piece))
        return len(text)

    sliced_write._bai_lsp_sliced = True  # type: ignore[attr-defined]
    return sliced_write
