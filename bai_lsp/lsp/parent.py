"""Exit when the editor is gone, even if our stdin stays open.

An editor killed with SIGKILL closes its end of the pipe, and pygls then stops on EOF; but
the pipe may stay open when something else inherited it (a terminal multiplexer, a
wrapper script), and then only the ``processId`` of ``initialize`` tells that the editor
has died. LSP says the server should then exit: we poll it, give the domain one second to
end runs (and destroy sessions with ``onExit: "destroy"``), and leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
CLEANUP_SECONDS = 1.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


async def watch_parent(pid: int, cleanup: Callable[[], Awaitable[None]]) -> None:
    """Poll ``pid``; once it is gone run ``cleanup`` (bounded) and exit the process."""
    while alive(pid):  # noqa: ASYNC110 - a process cannot be awaited, only polled
        await asyncio.sleep(POLL_SECONDS)
    log.warning("the editor (process %d) is gone: exiting", pid)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(cleanup(), CLEANUP_SECONDS)
    logging.shutdown()
    os._exit(0)
