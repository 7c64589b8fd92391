"""HTTP, WebSocket and SSE requests to the configured endpoint(s), and nowhere else.

One ``aiohttp.ClientSession`` is reused for every call. A client middleware sees every hop
aiohttp makes: it refuses to send anything to an origin other than the configured
endpoints and turns every 3xx answer into ``BackendRedirectError`` before aiohttp could
follow it (``ws_connect`` has no ``allow_redirects`` switch; this covers it too). The same
middleware reads the problem+json of a refused WebSocket handshake, which aiohttp would
otherwise discard, so a stream on a destroyed session fails with ``NotFoundError`` like the
REST call does.

Retries: a connection that could not be opened moves on to the next endpoint (nothing was
sent, so any call may try again); after that, only idempotent calls are repeated, with
exponential backoff, also for 502/503/504 answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from bai_lsp.backendai import auth
from bai_lsp.backendai.config import APIConfig
from bai_lsp.backendai.dialect import fallback_version
from bai_lsp.backendai.errors import (
    AuthenticationError,
    BackendAPIError,
    BackendRedirectError,
    BackendUnreachableError,
    ProtocolError,
    RequestContext,
    from_response,
)
from bai_lsp.backendai.spare import SpareSockets
from bai_lsp.wire import signing, versions
from bai_lsp.wire.problems import Problem, ProblemDetails

_T = TypeVar("_T")
log = logging.getLogger(__name__)

#: Query parameters: a mapping, or pairs when a key repeats (``files=a&files=b``).
QueryParams = Mapping[str, str] | Sequence[tuple[str, str]]

RETRY_STATUSES = frozenset({502, 503, 504})
WS_MAX_MESSAGE = 64 * 1024 * 1024
_NO_BODY = object()


@attrs.frozen
class Reply:
    """A successful (2xx) answer, read to the end."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ProtocolError(
                f"Backend.AI answered HTTP {self.status} with a body that is not JSON: "
                f"{self.body[:200]!r}"
            ) from None


