"""Warm execute sockets (``bai_lsp/backendai/spare.py``): the next run's socket is opened
while a run goes on, against our gateway only. What a user could notice if it went wrong:
a run failing because its warm socket belonged to a session that ended meanwhile, or a
session kept from its idle timeout by a socket nobody uses."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from support.gateway import running_gateway

from bai_lsp.backendai import BackendAIClient, NotFoundError
from bai_lsp.backendai.types import SessionSpec

from .conftest import SessionFactory, config_for, unique_name


async def run_print(client: BackendAIClient, ref: str, code: str = "echo hi") -> str:
    out = ""
    async with client.stream_execute(
        ref, mode="query", code=code, run_id=uuid.uuid4().hex, resumable=True
    ) as stream:
        async for frame in stream:
            out += "".join(r.text for r in frame.console if r.type == "stdout")
    return out


async def test_runs_in_a_row_each_get_their_output_on_a_warm_socket(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = (await new_session("bash")).ref
    outputs = [await run_print(client, ref, f"echo run{i}") for i in range(4)]
    assert outputs == [f"run{i}\n" for i in range(4)]
    await asyncio.sleep(0.2)
    # A spare for the next run is open (this is what makes the next run's start cheaper).
    assert await client._transport.spares.take(f"/stream/session/{ref}/execute") is not None


async def test_a_run_on_a_session_destroyed_since_reports_not_found_as_before(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = (await new_session("bash")).ref
    assert await run_print(client, ref) == "hi\n"
    await asyncio.sleep(0.2)  # the spare is open
    await client.destroy(ref)
    await asyncio.sleep(0.2)
    with pytest.raises(NotFoundError):
        await run_print(client, ref)


async def test_a_warm_socket_does_not_keep_a_session_from_its_idle_timeout(
    tmp_path: Path,
) -> None:
    with running_gateway(tmp_path, args=["--idle-timeout", "1.5"]) as info:
        async with BackendAIClient(config_for(info)) as client:
            name = unique_name("spare")
            ref = (await client.get_or_create(SessionSpec(image="bash", name=name))).ref
            assert await run_print(client, ref) == "hi\n"
            for _ in range(100):
                try:
                    await client.session_info(ref)
                except NotFoundError:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the session outlived its 1.5 s idle timeout")


async def test_runs_in_a_row_reuse_one_connection(tmp_path: Path) -> None:
    """The gateway keeps a finished resumable run's socket for the next request (``next``),
    so runs in a row open no connection each (no TCP connect, upgrade or signing on either
    side), and each still gets exactly its own output."""
    with running_gateway(tmp_path / "gw", args=["--access-log"]) as info:
        async with BackendAIClient(config_for(info)) as client:
            name = unique_name("reuse")
            ref = (await client.get_or_create(SessionSpec(image="python", name=name))).ref
            outputs = [await run_print(client, ref, f"x = {i}\nprint(x * 2)") for i in range(6)]
            assert outputs == [f"{i * 2}\n" for i in range(6)]
            assert await run_print(client, ref, "print(x)") == "5\n"  # one kernel, state kept
            await client.destroy(ref)
    log = (tmp_path / "gw" / "gateway.log").read_text()
    # The first run's own socket and the one opened ahead while it ran; no more.
    assert log.count(f"/stream/session/{ref}/execute") <= 2, log
