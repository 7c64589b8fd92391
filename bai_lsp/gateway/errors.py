"""Errors the gateway answers with, as Backend.AI's problem+json (§7 of the API reference).

Handlers raise :class:`GatewayError`; the error middleware turns it (and anything else that
escapes a handler) into a JSON body, so a client never sees a bare 500 or an HTML page.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bai_lsp.wire.problems import PROBLEM_CONTENT_TYPE, Problem, ProblemDetails


class GatewayError(Exception):
    """A request the gateway refuses; carries the problem+json it answers with."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        msg: str | None = None,
        data: Any = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(msg or title)
        self.problem = ProblemDetails.of(status, slug, title, msg, data)
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {**self.problem.to_json(), **self.extra}


def problem_response(error: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=error.problem.status,
        text=json.dumps(error.body()),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def invalid_params(msg: str, data: Any = None) -> GatewayError:
    return GatewayError(400, Problem.INVALID_API_PARAMS, "Invalid API parameters.", msg, data)


def bad_request(msg: str) -> GatewayError:
    return GatewayError(400, Problem.GENERIC_BAD_REQUEST, "Bad request.", msg)


def invalid_auth(msg: str) -> GatewayError:
    return GatewayError(
        400, Problem.INVALID_AUTH_PARAMS, "Missing or invalid auth parameters.", msg
    )


def auth_failed(msg: str) -> GatewayError:
    return GatewayError(401, Problem.AUTH_FAILED, "Credential/signature mismatch.", msg)


def forbidden(msg: str) -> GatewayError:
    return GatewayError(403, Problem.GENERIC_FORBIDDEN, "Forbidden operation.", msg)


def insufficient_privilege(msg: str) -> GatewayError:
    return GatewayError(403, "insufficient-privilege", "Insufficient privilege.", msg)


SESSION_NOT_FOUND_TITLE = "No such session."


def session_not_found(ref: str) -> GatewayError:
    return GatewayError(
        404,
        Problem.OBJECT_NOT_FOUND,
        SESSION_NOT_FOUND_TITLE,
        f"Session (id={ref}) does not exist.",
    )


def file_not_found(path: str) -> GatewayError:
    return GatewayError(404, Problem.OBJECT_NOT_FOUND, "No such file.", f"{path}: not found")


def url_not_found(path: str) -> GatewayError:
    return GatewayError(404, Problem.URL_NOT_FOUND, "Unknown URL path.", data=path)


def method_not_allowed(method: str, allowed: set[str]) -> GatewayError:
    return GatewayError(
        405,
        Problem.METHOD_NOT_ALLOWED,
        "HTTP Method Not Allowed.",
        f"{method} is not allowed here; allowed: {', '.join(sorted(allowed))}",
    )


def already_exists(msg: str, existing_id: str) -> GatewayError:
    return GatewayError(
        400,
        Problem.SESSION_ALREADY_EXISTS,
        "The session already exists but you requested not to reuse existing one.",
        msg,
        {"existingSessionId": existing_id},
    )


def kernel_failure(slug: str, msg: str, exception: str) -> GatewayError:
    """A runner failure, shaped like the manager's wrapped agent errors (``agent-details``)."""
    titles = {
        Problem.KERNEL_CREATION_FAILED: "Kernel creation has failed.",
        Problem.KERNEL_EXECUTION_FAILED: "Executing user code in the kernel has failed.",
    }
    return GatewayError(
        500,
        slug,
        titles.get(slug, "Kernel operation has failed."),
        msg,
        extra={
            "agent-details": {
                "type": "https://api.backend.ai/probs/agent-failure",
                "title": "Agent-side exception occurred.",
                "exception": exception,
            }
        },
    )


def internal_error() -> GatewayError:
    return GatewayError(
        500,
        Problem.INTERNAL_SERVER_ERROR,
        "Something has gone wrong.",
        "The gateway hit an unexpected error; see its log for details.",
    )
