"""The language server against a gateway behind a fault proxy: resets, a half-open
connection, latency, 429/503 bursts, a gateway killed and restarted, a session destroyed
remotely, a changed key. "Survived": the server runs on, no request other than the run
itself blocks longer than 5 s, the session status is right, output is complete or the run
says what was lost, and the next run works."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from lsp.harness import needs_backend
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process
from support.signed import SignedClient

from faults.proxy import FaultProxy
from faults.rawlsp import RawServer, start_raw_server

pytestmark = needs_backend

BLOCK_LIMIT_S = 5.0
COUNT_TO_30 = "for i in $(seq 0 29); do echo n$i; sleep 0.1; done\n"


@attrs.define
class Stack:
    tmp: Path
    gateway: GatewayInfo
    proxy: FaultProxy
    server: RawServer
    folder: Path
    runs: int = 0

    async def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        self.runs += 1
        path = self.folder / f"r{self.runs}.sh"
        uri = await self.server.open_doc(path, code, "shellscript")
        return await self.server.command("backendai.runFile", {"uri": uri}, timeout=timeout)

    def text(self, run_id: str, kind: str = "stdout") -> str:
        return "".join(
            r.get("text", "")
            for o in self.server.notifications("backendai/output")
            if o["runId"] == run_id
            for r in o["records"]
            if r["type"] == kind
        )

    async def status(self) -> tuple[str, float]:
        started = time.monotonic()
        # A document URI: shell scripts have their own (bash) session in the folder.
        answer = await self.server.command(
            "backendai.session.status",
            {"uri": (self.folder / "r1.sh").as_uri()},
            timeout=BLOCK_LIMIT_S,
        )
        took = time.monotonic() - started
        if "error" in answer:
            return answer["error"]["data"]["kind"], took
        return answer["result"]["status"], took

    def restart_gateway(self, secret_key: str | None = None) -> None:
        """``kill -9`` the gateway, start another one, point the proxy at it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.gateway.process.pid, signal.SIGKILL)
        self.gateway.process.wait(10)
        kwargs: dict[str, Any] = {} if secret_key is None else {"secret_key": secret_key}
        self.gateway = start_gateway(self.tmp / f"gw{time.monotonic_ns()}", **kwargs)
        self.proxy.retarget(int(self.gateway.endpoint.rsplit(":", 1)[1]))


@contextlib.asynccontextmanager
async def open_stack(tmp: Path, gateway_args: Sequence[str] = ()) -> AsyncIterator[Stack]:
    """Gateway → fault proxy → language server over stdio, one workspace folder, warmed up."""
    gateway = start_gateway(tmp / "gw", args=list(gateway_args))
    proxy = await FaultProxy(int(gateway.endpoint.rsplit(":", 1)[1])).start()
    folder = tmp / "ws"
    folder.mkdir()
    server = await start_raw_server(tmp / "state", log_file=tmp / "server.log")
    s = Stack(tmp, gateway, proxy, server, folder)
    try:
        await server.initialize(
            [folder],
            {
                "endpoint": proxy.endpoint,
                "accessKey": gateway.access_key,
                "secretKey": gateway.secret_key,
                "onExit": "destroy",
            },
        )
        first = await s.run("echo ready\n")
        assert first["result"]["status"] == "finished", first
        yield s
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.close(), 30)
        await proxy.stop()
        stop_gateway_process(s.gateway.process)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path) as s:
        yield s


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[faults] {line}")


async def _next_run_works(stack: Stack) -> None:
    after = await stack.run("echo after\n")
    assert after["result"]["status"] == "finished", after
    assert "after" in stack.text(after["result"]["runId"])
    status, took = await stack.status()
    assert status == "idle" and took < BLOCK_LIMIT_S


