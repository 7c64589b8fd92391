"""HMAC request signing of the Backend.AI manager API (``endpoint_type=api``).

Both the client (to sign) and the gateway (to verify) must build the very same string, so
the canonical form lives here once. The algorithm and its test vectors are in
``docs/backendai-api.md`` §2.2 of the shared reference; bodies are never hashed since
API v4.20181215, which is why ``EMPTY_BODY_HASH`` is a constant.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

import attrs

SIGN_METHOD = "HMAC-SHA256"
EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()

_AUTH_RE = re.compile(r"^\s*(?P<type>\S+)\s+(?P<params>.+?)\s*$")


def canonical_request(
    *,
    method: str,
    rel_url: str,
    date: str,
    host: str,
    content_type: str,
    api_version: str,
) -> str:
    """The seven-line string that is signed; ``rel_url`` is path plus ``?query`` as sent."""
    return "\n".join(
        (
            method.upper(),
            rel_url,
            date,
            f"host:{host}",
            f"content-type:{content_type.lower()}",
            f"x-backendai-version:{api_version}",
            EMPTY_BODY_HASH,
        )
    )


def signing_key(secret_key: str, date: datetime, host: str) -> bytes:
    """Derive the per-day, per-host key, as the manager does."""
    day = date.astimezone(UTC).strftime("%Y%m%d")
    k1 = hmac.new(secret_key.encode(), day.encode(), hashlib.sha256).digest()
    return hmac.new(k1, host.encode(), hashlib.sha256).digest()


def sign(
    *,
    secret_key: str,
    method: str,
    rel_url: str,
    date: str,
    host: str,
    content_type: str,
    api_version: str,
) -> str:
    """Return the lowercase hex signature of a request."""
    when = parse_date(date)
    if when is None:
        raise ValueError(f"not a usable Date value: {date!r}")
    key = signing_key(secret_key, when, host)
    msg = canonical_request(
        method=method,
        rel_url=rel_url,
        date=date,
        host=host,
        content_type=content_type,
        api_version=api_version,
    )
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def authorization_header(access_key: str, signature: str) -> str:
    return f"BackendAI signMethod={SIGN_METHOD}, credential={access_key}:{signature}"


def request_date(now: datetime | None = None) -> str:
    """The SDK's ``Date`` value: ISO 8601 with microseconds and ``+00:00``, not an HTTP-date."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat()


def parse_date(value: str) -> datetime | None:
    """Parse a Date header leniently (naive means UTC); ``None`` when unusable."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@attrs.frozen
class Credential:
    """What an ``Authorization`` header claims: whose key and which signature."""

    access_key: str
    signature: str
    sign_method: str


def parse_authorization(header: str) -> Credential | None:
    """Split ``BackendAI signMethod=..., credential=AK:SIG``; ``None`` when malformed."""
    match = _AUTH_RE.match(header)
    if match is None or match["type"] not in ("BackendAI", "Sorna"):
        return None
    params: dict[str, str] = {}
    for part in match["params"].split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        params[key.strip()] = value.strip()
    access_key, sep, signature = params.get("credential", "").partition(":")
    if not sep or not access_key or not signature:
        return None
    return Credential(access_key, signature, params.get("signMethod", SIGN_METHOD))


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison, so timing does not leak how much of a signature was right."""
    return hmac.compare_digest(expected.encode(), given.encode())
