"""Every way a Backend.AI call can fail, as exceptions that carry a sentence for the user.

A ``BackendAPIError`` keeps the manager's problem+json (``type``, ``title``, ``msg``,
``data``) for code that switches on it, and ``user_message`` turns it into something a
person can act on: which credential was refused, which image is unknown, how far the clock
is off. No message ever contains a secret key or password: only the access key (which
Backend.AI itself treats as an identifier) or the login user name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from bai_lsp.wire.problems import Problem, ProblemDetails


class BackendAIError(Exception):
    """Base of the client's errors; ``user_message`` is what an editor should show."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message

    def __str__(self) -> str:
        return self.user_message


class ConfigError(BackendAIError, ValueError):
    """A setting cannot be used; the message names the variable or argument and the fix."""


class InvalidRequestError(BackendAIError, ValueError):
    """A call was refused before anything was sent (bad session name, oversized file…)."""


class BackendUnreachableError(BackendAIError):
    """No configured endpoint answered (connection refused, DNS, TLS, timeout)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"Cannot reach Backend.AI at {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class BackendRedirectError(BackendAIError):
    """The endpoint answered with a redirect; signed requests are never sent elsewhere."""

    def __init__(self, endpoint: str, location: str, status: int | None) -> None:
        what = (
            f"answered with a redirect (HTTP {status}) to {location or 'an unnamed location'}"
            if status is not None
            else f"was about to send a request to {location}, which is not the endpoint"
        )
        super().__init__(
            f"Backend.AI at {endpoint} {what}. Credentials are only ever sent to the "
            "configured endpoint, so the redirect was not followed; if that address is the "
            "right server, set BACKEND_ENDPOINT to it."
        )
        self.endpoint = endpoint
        self.location = location
        self.status = status


class ProtocolError(BackendAIError):
    """The server answered, but not in the shape Backend.AI's API promises."""


class SessionStartError(BackendAIError):
    """A session reached ERROR, CANCELLED or TERMINATED (or timed out) instead of RUNNING."""

    def __init__(self, name: str, status: str, detail: str | None, user_message: str) -> None:
        super().__init__(user_message)
        self.name = name
        self.status = status
        self.detail = detail


@attrs.frozen
class RequestContext:
    """What the client knew when a call failed; it shapes the message, never leaks a secret."""

    method: str
    path: str
    endpoint: str
    endpoint_type: str = "api"
    access_key: str = ""
    username: str | None = None
    #: The client's clock when it signed, and the server's ``Date`` response header.
    sent_at: datetime | None = None
    server_date: datetime | None = None


class BackendAPIError(BackendAIError):
    """A problem+json (or other non-2xx) answer of the API."""

    def __init__(
        self, status: int, problem: ProblemDetails, context: RequestContext | None = None
    ) -> None:
        self.status = status
        self.problem = problem
        self.context = context
        super().__init__(self._message())

    @property
    def type(self) -> str:
        return self.problem.type

    @property
    def slug(self) -> str:
        return self.problem.slug

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def msg(self) -> str | None:
        return self.problem.msg

    @property
    def data(self) -> Any:
        return self.problem.data

    def detail(self) -> str:
        """``title`` and ``msg`` as one sentence, without repeating either."""
        title = _clause(self.problem.title) or f"HTTP {self.status}"
        msg = _clause(self.problem.msg or "")
        if not msg or msg == title:
            return title
        return f"{title}: {msg}"

    def _message(self) -> str:
        return f"Backend.AI: {self.detail()}."


class AuthenticationError(BackendAPIError):
    """401: unknown access key, wrong signature, no or expired login."""

    def _message(self) -> str:
        ctx = self.context
        # The manager's title is generic ("Credential/signature mismatch."); msg says which.
        reason = _clause(self.problem.msg or "") or self.detail()
        if ctx is not None and ctx.endpoint_type == "session":
            who = f"user {ctx.username!r}" if ctx.username else "the login"
            return (
                f"Backend.AI refused {who} at {ctx.endpoint}: {reason}. Check the user name "
                "and password (BACKEND_USERNAME / BACKEND_PASSWORD)."
            )
        if ctx is None:
            return f"Backend.AI refused the credentials: {reason}."
        if not ctx.access_key:
            return (
                f"Backend.AI at {ctx.endpoint} needs credentials: {reason}. Set "
                "BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY."
            )
        text = (self.problem.msg or self.problem.title).lower()
        if "access key" in text:
            hint = "Check BACKEND_ACCESS_KEY."
        elif "signature" in text:
            hint = "Check BACKEND_SECRET_KEY."
        else:
            hint = "Check BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY."
        return (
            f"Backend.AI refused the credentials for access key {ctx.access_key}: {reason}. {hint}"
        )


