"""The gateway's settings: listening address, keypairs, data folder, limits.

Everything comes from the command line and the environment (keys, login password); the
optional ``--config`` file (TOML, or JSON by extension) adds image-table entries under
``[images]`` (docs/images.md) and gateway settings under ``[gateway]``.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.gateway.journal import DETACH_GRACE, JOURNAL_CHARS
from bai_lsp.gateway.runtimes import ImageTable

DEFAULT_USER = "user@bai-lsp.local"
#: Backend.AI's default rate limit is per keypair policy; this one only protects the machine.
DEFAULT_RATE_LIMIT = 30_000
RATE_LIMIT_WINDOW = 900


class ConfigError(ValueError):
    """The settings cannot be used; the message says which one and why."""


@attrs.frozen
class Keypair:
    access_key: str
    secret_key: str = attrs.field(repr=False)
    user: str = DEFAULT_USER
    rate_limit: int = DEFAULT_RATE_LIMIT


@attrs.define
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8090
    data_dir: Path = attrs.field(factory=lambda: default_data_dir())
    keypairs: list[Keypair] = attrs.field(factory=list)
    #: Seconds without any execution before a session is terminated (0 = never).
    idle_timeout: float = 0.0
    allow_remote: bool = False
    images: ImageTable = attrs.field(factory=ImageTable)
    #: The web-server login (endpoint type ``session``): username and password.
    login_user: str = DEFAULT_USER
    login_password: str | None = attrs.field(default=None, repr=False)
    sse_ping_interval: float = 15.0
    #: Seconds a ``POST /session`` that is told to wait may block for the runtime to start.
    start_timeout: float = 300.0
    #: Sessions a single access key may keep alive at once (protects the machine).
    max_sessions: int = 200
    #: Largest archive ``download`` sends per requested path.
    max_download_bytes: int = 64 * 1024 * 1024
    #: What ``GET /`` advertises (``v7``: 23.09, ``v9``: the newest manager); each request is
    #: still answered in the dialect of the version it carries (bai_lsp.gateway.dialects).
    api_version: str = "v7"
    #: The resumable-runs extension (docs/gateway.md); off = a real manager's behaviour.
    resumable_runs: bool = True
    #: Seconds a streamed run whose socket dropped waits for a REST ``continue``.
    detach_grace: float = DETACH_GRACE
    #: Characters of unacknowledged answers kept per run.
    journal_chars: int = JOURNAL_CHARS

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def keypair(self, access_key: str) -> Keypair | None:
        for pair in self.keypairs:
            if secrets.compare_digest(pair.access_key.encode(), access_key.encode()):
                return pair
        return None

    @property
    def secrets(self) -> list[str]:
        """Strings that must never appear in a log line or a response."""
        found = [pair.secret_key for pair in self.keypairs]
        if self.login_password:
            found.append(self.login_password)
        return found


def default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bai-lsp" / "gateway"


def is_loopback_host(host: str) -> bool:
    text = host.strip().strip("[]").lower()
    if text == "localhost" or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def random_keypair() -> Keypair:
    """A keypair shaped like Backend.AI's (``AKIA`` + 16, secret of 40 characters)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    access = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    return Keypair(access, secrets.token_urlsafe(30)[:40])


def read_config_file(path: Path) -> dict[str, Any]:
    """The ``[gateway]`` table of ``path`` (the ``[images]`` table is read by ImageTable)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config {path} is not valid: {exc}") from exc
    section = data.get("gateway", {}) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"config {path}: 'gateway' must be a table")
    return section


def apply_config_section(config: GatewayConfig, section: Mapping[str, Any], where: str) -> None:
    """Settings of the ``[gateway]`` table; unknown keys are refused, not ignored."""
    known = {
        "idle_timeout",
        "keypairs",
        "sse_ping_interval",
        "start_timeout",
        "max_sessions",
        "max_download_bytes",
        "resumable_runs",
        "detach_grace",
        "journal_chars",
    }
    unknown = set(section) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown [gateway] keys {sorted(unknown)}; known: {sorted(known)}"
        )
    if "resumable_runs" in section:
        if not isinstance(section["resumable_runs"], bool):
            raise ConfigError(f"{where}: resumable_runs must be true or false")
        config.resumable_runs = section["resumable_runs"]
    for key in ("idle_timeout", "sse_ping_interval", "start_timeout", "detach_grace"):
        if key in section:
            value = section[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: {key} must be a number of seconds ≥ 0")
            setattr(config, key, float(value))
    for key in ("max_sessions", "max_download_bytes", "journal_chars"):
        if key in section:
            value = section[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: {key} must be a positive integer")
            setattr(config, key, value)
    for item in section.get("keypairs", []):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("access_key"), str)
            or not isinstance(item.get("secret_key"), str)
            or not item["access_key"]
            or not item["secret_key"]
        ):
            raise ConfigError(
                f"{where}: each [[gateway.keypairs]] needs access_key and secret_key strings"
            )
        if config.keypair(item["access_key"]) is not None:
            raise ConfigError(f"{where}: access key {item['access_key']} is configured twice")
        config.keypairs.append(
            Keypair(item["access_key"], item["secret_key"], str(item.get("user", DEFAULT_USER)))
        )
