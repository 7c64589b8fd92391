"""API version strings (``v<major>.<YYYYMMDD>``) and their ordering."""

from __future__ import annotations

import re

V7 = "v7.20230615"
V9 = "v9.20250722"
MANAGER_23_09 = "23.09.10"
MANAGER_26_08 = "26.8.0"

#: Versions a 23.09 manager accepts in ``X-BackendAI-Version``.
ACCEPTED_23_09: tuple[str, ...] = (
    "v4.20181215",
    "v4.20190115",
    "v4.20190315",
    "v4.20190615",
    "v5.20191215",
    "v6.20200815",
    "v6.20210815",
    "v6.20220315",
    "v6.20220615",
    "v6.20230315",
    V7,
)

#: Versions the newest manager (26.08) accepts besides 23.09's: the gateway accepts them all,
#: as a newest manager does, and serves each request in its own dialect.
ACCEPTED_NEWEST_ONLY: tuple[str, ...] = ("v6.20221201", "v8.20240315", "v8.20240915", V9)
ACCEPTED: tuple[str, ...] = ACCEPTED_23_09 + ACCEPTED_NEWEST_ONLY

_VERSION_RE = re.compile(r"^v(\d+)\.(\d{8})$")


def parse(version: str) -> tuple[int, str]:
    """``"v7.20230615"`` → ``(7, "20230615")``; the SDK compares these tuples."""
    match = _VERSION_RE.match(version.strip())
    if match is None:
        raise ValueError(f"not a Backend.AI API version: {version!r}")
    return int(match[1]), match[2]


def negotiate(server: str, client: str) -> str:
    """The version a client sends after ``GET /``: the older of the two."""
    return server if parse(server) < parse(client) else client
