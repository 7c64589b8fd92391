"""Request checks in front of every handler, in Backend.AI's order (§2.2, §2.3).

``error_middleware`` turns every failure into problem+json; ``host_middleware`` refuses
requests addressed to a non-local name while listening on loopback (a DNS-rebinding page
would otherwise reach the gateway from a browser); ``version_middleware`` checks
``X-BackendAI-Version``; ``auth_middleware`` verifies the HMAC signature (or, under
``/func/``, the web-login cookie) of every route not marked :func:`public`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web

import bai_lsp.gateway.state as state
from bai_lsp.gateway.config import RATE_LIMIT_WINDOW, is_loopback_host
from bai_lsp.gateway.dialects import dialect_middleware
from bai_lsp.gateway.errors import (
    GatewayError,
    auth_failed,
    bad_request,
    forbidden,
    internal_error,
    invalid_auth,
    invalid_params,
    method_not_allowed,
    problem_response,
    url_not_found,
)
from bai_lsp.wire import signing, versions
from bai_lsp.wire.problems import Problem

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

DATE_WINDOW = timedelta(minutes=15)
#: What an unversioned request is treated as (the manager's "latest revision" entry).
DEFAULT_API_VERSION = "v5.20191215"
ANONYMOUS_RATE_LIMIT = 1000
FUNC_PREFIX = "/func/"

_PUBLIC_ATTR = "__bai_public__"


def public(handler: H) -> H:
    """Mark a handler as answering without credentials (``GET /``, the login routes)."""
    setattr(handler, _PUBLIC_ATTR, True)
    return handler


def is_public(request: web.Request) -> bool:
    if request.match_info.http_exception is not None:
        return True  # unknown path or method: the router answers 404/405 without auth
    return bool(getattr(request.match_info.handler, _PUBLIC_ATTR, False))


def access_key_of(request: web.Request) -> str:
    """The authenticated caller's access key (set by ``auth_middleware``)."""
    key = request.get(state.ACCESS_KEY)
    if not isinstance(key, str):
        raise auth_failed("Unauthorized access")
    return key


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return problem_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_from_http_exception(request, exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response(internal_error())


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return url_not_found(request.path)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return method_not_allowed(request.method, set(exc.allowed_methods))
    if exc.status == 413:
        return invalid_params(f"Request body too large: {exc.text or exc.reason}")
    return GatewayError(exc.status, Problem.GENERIC_BAD_REQUEST, exc.reason, exc.text)


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[state.CONFIG]
    if config.is_loopback and not config.allow_remote:
        host = _hostname(request.headers.get("Host", ""))
        if not is_loopback_host(host):
            raise forbidden(
                f"Host {host!r} is not a local name; this gateway listens on loopback and "
                "only answers requests addressed to localhost or 127.0.0.1 "
                "(DNS-rebinding defence)."
            )
        origin = request.headers.get("Origin")
        if origin and origin != "null" and not is_loopback_host(_hostname(origin.split("://")[-1])):
            raise forbidden(f"Cross-origin requests from {origin!r} are not accepted.")
    return await handler(request)


def _hostname(host: str) -> str:
    text = host.strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-BackendAI-Version") or request.headers.get("X-Sorna-Version")
    if given is not None and given.strip() not in versions.ACCEPTED:
        raise bad_request("Unsupported API version.")
    request[state.API_VERSION] = (given or DEFAULT_API_VERSION).strip()
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_public(request):
        if request.path.startswith(FUNC_PREFIX):
            request[state.ACCESS_KEY] = request.app[state.LOGINS].access_key_for(request)
        else:
            request[state.ACCESS_KEY] = verify_signature(request)
        request.app[state.RATES].hit(request, request[state.ACCESS_KEY])
    return await handler(request)


def verify_signature(request: web.Request) -> str:
    """The access key of a correctly signed request; raises the manager's errors otherwise."""
    config = request.app[state.CONFIG]
    raw_date = (
        request.headers.get("Date")
        or request.headers.get("X-BackendAI-Date")
        or request.headers.get("X-Sorna-Date")
    )
    when = signing.parse_date(raw_date) if raw_date else None
    if when is None or abs(datetime.now(UTC) - when) >= DATE_WINDOW:
        raise invalid_auth("Date/time sync error")
    header = request.headers.get("Authorization")
    if not header:
        raise auth_failed("Unauthorized access")
    credential = signing.parse_authorization(header)
    if credential is None:
        raise invalid_auth("Malformed authorization header")
    if credential.sign_method.upper() != signing.SIGN_METHOD:
        raise invalid_auth(f"Unsupported signing method: {credential.sign_method}")
    api_version = request.headers.get("X-BackendAI-Version") or request.headers.get(
        "X-Sorna-Version"
    )
    if not api_version:
        raise invalid_auth("API version missing in request headers")
    keypair = config.keypair(credential.access_key)
    if keypair is None:
        raise auth_failed("Access key not found")
    expected = signing.sign(
        secret_key=keypair.secret_key,
        method=request.method,
        rel_url=request.raw_path,
        date=raw_date or "",
        host=request.headers.get("Host", ""),
        content_type=request.content_type,
        api_version=api_version,
    )
    if not signing.signatures_match(expected, credential.signature):
        raise auth_failed("Signature mismatch")
    return keypair.access_key


class RateLimiter:
    """Backend.AI's rolling 15-minute request window per access key (§9)."""

    def __init__(self, limits: Callable[[str], int]) -> None:
        self._limits = limits
        self._hits: dict[str, collections.deque[float]] = {}

    def hit(self, request: web.Request, access_key: str) -> None:
        now = time.monotonic()
        hits = self._hits.setdefault(access_key, collections.deque())
        while hits and hits[0] <= now - RATE_LIMIT_WINDOW:
            hits.popleft()
        limit = self._limits(access_key)
        request[state.RATE] = (limit, max(limit - len(hits) - 1, 0))
        if len(hits) >= limit:
            raise GatewayError(
                429,
                Problem.RATE_LIMIT_EXCEEDED,
                "Rate limit exceeded.",
                f"more than {limit} requests within {RATE_LIMIT_WINDOW} s",
            )
        hits.append(now)


async def add_server_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the manager's ``Server`` and ``X-RateLimit-*`` headers."""
    response.headers["Server"] = "BackendAI"
    limit, remaining = request.get(state.RATE, (ANONYMOUS_RATE_LIMIT, ANONYMOUS_RATE_LIMIT))
    response.headers["X-RateLimit-Limit"] = str(limit)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Window"] = str(RATE_LIMIT_WINDOW)


def middlewares() -> list[Any]:
    return [
        dialect_middleware,
        error_middleware,
        host_middleware,
        version_middleware,
        auth_middleware,
    ]
