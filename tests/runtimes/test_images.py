"""The image table: built-ins, a user config file, and clear errors for bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from bai_lsp.gateway.runtimes import ImageConfigError, ImageTable


@pytest.mark.parametrize(
    ("name", "query", "language"),
    [
        ("python", "jupyter", "python"),
        ("python:3.11", "jupyter", "python"),
        ("cr.backend.ai/stable/python:3.9-ubuntu20.04", "jupyter", "python"),
        ("python:3.9-ubuntu20.04", "jupyter", "python"),
        ("cr.backend.ai/stable/python-tensorflow:2.15", "jupyter", "python"),
        ("bash", "bash", "bash"),
        ("shell", "bash", "bash"),
        ("node", "node", "node"),
        ("nodejs:20", "node", "node"),
        ("c", "c", "c"),
        ("gcc:12", "c", "c"),
    ],
)
def test_builtin_images(name: str, query: str, language: str) -> None:
    spec = ImageTable.load(None).resolve(name)
    assert spec is not None
    assert (spec.name, spec.query, spec.language) == (name, query, language)


def test_unknown_image_is_none_and_names_are_listed() -> None:
    table = ImageTable.load(None)
    assert table.resolve("cobol:85") is None
    assert table.resolve("") is None
    names = table.names()
    assert "python*" in names and "bash" in names and "node" in names and "c" in names


def test_toml_config_adds_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "images.toml"
    config.write_text(
        '[images."r-base*"]\n'
        'language = "generic"\n'
        'exec = "Rscript main.R"\n'
        'service_ports = [{ name = "rstudio", protocol = "http", port = 8787 }]\n'
        "\n"
        '[images."python:custom"]\n'
        'exec = "python -m app"\n'
        'environ = { APP_MODE = "dev" }\n'
    )
    table = ImageTable.for_data_dir(tmp_path)
    r = table.resolve("r-base:4.3")
    assert r is not None and r.query == "none" and r.exec == "Rscript main.R"
    assert r.service_ports[0].to_json()["container_ports"] == [8787]
    custom = table.resolve("python:custom")
    assert custom is not None and custom.query == "jupyter" and custom.exec == "python -m app"
    assert custom.environ == {"APP_MODE": "dev"}
    assert table.names()[:2] == ["r-base*", "python:custom"]
    assert table.resolve("python:3.12") is not None


def test_json_config(tmp_path: Path) -> None:
    config = tmp_path / "imgs.json"
    config.write_text('{"images": {"deno": {"runtime": "none", "exec": "deno run main.ts"}}}')
    spec = ImageTable.load(config).resolve("deno")
    assert spec is not None and spec.exec == "deno run main.ts"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[images.x]\nruntime = "fortran"\n', "runtime must be one of"),
        ("[images.x]\nexec = 3\n", "exec must be a shell command"),
        ("[images.x]\nbogus = 1\n", "unknown keys"),
        ('[images.x]\nservice_ports = [{ name = "a" }]\n', "service_ports"),
        ("images = [", "not valid"),
        ('images = "x"\n', "must be a table"),
    ],
)
def test_bad_config_is_explained(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "images.toml"
    config.write_text(text)
    with pytest.raises(ImageConfigError, match=message) as info:
        ImageTable.load(config)
    assert str(config) in str(info.value)


def test_missing_config_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ImageConfigError, match="cannot read image config"):
        ImageTable.load(tmp_path / "nope.toml")
