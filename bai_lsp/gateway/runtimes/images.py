"""The image table: which runner serves which image name (docs/images.md).

Built-ins cover ``python…`` (Jupyter query + python batch), ``bash``/``shell``,
``node``/``nodejs`` and ``c``/``gcc``; for those, a registry prefix and a tag are ignored
(``cr.backend.ai/stable/python:3.9-ubuntu20.04`` is a python image). A config file (TOML or
JSON) adds entries keyed by an exact name or a glob; they are tried first, in file order.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

#: Query runners: ``jupyter`` (ipykernel), ``bash`` (persistent shell), ``node``
#: (persistent vm context), ``c`` (compile and run each snippet); ``none`` = batch only.
QUERY_RUNNERS: tuple[str, ...] = ("jupyter", "bash", "node", "c", "none")
#: Batch heuristics for ``"*"`` build/exec commands.
LANGUAGES: tuple[str, ...] = ("python", "c", "node", "bash", "generic")


class ImageConfigError(ValueError):
    """The image config file is unreadable or has a wrong entry; the message says which."""


@attrs.frozen
class ServicePort:
    """A service the image offers (reported in ``servicePorts``; Backend.AI's shape)."""

    name: str
    protocol: str = "http"
    port: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "container_ports": [self.port],
            "host_ports": [None],
        }


@attrs.frozen
class ImageSpec:
    """What a session created from ``name`` runs.

    ``build``/``exec`` replace the language heuristic when a batch step is ``"*"``.
    """

    name: str
    query: str = "none"
    language: str = "generic"
    build: str | None = None
    exec: str | None = None
    service_ports: tuple[ServicePort, ...] = ()
    environ: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def supports_query(self) -> bool:
        return self.query != "none"


def base_name(image: str) -> str:
    """``cr.backend.ai/stable/python:3.9-ubuntu20.04`` → ``python``."""
    last = image.strip().rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0].lower()


_BUILTIN_EXACT: dict[str, tuple[str, str]] = {
    "bash": ("bash", "bash"),
    "shell": ("bash", "bash"),
    "sh": ("bash", "bash"),
    "node": ("node", "node"),
    "nodejs": ("node", "node"),
    "c": ("c", "c"),
    "gcc": ("c", "c"),
}

BUILTIN_NAMES: tuple[str, ...] = ("python*", "bash", "shell", "node", "nodejs", "c", "gcc")
#: The built-ins an image listing offers (one per runner; the others are aliases).
LISTED_BUILTINS: tuple[str, ...] = ("python", "bash", "node", "c")


def builtin(image: str) -> ImageSpec | None:
    name = base_name(image)
    if name.startswith("python"):
        return ImageSpec(image, query="jupyter", language="python")
    if name in _BUILTIN_EXACT:
        query, language = _BUILTIN_EXACT[name]
        return ImageSpec(image, query=query, language=language)
    return None


@attrs.frozen
class _Entry:
    pattern: str
    query: str
    language: str
    build: str | None
    exec: str | None
    service_ports: tuple[ServicePort, ...]
    environ: Mapping[str, str]

    def matches(self, image: str) -> bool:
        return image == self.pattern or fnmatch.fnmatchcase(image, self.pattern)

    def spec(self, image: str) -> ImageSpec:
        return ImageSpec(
            image,
            query=self.query,
            language=self.language,
            build=self.build,
            exec=self.exec,
            service_ports=self.service_ports,
            environ=self.environ,
        )


class ImageTable:
    def __init__(self, entries: Sequence[_Entry] = ()) -> None:
        self._entries = list(entries)

    @classmethod
    def load(cls, config_path: Path | str | None = None) -> ImageTable:
        """Built-ins plus the ``[images]`` of ``config_path`` (TOML, or JSON by extension)."""
        if config_path is None:
            return cls()
        path = Path(config_path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ImageConfigError(f"cannot read image config {path}: {exc.strerror}") from exc
        try:
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ImageConfigError(f"image config {path} is not valid: {exc}") from exc
        images = data.get("images", {}) if isinstance(data, dict) else None
        if not isinstance(images, dict):
            raise ImageConfigError(f"image config {path}: 'images' must be a table of entries")
        return cls([_parse_entry(path, pattern, body) for pattern, body in images.items()])

    @classmethod
    def for_data_dir(cls, data_dir: Path, config_path: Path | None = None) -> ImageTable:
        """``config_path`` if given, else ``<data_dir>/images.toml`` (or ``.json``) if present."""
        if config_path is not None:
            return cls.load(config_path)
        for candidate in (data_dir / "images.toml", data_dir / "images.json"):
            if candidate.is_file():
                return cls.load(candidate)
        return cls()

    def resolve(self, name: str) -> ImageSpec | None:
        if not name or not name.strip():
            return None
        for entry in self._entries:
            if entry.matches(name):
                return entry.spec(name)
        return builtin(name)

    def names(self) -> list[str]:
        return [entry.pattern for entry in self._entries] + list(BUILTIN_NAMES)

    def listed(self) -> list[ImageSpec]:
        """One spec per image a user can pick: config entries without glob characters,
        then one per built-in runner (``python``, ``bash``, ``node``, ``c``)."""
        specs = [
            entry.spec(entry.pattern)
            for entry in self._entries
            if not any(ch in entry.pattern for ch in "*?[")
        ]
        taken = {spec.name for spec in specs}
        for name in LISTED_BUILTINS:
            spec = builtin(name)
            if spec is not None and name not in taken:
                specs.append(spec)
        return specs


def _parse_entry(path: Path, pattern: str, body: Any) -> _Entry:
    where = f"image config {path}, entry {pattern!r}"
    if not isinstance(body, dict):
        raise ImageConfigError(f"{where}: must be a table")
    unknown = set(body) - {"runtime", "language", "build", "exec", "service_ports", "environ"}
    if unknown:
        raise ImageConfigError(f"{where}: unknown keys {sorted(unknown)}")
    template = builtin(pattern)
    query = body.get("runtime", template.query if template else "none")
    language = body.get("language", template.language if template else "generic")
    if query not in QUERY_RUNNERS:
        raise ImageConfigError(f"{where}: runtime must be one of {list(QUERY_RUNNERS)}")
    if language not in LANGUAGES:
        raise ImageConfigError(f"{where}: language must be one of {list(LANGUAGES)}")
    commands: dict[str, str | None] = {}
    for key in ("build", "exec"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise ImageConfigError(f"{where}: {key} must be a shell command string")
        commands[key] = value
    ports: list[ServicePort] = []
    for item in body.get("service_ports", []):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("port"), int)
        ):
            raise ImageConfigError(
                f"{where}: service_ports items need a name (string) and a port (integer)"
            )
        ports.append(ServicePort(item["name"], str(item.get("protocol", "http")), item["port"]))
    environ = body.get("environ", {})
    if not isinstance(environ, dict) or not all(isinstance(v, str) for v in environ.values()):
        raise ImageConfigError(f"{where}: environ must map names to strings")
    return _Entry(
        pattern,
        query,
        language,
        commands["build"],
        commands["exec"],
        tuple(ports),
        dict(environ),
    )
