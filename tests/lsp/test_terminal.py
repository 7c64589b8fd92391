"""The session's terminal from the editor: type, read, resize, exit, lose the session."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from lsp.harness import PRIVATE, Harness, needs_backend, open_doc, plain, start_server, uri

pytestmark = needs_backend

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def sleepers(marker: str) -> list[int]:
    """Processes running ``sleep MARKER`` (the session's shell runs on this machine)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", marker.encode()] or argv[-2:-1] == [marker.encode()]:
                found.append(int(entry.name))
    return found


class TerminalLog:
    """What the server sent about terminals, in order."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.output: dict[str, list[str]] = {}
        self.closed: dict[str, str] = {}
        loop = asyncio.get_running_loop()

        @h.client.feature("backendai/terminalOutput")
        def on_output(params: Any) -> None:
            p = plain(params)
            self.output.setdefault(p["terminalId"], []).append(p["data"])
            h.events.append((loop.time(), "backendai/terminalOutput", p))
            h._changed.set()

        @h.client.feature("backendai/terminalClosed")
        def on_closed(params: Any) -> None:
            p = plain(params)
            assert p["terminalId"] not in self.closed, "terminalClosed sent twice"
            self.closed[p["terminalId"]] = p["reason"]
            h.events.append((loop.time(), "backendai/terminalClosed", p))
            h._changed.set()

    def screen(self, terminal_id: str) -> str:
        return ANSI.sub("", "".join(self.output.get(terminal_id, [])))

    async def wait_text(self, terminal_id: str, pattern: str, after: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        return await self.h.wait_for(  # type: ignore[no-any-return]
            lambda: regex.search(self.screen(terminal_id), after), timeout=30
        )


async def test_type_resize_and_exit(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        log = TerminalLog(h)
        opened = await h.command(
            "backendai.terminal.open", {"uri": uri(tmp_path), "cols": 80, "rows": 24}
        )
        tid = opened["terminalId"]
        assert opened["sessionName"].startswith("bai-")

        await h.command("backendai.terminal.input", {"terminalId": tid, "data": "pwd\r"})
        await log.wait_text(tid, r"\n/[^\n]*/sessions/")  # the session folder, not ours
        await h.command("backendai.terminal.input", {"terminalId": tid, "data": "echo $((6*7))\r"})
        found = await log.wait_text(tid, r"\n42\n")

        await h.command("backendai.terminal.resize", {"terminalId": tid, "cols": 100, "rows": 30})
        await h.command("backendai.terminal.input", {"terminalId": tid, "data": "stty size\r"})
        await log.wait_text(tid, r"\n30 100\n", found.end())

        # job control: a background job is listed by `jobs`
        await h.command(
            "backendai.terminal.input", {"terminalId": tid, "data": "sleep 30 &\rjobs\r"}
        )
        await log.wait_text(tid, r"\[1\]\+\s+Running\s+sleep 30")

        await h.command("backendai.terminal.input", {"terminalId": tid, "data": "exit\r"})
        await h.wait_for(lambda: tid in log.closed)
        assert log.closed[tid] == "The shell exited."
        last = [i for i, (_, m, p) in enumerate(h.events) if p.get("terminalId") == tid]
        assert h.events[last[-1]][1] == "backendai/terminalClosed"  # nothing after it

        with pytest.raises(JsonRpcException) as caught:
            await h.command("backendai.terminal.input", {"terminalId": tid, "data": "ls\r"})
        assert caught.value.code == -32060
        assert tid in caught.value.message and "No open terminal" in caught.value.message


async def test_the_terminal_shares_the_runs_session(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        log = TerminalLog(h)
        doc = open_doc(h, tmp_path / "a.py", "open('made-by-run.txt', 'w').write('hi')\n")
        run = await h.command("backendai.runFile", {"uri": doc})
        assert run["status"] == "finished"
        opened = await h.command("backendai.terminal.open", {"uri": doc, "cols": 120, "rows": 40})
        tid = opened["terminalId"]
        assert opened["sessionName"] == h.of("backendai/runStarted")[0]["sessionName"]
        await h.command("backendai.terminal.input", {"terminalId": tid, "data": "ls\r"})
        await log.wait_text(tid, r"made-by-run\.txt")
        await h.command("backendai.terminal.close", {"terminalId": tid})
        assert log.closed[tid] == "Closed by the editor."


async def test_a_destroyed_session_closes_its_terminal(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        log = TerminalLog(h)
        folder = uri(tmp_path)
        opened = await h.command("backendai.terminal.open", {"uri": folder})
        tid = opened["terminalId"]
        marker = f"{os.getpid() % 1000}.{secrets.randbelow(10**6)}"  # a unique sleep
        await h.command(
            "backendai.terminal.input",
            {"terminalId": tid, "data": f"sleep {marker} &\recho ready\r"},
        )
        await log.wait_text(tid, r"\nready\n")
        assert await asyncio.to_thread(sleepers, marker), "the background job did not start"
        await h.command("backendai.session.destroy", {"uri": folder})
        await h.wait_for(lambda: tid in log.closed)
        assert log.closed[tid] == f"Session {opened['sessionName']} ended."
        # the shell and its jobs die with the session
        await h.wait_for(lambda: not sleepers(marker), timeout=10)
        # a new terminal starts a new session
        again = await h.command("backendai.terminal.open", {"uri": folder, "cols": 80, "rows": 24})
        await h.command(
            "backendai.terminal.input",
            {"terminalId": again["terminalId"], "data": "echo $((2+3))\r"},
        )
        await log.wait_text(again["terminalId"], r"\n5\n")


async def test_bad_terminal_requests(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        for command, args, code, words in (
            (
                "backendai.terminal.input",
                {"terminalId": "term-nope", "data": "x"},
                -32060,
                "term-nope",
            ),
            ("backendai.terminal.resize", {"terminalId": "t", "cols": 1, "rows": 1}, -32060, "'t'"),
            ("backendai.terminal.close", {"terminalId": "t"}, -32060, "No open terminal"),
            ("backendai.terminal.input", {"terminalId": "t"}, -32602, "'data'"),
            ("backendai.terminal.open", {"uri": uri(tmp_path), "cols": 0}, -32602, "cols"),
            ("backendai.terminal.open", {"uri": uri(tmp_path), "rows": "24"}, -32602, "'rows'"),
        ):
            with pytest.raises(JsonRpcException) as caught:
                await h.command(command, args)
            assert caught.value.code == code, caught.value.message
            assert words in caught.value.message


async def test_a_flood_arrives_whole_in_bounded_coalesced_notifications(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        log = TerminalLog(h)
        opened = await h.command("backendai.terminal.open", {"uri": uri(tmp_path)})
        tid = opened["terminalId"]
        await h.command(
            "backendai.terminal.input", {"terminalId": tid, "data": "seq 1 300000; echo DONE\r"}
        )
        await log.wait_text(tid, r"\n300000\nDONE\n")
        sizes = [len(d.encode()) for d in log.output[tid]]
        assert max(sizes) <= 64 * 1024
        # coalesced: far fewer notifications than lines (~2 MB at ≤ 60 a second)
        assert len(sizes) < 3000, len(sizes)
        numbers = [int(n) for n in re.findall(r"^(\d+)$", log.screen(tid), re.M)]
        assert numbers == list(range(1, 300001))  # nothing lost, nothing reordered
