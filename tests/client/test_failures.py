"""The exact message a user gets for each way things go wrong (live gateway).

These sentences are what the editor shows, so the tests pin them word for word.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from support.gateway import GatewayInfo

from bai_lsp.backendai import (
    AuthenticationError,
    BackendAIClient,
    BackendAIError,
    BackendUnreachableError,
    ClockSkewError,
    InvalidRequestError,
    NotFoundError,
    SessionSpec,
    SessionStartError,
)

from .conftest import GATEWAY_USER, config_for, session_config_for, unique_name


def collect_messages(*errors: BackendAIError) -> str:
    return "\n".join(e.user_message + repr(e) + str(e.args) for e in errors)


async def test_wrong_secret_key(gateway: GatewayInfo) -> None:
    async with BackendAIClient(config_for(gateway, secret_key="not-the-secret")) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.session_info("anything")
    assert caught.value.user_message == (
        f"Backend.AI refused the credentials for access key {gateway.access_key}: "
        "Signature mismatch. Check BACKEND_SECRET_KEY."
    )
    assert caught.value.status == 401 and caught.value.slug == "auth-failed"
    assert gateway.secret_key not in collect_messages(caught.value)
    assert "not-the-secret" not in collect_messages(caught.value)


async def test_unknown_access_key(gateway: GatewayInfo) -> None:
    async with BackendAIClient(config_for(gateway, access_key="AKIANOSUCHKEY")) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_sessions()
    assert caught.value.user_message == (
        "Backend.AI refused the credentials for access key AKIANOSUCHKEY: Access key not "
        "found. Check BACKEND_ACCESS_KEY."
    )


async def test_no_credentials(gateway: GatewayInfo) -> None:
    async with BackendAIClient(config_for(gateway, access_key="", secret_key="")) as client:
        assert await client.versions()  # GET / is public
        with pytest.raises(AuthenticationError) as caught:
            await client.session_info("anything")
    assert caught.value.user_message == (
        f"Backend.AI at {gateway.endpoint} needs credentials: Unauthorized access. Set "
        "BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY."
    )


async def test_wrong_web_login(gateway: GatewayInfo) -> None:
    client = BackendAIClient(session_config_for(gateway, password="wrong-password"))
    with pytest.raises(AuthenticationError) as caught:
        async with client:
            pass
    assert caught.value.user_message == (
        f"Backend.AI refused user '{GATEWAY_USER}' at {gateway.endpoint}: The username or "
        "password does not match this gateway's login. Check the user name and password "
        "(BACKEND_USERNAME / BACKEND_PASSWORD)."
    )
    assert "wrong-password" not in collect_messages(caught.value)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_endpoint(gateway: GatewayInfo) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    async with BackendAIClient(config_for(gateway, endpoint=endpoint)) as client:
        with pytest.raises(BackendUnreachableError) as caught:
            await client.get_or_create(SessionSpec(image="bash", name=unique_name()))
    assert caught.value.user_message == f"Cannot reach Backend.AI at {endpoint}: connection refused"
    assert caught.value.endpoint == endpoint


async def test_unresolvable_host(gateway: GatewayInfo) -> None:
    endpoint = "http://no-such-host.invalid"
    async with BackendAIClient(config_for(gateway, endpoint=endpoint, max_retries=0)) as client:
        with pytest.raises(BackendUnreachableError) as caught:
            await client.session_info("x")
    assert caught.value.user_message == (
        f"Cannot reach Backend.AI at {endpoint}: the host name could not be resolved"
    )


@pytest.mark.parametrize(("skew", "words"), [(-2, "2 h behind"), (3, "3 h ahead of")])
async def test_clock_skew(gateway: GatewayInfo, skew: int, words: str) -> None:
    def clock() -> datetime:
        return datetime.now(UTC) + timedelta(hours=skew)

    async with BackendAIClient(config_for(gateway, clock=clock)) as client:
        with pytest.raises(ClockSkewError) as caught:
            await client.session_info("anything")
    assert caught.value.user_message == (
        "Backend.AI rejected the request's time (Date/time sync "
        "error): the server only accepts requests dated within 15 minutes of its own clock. "
        f"This computer's clock is {words} the server's. Fix the system clock (enable NTP "
        "time sync) and try again."
    )
    assert caught.value.status == 400 and caught.value.slug == "invalid-auth-params"


async def test_a_small_skew_is_fine(gateway: GatewayInfo) -> None:
    def clock() -> datetime:
        return datetime.now(UTC) - timedelta(minutes=10)

    async with BackendAIClient(config_for(gateway, clock=clock)) as client:
        page = await client.list_sessions()
    assert page.total_count >= 0


async def test_unknown_image(client: BackendAIClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_or_create(SessionSpec(image="nosuchimage:1.0", name=unique_name()))
    assert caught.value.user_message.startswith(
        "Backend.AI: No such environment image: Unknown image references: nosuchimage:1.0."
    )
    assert caught.value.title == "No such environment image."


async def test_a_destroyed_session(client: BackendAIClient) -> None:
    ref = await client.get_or_create(SessionSpec(image="bash", name=unique_name()))
    await client.destroy(ref.ref)
    expected = f"Backend.AI: No such session: Session (id={ref.ref}) does not exist."
    attempts = []
    for call in (
        client.session_info(ref.ref),
        client.execute(ref.ref, mode="query", code="echo hi"),
        client.upload(ref.ref, [("a.txt", b"a")]),
        client.destroy(ref.ref),
        client.interrupt(ref.ref),
    ):
        with pytest.raises(NotFoundError) as caught:
            await call
        attempts.append(caught.value.user_message)
    assert attempts == [expected] * 5
    # the WebSocket handshake is refused with the same problem+json and the same message
    with pytest.raises(NotFoundError) as ws_caught:
        async with client.stream_execute(ref.ref, mode="query", code="echo hi"):
            pass
    assert ws_caught.value.user_message == expected
    with pytest.raises(NotFoundError):
        async with client.stream_pty(ref.ref):
            pass


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "Invalid session name 'ab': it is 2 characters long, and must be 4 to 64."),
        (
            "x" * 65,
            f"Invalid session name '{'x' * 65}': it is 65 characters long, and must be 4 to 64.",
        ),
        ("-abc", "Invalid session name '-abc': it must start and end with a letter, digit or '_'."),
        ("abc.", "Invalid session name 'abc.': it must start and end with a letter, digit or '_'."),
        (
            "my session",
            "Invalid session name 'my session': it contains ' '; only letters, digits, '_', "
            "'.' and '-' are allowed.",
        ),
        (
            "sess/ion",
            "Invalid session name 'sess/ion': it contains '/'; only letters, digits, '_', "
            "'.' and '-' are allowed.",
        ),
        (
            "séance",
            "Invalid session name 'séance': only ASCII letters, digits, '_', '.' and '-' are "
            "allowed.",
        ),
        ("from-template", "Invalid session name 'from-template': the name is reserved."),
    ],
)
async def test_a_session_name_that_breaks_the_rules(
    client: BackendAIClient, name: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await client.get_or_create(SessionSpec(image="bash", name=name))
    assert caught.value.user_message == message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SessionSpec(image=" "), "A session needs an image (for example 'python:3.11')."),
        (
            SessionSpec(image="bash", type="gpu"),
            "Invalid session type 'gpu': use one of interactive, batch, inference.",
        ),
        (SessionSpec(image="bash", type="batch"), "A batch session needs a startup command."),
        (SessionSpec(image="bash", cluster_size=0), "Invalid cluster size 0: must be ≥ 1."),
        (
            SessionSpec(image="bash", cluster_mode="ring"),
            "Invalid cluster mode 'ring': use one of single-node, multi-node.",
        ),
        (
            SessionSpec(image="bash", max_wait_seconds=-1),
            "max_wait_seconds must be 0 (no limit) or more.",
        ),
        (
            SessionSpec(image="bash", preopen_ports=[80]),
            "Invalid preopen port 80: use 1024-65535.",
        ),
    ],
)
async def test_other_spec_checks(client: BackendAIClient, spec: SessionSpec, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await client.get_or_create(spec)
    assert caught.value.user_message == message


async def test_a_session_that_fails_to_start(client: BackendAIClient) -> None:
    name = unique_name("broken")
    seen: list[str] = []
    with pytest.raises(SessionStartError) as caught:
        # a Python that cannot find its standard library: the kernel dies at start
        await client.get_or_create(
            SessionSpec(image="python:3.11", name=name, environ={"PYTHONHOME": "/nonexistent"}),
            on_status=seen.append,
        )
    assert caught.value.user_message.startswith(
        f"Session '{name}' failed to start: its status is ERROR (failed-to-start: "
    )
    assert caught.value.status == "ERROR" and seen[-1] == "ERROR"
    await client.destroy(name, forced=True)


async def test_start_timeout(gateway: GatewayInfo) -> None:
    name = unique_name()
    async with BackendAIClient(config_for(gateway, start_timeout=0.0)) as client:
        with pytest.raises(SessionStartError) as caught:
            await client.get_or_create(SessionSpec(image="bash", name=name, enqueue_only=True))
        assert caught.value.user_message == (
            f"Session '{name}' did not start within 0 s; it is still PENDING. It keeps its "
            "place in the queue: wait and try again, or destroy it."
        )
        await client.destroy(name, forced=True)


async def test_secrets_never_reach_the_logs(
    gateway: GatewayInfo, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log line of a whole session's life, at DEBUG, from every logger."""
    caplog.set_level("DEBUG")
    password = gateway.secret_key  # the gateway's web login uses the secret as password
    for config in (config_for(gateway), session_config_for(gateway)):
        async with BackendAIClient(config) as client:
            ref = await client.get_or_create(SessionSpec(image="bash", name=unique_name()))
            await client.execute(ref.ref, mode="query", code="echo hi")
            async with client.stream_execute(ref.ref, mode="query", code="echo hi") as stream:
                async for _ in stream:
                    pass
            await client.destroy(ref.ref)
            with pytest.raises(NotFoundError):
                await client.session_info(ref.ref)
    async with BackendAIClient(config_for(gateway, secret_key="WRONG-SECRET-999")) as client:
        with pytest.raises(AuthenticationError):
            await client.session_info("x")
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the client does log at DEBUG
    assert password not in logged
    assert "WRONG-SECRET-999" not in logged