class BadRequestError(BackendAPIError):
    """400: the request was malformed or its parameters invalid."""


class ClockSkewError(BadRequestError):
    """400 ``invalid-auth-params`` about the Date header: the two clocks disagree."""

    def _message(self) -> str:
        ctx = self.context
        reason = _clause(self.problem.msg or "") or self.detail()
        base = (
            f"Backend.AI rejected the request's time ({reason}): the server only "
            "accepts requests dated within 15 minutes of its own clock."
        )
        if ctx is not None and ctx.sent_at is not None and ctx.server_date is not None:
            skew = (ctx.sent_at - ctx.server_date).total_seconds()
            way = "ahead of" if skew > 0 else "behind"
            base += f" This computer's clock is {_duration(abs(skew))} {way} the server's."
        return base + " Fix the system clock (enable NTP time sync) and try again."


class AlreadyExistsError(BadRequestError):
    """400 ``session-already-exists``: the name is taken by a session that cannot be reused."""

    @property
    def existing_session_id(self) -> str | None:
        data = self.problem.data
        if isinstance(data, dict):
            value = data.get("existingSessionId")
            return str(value) if value is not None else None
        return None

    def _message(self) -> str:
        return (
            f"Backend.AI: {self.detail()}. A live session already uses this name with "
            "another image (or reuse was not allowed); pick another session name or destroy "
            "the existing session."
        )


class PermissionDeniedError(BackendAPIError):
    """403: the caller may not do this (e.g. destroy a session that is still starting)."""


class NotFoundError(BackendAPIError):
    """404: no such session, image, file or URL."""


class QuotaError(BackendAPIError):
    """412/429: a quota or the rate limit was hit; also a session stuck pending."""


class SessionPendingError(QuotaError):
    """A session stayed PENDING past the wait limit because the scheduler's checks failed
    (concurrency or resource quotas, no agent with room): Backend.AI's "pending" quota case,
    which the manager reports as a status rather than an HTTP error."""

    def __init__(self, name: str, detail: str, user_message: str) -> None:
        self.name = name
        self.detail_text = detail
        self._text = user_message
        problem = ProblemDetails.of(
            412, Problem.QUOTA_EXCEEDED, "The session is pending.", msg=detail
        )
        super().__init__(412, problem)

    def _message(self) -> str:
        return self._text


class ServerError(BackendAPIError):
    """5xx: the manager or an agent failed."""

    def _message(self) -> str:
        text = f"Backend.AI server error (HTTP {self.status}): {self.detail()}."
        details = self.problem.data
        agent = details.get("agent-details") if isinstance(details, dict) else None
        if isinstance(agent, dict) and agent.get("exception"):
            text = text[:-1] + f" ({agent['exception']})."
        return text


def _clause(text: str) -> str:
    """A sentence without its final period, so it can be embedded in another."""
    return text.strip().rstrip(".").rstrip()


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def from_response(status: int, body: Any, context: RequestContext | None = None) -> BackendAPIError:
    """The typed exception for one non-2xx answer (``body`` is the parsed JSON or text)."""
    problem = ProblemDetails.from_json(status, body)
    if isinstance(body, dict) and "agent-details" in body:
        data = problem.data if isinstance(problem.data, dict) else {}
        problem = attrs.evolve(problem, data={**data, "agent-details": body["agent-details"]})
    slug = problem.slug
    cls: type[BackendAPIError]
    if status == 401:
        cls = AuthenticationError
    elif slug == Problem.SESSION_ALREADY_EXISTS:
        cls = AlreadyExistsError
    elif slug == Problem.INVALID_AUTH_PARAMS and "date" in (problem.msg or problem.title).lower():
        cls = ClockSkewError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status in (412, 429):
        cls = QuotaError
    elif status >= 500:
        cls = ServerError
    elif status == 400:
        cls = BadRequestError
    else:
        cls = BackendAPIError
    return cls(status, problem, context)