class _NotConnected(Exception):
    """The connection could not be opened: nothing was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Interrupted(Exception):
    """The request may have reached the server, but no complete answer came back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_connection_error(exc: BaseException, config: APIConfig) -> tuple[bool, str]:
    """``(connected, reason)`` of an aiohttp failure, in words a user can act on."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return False, (
            f"the TLS certificate could not be verified ({exc.certificate_error}); set "
            "BACKEND_SKIP_SSLCERT_VALIDATION=yes only if you trust this server"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return False, "the host name could not be resolved"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return False, "connection refused"
        if isinstance(os_error, ssl.SSLError):
            return False, f"the TLS handshake failed ({os_error.reason or os_error})"
        return False, (os_error.strerror or str(os_error) or "connection failed").lower()
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return False, (
            f"no connection within {config.connection_timeout:g} s (BACKEND_CONNECTION_TIMEOUT)"
        )
    if isinstance(exc, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        limit = f"{config.read_timeout:g} s" if config.read_timeout else "the time limit"
        return True, f"no answer within {limit} (BACKEND_READ_TIMEOUT)"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return True, "the server closed the connection before answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return True, "the answer was cut off"
    if isinstance(exc, aiohttp.ClientOSError):
        return True, (exc.strerror or str(exc) or "connection error").lower()
    return True, str(exc) or type(exc).__name__


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return signing.parse_date(value)


def _parse_body(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode("utf-8", "replace")


class Transport:
    """The connection to Backend.AI: endpoints, version, login cookie, request plumbing."""

    def __init__(self, config: APIConfig) -> None:
        self.config = config
        endpoints = list(config.endpoints)
        if config.shuffle_endpoints:
            random.shuffle(endpoints)
        self._endpoints = endpoints
        self._current = 0
        self._origins = {URL(e).origin() for e in endpoints}
        # Until negotiation says otherwise: a version every manager since 23.09 accepts.
        self.api_version = fallback_version(config.version)
        self.server_versions: dict[str, Any] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._logged_in = False
        #: Warm execute sockets (``spare.py``), used by ``ExecutionStream``.
        self.spares = SpareSockets()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._endpoints[self._current]

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("the Backend.AI client is not open; use 'async with'")
        return self._session

    async def open(self) -> None:
        cfg = self.config
        connector = aiohttp.TCPConnector(ssl=not cfg.skip_sslcert_validation)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=cfg.connection_timeout, sock_read=cfg.read_timeout
            ),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            middlewares=(self._guard,),
            auto_decompress=True,
        )
        await self.negotiate()
        if cfg.endpoint_type == "session":
            await self.login()

    async def close(self) -> None:
        await self.spares.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- URLs -----------------------------------------------------------------------------

    def url(self, path: str, params: QueryParams | None = None, endpoint: str | None = None) -> URL:
        """The absolute URL of an API path; session mode puts ``/func`` before it."""
        base = URL(endpoint or self.endpoint)
        prefix = base.path.rstrip("/")
        if self.config.endpoint_type == "session" and not path.startswith("/server"):
            path = "/func" + path
        url = base.with_path(prefix + path)
        if params:
            # A sequence of pairs keeps repeated keys (``files=a&files=b``).
            url = url.with_query(dict(params) if isinstance(params, Mapping) else list(params))
        return url

    def _context(self, method: str, path: str, sent_at: datetime | None = None) -> RequestContext:
        cfg = self.config
        return RequestContext(
            method=method,
            path=path,
            endpoint=self.endpoint,
            endpoint_type=cfg.endpoint_type,
            access_key=cfg.access_key if cfg.endpoint_type == "api" else "",
            username=cfg.username,
            sent_at=sent_at,
        )

    # --- the guard every hop passes -------------------------------------------------------

    async def _guard(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        if request.url.origin() not in self._origins:
            raise BackendRedirectError(self.endpoint, str(request.url), None)
        response = await handler(request)
        if 300 <= response.status < 400:
            location = response.headers.get("Location", "")
            if location:
                location = str(request.url.join(URL(location)))
            response.release()
            raise BackendRedirectError(self.endpoint, location, response.status)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and response.status >= 400:
            body = await response.read()
            response.release()
            sent = signing.parse_date(request.headers.get("Date", ""))
            context = attrs.evolve(
                self._context(request.method, request.url.path, sent),
                server_date=_parse_http_date(response.headers.get("Date")),
            )
            raise from_response(response.status, _parse_body(body), context)
        return response

    # --- negotiation and login ------------------------------------------------------------

    async def negotiate(self) -> None:
        """Unsigned ``GET /``: use the older of the server's and our API version (v9).

        If the manager cannot be asked, stay on v7, which 23.09 and newer all accept."""
        url = self.url("/")
        try:
            async with self.session.get(
                url,
                headers={"User-Agent": self.config.user_agent},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.config.negotiation_timeout),
            ) as response:
                body = await response.json(content_type=None)
            server = body["version"] if isinstance(body, dict) else None
            if isinstance(server, str):
                self.api_version = versions.negotiate(server, self.config.version)
                self.server_versions = body
                if versions.parse(self.api_version) < versions.parse("v5.20191215"):
                    log.warning("Backend.AI at %s speaks only API %s", self.endpoint, server)
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            log.debug(
                "version negotiation with %s failed (%s); using %s", url, exc, self.api_version
            )
        except BackendRedirectError:
            log.debug("version negotiation with %s was redirected; using %s", url, self.api_version)

    async def login(self) -> None:
        """``POST /server/login`` (session mode); the web server keeps our cookie."""
        cfg = self.config
        reply = await self.request(
            "POST",
            "/server/login",
            json_body={"username": cfg.username, "password": cfg.password},
            retry_login=False,
        )
        body = reply.json()
        if not isinstance(body, dict):
            raise ProtocolError(f"Backend.AI web login answered {body!r} instead of a JSON object.")
        if body.get("authenticated") is not True:
            raw = body.get("data")
            data: dict[str, Any] = raw if isinstance(raw, dict) else {}
            problem = ProblemDetails.of(
                401,
                Problem.AUTH_FAILED,
                str(data.get("title") or "Login failed"),
                msg=str(data.get("details")) if data.get("details") else None,
            )
            raise AuthenticationError(401, problem, self._context("POST", "/server/login"))
        self._logged_in = True
        log.debug("logged in to %s as %s", self.endpoint, cfg.username)

    # --- plain requests -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json_body: Any = _NO_BODY,
        form: Callable[[], aiohttp.FormData] | None = None,
        idempotent: bool = False,
        retry_login: bool = True,
    ) -> Reply:
        """Send one API call; a non-2xx answer raises the matching ``BackendAPIError``."""
        return await self._relogging(
            lambda: self._request_with_retries(method, path, params, json_body, form, idempotent),
            retry_login=retry_login,
        )

    async def _relogging(
        self, attempt: Callable[[], Awaitable[_T]], *, retry_login: bool = True
    ) -> _T:
        """Run ``attempt``; once a web-server login has expired (401), log in and run it again."""
        try:
            return await attempt()
        except AuthenticationError:
            if not (retry_login and self._logged_in):
                raise
            await self._login_again()
            return await attempt()

    async def _login_again(self) -> None:
        """The web-server session expired (a 401 after a successful login): log in anew."""
        log.info("the web-server login expired; logging in again")
        self._logged_in = False
        await self.login()

    async def _request_with_retries(
        self,
        method: str,
        path: str,
        params: QueryParams | None,
        json_body: Any,
        form: Callable[[], aiohttp.FormData] | None,
        idempotent: bool,
    ) -> Reply:
        retries = 0
        delay = self.config.retry_backoff
        unreached = 0
        while True:
            try:
                return await self._once(method, path, params, json_body, form)
            except _NotConnected as exc:
                failed_endpoint = self.endpoint
                unreached += 1
                self._rotate()
                if unreached < len(self._endpoints):
                    log.info(
                        "%s unreachable (%s); trying %s", failed_endpoint, exc.reason, self.endpoint
                    )
                    continue
                if not idempotent or retries >= self.config.max_retries:
                    raise BackendUnreachableError(
                        self._describe_all(failed_endpoint), exc.reason
                    ) from None
            except _Interrupted as exc:
                if not idempotent or retries >= self.config.max_retries:
                    raise BackendUnreachableError(self.endpoint, exc.reason) from None
            except BackendAPIError as exc:
                if not idempotent or exc.status not in RETRY_STATUSES:
                    raise
                if retries >= self.config.max_retries:
                    raise
            retries += 1
            unreached = 0
            log.info("retrying %s %s in %.1f s", method, path, delay)
            await asyncio.sleep(delay)
            delay *= 2

    def _describe_all(self, last: str) -> str:
        if len(self._endpoints) == 1:
            return last
        return " and ".join(self._endpoints)

    def _rotate(self) -> None:
        self._current = (self._current + 1) % len(self._endpoints)

    async def _once(
        self,
        method: str,
        path: str,
        params: QueryParams | None,
        json_body: Any,
        form: Callable[[], aiohttp.FormData] | None,
    ) -> Reply:
        endpoint = self.endpoint
        url = self.url(path, params, endpoint)
        data: Any
        if form is not None:
            content_type, data, send_ct = auth.MULTIPART, form(), False
        elif json_body is not _NO_BODY:
            content_type, data, send_ct = auth.JSON, json.dumps(json_body).encode(), True
        else:
            content_type, data, send_ct = auth.TEXT, b"", True
        now = self.config.clock()
        headers = auth.request_headers(
            self.config,
            method=method,
            url=url,
            endpoint=endpoint,
            api_version=self.api_version,
            content_type=content_type,
            send_content_type=send_ct,
            now=now,
        )
        connected = False
        try:
            async with self.session.request(
                method, url, headers=headers, data=data, allow_redirects=False
            ) as response:
                connected = True
                log.debug("%s %s -> HTTP %s", method, url, response.status)
                if response.status >= 400:
                    body = await response.read()
                    context = attrs.evolve(
                        self._context(method, path, now),
                        server_date=_parse_http_date(response.headers.get("Date")),
                    )
                    raise from_response(response.status, _parse_body(body), context)
                return Reply(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            was_connected, reason = describe_connection_error(exc, self.config)
            if connected or was_connected:
                raise _Interrupted(reason) from exc
            raise _NotConnected(reason) from exc

    # --- streams --------------------------------------------------------------------------

    async def ws_connect(
        self, path: str, params: QueryParams | None = None, *, heartbeat: float | None = None
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a signed WebSocket (no Content-Type sent, signed as octet-stream).

        ``heartbeat`` (default: the config's ``ws_heartbeat``): a ping is sent after that
        many seconds without a message, and a missing pong within half of it closes the
        socket with an error, so a half-open connection is noticed within 1.5 times that.
        """
        beat = self.config.ws_heartbeat if heartbeat is None else heartbeat
        return await self._relogging(lambda: self._ws_connect(path, params, beat))

    async def _ws_connect(
        self, path: str, params: QueryParams | None, heartbeat: float
    ) -> aiohttp.ClientWebSocketResponse:
        unreached = 0
        while True:
            endpoint = self.endpoint
            url = self.url(path, params, endpoint)
            headers = auth.request_headers(
                self.config,
                method="GET",
                url=url,
                endpoint=endpoint,
                api_version=self.api_version,
                content_type=auth.STREAM,
                send_content_type=False,
            )
            log.debug("WebSocket %s", url)
            try:
                return await self.session.ws_connect(
                    url,
                    headers=headers,
                    autoping=True,
                    heartbeat=heartbeat or None,
                    max_msg_size=WS_MAX_MESSAGE,
                )
            except aiohttp.WSServerHandshakeError as exc:
                raise ProtocolError(
                    f"Backend.AI at {endpoint} refused the WebSocket upgrade of {path} "
                    f"(HTTP {exc.status}: {exc.message})."
                ) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                was_connected, reason = describe_connection_error(exc, self.config)
                if was_connected:
                    raise BackendUnreachableError(endpoint, reason) from None
                unreached += 1
                self._rotate()
                if unreached >= len(self._endpoints):
                    raise BackendUnreachableError(self._describe_all(endpoint), reason) from None

    async def open_stream(
        self, path: str, params: QueryParams | None = None
    ) -> aiohttp.ClientResponse:
        """A signed long-lived GET (SSE); the caller reads ``response.content`` and closes it."""
        return await self._relogging(lambda: self._open_stream(path, params))

    async def _open_stream(self, path: str, params: QueryParams | None) -> aiohttp.ClientResponse:
        unreached = 0
        while True:
            endpoint = self.endpoint
            url = self.url(path, params, endpoint)
            now = self.config.clock()
            headers = auth.request_headers(
                self.config,
                method="GET",
                url=url,
                endpoint=endpoint,
                api_version=self.api_version,
                content_type=auth.STREAM,
                send_content_type=False,
                now=now,
            )
            try:
                response = await self.session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        total=None, sock_connect=self.config.connection_timeout, sock_read=None
                    ),
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                was_connected, reason = describe_connection_error(exc, self.config)
                if was_connected:
                    raise BackendUnreachableError(endpoint, reason) from None
                unreached += 1
                self._rotate()
                if unreached >= len(self._endpoints):
                    raise BackendUnreachableError(self._describe_all(endpoint), reason) from None
                continue
            if response.status >= 400:
                body = await response.read()
                response.release()
                context = attrs.evolve(
                    self._context("GET", path, now),
                    server_date=_parse_http_date(response.headers.get("Date")),
                )
                raise from_response(response.status, _parse_body(body), context)
            return response
