"""``APIConfig``: where Backend.AI is and who we are, read like the official SDK reads it.

Every setting has the SDK's ``BACKEND_*`` variable (``SORNA_*`` as the legacy fallback)
and default; an explicit constructor argument wins over the environment. Unlike the SDK we
do not load a ``.env`` file from the working directory: a language server's working
directory is whatever the editor chose, so such a file would change credentials silently.

A value that cannot be used raises ``ConfigError`` naming the variable (or argument) and
what is wrong with it. The secret key and password never appear in ``repr``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from yarl import URL

from bai_lsp.backendai.errors import ConfigError
from bai_lsp.wire import versions

DEFAULT_ENDPOINT = "https://api.cloud.backend.ai"
#: The newest API version we speak (the 26.09 SDK's); a manager's ``GET /`` negotiates it
#: down (to v7 for 23.09). See bai_lsp/backendai/dialect.py.
CLIENT_API_VERSION = versions.V9
MIN_API_VERSION = "v5.20191215"
SDK_VERSION = "23.09.10"
DEFAULT_USER_AGENT = f"Backend.AI Client for Python {SDK_VERSION} (bai-lsp)"
ENDPOINT_TYPES = ("api", "session")

_TRUE = ("y", "yes", "t", "true", "1")
_FALSE = ("n", "no", "f", "false", "0")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def read_env(key: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(value, variable)`` of ``BACKEND_<KEY>`` or else ``SORNA_<KEY>``; ``None`` if unset."""
    env = os.environ if environ is None else environ
    for prefix in ("BACKEND_", "SORNA_"):
        name = prefix + key.upper()
        if name in env:
            return env[name], name
    return None


