"""What the backend's session info says beyond the status word: why a session ended and how
long it may still sit idle before the backend ends it.

Backend.AI reports the first in ``statusInfo`` (``idle-timeout``, ``user-requested``,
``failed-to-start``…) and the second in ``idleChecks`` (one entry per idle checker, each with
``remaining`` seconds). Both are optional; nothing here guesses when they are missing.
"""

from __future__ import annotations

import ast
import json
import re
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


#: The idle checker that is a lifetime, not idleness (reported apart).
LIFETIME_CHECK = "session_lifetime"


def _checks(info: dict[str, Any]) -> dict[str, Any]:
    checks: Any = info.get("idleChecks", info.get("idle_checks"))
    if isinstance(checks, str):
        try:
            checks = json.loads(checks)
        except ValueError:
            return {}
    return checks if isinstance(checks, dict) else {}


def lifetime_remaining(info: dict[str, Any]) -> float | None:
    """Seconds before the maximum session lifetime ends the session, if reported."""
    check = _checks(info).get(LIFETIME_CHECK)
    remaining = check.get("remaining") if isinstance(check, dict) else None
    if isinstance(remaining, bool) or not isinstance(remaining, int | float) or remaining < 0:
        return None
    return float(remaining)


_DECIMAL_RE = re.compile(r"Decimal\((['\"])([^'\"]*)\1\)")


def _number_text(value: Any) -> str:
    """``1.000000`` → ``1`` (the newest manager's decimals), other values as they are."""
    text = str(value)
    if re.fullmatch(r"-?\d+\.\d+", text):
        text = text.rstrip("0").rstrip(".")
    return text


def _slots(raw: Any) -> dict[str, str] | None:
    """Slots as the manager reports them: a dict, JSON, or a Python ``repr`` (23.09; the
    newest manager's has ``Decimal('1.000000')`` values)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            try:
                raw = ast.literal_eval(_DECIMAL_RE.sub(lambda m: repr(m.group(2)), raw))
            except (ValueError, SyntaxError):
                return None
    if not isinstance(raw, dict):
        return None
    return {str(k): _number_text(v) for k, v in raw.items()}


def resources(info: dict[str, Any]) -> dict[str, Any] | None:
    requested = _slots(info.get("requestedSlots", info.get("requested_slots")))
    occupied = _slots(info.get("occupiedSlots", info.get("occupied_slots")))
    if requested is None and occupied is None:
        return None
    return {"requested": requested or {}, "occupied": occupied or {}}


def pending_reason(info: dict[str, Any]) -> str | None:
    """The scheduler's word on a session that waits (PENDING/SCHEDULED/PULLING…)."""
    if str(info.get("status", "")).upper() not in ("PENDING", "SCHEDULED", "PULLING", "PREPARING"):
        return None
    data = info.get("statusData", info.get("status_data"))
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if isinstance(data, dict):
        scheduler = data.get("scheduler")
        if isinstance(scheduler, dict) and scheduler.get("msg"):
            return str(scheduler["msg"])
    text = info.get("statusInfo", info.get("status_info"))
    return str(text) if text not in (None, "", "None") else None


def idle_remaining(info: dict[str, Any]) -> float | None:
    """The fewest seconds left before an idle checker ends the session, if any reports."""
    checks = {k: v for k, v in _checks(info).items() if k != LIFETIME_CHECK}
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
    lifetime = lifetime_remaining(info) if snapshot.status not in ("terminated", "error") else None
    return attrs.evolve(
        snapshot,
        message=message,
        reason=reason,
        idle_remaining_seconds=None if idle is None else round(idle, 1),
        lifetime_remaining_seconds=None if lifetime is None else round(lifetime, 1),
        resources=resources(info),
        pending_reason=pending_reason(info),
    )
