"""``python -m benchmarks.hop_marks ARGS…``: ``bai-lsp ARGS…`` (server or gateway) with a
timestamp written at each hop of a run, for ``benchmarks.hops``.

The marks wrap functions from the outside (nothing in ``bai_lsp`` knows about them), so the
code measured is the code shipped. A mark for a message sent is taken before its write (the
reader may see it before the writer runs on). Each mark is one line
``<CLOCK_MONOTONIC ns> <tag>`` in ``$BAI_HOP_MARKS/<pid>.marks`` (the clock every process
on the machine shares; the client's ``time.perf_counter`` reads it too). A mark costs a few
microseconds (one line-buffered write). Kernel-side times come from the ``date`` of the
kernel's own iopub messages (wall clock, mapped onto the monotonic clock at their arrival).
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import time
from pathlib import Path
from typing import Any

_OUT = None


def mark(tag: str, at: int | None = None) -> None:
    assert _OUT is not None
    _OUT.write(f"{time.monotonic_ns() if at is None else at} {tag}\n")


def _wrap(owner: Any, name: str, before: str | None, after: str | None = None) -> None:
    fn = getattr(owner, name)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = await fn(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(owner, name, wrapped_async)
    else:

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = fn(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(owner, name, wrapped)


def _server() -> None:
    import pygls.protocol.json_rpc as json_rpc

    from bai_lsp.backendai import streams
    from bai_lsp.domain import engine
    from bai_lsp.lsp import server

    handle_message = json_rpc.JsonRPCProtocol.handle_message

    def parsed(self: Any, message: Any) -> Any:
        if getattr(message, "method", "") == "workspace/executeCommand":
            mark("server.request-parsed")
        return handle_message(self, message)

    json_rpc.JsonRPCProtocol.handle_message = parsed  # type: ignore[method-assign]
    _wrap(engine.Engine, "run_file", "server.command")
    import aiohttp

    _wrap(streams.ExecutionStream, "__aenter__", "server.stream-open")
    _wrap(aiohttp.ClientWebSocketResponse, "send_str", "server.request-writing")
    _wrap(streams._Socket, "_next_text", None, "server.frame-received")
    send_data = server.BaiProtocol._send_data

    def send(self: Any, data: Any) -> None:
        # Marked before the write: the editor may read it before this process runs on.
        if getattr(data, "method", None) == "backendai/output":
            mark("server.output-writing")
        send_data(self, data)

    server.BaiProtocol._send_data = send  # type: ignore[method-assign]


def _gateway() -> None:
    import jupyter_client.session as jsession
    from aiohttp import web

    from bai_lsp.gateway import streams
    from bai_lsp.gateway.runtimes import jupyter, runs

    _wrap(streams, "_parse_first_frame", None, "gateway.request-parsed")
    _wrap(jupyter.JupyterEngine, "run", "gateway.kernel-execute")
    _wrap(runs.Run, "stdout", "gateway.stdout-taken")
    for name in ("send_json", "send_str", "send_frame"):
        _wrap(web.WebSocketResponse, name, "gateway.frame-writing")
    deserialize = jsession.Session.deserialize

    def received(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = deserialize(self, *args, **kwargs)
        kind = message["header"].get("msg_type")
        state = message.get("content", {}).get("execution_state")
        if kind == "stream" or state == "busy":
            now = time.monotonic_ns()
            date = message["header"].get("date")
            lag = int((time.time() - date.timestamp()) * 1e9) if date is not None else 0
            tag = "stream" if kind == "stream" else "busy"
            mark(f"kernel.{tag}-sent", now - lag)
            mark(f"gateway.{tag}-received", now)
        return message

    jsession.Session.deserialize = received  # type: ignore[method-assign]


def main() -> int:
    global _OUT
    folder = Path(os.environ["BAI_HOP_MARKS"])
    _OUT = (folder / f"{os.getpid()}.marks").open("a", buffering=1)
    if sys.argv[1:2] == ["gateway"]:
        _gateway()
    else:
        _server()
    from bai_lsp.cli import main as bai_lsp_main

    sys.argv = ["bai-lsp", *sys.argv[1:]]
    return bai_lsp_main()


if __name__ == "__main__":
    sys.exit(main())