def parse_bool(value: str | bool, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{where}: {value!r} is not a yes/no value (use one of {', '.join(_TRUE)} or "
        f"{', '.join(_FALSE)})."
    )


def parse_seconds(value: str | float, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number of seconds.") from None
    if number < 0 or number != number or number == float("inf"):
        raise ConfigError(f"{where}: {value!r} must be a finite number of seconds ≥ 0.")
    return number


def parse_endpoints(value: str | Sequence[str], where: str) -> tuple[str, ...]:
    """A comma-separated list (or a sequence) of absolute http(s) URLs, trailing ``/`` cut."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for raw in items:
        text = raw.strip()
        if not text:
            continue
        try:
            url = URL(text)
        except ValueError:
            url = URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"{where}: {text!r} is not an absolute http(s) URL "
                f"(for example {DEFAULT_ENDPOINT} or http://127.0.0.1:8081)."
            )
        if url.query_string or url.fragment:
            raise ConfigError(f"{where}: {text!r} must not have a query or fragment.")
        out.append(text.rstrip("/"))
    if not out:
        raise ConfigError(f"{where} is empty; give at least one Backend.AI endpoint URL.")
    return tuple(out)


def _split_list(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]


def normalise_arch(machine: str | None = None) -> str:
    """The SDK's architecture name of this machine (``arm64`` → ``aarch64`` and so on)."""
    name = (machine or platform.machine()).lower()
    return {"arm64": "aarch64", "amd64": "x86_64", "x64": "x86_64"}.get(name, name)


@attrs.frozen(init=False)
class APIConfig:
    """Resolved client settings; build it with keyword arguments (``None`` = from env)."""

    endpoints: tuple[str, ...]
    endpoint_type: str
    access_key: str
    secret_key: str = attrs.field(repr=False)
    username: str | None
    password: str | None = attrs.field(repr=False)
    domain: str
    group: str
    vfolder_mounts: tuple[str, ...]
    skip_sslcert_validation: bool
    #: Seconds to establish a TCP (and TLS) connection (aiohttp ``sock_connect``).
    connection_timeout: float
    #: Seconds without a byte from the server before a request fails; ``None`` = no limit.
    read_timeout: float | None
    #: The newest API version we speak; the one used is negotiated down through ``GET /``.
    version: str
    user_agent: str
    #: Seconds the unsigned ``GET /`` of the version negotiation may take.
    negotiation_timeout: float
    #: Extra attempts for idempotent calls after a connection failure or 502/503/504.
    max_retries: int
    #: First pause between attempts (doubles each time).
    retry_backoff: float
    #: Seconds between status polls while a session starts.
    poll_interval: float
    #: Seconds ``get_or_create`` waits for RUNNING (``None`` = as long as it takes).
    start_timeout: float | None
    #: Seconds before the events stream reconnects after the server closed it.
    sse_reconnect_delay: float
    #: WebSocket ping interval (the SDK's ``heartbeat=30``).
    ws_heartbeat: float
    #: Try the endpoints in random order, as the SDK does, to spread load.
    shuffle_endpoints: bool
    #: Where ``Date`` comes from; tests inject a skewed clock.
    clock: Callable[[], datetime] = attrs.field(repr=False, eq=False)

    def __init__(
        self,
        *,
        endpoint: str | Sequence[str] | None = None,
        endpoint_type: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        domain: str | None = None,
        group: str | None = None,
        vfolder_mounts: str | Sequence[str] | None = None,
        skip_sslcert_validation: bool | str | None = None,
        connection_timeout: float | None = None,
        read_timeout: float | None = None,
        version: str = CLIENT_API_VERSION,
        user_agent: str = DEFAULT_USER_AGENT,
        negotiation_timeout: float = 10.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        poll_interval: float = 1.0,
        start_timeout: float | None = None,
        sse_reconnect_delay: float = 5.0,
        ws_heartbeat: float = 30.0,
        shuffle_endpoints: bool = True,
        clock: Callable[[], datetime] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ

        def pick(explicit: Any, key: str, default: Any) -> tuple[Any, str]:
            if explicit is not None:
                return explicit, key.lower()
            found = read_env(key, env)
            if found is not None:
                return found
            return default, "BACKEND_" + key

        raw_endpoint, where = pick(endpoint, "ENDPOINT", DEFAULT_ENDPOINT)
        endpoints = parse_endpoints(raw_endpoint, _name(where))

        etype, where = pick(endpoint_type, "ENDPOINT_TYPE", "api")
        etype = str(etype).strip().lower()
        if etype not in ENDPOINT_TYPES:
            raise ConfigError(
                f"{_name(where)}: {etype!r} is not an endpoint type; use 'api' (access key "
                "and secret key) or 'session' (web-server login with user name and password)."
            )

        if etype == "api":
            access, _ = pick(access_key, "ACCESS_KEY", "")
            secret, secret_where = pick(secret_key, "SECRET_KEY", "")
            access, secret = str(access).strip(), str(secret).strip()
            if access and not secret:
                raise ConfigError(
                    f"{_name(secret_where)} is empty while the access key {access} is set; "
                    "requests cannot be signed without the secret key."
                )
            user, pwd = None, None
        else:
            # The SDK forces both keys to a placeholder in session mode: nothing is signed.
            access, secret = "dummy", "dummy"
            user_raw, user_where = pick(username, "USERNAME", "")
            pwd_raw, pwd_where = pick(password, "PASSWORD", "")
            user, pwd = str(user_raw).strip(), str(pwd_raw)
            if not user or not pwd:
                missing = _name(user_where) if not user else _name(pwd_where)
                raise ConfigError(
                    f"{missing} is empty: endpoint type 'session' logs in to the Backend.AI "
                    "web server with a user name and password."
                )

        dom, _ = pick(domain, "DOMAIN", "default")
        grp, _ = pick(group, "GROUP", "default")
        env_mounts = read_env("VFOLDER_MOUNTS", env)
        mounts = _split_list(env_mounts[0] if env_mounts else "")
        for name in _split_list(vfolder_mounts or ()):
            if name not in mounts:
                mounts.append(name)

        skip, where = pick(skip_sslcert_validation, "SKIP_SSLCERT_VALIDATION", False)
        conn_t, where_c = pick(connection_timeout, "CONNECTION_TIMEOUT", 10.0)
        read_t, where_r = pick(read_timeout, "READ_TIMEOUT", 0.0)
        conn_seconds = parse_seconds(conn_t, _name(where_c))
        if conn_seconds == 0:
            raise ConfigError(f"{_name(where_c)}: must be more than 0 seconds.")
        read_seconds = parse_seconds(read_t, _name(where_r))

        try:
            versions.parse(version)
        except ValueError:
            raise ConfigError(
                f"version: {version!r} is not an API version like {CLIENT_API_VERSION}."
            ) from None
        for label, seconds in (
            ("negotiation_timeout", negotiation_timeout),
            ("retry_backoff", retry_backoff),
            ("poll_interval", poll_interval),
            ("sse_reconnect_delay", sse_reconnect_delay),
            ("ws_heartbeat", ws_heartbeat),
        ):
            parse_seconds(seconds, label)
        if start_timeout is not None:
            parse_seconds(start_timeout, "start_timeout")
        if max_retries < 0:
            raise ConfigError(f"max_retries: {max_retries} must be 0 or more.")

        self.__attrs_init__(
            endpoints=endpoints,
            endpoint_type=etype,
            access_key=access,
            secret_key=secret,
            username=user,
            password=pwd,
            domain=str(dom),
            group=str(grp),
            vfolder_mounts=tuple(mounts),
            skip_sslcert_validation=parse_bool(skip, _name(where)),
            connection_timeout=conn_seconds,
            read_timeout=read_seconds or None,
            version=version,
            user_agent=user_agent,
            negotiation_timeout=float(negotiation_timeout),
            max_retries=max_retries,
            retry_backoff=float(retry_backoff),
            poll_interval=float(poll_interval),
            start_timeout=start_timeout,
            sse_reconnect_delay=float(sse_reconnect_delay),
            ws_heartbeat=float(ws_heartbeat),
            shuffle_endpoints=shuffle_endpoints,
            clock=clock or _utc_now,
        )

    @property
    def endpoint(self) -> str:
        """The first configured endpoint (the client may rotate to the others)."""
        return self.endpoints[0]

    @property
    def is_anonymous(self) -> bool:
        return self.endpoint_type == "api" and not self.access_key


def _name(where: str) -> str:
    """The variable (``BACKEND_…``) or argument a value came from."""
    return where
