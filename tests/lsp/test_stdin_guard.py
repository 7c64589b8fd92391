"""The LSP channel's input read on the event loop (``AsyncGuardedStdin``) over a real pipe:
what pygls sees is what the editor sent, and a frame pygls would die on is refused while
the messages after it still arrive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

import pytest

from bai_lsp.lsp.stdin import MAX_LINE_BYTES, MAX_MESSAGE_BYTES, AsyncGuardedStdin


def _frame(method: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "method": method}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.fixture
async def pipe() -> AsyncIterator[tuple[AsyncGuardedStdin, int]]:
    read_fd, write_fd = os.pipe()
    reader = await AsyncGuardedStdin.open(os.fdopen(read_fd, "rb", buffering=0))
    try:
        yield reader, write_fd
    finally:
        with contextlib.suppress(OSError):
            os.close(write_fd)


async def _messages(reader: AsyncGuardedStdin, count: int) -> list[str]:
    """The methods pygls' header loop (``pygls.io_.run_async``) would hand on."""
    methods: list[str] = []
    length = 0
    while len(methods) < count:
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line, "the channel ended early"
        if line.startswith(b"Content-Length: ") and line.endswith(b"\r\n"):
            length = int(line[16:-2])
        elif length and not line.strip():
            methods.append(json.loads(await reader.readexactly(length))["method"])
            length = 0
    return methods


def _write(fd: int, data: bytes) -> asyncio.Task[None]:
    async def feed() -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    os.set_blocking(fd, False)
    return asyncio.ensure_future(feed())


async def test_messages_arrive_whole_and_in_order(
    pipe: tuple[AsyncGuardedStdin, int],
) -> None:
    reader, fd = pipe
    big = json.dumps({"jsonrpc": "2.0", "method": "big", "params": "x" * 3_000_000}).encode()
    writer = _write(fd, _frame("a") + b"Content-Length: %d\r\n\r\n" % len(big) + big + _frame("b"))
    assert await _messages(reader, 3) == ["a", "big", "b"]
    await writer


async def test_a_huge_content_length_is_refused_and_the_next_message_arrives(
    pipe: tuple[AsyncGuardedStdin, int],
) -> None:
    reader, fd = pipe
    huge = b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE_BYTES + 1)
    writer = _write(fd, huge + b"{}" + _frame("after"))
    assert await _messages(reader, 1) == ["after"]
    await writer


async def test_junk_before_a_header_and_overlong_lines_do_not_swallow_messages(
    pipe: tuple[AsyncGuardedStdin, int],
) -> None:
    reader, fd = pipe
    junk = b"garbage" + _frame("glued") + b"y" * (3 * MAX_LINE_BYTES) + b"\r\n" + _frame("next")
    writer = _write(fd, junk)
    assert await _messages(reader, 2) == ["glued", "next"]
    await writer


async def test_the_end_of_the_channel_reads_as_empty(
    pipe: tuple[AsyncGuardedStdin, int],
) -> None:
    reader, fd = pipe
    os.write(fd, b"Content-Length: 10\r\n\r\n{")
    os.close(fd)
    assert await reader.readline() == b"Content-Length: 10\r\n"
    assert await reader.readline() == b"\r\n"
    assert await reader.readexactly(10) == b"{"
    assert await reader.readline() == b""
