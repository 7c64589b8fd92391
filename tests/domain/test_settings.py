"""Settings as a user writes them: camelCase, env fallbacks, errors that name the key."""

from __future__ import annotations

import pytest

from bai_lsp.domain.settings import (
    SettingsError,
    environment_layer,
    parse_settings,
)


def test_defaults_mean_the_embedded_gateway() -> None:
    settings = parse_settings([])
    assert settings.embedded
    assert settings.on_exit == "keep"
    assert settings.output.max_bytes_per_run == 10 * 1024 * 1024
    assert settings.image_for("python") == "python"
    assert settings.image_for("c") == "c"
    assert settings.image_for("shellscript") == "bash"
    assert settings.image_for("javascript") == "node"


def test_camel_case_keys_and_nested_merge() -> None:
    settings = parse_settings(
        [
            {"output": {"maxBytesPerRun": 1000}, "batch": {"exec": "python -u {file}"}},
            {"output": {"flushIntervalMs": 50}, "sessionName": "my-session", "onExit": "destroy"},
        ]
    )
    assert settings.output.max_bytes_per_run == 1000
    assert settings.output.flush_interval_ms == 50
    assert settings.batch.exec == "python -u {file}"
    assert settings.session_name == "my-session"
    assert settings.on_exit == "destroy"


def test_null_values_fall_through_to_earlier_layers() -> None:
    env = environment_layer(
        {
            "BACKEND_ENDPOINT": "http://127.0.0.1:1",
            "BACKEND_ACCESS_KEY": "AKIA",
            "BACKEND_SECRET_KEY": "s3cr3t",
        }
    )
    settings = parse_settings([env, {"endpoint": None, "accessKey": None, "image": "python"}])
    assert settings.endpoint == "http://127.0.0.1:1"
    assert settings.access_key == "AKIA"
    assert not settings.embedded


def test_unknown_keys_are_ignored() -> None:
    assert parse_settings([{"trace": {"server": "verbose"}, "serverPath": "x"}]).embedded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"output": {"maxBytesPerRun": "x"}},
            'backendai.output.maxBytesPerRun: expected a positive integer, got "x"',
        ),
        (
            {"output": {"maxBytesPerRun": True}},
            "backendai.output.maxBytesPerRun: expected a positive integer, got true",
        ),
        ({"onExit": "later"}, 'backendai.onExit: expected "keep" or "destroy", got "later"'),
        ({"endpoint": "localhost:8090"}, "backendai.endpoint: expected an http(s) URL"),
        ({"sessionName": "a b"}, "backendai.sessionName: expected 4-64 letters"),
        ({"images": {"c": 3}}, "backendai.images: expected an object of strings"),
        ({"batch": "gcc"}, 'backendai.batch: expected an object, got "gcc"'),
        ({"endpoint": "http://h:1"}, "backendai.accessKey: an endpoint is set"),
    ],
)
def test_invalid_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings([raw])
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings([{"onExit": 1, "output": {"flushIntervalMs": -1}}])
    assert len(caught.value.problems) == 2


def test_the_secret_never_appears_in_the_redacted_form() -> None:
    settings = parse_settings(
        [{"endpoint": "http://h:1", "accessKey": "AK", "secretKey": "very-secret"}]
    )
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.redacted())
    assert settings.redacted()["accessKey"] == "AK"
