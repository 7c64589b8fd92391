"""The two API dialects the gateway speaks at once: 23.09 (v7) and the newest manager's (v9).

A newest manager keeps serving old clients, so the dialect is chosen per request from the
``X-BackendAI-Version`` it carries, never per server. What the gateway *advertises* on
``GET /`` (``--api-version``) only decides what a negotiating client will send. Requests at
v8.20240315 or later get the newest manager's behaviour: ``error_code`` in problem bodies,
asynchronous destroy, restart refused with 501, ISO 8601 times and lenient event-stream
parameters (see docs/dialects.md and §10 of the API reference).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bai_lsp.gateway import state
from bai_lsp.gateway.errors import SESSION_NOT_FOUND_TITLE
from bai_lsp.wire import versions
from bai_lsp.wire.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The first version a newest manager alone accepts; from here on the newest dialect applies.
NEWEST_FROM = (8, "20240315")

#: What ``GET /`` answers, per ``--api-version``.
ADVERTISED = {
    "v7": {"version": versions.V7, "manager": versions.MANAGER_23_09},
    "v9": {"version": versions.V9, "manager": versions.MANAGER_26_08},
}

_OPERATIONS = {"GET": "read", "HEAD": "read", "DELETE": "hard-delete", "PATCH": "update"}
_DETAILS = {
    "object-not-found": "not-found",
    "url-not-found": "not-found",
    "invalid-api-params": "invalid-parameters",
    "generic-bad-request": "bad-request",
    "invalid-auth-params": "invalid-parameters",
    "auth-failed": "unauthorized",
    "generic-forbidden": "forbidden",
    "insufficient-privilege": "forbidden",
    "session-already-exists": "conflict",
    "too-many-sessions-matched": "conflict",
    "not-implemented": "not-implemented",
    "rate-limit-exceeded": "rate-limited",
}


def is_newest(version: str | None) -> bool:
    """Whether a request carrying ``version`` expects the newest manager's behaviour."""
    if not version:
        return False
    try:
        return versions.parse(version) >= NEWEST_FROM
    except ValueError:
        return False


def request_is_newest(request: web.Request) -> bool:
    given = request.get(state.API_VERSION) or request.headers.get("X-BackendAI-Version")
    return is_newest(given)


def error_code(method: str, path: str, problem_type: str) -> str:
    """``<domain>_<operation>_<detail>``, the newest manager's machine-readable error code."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "func":
        parts = parts[1:]
    domain = {"session": "session", "stream": "session", "events": "event", "admin": "graphql"}.get(
        parts[0] if parts else "", "api"
    )
    if method == "POST":
        operation = "create" if parts in (["session"], ["session", "_", "create"]) else "execute"
    else:
        operation = _OPERATIONS.get(method, "generic")
    slug = problem_type.rsplit("/", 1)[-1]
    return f"{domain}_{operation}_{_DETAILS.get(slug, slug or 'generic')}"


def _as_the_newest_manager_says(body: dict[str, Any]) -> None:
    """Where 26.9.6 names a problem by what failed rather than by the route (seen by
    tests/realmgr/test_differential.py): authentication is the user domain's, an unknown
    session is an ``entity-not-found`` read whatever the method, an unknown image is the
    image domain's."""
    slug = str(body.get("type", "")).rsplit("/", 1)[-1]
    if slug in ("auth-failed", "invalid-auth-params"):
        body["error_code"] = f"user_auth_{_DETAILS[slug]}"
    elif slug == "object-not-found" and body.get("title") == SESSION_NOT_FOUND_TITLE:
        body["type"] = PROBLEM_BASE + "entity-not-found"
        body["error_code"] = "session_read_not-found"
    elif slug == "object-not-found" and str(body.get("msg", "")).startswith("Unknown image"):
        body["error_code"] = "image_read_not-found"


@web.middleware
async def dialect_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adds ``error_code`` to problem bodies answered to newest-dialect requests."""
    response = await handler(request)
    if (
        response.status < 400
        or not isinstance(response, web.Response)
        or response.content_type != PROBLEM_CONTENT_TYPE
        or not is_newest(request.headers.get("X-BackendAI-Version"))
        or not isinstance(response.body, bytes)
    ):
        return response
    try:
        body = json.loads(response.body)
    except ValueError:
        return response
    if isinstance(body, dict) and "error_code" not in body:
        body["error_code"] = error_code(request.method, request.path, str(body.get("type", "")))
        _as_the_newest_manager_says(body)
        response.text = json.dumps(body)
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


def decode_login_body(request: web.Request, raw: bytes) -> bytes:
    """The newest web server's login body: with ``X-BackendAI-Encoded: true`` (the 26.09 SDK
    sends it over plain http) the body is ``IV:base64(AES-CBC(json))`` keyed by the endpoint
    the client used, as the newest web server decodes it. It only obscures the password on
    the wire (the key is derivable); the gateway accepts it so that client can log in."""
    if request.headers.get("X-BackendAI-Encoded", "").lower() != "true":
        return raw
    import base64
    import binascii

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        iv, payload = raw.split(b":", 1)
        endpoint = f"{request.scheme}://{request.host}"
        key = (base64.b64encode(endpoint.encode()) + iv + iv)[:32]
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(base64.b64decode(payload)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except (ValueError, binascii.Error):
        return b""  # then refused as a malformed body
