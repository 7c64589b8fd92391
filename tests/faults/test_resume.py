"""Streamed runs (the default ``runTransport: "websocket"``) that lose their connection
mid-run, through the language server over stdio, the fault proxy and a real gateway:

* a reset WebSocket: the run goes on by REST ``continue`` with the same runId, every
  line exactly once, status ``reconnecting`` then ``busy``;
* a half-open connection (blackhole): noticed within 30 s (the heartbeat), status
  ``reconnecting``; when the network comes back the run completes, every line once;
* a backend that cannot resume (a real manager; here the gateway with
  ``--no-resumable-runs``): the run ends ``failed`` with a visible ``[bai-lsp]`` gap line.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsp.harness import needs_backend

from faults.test_network_faults import BLOCK_LIMIT_S, Stack, _report, open_stack

pytestmark = needs_backend

LINES = 60
#: Numbered lines with small sleeps: about 6 s of output.
COUNT = f"for i in $(seq 0 {LINES - 1}); do echo n$i; sleep 0.1; done\n"
EXPECTED = [f"n{i}" for i in range(LINES)]
#: The issue's bound for noticing a half-open connection.
NOTICE_LIMIT_S = 30.0


def _statuses(stack: Stack, since: int = 0) -> list[str]:
    return [s["status"] for s in stack.server.notifications("backendai/sessionStatus")[since:]]


async def _started_and_printed(stack: Stack, text: str) -> str:
    """The runId of the run under way, once its output shows ``text``."""
    await stack.server.wait_for(
        lambda: any(
            text in stack.text(o["runId"])
            for o in stack.server.notifications("backendai/runStarted")
        ),
        60,
    )
    run_id: str = stack.server.notifications("backendai/runStarted")[-1]["runId"]
    return run_id


async def test_reset_websocket_run_goes_on_by_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_stack(tmp_path) as stack:
        mark = len(_statuses(stack))
        run = asyncio.ensure_future(stack.run(COUNT))
        await _started_and_printed(stack, "n3")
        cut = stack.proxy.reset_all()
        response = await asyncio.wait_for(run, 90)
        result = response["result"]
        lines = stack.text(result["runId"]).split()
        statuses = _statuses(stack, mark)
        _report(
            capsys,
            f"WebSocket reset mid-run ({cut} connections cut): run {result['status']}, "
            f"{len(lines)} lines delivered ({len(set(lines))} distinct of {LINES}); "
            f"statuses {statuses}",
        )
        assert result["status"] == "finished", result
        assert lines == EXPECTED
        assert "[bai-lsp]" not in stack.text(result["runId"], "stderr")
        assert "reconnecting" in statuses
        assert statuses.index("busy", statuses.index("reconnecting")) > 0
        status, took = await stack.status()
        assert status == "idle" and took < BLOCK_LIMIT_S


async def test_half_open_connection_is_noticed_and_the_run_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_stack(tmp_path) as stack:
        mark = len(_statuses(stack))
        run = asyncio.ensure_future(stack.run(COUNT, timeout=150))
        await _started_and_printed(stack, "n3")
        stack.proxy.mode = "blackhole"
        cut_at = time.monotonic()
        status, took = await stack.status()  # the LSP side stays responsive meanwhile
        assert took < BLOCK_LIMIT_S
        await stack.server.wait_for(lambda: "reconnecting" in _statuses(stack, mark), 60)
        noticed = time.monotonic() - cut_at
        message = next(
            s.get("message", "")
            for s in stack.server.notifications("backendai/sessionStatus")[mark:]
            if s["status"] == "reconnecting"
        )
        await asyncio.sleep(1.0)
        stack.proxy.mode = "pass"
        response = await asyncio.wait_for(run, 120)
        result = response["result"]
        lines = stack.text(result["runId"]).split()
        _report(
            capsys,
            f"blackhole mid-run: noticed after {noticed:.1f} s (status answered in {took:.2f} s "
            f"meanwhile: {status}); told the user {message[:110]!r}; after the network came "
            f"back: run {result['status']}, {len(lines)} lines ({len(set(lines))} distinct)",
        )
        assert noticed < NOTICE_LIMIT_S
        assert result["status"] == "finished", result
        assert lines == EXPECTED
        statuses = _statuses(stack, mark)
        assert "busy" in statuses[statuses.index("reconnecting") :]


async def test_a_backend_that_cannot_resume_marks_the_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_stack(tmp_path, ["--no-resumable-runs"]) as stack:
        run = asyncio.ensure_future(stack.run(COUNT))
        await _started_and_printed(stack, "n3")
        stack.proxy.reset_all()
        response = await asyncio.wait_for(run, 60)
        result = response["result"]
        lines = stack.text(result["runId"]).split()
        err = stack.text(result["runId"], "stderr")
        _report(
            capsys,
            f"reset mid-run, backend without resumable runs: run {result['status']} after "
            f"{len(lines)} of {LINES} lines; gap line {err.strip()[:160]!r}",
        )
        assert result["status"] == "failed", result
        assert lines == EXPECTED[: len(lines)] and len(lines) < LINES
        assert "[bai-lsp] The connection to" in err
        assert "the rest of its output is lost" in err
        assert "interrupts a streamed run when its socket closes" in err
        after = await stack.run("echo after\n")
        assert after["result"]["status"] == "finished", after


async def test_output_the_gateway_could_not_keep_is_marked_as_a_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flood in flight when the socket is reset, with a journal smaller than what was in
    flight: the run still completes, and the output says how much is missing, where."""
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\njournal_chars = 1000\n")
    flood = (
        "for i in $(seq 10 49); do printf 'L%s%s\\n' $i \"$(head -c 1000 /dev/zero | tr "
        "'\\0' x)\"; sleep 0.05; done; sleep 1; echo end\n"
    )
    async with open_stack(tmp_path, ["--config", str(config)]) as stack:
        stack.proxy.latency = 0.3
        run = asyncio.ensure_future(stack.run(flood))
        await _started_and_printed(stack, "L12")
        stack.proxy.reset_all()
        stack.proxy.latency = 0.0
        response = await asyncio.wait_for(run, 60)
        result = response["result"]
        out = stack.text(result["runId"])
        err = stack.text(result["runId"], "stderr")
        numbers = [int(line[1:3]) for line in out.splitlines() if line.startswith("L")]
        _report(
            capsys,
            f"flood reset with a 1000-character journal: run {result['status']}, "
            f"{len(numbers)} of 40 lines, gap line {err.strip()[:100]!r}",
        )
        assert result["status"] == "finished", result
        assert numbers == sorted(set(numbers)) and out.rstrip().endswith("end")
        assert "characters of output were lost here" in err, err


