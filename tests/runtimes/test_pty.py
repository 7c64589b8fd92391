"""The session terminal: a real shell on a pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .conftest import alive

MakeRt = Callable[[str], Awaitable[Any]]


async def _read_until(pty: Any, needle: bytes, seen: bytearray) -> None:
    async with asyncio.timeout(10):
        while needle not in seen:
            chunk = await pty.read()
            assert chunk, f"terminal closed before {needle!r}: {bytes(seen)!r}"
            seen += chunk


async def test_shell_arithmetic_resize_and_cwd(make_rt: MakeRt, workdir: Path) -> None:
    rt = await make_rt("python")
    pty = await rt.open_pty(24, 80)
    seen = bytearray()
    await pty.write(b"echo $((6*7))XY\n")
    await _read_until(pty, b"42XY", seen)
    await pty.write(b"stty size\n")
    await _read_until(pty, b"24 80", seen)
    pty.resize(40, 120)
    await pty.write(b"stty size; pwd\n")
    await _read_until(pty, b"40 120", seen)
    await _read_until(pty, str(workdir).encode(), seen)
    await pty.close()


async def test_job_control_and_exit(make_rt: MakeRt) -> None:
    rt = await make_rt("bash")
    pty = await rt.open_pty(24, 80)
    seen = bytearray()
    await pty.write(b"sleep 100 &\njobs; echo JOBS-$((1+1))\n")
    await _read_until(pty, b"JOBS-2", seen)
    assert b"Running" in seen and b"sleep 100" in seen
    await pty.write(b"exit\n")
    async with asyncio.timeout(10):
        while await pty.read():
            pass
    assert await pty.read() == b""


async def test_terminal_dies_with_the_session(make_rt: MakeRt, workdir: Path) -> None:
    rt = await make_rt("bash")
    pty = await rt.open_pty(24, 80)
    seen = bytearray()
    await pty.write(b"sleep 1000 & echo $! > pty-bg.pid; echo $$ > pty.pid; echo PIDS-$((2+2))\n")
    await _read_until(pty, b"PIDS-4", seen)
    pids = [int((workdir / name).read_text()) for name in ("pty-bg.pid", "pty.pid")]
    assert all(alive(pid) for pid in pids)
    await rt.shutdown()
    assert [pid for pid in pids if alive(pid)] == []
    assert pty.returncode is not None
