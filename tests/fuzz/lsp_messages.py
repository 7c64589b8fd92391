"""Seeded generation of hostile JSON-RPC traffic for ``bai-lsp`` (no hypothesis: the run
time must stay bounded and the same seed must give the same messages)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

#: Every command of docs/protocol.md with the shape of a valid argument object.
COMMANDS: dict[str, dict[str, str]] = {
    "backendai.runSelection": {"uri": "uri", "range": "range"},
    "backendai.runCell": {"uri": "uri", "position": "position"},
    "backendai.runFile": {"uri": "uri", "mode": "mode"},
    "backendai.sendInput": {"runId": "str", "text": "str"},
    "backendai.interrupt": {"uri": "uri"},
    "backendai.session.start": {"uri": "uri"},
    "backendai.session.restart": {"uri": "uri"},
    "backendai.session.destroy": {"uri": "uri"},
    "backendai.session.status": {"uri": "uri"},
    "backendai.session.list": {},
    "backendai.terminal.open": {"uri": "uri", "cols": "int", "rows": "int"},
    "backendai.terminal.input": {"terminalId": "str", "data": "str"},
    "backendai.terminal.resize": {"terminalId": "str", "cols": "int", "rows": "int"},
    "backendai.terminal.close": {"terminalId": "str"},
    "backendai.session.apps": {"uri": "uri"},
    "backendai.session.openApp": {"uri": "uri", "app": "str"},
}

#: Methods whose params are fuzzed as a whole (never ``exit``/``shutdown``: those end the
#: session legitimately and are tested elsewhere).
METHODS = [
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWorkspaceFolders",
    "workspace/executeCommand",
    "$/cancelRequest",
    "$/setTrace",
    "initialize",
    "initialized",
    "textDocument/hover",
    "bai/unknown",
    "",
]


#: The request methods among them (a notification method sent with an id is answered by
#: nobody: pygls treats it as the notification it names).
REQUEST_METHODS = {
    "workspace/executeCommand",
    "initialize",
    "textDocument/hover",
    "bai/unknown",
    "",
}


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def garbage(self, depth: int = 0) -> Any:
        r = self.r
        kind = r.randrange(12 if depth < 2 else 9)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice([True, False])
        if kind == 2:
            return r.choice([0, -1, 1, 2**31, -(2**63), 2**64 + 1, 10**30])
        if kind == 3:
            return r.choice([0.5, -1e308, 1e308, 3.14])
        if kind == 4:
            alphabet = "aé\u0000\ud7ff\u202e/\\.%\n\"'"
            return "".join(r.choice(alphabet) for _ in range(r.randrange(8)))
        if kind == 5:
            return r.choice(["", "file:///", "file:///../../etc/passwd", "x" * 70_000, "é" * 999])
        if kind == 6:
            return r.choice(["query", "batch", "BATCH", "file:///nonexistent/a.py", "null"])
        if kind == 7:
            return []
        if kind == 8:
            return {}
        if kind == 9:
            return [self.garbage(depth + 1) for _ in range(r.randrange(4))]
        if kind == 10:
            return {str(self.garbage(depth + 1))[:20]: self.garbage(depth + 1) for _ in range(3)}
        return {"line": self.garbage(depth + 1), "character": self.garbage(depth + 1)}

    def valid(self, kind: str) -> Any:
        r = self.r
        if kind == "uri":
            return f"file:///nonexistent-fuzz/{r.randrange(99)}.py"
        if kind == "range":
            return {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}
        if kind == "position":
            return {"line": 0, "character": 0}
        if kind == "mode":
            return "query"
        if kind == "int":
            return 80
        return "x"

    def wrong(self, kind: str) -> Any:
        """A value of the wrong type (or shape) for ``kind``."""
        while True:
            value = self.garbage()
            if kind in ("uri", "str", "mode") and isinstance(value, str):
                continue
            plain_int = isinstance(value, int) and not isinstance(value, bool)
            if kind == "int" and plain_int and 0 < value < 10_000:
                continue
            if kind in ("range", "position") and isinstance(value, dict) and value:
                value = {"start": value, "end": self.garbage()} if kind == "range" else value
            return value

    def command_args(self, shape: dict[str, str]) -> Any:
        """Arguments that must be refused: at least one field wrong, or no object at all."""
        r = self.r
        if not shape:  # ([], null and [{}] are valid "no arguments")
            return r.choice([[1], ["x"], [[]], "x", [1, 2], [{}, {}], [True], 7])
        if r.random() < 0.2:
            return r.choice([[], [1], ["x"], [None], [[]], None, "x", [1, 2], [{}, {}]])
        args = {name: self.valid(kind) for name, kind in shape.items()}
        names = list(shape)
        for name in r.sample(names, r.randrange(1, len(names) + 1)):
            if r.random() < 0.2:
                del args[name]
            else:
                args[name] = self.wrong(shape[name])
        if r.random() < 0.1:
            args[f"extra{r.randrange(9)}"] = self.garbage()
        return [args]

    def request_id(self, n: int) -> Any:
        return n if self.r.random() < 0.7 else f"fuzz-{n}"


def frame(body: bytes, header: bytes | None = None) -> bytes:
    if header is None:
        header = b"Content-Length: %d\r\n" % len(body)
    return header + b"\r\n" + body


def messages(seed: int, count: int) -> Iterator[tuple[str, bytes, Any]]:
    """``(category, bytes to send, request id or None)``."""
    g = Gen(seed)
    r = g.r
    for n in range(count):
        roll = r.random()
        if roll < 0.55:
            name = r.choice(list(COMMANDS))
            params: Any = {"command": name, "arguments": g.command_args(COMMANDS[name])}
            msg_id = g.request_id(n)
            body = {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand"}
            body["params"] = params
            yield "command", frame(json.dumps(body).encode()), msg_id
        elif roll < 0.8:
            method = r.choice(METHODS)
            body = {"jsonrpc": "2.0", "method": method, "params": g.garbage()}
            msg_id = None
            if method in REQUEST_METHODS and r.random() < 0.7:
                msg_id = g.request_id(n)
                body["id"] = msg_id
            yield "method", frame(json.dumps(body).encode()), msg_id
        else:
            yield "frame", malformed(g, n), None


def malformed(g: Gen, n: int) -> bytes:
    """A broken frame that leaves the stream in step (a wrong length is padded or huge)."""
    r = g.r
    good = json.dumps({"jsonrpc": "2.0", "method": "bai/fuzz", "params": {"n": n}}).encode()
    kind = r.randrange(12)
    if kind == 0:
        return frame(good[: r.randrange(1, len(good))])  # truncated JSON
    if kind == 1:
        return frame(bytes(r.randrange(256) for _ in range(r.randrange(1, 64))))
    if kind == 2:
        return frame(b"\xff\xfe" + good)  # not UTF-8
    if kind == 3:
        return frame(r.choice([b"[]", b"[1,2]", b"null", b"1", b'"x"', b"{}", b"true"]))
    if kind == 4:
        return frame(json.dumps({"id": n, "method": 5, "params": None}).encode())
    if kind == 5:
        return frame(json.dumps([{"jsonrpc": "2.0", "id": n, "method": "x"}]).encode())
    if kind == 6:  # a huge Content-Length: refused, the stream resynchronises
        size = r.choice([2**31, 10**12, 2**63 - 1, 10**40])
        return frame(good, b"Content-Length: %d\r\n" % size) + b"\r\n"
    if kind == 7:
        return b"Content-Length: abc\r\n\r\n" + good + b"\r\n"
    if kind == 8:
        return b"\r\n\r\n" + good + b"\r\n"  # no header at all
    if kind == 9:
        return frame(good, b"Content-Length: 0\r\n") + b"\r\n"
    if kind == 10:  # a length too long by k, padded with whitespace so the next frame is whole
        k = r.randrange(1, 40)
        return frame(good, b"Content-Length: %d\r\n" % (len(good) + k)) + b" " * k
    return frame(good, b"Content-Length: %d\r\nContent-Type: x/y\r\nX-Junk: \x01\r\n" % len(good))
