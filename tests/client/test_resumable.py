"""Our client's side of the gateway's resumable runs (docs/gateway.md): numbered frames,
``ack`` on REST polls, and a half-open execute stream noticed by its heartbeat."""

from __future__ import annotations

import time
import uuid

import pytest
from faults.proxy import FaultProxy
from support.gateway import GatewayInfo

from bai_lsp.backendai import BackendAIClient, BackendUnreachableError, InvalidRequestError

from .conftest import SessionFactory, config_for

COUNT = "for i in $(seq 1 8); do echo line$i; sleep 0.1; done\n"


async def test_a_resumable_stream_left_mid_run_is_followed_by_rest(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = (await new_session("bash")).ref
    run_id = uuid.uuid4().hex
    seen, seqs = "", []
    async with client.stream_execute(
        ref, mode="query", code=COUNT, run_id=run_id, resumable=True
    ) as stream:
        async for frame in stream:
            assert frame.run_id == run_id and frame.seq is not None
            seqs.append(frame.seq)
            seen += "".join(r.text for r in frame.console if r.type == "stdout")
            if "line2" in seen:
                break
    assert seqs == list(range(1, len(seqs) + 1))
    ack = seqs[-1]
    while True:
        result = await client.execute(ref, mode="continue", run_id=run_id, ack=ack)
        assert result.seq is not None and result.seq > ack and not result.lost
        ack = result.seq
        seen += "".join(r.text for r in result.console if r.type == "stdout")
        if result.status == "finished":
            break
    assert seen.split() == [f"line{i}" for i in range(1, 9)]


async def test_a_bad_ack_or_a_resumable_stream_without_run_id_is_refused(
    client: BackendAIClient,
) -> None:
    with pytest.raises(InvalidRequestError, match="ack must be a non-negative integer"):
        await client.execute("some-session", mode="continue", run_id="r", ack=-1)
    with pytest.raises(InvalidRequestError, match="needs the run_id"):
        client.stream_execute("some-session", mode="query", code="", resumable=True)


async def test_a_half_open_execute_stream_is_noticed_by_its_heartbeat(
    gateway: GatewayInfo, new_session: SessionFactory
) -> None:
    ref = (await new_session("bash")).ref
    proxy = await FaultProxy(int(gateway.endpoint.rsplit(":", 1)[1])).start()
    config = config_for(gateway, endpoint=proxy.endpoint, ws_heartbeat=1.0)
    try:
        async with BackendAIClient(config) as c:
            with pytest.raises(BackendUnreachableError) as caught:
                async with c.stream_execute(ref, mode="query", code="sleep 30\n") as stream:
                    async for _frame in stream:
                        if proxy.mode == "pass":
                            proxy.mode = "blackhole"
                            cut = time.monotonic()
            noticed = time.monotonic() - cut
    finally:
        proxy.mode = "pass"
        await proxy.stop()
    assert noticed < 10.0  # 1.5 s expected (ping after 1 s, pong within 0.5 s); generous
    assert "half-open" in caught.value.user_message, caught.value.user_message
