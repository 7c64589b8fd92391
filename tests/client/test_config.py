"""APIConfig reads the SDK's variables and defaults; explicit values win; bad values say why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bai_lsp.backendai import APIConfig, ConfigError
from bai_lsp.backendai.config import normalise_arch, read_env


def test_defaults_are_the_sdks() -> None:
    config = APIConfig(environ={})
    assert config.endpoints == ("https://api.cloud.backend.ai",)
    assert config.endpoint == "https://api.cloud.backend.ai"
    assert config.endpoint_type == "api"
    assert (config.access_key, config.secret_key) == ("", "")
    assert config.is_anonymous
    assert (config.domain, config.group) == ("default", "default")
    assert config.vfolder_mounts == ()
    assert config.skip_sslcert_validation is False
    assert config.connection_timeout == 10.0
    assert config.read_timeout is None  # 0 = no read timeout
    assert config.version == "v9.20250722"  # the newest we speak; negotiated down
    assert config.user_agent.startswith("Backend.AI Client for Python 23.09.10")


def test_environment_is_read() -> None:
    env = {
        "BACKEND_ENDPOINT": "http://a.example:8081, https://b.example/",
        "BACKEND_ENDPOINT_TYPE": "API",
        "BACKEND_ACCESS_KEY": "AKIATEST",
        "BACKEND_SECRET_KEY": "s3cr3t",
        "BACKEND_DOMAIN": "research",
        "BACKEND_GROUP": "team-a",
        "BACKEND_VFOLDER_MOUNTS": "data, models,,",
        "BACKEND_SKIP_SSLCERT_VALIDATION": "Yes",
        "BACKEND_CONNECTION_TIMEOUT": "2.5",
        "BACKEND_READ_TIMEOUT": "30",
    }
    config = APIConfig(environ=env)
    assert config.endpoints == ("http://a.example:8081", "https://b.example")
    assert config.endpoint_type == "api"
    assert (config.access_key, config.secret_key) == ("AKIATEST", "s3cr3t")
    assert (config.domain, config.group) == ("research", "team-a")
    assert config.vfolder_mounts == ("data", "models")
    assert config.skip_sslcert_validation is True
    assert config.connection_timeout == 2.5
    assert config.read_timeout == 30.0
    assert not config.is_anonymous


def test_sorna_prefix_is_the_fallback() -> None:
    env = {"SORNA_ACCESS_KEY": "AKIAOLD", "SORNA_SECRET_KEY": "old", "BACKEND_SECRET_KEY": "new"}
    config = APIConfig(environ=env)
    assert (config.access_key, config.secret_key) == ("AKIAOLD", "new")
    assert read_env("domain", {"SORNA_DOMAIN": "x"}) == ("x", "SORNA_DOMAIN")
    assert read_env("domain", {}) is None


def test_explicit_values_override_the_environment() -> None:
    env = {
        "BACKEND_ENDPOINT": "http://env.example",
        "BACKEND_ACCESS_KEY": "AKIAENV",
        "BACKEND_SECRET_KEY": "env-secret",
        "BACKEND_DOMAIN": "env-domain",
        "BACKEND_VFOLDER_MOUNTS": "env-folder",
        "BACKEND_SKIP_SSLCERT_VALIDATION": "garbage",
        "BACKEND_READ_TIMEOUT": "garbage",
    }
    config = APIConfig(
        endpoint=["http://explicit.example:1"],
        access_key="AKIAARG",
        secret_key="arg-secret",
        domain="arg-domain",
        vfolder_mounts=["arg-folder", "env-folder"],
        skip_sslcert_validation=False,
        read_timeout=0,
        environ=env,
    )
    assert config.endpoints == ("http://explicit.example:1",)
    assert (config.access_key, config.secret_key, config.domain) == (
        "AKIAARG",
        "arg-secret",
        "arg-domain",
    )
    # vfolder mounts are a set union, as in the SDK
    assert config.vfolder_mounts == ("env-folder", "arg-folder")
    assert config.skip_sslcert_validation is False


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_GROUP", "from-os-environ")
    assert APIConfig().group == "from-os-environ"


@pytest.mark.parametrize("word", ["y", "YES", "t", "true", "1"])
def test_true_words(word: str) -> None:
    assert APIConfig(environ={"BACKEND_SKIP_SSLCERT_VALIDATION": word}).skip_sslcert_validation


@pytest.mark.parametrize("word", ["n", "No", "f", "FALSE", "0"])
def test_false_words(word: str) -> None:
    config = APIConfig(environ={"BACKEND_SKIP_SSLCERT_VALIDATION": word})
    assert not config.skip_sslcert_validation


@pytest.mark.parametrize(
    ("env", "kwargs", "message"),
    [
        (
            {"BACKEND_SKIP_SSLCERT_VALIDATION": "maybe"},
            {},
            "BACKEND_SKIP_SSLCERT_VALIDATION: 'maybe' is not a yes/no value (use one of y, "
            "yes, t, true, 1 or n, no, f, false, 0).",
        ),
        (
            {"BACKEND_ENDPOINT": "api.cloud.backend.ai"},
            {},
            "BACKEND_ENDPOINT: 'api.cloud.backend.ai' is not an absolute http(s) URL (for "
            "example https://api.cloud.backend.ai or http://127.0.0.1:8081).",
        ),
        (
            {},
            {"endpoint": "ftp://x.example"},
            "endpoint: 'ftp://x.example' is not an absolute http(s) URL (for example "
            "https://api.cloud.backend.ai or http://127.0.0.1:8081).",
        ),
        (
            {"BACKEND_ENDPOINT": " , "},
            {},
            "BACKEND_ENDPOINT is empty; give at least one Backend.AI endpoint URL.",
        ),
        (
            {"BACKEND_ENDPOINT": "http://x.example/?a=1"},
            {},
            "BACKEND_ENDPOINT: 'http://x.example/?a=1' must not have a query or fragment.",
        ),
        (
            {"BACKEND_ENDPOINT_TYPE": "cookie"},
            {},
            "BACKEND_ENDPOINT_TYPE: 'cookie' is not an endpoint type; use 'api' (access key "
            "and secret key) or 'session' (web-server login with user name and password).",
        ),
        (
            {"BACKEND_ACCESS_KEY": "AKIAONLY"},
            {},
            "BACKEND_SECRET_KEY is empty while the access key AKIAONLY is set; requests "
            "cannot be signed without the secret key.",
        ),
        (
            {"BACKEND_ENDPOINT_TYPE": "session"},
            {},
            "BACKEND_USERNAME is empty: endpoint type 'session' logs in to the Backend.AI "
            "web server with a user name and password.",
        ),
        (
            {},
            {"endpoint_type": "session", "username": "me"},
            "BACKEND_PASSWORD is empty: endpoint type 'session' logs in to the Backend.AI "
            "web server with a user name and password.",
        ),
        (
            {"BACKEND_CONNECTION_TIMEOUT": "soon"},
            {},
            "BACKEND_CONNECTION_TIMEOUT: 'soon' is not a number of seconds.",
        ),
        (
            {"BACKEND_READ_TIMEOUT": "-1"},
            {},
            "BACKEND_READ_TIMEOUT: '-1' must be a finite number of seconds ≥ 0.",
        ),
        (
            {},
            {"connection_timeout": 0},
            "connection_timeout: must be more than 0 seconds.",
        ),
        (
            {},
            {"version": "7"},
            "version: '7' is not an API version like v9.20250722.",
        ),
        ({}, {"max_retries": -1}, "max_retries: -1 must be 0 or more."),
        ({}, {"poll_interval": "x"}, "poll_interval: 'x' is not a number of seconds."),
    ],
)
def test_bad_values_name_the_variable(
    env: dict[str, str], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        APIConfig(environ=env, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert caught.value.user_message == message


def test_session_type_takes_user_and_password_and_ignores_keys() -> None:
    env = {
        "BACKEND_ENDPOINT_TYPE": "session",
        "BACKEND_ACCESS_KEY": "AKIAIGNORED",
        "BACKEND_USERNAME": "me@example.com",
        "BACKEND_PASSWORD": "pw",
    }
    config = APIConfig(environ=env)
    assert config.endpoint_type == "session"
    assert (config.username, config.password) == ("me@example.com", "pw")
    # the SDK forces both keys to a placeholder: nothing is signed in session mode
    assert (config.access_key, config.secret_key) == ("dummy", "dummy")
    assert not config.is_anonymous


def test_secrets_never_in_repr() -> None:
    config = APIConfig(access_key="AKIAVISIBLE", secret_key="TOPSECRET-123", environ={})
    text = repr(config) + str(config)
    assert "AKIAVISIBLE" in text
    assert "TOPSECRET-123" not in text
    web = APIConfig(endpoint_type="session", username="u", password="PASSWORD-456", environ={})
    assert "PASSWORD-456" not in repr(web)


def test_clock_is_injectable() -> None:
    fixed = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert APIConfig(clock=lambda: fixed, environ={}).clock() == fixed
    assert abs((APIConfig(environ={}).clock() - datetime.now(UTC)).total_seconds()) < 60


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("arm64", "aarch64"), ("AMD64", "x86_64"), ("x64", "x86_64"), ("x86_64", "x86_64")],
)
def test_architecture_names(machine: str, arch: str) -> None:
    assert normalise_arch(machine) == arch
