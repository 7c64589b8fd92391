"""problem+json → typed exceptions, and the sentence each one shows a user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bai_lsp.backendai import errors
from bai_lsp.backendai.errors import RequestContext, from_response

P = "https://api.backend.ai/probs/"
CTX = RequestContext(
    method="GET",
    path="/session/x",
    endpoint="http://127.0.0.1:8081",
    access_key="AKIAIOSFODNN7EXAMPLE",
)


@pytest.mark.parametrize(
    ("status", "slug", "cls"),
    [
        (401, "auth-failed", errors.AuthenticationError),
        (400, "invalid-auth-params", errors.BadRequestError),
        (400, "invalid-api-params", errors.BadRequestError),
        (400, "generic-bad-request", errors.BadRequestError),
        (400, "session-already-exists", errors.AlreadyExistsError),
        (403, "generic-forbidden", errors.PermissionDeniedError),
        (404, "object-not-found", errors.NotFoundError),
        (404, "url-not-found", errors.NotFoundError),
        (412, "quota-exceeded", errors.QuotaError),
        (429, "rate-limit-exceeded", errors.QuotaError),
        (500, "kernel-execution-failed", errors.ServerError),
        (503, "server-frozen", errors.ServerError),
        (405, "method-not-allowed", errors.BackendAPIError),
    ],
)
def test_status_and_type_pick_the_class(status: int, slug: str, cls: type) -> None:
    exc = from_response(status, {"type": P + slug, "title": "T", "msg": "m", "data": {"k": 1}})
    assert type(exc) is cls
    assert isinstance(exc, errors.BackendAIError)
    assert (exc.status, exc.type, exc.slug, exc.title, exc.msg, exc.data) == (
        status,
        P + slug,
        slug,
        "T",
        "m",
        {"k": 1},
    )


def test_wrong_secret_key_message() -> None:
    exc = from_response(401, {"type": P + "auth-failed", "title": "Signature mismatch"}, CTX)
    assert exc.user_message == (
        "Backend.AI refused the credentials for access key AKIAIOSFODNN7EXAMPLE: "
        "Signature mismatch. Check BACKEND_SECRET_KEY."
    )


def test_unknown_access_key_message() -> None:
    exc = from_response(401, {"type": P + "auth-failed", "title": "Access key not found"}, CTX)
    assert exc.user_message == (
        "Backend.AI refused the credentials for access key AKIAIOSFODNN7EXAMPLE: "
        "Access key not found. Check BACKEND_ACCESS_KEY."
    )


def test_anonymous_and_web_login_messages() -> None:
    body = {"type": P + "auth-failed", "title": "Unauthorized access"}
    anonymous = from_response(401, body, RequestContext("GET", "/", "http://h:1"))
    assert anonymous.user_message == (
        "Backend.AI at http://h:1 needs credentials: Unauthorized access. Set "
        "BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY."
    )
    web = from_response(
        401, body, RequestContext("GET", "/", "http://h:1", "session", username="me")
    )
    assert web.user_message == (
        "Backend.AI refused user 'me' at http://h:1: Unauthorized access. Check the user "
        "name and password (BACKEND_USERNAME / BACKEND_PASSWORD)."
    )
    other = from_response(401, {"type": P + "auth-failed", "title": "IP not allowed"}, CTX)
    assert other.user_message.endswith("Check BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY.")
    assert from_response(401, body).user_message == (
        "Backend.AI refused the credentials: Unauthorized access."
    )


def test_clock_skew_message_says_by_how_much() -> None:
    now = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
    ctx = RequestContext(
        "GET", "/x", "http://h:1", sent_at=now - timedelta(hours=2), server_date=now
    )
    body = {
        "type": P + "invalid-auth-params",
        "title": "Invalid API parameters.",
        "msg": "Date/time sync error",
    }
    exc = from_response(400, body, ctx)
    assert isinstance(exc, errors.ClockSkewError)
    assert exc.user_message == (
        "Backend.AI rejected the request's time (Date/time sync "
        "error): the server only accepts requests dated within 15 minutes of its own clock. "
        "This computer's clock is 2 h behind the server's. Fix the system clock (enable NTP "
        "time sync) and try again."
    )
    ahead = RequestContext(
        "GET", "/x", "http://h:1", sent_at=now + timedelta(minutes=80), server_date=now
    )
    assert "1 h 20 min ahead of" in from_response(400, body, ahead).user_message
    near = RequestContext(
        "GET", "/x", "http://h:1", sent_at=now + timedelta(minutes=16), server_date=now
    )
    assert "16 min ahead of" in from_response(400, body, near).user_message
    assert "This computer" not in from_response(400, body).user_message


def test_already_exists_keeps_the_existing_id() -> None:
    exc = from_response(
        400,
        {
            "type": P + "session-already-exists",
            "title": "The session already exists but you requested not to reuse existing one.",
            "data": {"existingSessionId": "abc"},
        },
    )
    assert isinstance(exc, errors.AlreadyExistsError)
    assert exc.existing_session_id == "abc"
    assert exc.user_message.startswith(
        "Backend.AI: The session already exists but you requested not to reuse existing one. "
        "A live session already uses this name"
    )
    plain = from_response(400, {"type": P + "session-already-exists", "title": "x"})
    assert isinstance(plain, errors.AlreadyExistsError) and plain.existing_session_id is None


def test_not_json_body_becomes_generic_error() -> None:
    exc = from_response(502, "<html>Bad Gateway</html>")
    assert isinstance(exc, errors.ServerError)
    assert exc.slug == "generic-error"
    assert exc.data == {"content": "<html>Bad Gateway</html>"}
    assert exc.user_message == (
        "Backend.AI server error (HTTP 502): Generic Error (could not parse error string)."
    )


def test_agent_details_are_kept_and_shown() -> None:
    exc = from_response(
        500,
        {
            "type": P + "kernel-execution-failed",
            "title": "Executing user code in the kernel has failed.",
            "agent-details": {"type": P + "agent-failure", "exception": "FileNotFoundError('x')"},
        },
    )
    assert exc.data["agent-details"]["exception"] == "FileNotFoundError('x')"
    assert exc.user_message == (
        "Backend.AI server error (HTTP 500): Executing user code in the kernel has failed "
        "(FileNotFoundError('x'))."
    )


def test_generic_message_joins_title_and_msg_once() -> None:
    exc = from_response(
        404,
        {
            "type": P + "object-not-found",
            "title": "No such session.",
            "msg": "Session (id=x) does not exist.",
        },
    )
    assert exc.user_message == "Backend.AI: No such session: Session (id=x) does not exist."
    same = from_response(400, {"type": P + "generic-bad-request", "title": "Bad.", "msg": "Bad"})
    assert same.user_message == "Backend.AI: Bad."
    empty = from_response(418, {"type": P + "x", "title": ""})
    assert empty.user_message == "Backend.AI: HTTP 418."


def test_other_errors_read_well() -> None:
    unreachable = errors.BackendUnreachableError("http://h:1", "connection refused")
    assert str(unreachable) == "Cannot reach Backend.AI at http://h:1: connection refused"
    assert unreachable.endpoint == "http://h:1"
    redirect = errors.BackendRedirectError("http://h:1", "http://evil:2/x", 302)
    assert "redirect (HTTP 302) to http://evil:2/x" in redirect.user_message
    assert "was not followed" in redirect.user_message


def test_a_request_to_another_origin_is_described() -> None:
    refused = errors.BackendRedirectError("http://h:1", "http://evil:2/x", None)
    assert refused.user_message.startswith(
        "Backend.AI at http://h:1 was about to send a request to http://evil:2/x, which is "
        "not the endpoint."
    )
