"""The LSP channel's writer: a stalled editor never blocks the server, and nothing is lost
or reordered."""

from __future__ import annotations

import asyncio
import os
import time

from bai_lsp.lsp.stdout import NonBlockingStdout, ThreadedStdout, make_stdout


async def test_writes_never_block_and_arrive_in_order() -> None:
    read_fd, write_fd = os.pipe()
    out = NonBlockingStdout(os.fdopen(write_fd, "wb", buffering=0))
    messages = [bytes([65 + i % 26]) * 300_000 for i in range(20)]  # 6 MB, pipe holds 64 KiB
    started = time.monotonic()
    for message in messages:
        out.write(message)
    assert time.monotonic() - started < 1  # nobody read yet, and still no blocking
    received = bytearray()
    loop = asyncio.get_running_loop()
    while len(received) < sum(map(len, messages)):
        chunk = await loop.run_in_executor(None, os.read, read_fd, 1 << 20)
        received += chunk
        await asyncio.sleep(0)  # let the loop drain the buffer into the pipe
    assert bytes(received) == b"".join(messages)
    out.close()
    os.close(read_fd)


async def test_a_closed_pipe_is_dropped_quietly() -> None:
    read_fd, write_fd = os.pipe()
    out = NonBlockingStdout(os.fdopen(write_fd, "wb", buffering=0))
    os.close(read_fd)
    out.write(b"x" * 100)  # EPIPE: no exception reaches pygls
    out.write(b"y")
    out.close()


def test_pipes_get_the_non_blocking_writer_and_others_the_thread(tmp_path: object) -> None:
    read_fd, write_fd = os.pipe()
    pipe_out = make_stdout(os.fdopen(write_fd, "wb", buffering=0))
    assert isinstance(pipe_out, NonBlockingStdout)
    pipe_out.close()
    os.close(read_fd)
    with open(os.devnull, "wb") as null:
        other = make_stdout(null)
        assert isinstance(other, ThreadedStdout)
        other.write(b"data")
        other.close()
