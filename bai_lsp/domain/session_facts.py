"""What the backend's session info says beyond the status word: why a session ended and how
long it may still sit idle before the backend ends it.

Backend.AI reports the first in ``statusInfo`` (``idle-timeout``, ``user-requested``,
``failed-to-start``…) and the second in ``idleChecks`` (one entry per idle checker, each with
``remaining`` seconds). Both are optional; nothing here guesses when they are missing.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from bai_lsp.domain.events import SessionStatus

#: ``statusInfo`` values as a user reads them (others are quoted as the backend says them).
REASONS = {
    "idle-timeout": "it was idle longer than the backend's idle timeout",
    "user-requested": "it was destroyed by a user request",
    "user-request": "it was destroyed by a user request",
    "force-terminated": "it was force-terminated on the backend",
    "failed-to-start": "it failed to start",
    "self-terminated": "its kernel exited",
    "task-finished": "its batch task finished",
    "session-lifetime": "it reached its maximum lifetime",
    "agent-termination": "the agent running it went away",
}


#: ``statusInfo`` values → the protocol's ``reason`` (others: ``terminated-by-backend``).
REASON_CODES = {
    "idle-timeout": "idle-timeout",
    "user-requested": "destroyed-on-backend",
    "user-request": "destroyed-on-backend",
    "force-terminated": "destroyed-on-backend",
    "failed-to-start": "failed-to-start",
    "self-terminated": "kernel-exited",
    "task-finished": "task-finished",
    "session-lifetime": "lifetime-exceeded",
    "agent-termination": "agent-lost",
}


def idle_remaining(info: dict[str, Any]) -> float | None:
    """The fewest seconds left before an idle checker ends the session, if any reports."""
    checks: Any = info.get("idleChecks", info.get("idle_checks"))
    if isinstance(checks, str):
        try:
            checks = json.loads(checks)
        except ValueError:
            return None
    if not isinstance(checks, dict):
        return None
    left: list[float] = []
    for check in checks.values():
        if not isinstance(check, dict):
            continue
        remaining = check.get("remaining")
        kind = check.get("remaining_time_type", "expire_after")
        if isinstance(remaining, bool) or not isinstance(remaining, int | float):
            continue
        if kind == "expire_after" and remaining >= 0:
            left.append(float(remaining))
    return min(left) if left else None


def ended_because(info: dict[str, Any]) -> str | None:
    """Why the backend ended (or failed) the session, as a clause: "it was idle …"."""
    raw = info.get("statusInfo", info.get("status_info"))
    text = str(raw).strip() if raw not in (None, "", "None") else ""
    if not text:
        return None
    return REASONS.get(text.lower(), f"the backend says: {text}")


def reason_code(info: dict[str, Any]) -> str:
    """The protocol's ``reason`` for a session the backend ended (``SESSION_REASONS``)."""
    raw = info.get("statusInfo", info.get("status_info"))
    text = str(raw).strip().lower() if raw not in (None, "", "None") else ""
    return REASON_CODES.get(text, "terminated-by-backend")


def with_facts(snapshot: SessionStatus, info: dict[str, Any]) -> SessionStatus:
    """``snapshot`` plus the idle countdown, and the reason when the session has ended (a
    reason already known here, e.g. ``destroyed-by-user``, stays)."""
    message, reason = snapshot.message, snapshot.reason
    if snapshot.status in ("terminated", "error"):
        because = ended_because(info)
        if because:
            message = f"Session {snapshot.session_name} ended: {because}."
        reason = reason or reason_code(info)
    idle = idle_remaining(info) if snapshot.status == "idle" else None
    return attrs.evolve(
        snapshot,
        message=message,
        reason=reason,
        idle_remaining_seconds=None if idle is None else round(idle, 1),
    )
