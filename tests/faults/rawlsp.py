"""A bare JSON-RPC-over-stdio peer for a real ``bai-lsp`` process.

pytest-lsp's client refuses to send malformed frames and hides the process; the fault,
fuzz and security suites need both, so they talk to the server with this.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lsp.harness import server_env

DEFAULT_TIMEOUT = 30.0
#: Starting Python and answering ``initialize`` takes ~0.5 s, but CI machines are shared:
#: a generous bound, since this is not what the tests measure.
STARTUP_TIMEOUT = 120.0


def frame(payload: Any) -> bytes:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """One ``bai-lsp`` over stdio; every message it sends is kept in ``received``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.received: list[dict[str, Any]] = []
        self.raw_bytes = bytearray()
        self._ids = itertools.count(10_000)
        self._waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())
        self.config_answer: Any = None  # what workspace/configuration answers (a list)
        #: Answers ``backendai/input`` when set: an async function of the request's params
        #: returning the result (``{"text": ...}`` or ``None``); else it is answered ``null``.
        self.input_answer: Any = None
        self._answering: set[asyncio.Future[None]] = set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                self.raw_bytes += line
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            assert length is not None
            body = await out.readexactly(length)
            self.raw_bytes += body
            message = json.loads(body)
            self.received.append(message)
            self._changed.set()
            if "id" in message and "method" in message:
                await self._answer(message)
            elif "id" in message and message["id"] in self._waiters:
                future = self._waiters.pop(message["id"])
                if not future.done():
                    future.set_result(message)

    async def _answer(self, request: dict[str, Any]) -> None:
        if request["method"] == "backendai/input" and self.input_answer is not None:
            task = asyncio.ensure_future(self._answer_input(request))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
            return
        result: Any = None
        if request["method"] == "workspace/configuration":
            items = request.get("params", {}).get("items", [])
            answer = self.config_answer
            result = answer(items) if callable(answer) else [answer for _ in items]
        await self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    async def _answer_input(self, request: dict[str, Any]) -> None:
        result = await self.input_answer(request.get("params"))
        await self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    async def send(self, payload: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(payload if isinstance(payload, bytes) else frame(payload))
        await self.proc.stdin.drain()

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(
        self, method: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The whole response message (``result`` or ``error``)."""
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = future
        await self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(future, timeout)

    async def command(self, name: str, args: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        return await self.request(
            "workspace/executeCommand", {"command": name, "arguments": [args]}, timeout
        )

    async def initialize(
        self,
        folders: list[Path],
        init_options: Any = None,
        process_id: int | None = None,
    ) -> dict[str, Any]:
        response = await self.request(
            "initialize",
            {
                "processId": process_id,
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": True},
                    "experimental": {"backendai": {"input": True}},
                },
                "workspaceFolders": [{"uri": f.as_uri(), "name": f.name} for f in folders],
                "initializationOptions": init_options,
            },
            STARTUP_TIMEOUT,
        )
        await self.notify("initialized", {})
        return response

    def notifications(self, method: str) -> list[Any]:
        return [m.get("params") for m in self.received if m.get("method") == method]

    async def wait_for(self, check: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        async def loop() -> Any:
            while True:
                value = check()
                if value:
                    return value
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        return await asyncio.wait_for(loop(), timeout)

    async def open_doc(self, path: Path, text: str, language: str) -> str:
        await self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": path.as_uri(),
                    "languageId": language,
                    "version": 1,
                    "text": text,
                }
            },
        )
        return path.as_uri()

    async def close(self, timeout: float = 20.0) -> None:
        """``shutdown`` + ``exit`` if it still answers; SIGKILL of its group otherwise."""
        if self.proc.returncode is None and _running(self.proc.pid):
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout)
                await self.notify("exit")
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


async def start_raw_server(
    state_dir: Path,
    *,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
    stderr: Any = asyncio.subprocess.DEVNULL,
) -> RawServer:
    argv = [sys.executable, "-m", "bai_lsp"]
    if log_file is not None:
        argv += ["--log-file", str(log_file), "-v"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=server_env(state_dir, **(env or {})),
        start_new_session=True,
        limit=2**24,
    )
    return RawServer(proc)
