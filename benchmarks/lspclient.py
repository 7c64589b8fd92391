"""A lean LSP client over a server's stdio: the measuring editor of stack (c).

pygls' own client turns every custom notification into namedtuples through a JSON round
trip (about 5k messages/s, docs/performance-baseline.md), which would make the client the
bottleneck. This one reads ``Content-Length`` framing with one ``readexactly`` per message
and one ``json.loads``, and timestamps every message the moment it is parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

#: Notifications are handed to this: (method, params, perf_counter at arrival).
NotificationHandler = Callable[[str, Any, float], None]

READ_LIMIT = 64 * 1024 * 1024


class LspError(RuntimeError):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('code')} {error.get('message')}")
        self.error = error


class LspClient:
    def __init__(self, on_notification: NotificationHandler) -> None:
        self.on_notification = on_notification
        self.process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.messages = 0
        self.bytes = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, argv: Sequence[str], env: dict[str, str], stderr: BinaryIO) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
            limit=READ_LIMIT,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while True:
            try:
                header = await stream.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = 0
            for line in header.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await stream.readexactly(length)
            now = time.perf_counter()
            self.messages += 1
            self.bytes += length
            message = json.loads(body)
            if "method" in message:
                if "id" in message:
                    await self._answer(message)
                else:
                    self.on_notification(message["method"], message.get("params"), now)
            elif "id" in message:
                method, future = self._waiting.pop(message["id"], ("", None))
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(LspError(method, message["error"]))
                else:
                    future.set_result(message.get("result"))
        for _, future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the language server closed its stdout"))

    async def _answer(self, message: dict[str, Any]) -> None:
        """Requests from the server: nothing here needs more than a neutral answer."""
        method = message["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [None for _ in message.get("params", {}).get("items", [])]
        await self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await self.process.stdin.drain()

    async def request(self, method: str, params: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (method, future)
        await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await future

    async def notify(self, method: str, params: Any) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def initialize(
        self, folders: Sequence[Path], init_options: dict[str, Any]
    ) -> dict[str, Any]:
        result = await self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {"window": {"workDoneProgress": False}},
                "workspaceFolders": [{"uri": f.as_uri(), "name": f.name} for f in folders],
                "initializationOptions": init_options,
            },
        )
        await self.notify("initialized", {})
        return dict(result or {})

    async def add_folders(self, folders: Sequence[Path]) -> None:
        await self.notify(
            "workspace/didChangeWorkspaceFolders",
            {
                "event": {
                    "added": [{"uri": f.as_uri(), "name": f.name} for f in folders],
                    "removed": [],
                }
            },
        )

    async def open_document(self, path: Path, text: str, language: str = "python") -> str:
        uri = path.as_uri()
        await self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
        )
        return uri

    async def execute_command(self, command: str, argument: dict[str, Any]) -> Any:
        return await self.request(
            "workspace/executeCommand", {"command": command, "arguments": [argument]}
        )

    async def stop(self, grace: float = 60.0) -> None:
        """``shutdown`` + ``exit``, then the process group if it lingers."""
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.request("shutdown", None), grace)
            await self.notify("exit", None)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