async def test_added_latency(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.proxy.latency = 0.1
    response = await stack.run(COUNT_TO_30)
    result = response["result"]
    assert result["status"] == "finished", result
    assert [f"n{i}" for i in range(30)] == stack.text(result["runId"]).split()
    status, took = await stack.status()
    _report(capsys, f"latency 100 ms per chunk: run complete, status {status} in {took:.2f} s")
    assert status == "idle"


async def test_connection_reset_mid_run(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    run = asyncio.ensure_future(stack.run(COUNT_TO_30))
    await stack.server.wait_for(
        lambda: any(
            "n3" in stack.text(o["runId"])
            for o in stack.server.notifications("backendai/runStarted")
        ),
        30,
    )
    cut = stack.proxy.reset_all()
    result = (await asyncio.wait_for(run, 60))["result"]
    out, err = stack.text(result["runId"]), stack.text(result["runId"], "stderr")
    complete = out.split() == [f"n{i}" for i in range(30)]
    _report(
        capsys,
        f"reset mid-run ({cut} connections cut): run {result['status']}, output "
        f"{'complete' if complete else 'cut; stderr ' + repr(err.strip()[:80])}, "
        f"message {result.get('message', '')[:120]!r}",
    )
    # The gap is marked in the output, or the run says why it stopped (runFinished.message).
    assert complete or err.strip() or result.get("message"), (out, err, result)
    await _next_run_works(stack)


async def test_half_open_connection(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.proxy.mode = "blackhole"
    run = asyncio.ensure_future(stack.run("echo through\n", timeout=120))
    await asyncio.sleep(1.0)
    status, took = await stack.status()  # the LSP side stays responsive meanwhile
    assert took < BLOCK_LIMIT_S
    await asyncio.sleep(2.0)
    stack.proxy.mode = "pass"
    response = await asyncio.wait_for(run, 120)
    outcome = response.get("result", {}).get("status") or response["error"]["data"]["kind"]
    _report(
        capsys,
        f"half-open backend for 3 s: status answered in {took:.2f} s ({status}); "
        f"the run then ended: {outcome}",
    )
    if "error" in response:
        assert "Traceback" not in response["error"]["message"]
    await _next_run_works(stack)


async def test_503_burst_is_retried(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.proxy.inject(503, 2)
    response = await stack.run("echo despite-503\n")
    result = response.get("result") or {}
    _report(
        capsys,
        f"503 burst: {stack.proxy.injected} injected; run {result.get('status')} "
        f"{result.get('message') or response.get('error', {}).get('message', '')!r}",
    )
    if result.get("status") != "finished":  # an execute (POST) is not idempotent: no retry
        assert "503" in str(response) or "Unavailable" in str(response), response
    stack.proxy.injections.clear()
    await _next_run_works(stack)


async def test_429_burst_is_reported_clearly(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.proxy.inject(429, 6)
    response = await stack.run("echo rate\n")
    text = str(response)
    _report(capsys, f"429 burst: {stack.proxy.injected} injected; the user saw: {text[:200]}")
    if "error" in response:
        assert response["error"]["data"]["kind"] == "backendError"
        assert "Too Many Requests" in response["error"]["message"] or "429" in text
    else:
        assert response["result"]["status"] in ("finished", "failed")
    stack.proxy.injections.clear()
    await _next_run_works(stack)


async def test_gateway_killed_and_restarted(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.restart_gateway()
    response = await stack.run("echo on-the-new-gateway\n")
    assert response["result"]["status"] == "finished", response
    assert "on-the-new-gateway" in stack.text(response["result"]["runId"])
    lost = [
        s
        for s in stack.server.notifications("backendai/sessionStatus")
        if s["status"] == "terminated"
    ]
    _report(
        capsys,
        f"gateway killed -9 and restarted: the next run finished on a new session; "
        f"told the user: {lost[-1].get('message', '')[:100] if lost else '(nothing)'}",
    )
    assert lost and lost[-1].get("message")


async def test_session_destroyed_remotely_during_a_run(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    run = asyncio.ensure_future(stack.run("echo start; sleep 30; echo never\n"))
    await stack.server.wait_for(
        lambda: any(
            "start" in stack.text(o["runId"])
            for o in stack.server.notifications("backendai/runStarted")
        ),
        30,
    )
    name = stack.server.notifications("backendai/runStarted")[-1]["sessionName"]
    async with SignedClient(
        stack.gateway.endpoint, stack.gateway.access_key, stack.gateway.secret_key
    ) as client:
        destroyed = time.monotonic()
        status, body = await client.call("DELETE", f"/session/{name}", params={"forced": "true"})
        assert status in (200, 204), body
    response = await asyncio.wait_for(run, 30)
    ended = time.monotonic() - destroyed
    result = response["result"]
    session_status = [s for s in stack.server.notifications("backendai/sessionStatus")]
    _report(
        capsys,
        f"session destroyed remotely: the run ended {result['status']} after {ended:.2f} s "
        f"({result.get('message', '')[:80]!r}); last status {session_status[-1]['status']}",
    )
    assert result["status"] in ("failed", "interrupted", "finished")
    assert "never" not in stack.text(result["runId"])
    assert result["status"] == "finished" or result.get("message")
    await _next_run_works(stack)


async def test_401_after_the_key_changes(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.restart_gateway(secret_key="a-rotated-secret-key-the-editor-does-not-know")
    response = await stack.run("echo x\n")
    error = response.get("error")
    seen = error["message"] if error else response["result"].get("message", "")
    _report(capsys, f"key rotated: the user saw: {seen!r}")
    if error is not None:
        assert error["data"]["kind"] == "credentialsRefused", response
    else:  # refused after the run was accepted: a failed run that says why
        assert response["result"]["status"] == "failed"
        assert "credential" in seen.lower() or "refused" in seen.lower() or "401" in seen
    assert "a-rotated-secret" not in str(response)
    _status, took = await stack.status()
    assert took < BLOCK_LIMIT_S
