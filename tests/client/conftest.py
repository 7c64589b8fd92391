"""Fixtures of the client tests: our client, configured for a live gateway."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from aiohttp import web
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process

from bai_lsp.backendai import APIConfig, BackendAIClient, SessionRef, SessionSpec
from bai_lsp.wire.execute import BatchOptions, ExecutionResult, RunStatus

from .recorder import Recorder, Server

GATEWAY_USER = "user@bai-lsp.local"

#: What GET / answers for each ``--api-version`` of the gateway.
ADVERTISED = {
    "v7": {"version": "v7.20230615", "manager": "23.09.10"},
    "v9": {"version": "v9.20250722", "manager": "26.8.0"},
}
#: The ``--api-version`` each shared gateway was started with, by endpoint.
GATEWAY_API: dict[str, str] = {}


@pytest.fixture(scope="session", params=["v7", "v9"], ids=["api-v7", "api-v9"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayInfo]:
    """The client's tests run against a gateway advertising each API version in turn: the
    client negotiates v7 (23.09 forms) with one, v9 (the newest forms) with the other."""
    api: str = request.param
    info = start_gateway(tmp_path_factory.mktemp(f"gateway-{api}"), args=["--api-version", api])
    GATEWAY_API[info.endpoint] = api
    try:
        yield info
    finally:
        stop_gateway_process(info.process)


def unique_name(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def config_for(info: GatewayInfo, **overrides: Any) -> APIConfig:
    """An explicit configuration; ``environ={}`` keeps the tester's BACKEND_* out of it."""
    values: dict[str, Any] = {
        "endpoint": info.endpoint,
        "access_key": info.access_key,
        "secret_key": info.secret_key,
        "retry_backoff": 0.01,
        "poll_interval": 0.2,
        "environ": {},
    }
    values.update(overrides)
    return APIConfig(**values)


def session_config_for(info: GatewayInfo, **overrides: Any) -> APIConfig:
    """Endpoint type ``session``: the gateway's web login (password = its secret key)."""
    values: dict[str, Any] = {
        "endpoint_type": "session",
        "username": GATEWAY_USER,
        "password": info.secret_key,
        "access_key": None,
        "secret_key": None,
    }
    values.update(overrides)
    return config_for(info, **values)


@pytest.fixture
async def client(gateway: GatewayInfo) -> AsyncIterator[BackendAIClient]:
    async with BackendAIClient(config_for(gateway)) as c:
        yield c


@pytest.fixture
async def session_client(gateway: GatewayInfo) -> AsyncIterator[BackendAIClient]:
    async with BackendAIClient(session_config_for(gateway)) as c:
        yield c


@pytest.fixture(params=["api", "session"])
async def any_client(
    request: pytest.FixtureRequest, gateway: GatewayInfo
) -> AsyncIterator[BackendAIClient]:
    """The same test through both endpoint types."""
    config = config_for(gateway) if request.param == "api" else session_config_for(gateway)
    async with BackendAIClient(config) as c:
        yield c


SessionFactory = Callable[..., Any]


@pytest.fixture
async def new_session(client: BackendAIClient) -> AsyncIterator[SessionFactory]:
    """Create sessions through ``client``; they are destroyed after the test."""
    made: list[tuple[BackendAIClient, SessionRef]] = []

    async def make(
        image: str = "python:3.11", *, via: BackendAIClient | None = None, **kw: Any
    ) -> SessionRef:
        owner = via or client
        kw.setdefault("name", unique_name())
        ref = await owner.get_or_create(SessionSpec(image=image, **kw))
        made.append((owner, ref))
        return ref

    yield make
    for owner, ref in made:
        with contextlib.suppress(Exception):  # already gone is fine
            await owner.destroy(ref.ref, forced=True)


async def run_rest(
    client: BackendAIClient,
    ref: str,
    code: str,
    *,
    mode: str = "query",
    options: BatchOptions | None = None,
    inputs: Sequence[str] = (),
) -> list[ExecutionResult]:
    """Poll a run to its end as the SDK's ``exec_loop`` does (continue, input)."""
    answers = list(inputs)
    results = [await client.execute(ref, mode=mode, code=code, options=options)]
    run_id = results[0].run_id
    assert run_id
    while results[-1].status not in RunStatus.TERMINAL:
        last = results[-1]
        if last.status == RunStatus.WAITING_INPUT:
            nxt = await client.execute(ref, mode="input", code=answers.pop(0), run_id=run_id)
        else:
            nxt = await client.execute(ref, mode="continue", run_id=run_id)
        assert nxt.run_id == run_id
        results.append(nxt)
    return results


async def run_stream(
    client: BackendAIClient,
    ref: str,
    code: str,
    *,
    mode: str = "query",
    options: BatchOptions | None = None,
    inputs: Sequence[str] = (),
) -> list[ExecutionResult]:
    """The same run over the WebSocket."""
    answers = list(inputs)
    frames: list[ExecutionResult] = []
    async with client.stream_execute(ref, mode=mode, code=code, options=options) as stream:
        async for frame in stream:
            frames.append(frame)
            if frame.status == RunStatus.WAITING_INPUT:
                await stream.send_input(answers.pop(0))
    return frames


def text_of(results: Sequence[ExecutionResult]) -> str:
    return "".join(r.text for result in results for r in result.console)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """Start recording servers (``await server(answer)``); all stop after the test."""
    started: list[Recorder] = []

    async def start(answer: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Recorder:
        recorder = await Recorder(answer).start()
        started.append(recorder)
        return recorder

    yield start
    for recorder in started:
        await recorder.stop()
