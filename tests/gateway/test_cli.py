"""``bai-lsp gateway`` as a process: options, ready file, parent watch, shutdown, idle timeout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.gateway import GatewayInfo, running_gateway, start_gateway, stop_gateway_process
from support.signed import SignedClient

from .conftest import create_session


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    return subprocess.run(
        [sys.executable, "-m", "bai_lsp", "gateway", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("--port", str(port), "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_non_loopback_host_is_refused() -> None:
    done = run_cli("--host", "0.0.0.0", "--port", "0")  # noqa: S104 - refused, never bound
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr and "--allow-remote" in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--port", "70000"], {}, "not a port number"),
        (["--idle-timeout", "-5"], {}, "--idle-timeout"),
        (["--port", "0"], {"BACKEND_ACCESS_KEY": "AKIAONLYHALF"}, "both"),
        (["--port", "0", "--parent-pid", "999999999"], {}, "not running"),
    ],
)
def test_bad_options_exit_2_with_a_reason(
    args: list[str], env: dict[str, str], fragment: str, tmp_path: Path
) -> None:
    done = run_cli(*args, "--data-dir", str(tmp_path), env=env)
    assert done.returncode == 2
    assert fragment in done.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[gateway]\nidle_timout = 3\n", "idle_timout"),
        ("[gateway]\nidle_timeout = 'soon'\n", "idle_timeout"),
        ("[images.foo]\nruntime = 'cobol'\n", "runtime"),
        ("not toml at all [", "not valid"),
    ],
)
def test_bad_config_file_exits_2(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(text)
    done = run_cli("--port", "0", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert fragment in done.stderr


def test_ready_file_and_generated_keypair_printed_once(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    log = tmp_path / "log.txt"
    base = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bai_lsp", "gateway", "--port", "0", "--ready-file", str(ready),
             "--data-dir", str(tmp_path / "d")],
            stdout=subprocess.PIPE, stderr=handle, env=base,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        assert info["endpoint"].startswith("http://127.0.0.1:")
        stderr = log.read_text()
        assert stderr.count("BACKEND_SECRET_KEY=") == 1
        assert info["endpoint"] in stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == b""  # stdout is never written
    assert not ready.exists()


async def test_parent_death_stops_gateway_and_kernels(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    info = start_gateway(tmp_path, args=["--parent-pid", str(parent.pid)])
    try:
        async with SignedClient(info.endpoint, info.access_key, info.secret_key) as client:
            await create_session(client, "python:3.11", "orphan-check")
            kernel_pids = _descendants(info.process.pid)
            assert kernel_pids
        parent.kill()
        parent.wait()
        assert info.process.wait(30) == 0
        await asyncio.sleep(0.5)
        assert [pid for pid in kernel_pids if _alive(pid)] == []
    finally:
        parent.kill()
        stop_gateway_process(info.process)


async def test_sigterm_kills_every_session_tree(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as info:
        async with SignedClient(info.endpoint, info.access_key, info.secret_key) as client:
            await create_session(client, "bash", "tree-1")
            await create_session(client, "python:3.11", "tree-2")
            await client.call(
                "POST", "/session/tree-1",
                json_body={"mode": "query", "code": "sleep 300 & echo started", "runId": None},
            )  # fmt: skip
            pids = _descendants(info.process.pid)
            assert len(pids) >= 3
        info.process.send_signal(signal.SIGTERM)
        assert info.process.wait(30) == 0
    await asyncio.sleep(0.5)
    assert [pid for pid in pids if _alive(pid)] == []


async def test_idle_timeout_terminates_with_reason(tmp_path: Path) -> None:
    with running_gateway(tmp_path, args=["--idle-timeout", "1.5"]) as info:
        async with SignedClient(info.endpoint, info.access_key, info.secret_key) as client:
            created = await create_session(client, "bash", "idle-one")
            _, detail = await client.call("GET", "/session/idle-one")
            remaining = detail["idleChecks"]["network_timeout"]["remaining"]
            assert 0 < remaining <= 1.5
            for _ in range(100):
                status, _ = await client.call("GET", "/session/idle-one")
                if status == 404:
                    break
                await asyncio.sleep(0.1)
            assert status == 404
            query = (
                '{ compute_session_list(limit: 5, offset: 0, status: "TERMINATED") '
                "{ items { id status_info } } }"
            )
            _, body = await client.call("POST", "/admin/gql", json_body={"query": query})
            items = body["data"]["compute_session_list"]["items"]
            assert {"id": created["sessionId"], "status_info": "idle-timeout"} in items


async def test_gateway_never_logs_the_secret(gateway: GatewayInfo) -> None:
    async with SignedClient(gateway.endpoint, gateway.access_key, gateway.secret_key) as client:
        await client.call("GET", "/session/whatever", sign={"secret_key": "x" * 40})
    assert gateway.secret_key not in gateway.log()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_folders_of_a_killed_gateway_are_swept_by_the_next(tmp_path: Path) -> None:
    first = start_gateway(tmp_path)
    try:
        async with SignedClient(first.endpoint, first.access_key, first.secret_key) as client:
            await create_session(client, "bash", "left-behind")
        leftover = first.data_dir / "sessions" / f"gw-{first.process.pid}"
        assert any(leftover.iterdir())
    finally:
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
    assert leftover.exists()
    with running_gateway(tmp_path) as second:
        assert not leftover.exists()
        mine = second.data_dir / "sessions" / f"gw-{second.process.pid}"
        assert mine.is_dir()
    assert not mine.exists()


async def test_allow_remote_turns_off_the_host_check(tmp_path: Path) -> None:
    import aiohttp

    with running_gateway(tmp_path, args=["--allow-remote"]) as info:
        async with (
            aiohttp.ClientSession() as http,
            http.get(info.endpoint + "/", headers={"Host": "gpu-box.example.com"}) as response,
        ):
            assert response.status == 200
