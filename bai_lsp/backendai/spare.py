"""Warm execute sockets: the next run's WebSocket, opened while the previous run goes on.

Backend.AI's streaming execute is one socket per run, and opening it (TCP connect, HTTP
upgrade, request signing, the backend's middleware) was the largest share of the language
server's own time before a ``print(1)`` reached the kernel (docs/performance.md §9). So once
a run's socket is open, one more is opened for the same session in the background and kept
idle; the next run takes it and only sends its request frame. A backend that says so in a
run's last frame (``"next": true``, our gateway's extension, docs/gateway.md) keeps the
finished run's socket open for the next request: that socket is then the spare, and none is
opened ahead at all (no connection, upgrade or signing per run on either side).

Only for a backend that numbers its frames (our gateway, which does not count an idle
socket as activity): a real manager counts every execute socket it accepts as a query of
the session. A spare that the backend closed (its session ended) is noticed by a reader
waiting on it and dropped; one unused for ``SPARE_MAX_AGE`` is closed, so an idle editor
holds no connection for long and the gateway's 60 s first-frame timeout never fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

log = logging.getLogger(__name__)

#: A spare unused for this long is closed (the gateway gives a socket 60 s for its request).
SPARE_MAX_AGE = 20.0

Opener = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


class _Spare:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.opened = time.monotonic()
        self.watch: asyncio.Task[None] | None = None


class SpareSockets:
    """At most one idle execute socket per path (i.e. per session)."""

    def __init__(self) -> None:
        #: Set once the backend showed it numbers its frames (our gateway).
        self.enabled = False
        #: Set once the backend said a finished run's socket takes the next run (``"next"``
        #: in its last frame): that socket becomes the spare, and none is opened ahead.
        self.reuse = False
        self._spares: dict[str, _Spare] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}

    async def take(self, path: str) -> aiohttp.ClientWebSocketResponse | None:
        """The spare socket of ``path``, if one is open and fresh (it is no longer a spare)."""
        opening = self._opening.get(path)
        if opening is not None:  # well under way: cheaper to finish than to start again
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(opening)
        spare = self._spares.pop(path, None)
        if spare is None:
            return None
        if spare.watch is not None:
            # A cancelled receive() loses nothing (aiohttp keeps its queue); awaited, so the
            # run's own first receive() is not a concurrent one.
            spare.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await spare.watch
        if spare.ws.closed or time.monotonic() - spare.opened > SPARE_MAX_AGE:
            self._close_later(spare.ws)
            return None
        return spare.ws

    def refill(self, path: str, open_socket: Opener) -> None:
        """Open the next spare of ``path`` in the background (no-op if one exists, or if the
        running run's socket will be handed back)."""
        if not self.enabled or self.reuse or path in self._spares or path in self._opening:
            return
        task = asyncio.get_running_loop().create_task(self._open(path, open_socket))
        self._opening[path] = task
        task.add_done_callback(
            lambda t: self._opening.pop(path, None) if self._opening.get(path) is t else None
        )

    def discard(self, path: str) -> None:
        """Forget the spare of ``path``: its session ended, and the backend's last frame may
        still sit unread on the spare, where the next run would take it for its own."""
        opening = self._opening.pop(path, None)
        if opening is not None:
            opening.cancel()
        spare = self._spares.pop(path, None)
        if spare is not None:
            if spare.watch is not None:
                spare.watch.cancel()
            self._close_later(spare.ws)

    def give_back(self, path: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        """A finished run's socket that the backend keeps for the next run: the spare of
        ``path`` (closed instead if there is one already)."""
        if ws.closed or path in self._spares:
            self._close_later(ws)
            return
        self._keep(path, ws)

    async def _open(self, path: str, open_socket: Opener) -> None:
        try:
            ws = await open_socket()
        except Exception as exc:  # the run that needs it will connect (and report) itself
            log.debug("spare socket for %s not opened: %s", path, exc)
            return
        self._keep(path, ws)

    def _keep(self, path: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        spare = _Spare(ws)
        self._spares[path] = spare
        spare.watch = asyncio.get_running_loop().create_task(self._watch(path, spare))

    async def _watch(self, path: str, spare: _Spare) -> None:
        """Drop the spare when the backend closes it or it grows old."""
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await spare.ws.receive(timeout=SPARE_MAX_AGE)
        # Anything but a cancel (the spare was taken): closed, a frame, or too old.
        if self._spares.get(path) is spare:
            del self._spares[path]
        await _close(spare.ws)

    def _close_later(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        asyncio.get_running_loop().create_task(_close(ws))

    async def close(self) -> None:
        """Close every spare (the client is closing)."""
        for task in list(self._opening.values()):
            task.cancel()
        spares, self._spares = list(self._spares.values()), {}
        for spare in spares:
            if spare.watch is not None:
                spare.watch.cancel()
            await _close(spare.ws)


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        await ws.close()
