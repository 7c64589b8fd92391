"""The web server's login surface, for clients with ``endpoint_type=session`` (§2.4).

``POST /server/login`` checks the configured user and sets an ``AIOHTTP_SESSION`` cookie;
every API route is also served under ``/func/`` for holders of that cookie, acting with the
keypair the login belongs to. Cookies are random tokens kept in memory only, HttpOnly and
SameSite=Strict; repeated failures from one address are throttled as the web server does.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import attrs
from aiohttp import web

from bai_lsp.gateway import state
from bai_lsp.gateway.auth import public
from bai_lsp.gateway.config import GatewayConfig
from bai_lsp.gateway.dialects import decode_login_body
from bai_lsp.gateway.errors import GatewayError, auth_failed, bad_request, invalid_params
from bai_lsp.wire.problems import PROBLEM_BASE, Problem

COOKIE = "AIOHTTP_SESSION"
SESSION_MAX_AGE = 7 * 24 * 3600
MAX_FAILURES = 10
BLOCK_SECONDS = 20 * 60


@attrs.define
class _Login:
    access_key: str
    user: str
    expires: float


class LoginStore:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._logins: dict[str, _Login] = {}
        self._failures: dict[str, list[float]] = {}

    def current(self, request: web.Request) -> tuple[str, _Login] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        login = self._logins.get(token)
        if login is None:
            return None
        if login.expires < time.time():
            self._logins.pop(token, None)
            return None
        return token, login

    def access_key_for(self, request: web.Request) -> str:
        current = self.current(request)
        if current is None:
            raise auth_failed("Unauthorized access: log in through /server/login first")
        return current[1].access_key

    def check_throttle(self, remote: str) -> None:
        now = time.monotonic()
        recent = [t for t in self._failures.get(remote, []) if t > now - BLOCK_SECONDS]
        self._failures[remote] = recent
        if len(recent) >= MAX_FAILURES:
            raise GatewayError(
                429,
                Problem.RATE_LIMIT_EXCEEDED,
                "Too many failed login attempts.",
                f"try again in {BLOCK_SECONDS // 60} minutes",
            )

    def fail(self, remote: str) -> None:
        self._failures.setdefault(remote, []).append(time.monotonic())

    def login(self, username: str, password: str) -> tuple[str, _Login] | None:
        config = self._config
        expected = config.login_password
        if expected is None:
            expected = config.keypairs[0].secret_key if config.keypairs else None
        if expected is None or not config.keypairs:
            return None
        user_ok = secrets.compare_digest(username.encode(), config.login_user.encode())
        pass_ok = secrets.compare_digest(password.encode(), expected.encode())
        if not (user_ok and pass_ok):
            return None
        token = secrets.token_urlsafe(32)
        login = _Login(config.keypairs[0].access_key, username, time.time() + SESSION_MAX_AGE)
        self._logins[token] = login
        return token, login

    def logout(self, request: web.Request) -> bool:
        current = self.current(request)
        if current is None:
            return False
        self._logins.pop(current[0], None)
        return True


@public
async def login(request: web.Request) -> web.Response:
    store = request.app[state.LOGINS]
    if store.current(request) is not None:
        raise bad_request("You have already logged in.")
    try:
        body = json.loads(decode_login_body(request, await request.read()))
    except ValueError:
        raise invalid_params("Malformed body: expected JSON with username and password") from None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
        or not body["username"]
        or not body["password"]
    ):
        raise invalid_params("username and password (strings) are required")
    remote = request.remote or "?"
    store.check_throttle(remote)
    result = store.login(body["username"], body["password"])
    if result is None:
        store.fail(remote)
        return web.json_response(
            {
                "authenticated": False,
                "data": {
                    "type": PROBLEM_BASE + Problem.AUTH_FAILED,
                    "title": "Incorrect username or password.",
                    "details": "The username or password does not match this gateway's login.",
                },
            }
        )
    token, record = result
    response = web.json_response(
        {
            "authenticated": True,
            "data": {"access_key": record.access_key, "role": "user", "status": "active"},
        }
    )
    response.set_cookie(
        COOKIE, token, max_age=SESSION_MAX_AGE, httponly=True, samesite="Strict", path="/"
    )
    return response


@public
async def logout(request: web.Request) -> web.Response:
    request.app[state.LOGINS].logout(request)
    response = web.json_response({}, status=201)
    response.del_cookie(COOKIE, path="/")
    return response


@public
async def login_check(request: web.Request) -> web.Response:
    current = request.app[state.LOGINS].current(request)
    if current is None:
        return web.json_response({"authenticated": False, "data": {}, "session_id": None})
    token, record = current
    return web.json_response(
        {
            "authenticated": True,
            "data": {"access_key": record.access_key, "role": "user", "status": "active"},
            # An identifier of the login, not the cookie itself.
            "session_id": hashlib.sha256(token.encode()).hexdigest()[:32],
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/server/login", login)
    app.router.add_post("/server/logout", logout)
    app.router.add_post("/server/login-check", login_check)
