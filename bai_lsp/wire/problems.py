"""Backend.AI's problem+json error types (RFC 7807), shared by client and gateway."""

from __future__ import annotations

from typing import Any

import attrs

PROBLEM_BASE = "https://api.backend.ai/probs/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem:
    """Type slugs; the full ``type`` URI is ``PROBLEM_BASE + slug``."""

    GENERIC_BAD_REQUEST = "generic-bad-request"
    INVALID_API_PARAMS = "invalid-api-params"
    INVALID_AUTH_PARAMS = "invalid-auth-params"
    SESSION_ALREADY_EXISTS = "session-already-exists"
    GRAPHQL_ERROR = "graphql-error"
    DEPRECATED = "deprecated"
    AUTH_FAILED = "auth-failed"
    GENERIC_FORBIDDEN = "generic-forbidden"
    OBJECT_NOT_FOUND = "object-not-found"
    URL_NOT_FOUND = "url-not-found"
    TOO_MANY_SESSIONS_MATCHED = "too-many-sessions-matched"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    QUOTA_EXCEEDED = "quota-exceeded"
    RATE_LIMIT_EXCEEDED = "rate-limit-exceeded"
    INTERNAL_SERVER_ERROR = "internal-server-error"
    KERNEL_CREATION_FAILED = "kernel-creation-failed"
    KERNEL_EXECUTION_FAILED = "kernel-execution-failed"
    NOT_IMPLEMENTED = "not-implemented"
    SERVICE_UNAVAILABLE = "service-unavailable"
    SERVER_FROZEN = "server-frozen"
    GENERIC_ERROR = "generic-error"


@attrs.define
class ProblemDetails:
    """One error body: ``type`` and ``title`` always, ``msg``/``data`` when there is more."""

    status: int
    type: str
    title: str
    msg: str | None = None
    data: Any = None
    error_code: str | None = None

    @property
    def slug(self) -> str:
        return self.type.removeprefix(PROBLEM_BASE)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title}
        if self.msg is not None:
            body["msg"] = self.msg
        if self.data is not None:
            body["data"] = self.data
        if self.error_code is not None:
            body["error_code"] = self.error_code
        return body

    @classmethod
    def of(
        cls, status: int, slug: str, title: str, msg: str | None = None, data: Any = None
    ) -> ProblemDetails:
        return cls(status=status, type=PROBLEM_BASE + slug, title=title, msg=msg, data=data)

    @classmethod
    def from_json(cls, status: int, body: Any) -> ProblemDetails:
        """Read an error body; a non-JSON or shapeless one becomes ``generic-error``."""
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return cls.of(
                status,
                Problem.GENERIC_ERROR,
                "Generic Error (could not parse error string)",
                data={"content": body},
            )
        msg = body.get("msg")
        return cls(
            status=status,
            type=body["type"],
            title=str(body.get("title", "")),
            msg=msg if isinstance(msg, str) else None,
            data=body.get("data"),
            error_code=body.get("error_code"),
        )
