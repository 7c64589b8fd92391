"""Which API dialect the client speaks to a manager: 23.09's (v7) or the newest one's (v9).

The version is negotiated on ``GET /`` (min of the manager's and ours, v9); everything that
differs between the two releases (§10 of the API reference) is decided here, from that
negotiated version, so the client's methods stay one code path. What users notice (restart
refused, destroy finishing later) is turned into behaviour in the domain; see docs/dialects.md.
"""

from __future__ import annotations

from typing import Any

from bai_lsp.backendai.errors import BackendAIError
from bai_lsp.wire import versions

#: The first version only the newest manager accepts; from here on its forms are used.
NEWEST_FROM = (8, "20240315")

#: What a manager we could not ask is assumed to accept: every release since 23.09 takes v7.
FALLBACK_VERSION = versions.V7

#: How long ``destroy`` waits on a newest manager for the session to be really gone.
DESTROY_WAIT_SECONDS = 60.0
DESTROY_POLL_SECONDS = 0.2


def is_newest(api_version: str) -> bool:
    try:
        return versions.parse(api_version) >= NEWEST_FROM
    except ValueError:
        return False


def fallback_version(own: str) -> str:
    """The version used until (or unless) negotiation tells us the manager's."""
    return versions.negotiate(FALLBACK_VERSION, own)


def execute_body(api_version: str, mode: str, code: str, run_id: str | None) -> dict[str, Any]:
    """The execute body: ``runId`` for 23.09; both spellings for the newest manager, whose
    request DTO names the field ``run_id`` while its own SDK still sends ``runId``."""
    body: dict[str, Any] = {"mode": mode, "code": code, "runId": run_id}
    if is_newest(api_version):
        body["run_id"] = run_id
    return body


class RestartUnsupportedError(BackendAIError):
    """The manager refuses to restart sessions (the newest releases answer 501)."""

    def __init__(self, ref: str, api_version: str) -> None:
        super().__init__(
            f"This Backend.AI manager (API {api_version}) does not restart sessions "
            f"(501 not-implemented for {ref}); destroy the session and create it again."
        )


class DestroyTimeoutError(BackendAIError):
    """The manager accepted a destroy but the session did not go away in time."""

    def __init__(self, ref: str, status: str, waited: float) -> None:
        super().__init__(
            f"Session {ref} was marked for termination but is still {status} after "
            f"{waited:.0f} s; it may still be shutting down on the backend."
        )