async def test_gateway_killed_and_restarted_mid_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stream drops, the polls that follow it find the session gone: the run ends
    ``failed`` saying so, the status says the session was lost, the next run gets a new one."""
    async with open_stack(tmp_path) as stack:
        mark = len(_statuses(stack))
        run = asyncio.ensure_future(stack.run(COUNT))
        await _started_and_printed(stack, "n3")
        stack.restart_gateway()
        response = await asyncio.wait_for(run, 90)
        result = response["result"]
        notes = stack.server.notifications("backendai/sessionStatus")[mark:]
        _report(
            capsys,
            f"gateway killed -9 mid-stream and restarted: run {result['status']} "
            f"({result.get('message', '')[:120]!r}); statuses {[n['status'] for n in notes]}",
        )
        assert result["status"] == "failed", result
        assert "was lost" in result["message"] and "output is lost" in result["message"]
        assert notes[-1]["status"] == "terminated" and "was lost" in notes[-1]["message"]
        after = await stack.run("echo on-the-new-gateway\n")
        assert after["result"]["status"] == "finished", after
        assert "on-the-new-gateway" in stack.text(after["result"]["runId"])


async def test_an_input_answered_while_the_stream_is_down_reaches_the_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The connection dies while the run waits for input; the editor answers after that:
    the answer goes by the REST poll that follows the run, once."""
    async with open_stack(tmp_path) as stack:
        asked: list[float] = []

        async def answer(params: dict[str, object]) -> dict[str, str]:
            asked.append(time.monotonic())
            stack.proxy.reset_all()
            await asyncio.sleep(0.5)
            return {"text": "lsp"}

        stack.server.input_answer = answer
        mark = len(_statuses(stack))
        code = (
            "read -p 'Who? ' who; echo hello-$who\n"
            "for i in 1 2 3 4 5; do echo after$i; sleep 0.1; done\n"
        )
        response = await asyncio.wait_for(stack.run(code), 60)
        result = response["result"]
        out = stack.text(result["runId"])
        _report(
            capsys,
            f"connection reset while waiting for input: asked {len(asked)} time(s), run "
            f"{result['status']}, output {out.split()!r}",
        )
        assert result["status"] == "finished", result
        assert len(asked) == 1
        assert "reconnecting" in _statuses(stack, mark)  # it did go on by REST
        assert out.count("hello-lsp") == 1
        assert [w for w in out.split() if w.startswith("after")] == [
            f"after{i}" for i in range(1, 6)
        ]
