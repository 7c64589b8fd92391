"""The ``backendai`` settings: one typed tree, read from the environment, initialization
options and ``workspace/configuration``, validated with messages that name the key.

Values that are ``null`` or absent fall through to the next source, so an editor that
sends every declared setting (VS Code does) with ``null`` defaults does not hide the
environment. Unknown keys are ignored: editors put their own client-side settings in the
same section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from bai_lsp.domain.errors import InvalidSettingsError
from bai_lsp.domain.settings_layers import environment_layer, merge_layers

SECTION = "backendai"

#: languageId → image on the embedded gateway (and a sensible guess elsewhere).
DEFAULT_IMAGES: dict[str, str] = {
    "python": "python",
    "shellscript": "bash",
    "sh": "bash",
    "bash": "bash",
    "javascript": "node",
    "c": "c",
    "cpp": "c",
}

#: languageId → how a batch run builds and executes ``{file}`` (``{files}``: all uploaded
#: sources of that language, ``{stem}``: the file name without its suffix).
DEFAULT_BATCH: dict[str, tuple[str | None, str]] = {
    "python": (None, "python {file}"),
    "c": ("gcc -o main {files}", "./main"),
    "cpp": ("g++ -o main {files}", "./main"),
    "javascript": (None, "node {file}"),
    "shellscript": (None, "bash {file}"),
    "sh": (None, "bash {file}"),
    "bash": (None, "bash {file}"),
}

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*/**",  # hidden directories: .git, .venv, .idea, .local, caches …
    "**/.*/**",
    ".env",  # secrets do not travel to the cluster by default
    "**/.env",
    "**/.env.*",
    "node_modules/**",
    "**/node_modules/**",
    ".venv/**",
    "**/.venv/**",
    "venv/**",
    "**/__pycache__/**",
    "**/*.pyc",
    ".mypy_cache/**",
    ".pytest_cache/**",
    ".ruff_cache/**",
    "**/*.o",
    "main",
)

_SESSION_NAME_RE = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)


class SettingsError(ValueError):
    """One or more settings are invalid; ``problems`` holds one sentence per bad key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_show(value)}")
    return value


def _url(value: Any) -> str:
    text = _string(value).strip()
    for part in text.split(","):
        if not re.match(r"^https?://[^/\s]+", part.strip()):
            raise ValueError(f"expected an http(s) URL, got {_show(value)}")
    return text


class _OneOf:
    """A check that allows a closed set of strings (``choices`` also feeds the contract)."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def __call__(self, value: Any) -> str:
        if value not in self.choices:
            allowed = " or ".join(f'"{c}"' for c in self.choices)
            raise ValueError(f"expected {allowed}, got {_show(value)}")
        return str(value)


_one_of = _OneOf


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer, got {_show(value)}")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {_show(value)}")
    return value


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_show(value)}")
    return list(value)


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"expected an object of strings, got {_show(value)}")
    return dict(value)


def _resources(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float | str) and not isinstance(v, bool) for v in value.values()
    ):
        raise ValueError(f'expected an object like {{"cpu": 2, "mem": "4g"}}, got {_show(value)}')
    return dict(value)


def _session_name(value: Any) -> str:
    text = _string(value)
    if not _SESSION_NAME_RE.match(text):
        raise ValueError(
            "expected 4-64 letters, digits, '_', '-' or '.', starting and ending with a "
            f"letter, digit or '_', got {_show(value)}"
        )
    return text


@attrs.frozen
class AppSetting:
    """A port that code in the session listens on, opened as a preopen port (``apps``)."""

    name: str
    """The name ``backendai.session.apps`` offers it under (letters, digits, ``_ . -``)."""
    port: int
    """The port inside the session."""
    protocol: str = "http"


def _apps(value: Any) -> list[AppSetting]:
    if not isinstance(value, list):
        raise ValueError(
            f'expected a list like [{{"name": "web", "port": 8000}}], got {_show(value)}'
        )
    apps: list[AppSetting] = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError(f"expected objects with name and port, got {_show(item)}")
        name, port, protocol = item.get("name"), item.get("port"), item.get("protocol", "http")
        if not isinstance(name, str) or not re.match(r"^[\w.-]{1,64}$", name):
            raise ValueError(f"an app needs a name (letters, digits, _ . -), got {_show(item)}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise ValueError(f"app {name!r}: port must be an integer 1024-65535, got {_show(port)}")
        if protocol not in ("http", "tcp"):
            raise ValueError(
                f'app {name!r}: protocol must be "http" or "tcp", got {_show(protocol)}'
            )
        apps.append(AppSetting(name, port, protocol))
    return apps


@attrs.frozen
class BatchSettings:
    """How batch mode builds and runs a file, and which workspace files travel with it."""

    build: str | None = None
    """Build command (``{file}``, ``{files}``, ``{stem}`` substituted); default per language."""
    exec: str | None = None
    """Exec command; same placeholders. Default per language."""
    include: list[str] | None = None
    """Globs (relative to the workspace folder) of files to upload; default: the file's own
    language's sources next to and below it."""
    exclude: list[str] | None = None
    """Globs never uploaded; default skips .git, node_modules, virtualenvs, caches."""
    max_file_bytes: int = 1024 * 1024 - 1
    """Files larger than this are skipped with a message (Backend.AI's limit is 1 MiB)."""
    max_files: int = 200
    """At most this many files are uploaded."""


@attrs.frozen
class OutputSettings:
    """Forwarding budget and coalescing of a run's output."""

    max_bytes_per_run: int = 10 * 1024 * 1024
    """Past this many bytes the server stops forwarding and keeps the rest in a file."""
    flush_interval_ms: int = 16
    """Minimum gap between two output notifications of one run (never below 1/60 s)."""


@attrs.frozen
class Settings:
    """Everything under the ``backendai`` section (camelCase on the wire)."""

    endpoint: str | None = None
    """Manager (or web-server) URL; default ``BACKEND_ENDPOINT``, else the embedded local
    gateway."""
    endpoint_type: str = "api"
    """``api``: keypair (HMAC) signing; ``session``: web-server login
    (``BACKEND_ENDPOINT_TYPE``)."""
    access_key: str | None = None
    """Access key of the keypair (type ``api``); default ``BACKEND_ACCESS_KEY``."""
    secret_key: str | None = attrs.field(default=None, repr=False)
    """Secret key of the keypair; default ``BACKEND_SECRET_KEY``. Never logged."""
    domain: str = "default"
    """Backend.AI domain (``BACKEND_DOMAIN``)."""
    group: str = "default"
    """Backend.AI project (group) the sessions are charged to (``BACKEND_GROUP``)."""
    image: str | None = None
    """Image for languages not in ``images``; default ``python`` on the embedded gateway."""
    images: dict[str, str] = attrs.field(factory=dict)
    """Image per languageId, e.g. ``{"python": "cr.backend.ai/stable/python:3.11"}``
    (docs/configuration.md)."""
    resources: dict[str, Any] = attrs.field(factory=dict)
    """Session resources, e.g. ``{"cpu": 2, "mem": "4g", "cuda.shares": 1}``."""
    mounts: list[str] = attrs.field(factory=list)
    """Virtual folders mounted into the session (``BACKEND_VFOLDER_MOUNTS``)."""
    environ: dict[str, str] = attrs.field(factory=dict)
    """Environment variables of the session."""
    scaling_group: str | None = None
    """The resource group (Backend.AI's scaling group) sessions are created in; default the
    manager's."""
    cluster_size: int = 1
    """Containers per session (Backend.AI's ``cluster_size``; the embedded gateway runs 1)."""
    session_name: str | None = None
    """Session name; default derived from the workspace folder, stable across editor
    restarts."""
    on_exit: str = "keep"
    """What happens to the sessions when the server exits: ``keep`` them for next time, or
    ``destroy`` them."""
    notify_after_seconds: int = 30
    """A run that took at least this long says so with a message when it ends (0: never)."""
    run_transport: str = "websocket"
    """How runs reach the kernel: ``websocket`` streams; ``rest`` polls, and its runs
    survive a dropped connection (docs/reliability.md)."""
    batch: BatchSettings = attrs.field(factory=BatchSettings)
    """Batch mode: build and exec commands and which workspace files are uploaded (see
    "Batch mode")."""
    output: OutputSettings = attrs.field(factory=OutputSettings)
    """Output budget and coalescing."""
    apps: list[AppSetting] = attrs.field(factory=list)
    """Ports (1024-65535) that code in the session listens on: opened as preopen ports when
    the session is created, offered by ``backendai.session.apps`` under these names."""

    @property
    def embedded(self) -> bool:
        """No endpoint anywhere: the server runs its own gateway."""
        return not self.endpoint

    def image_for(self, language_id: str) -> str:
        """The image a document of ``language_id`` runs on."""
        if language_id in self.images:
            return self.images[language_id]
        if self.image:
            return (
                self.image
                if language_id == "python"
                else DEFAULT_IMAGES.get(language_id, self.image)
            )
        return DEFAULT_IMAGES.get(language_id, "python")

    @property
    def primary_image(self) -> str:
        """The image whose session takes the plain ``sessionName`` (others get a suffix)."""
        return self.images.get("python") or self.image or "python"

    def redacted(self) -> dict[str, Any]:
        """The settings for logs: camelCase, secret replaced."""
        data: dict[str, Any] = converter.unstructure(self)
        if data.get("secretKey"):
            data["secretKey"] = "***"
        return data


#: The check of every leaf setting, by class and field name.
CHECKS: dict[tuple[type, str], Callable[[Any], Any]] = {
    (BatchSettings, "build"): _string,
    (BatchSettings, "exec"): _string,
    (BatchSettings, "include"): _string_list,
    (BatchSettings, "exclude"): _string_list,
    (BatchSettings, "max_file_bytes"): positive_int,
    (BatchSettings, "max_files"): positive_int,
    (OutputSettings, "max_bytes_per_run"): positive_int,
    (OutputSettings, "flush_interval_ms"): non_negative_int,
    (Settings, "endpoint"): _url,
    (Settings, "endpoint_type"): _one_of("api", "session"),
    (Settings, "access_key"): _string,
    (Settings, "secret_key"): _string,
    (Settings, "domain"): _string,
    (Settings, "group"): _string,
    (Settings, "image"): _string,
    (Settings, "images"): _string_map,
    (Settings, "resources"): _resources,
    (Settings, "mounts"): _string_list,
    (Settings, "environ"): _string_map,
    (Settings, "scaling_group"): _string,
    (Settings, "cluster_size"): positive_int,
    (Settings, "session_name"): _session_name,
    (Settings, "on_exit"): _one_of("keep", "destroy"),
    (Settings, "notify_after_seconds"): non_negative_int,
    (Settings, "run_transport"): _one_of("websocket", "rest"),
    (Settings, "apps"): _apps,
}


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    for cls in (Settings, BatchSettings, OutputSettings):
        conv.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(
                cls,
                conv,
                **{f.name: override(rename=to_camel(f.name)) for f in attrs.fields(cls)},  # type: ignore[arg-type]
            ),
        )
    return conv


converter = _make_converter()


def _validate(cls: type, raw: Mapping[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    """Check ``raw`` (camelCase keys) against ``cls``; return snake_case keyword arguments."""
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        key = to_camel(field.name)
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        where = f"{path}.{key}"
        nested = _nested_types().get(field.name) if cls is Settings else None
        if nested is not None:
            if not isinstance(value, dict):
                problems.append(f"{where}: expected an object, got {_show(value)}")
                continue
            values[field.name] = _validate(nested, value, where, problems)
            continue
        try:
            values[field.name] = CHECKS[(cls, field.name)](value)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return values


def _nested_types() -> dict[str, type]:
    return {"batch": BatchSettings, "output": OutputSettings}


def parse_settings(layers: list[Mapping[str, Any] | None]) -> Settings:
    """Merge and validate; raise :class:`SettingsError` naming every bad key."""
    problems: list[str] = []
    for layer in layers:
        if layer is not None and not isinstance(layer, Mapping):
            problems.append(f"{SECTION}: expected an object, got {_show(layer)}")
    if problems:
        raise SettingsError(problems)
    merged = merge_layers(layers)
    values = _validate(Settings, merged, SECTION, problems)
    if problems:
        raise SettingsError(problems)
    for name, cls in _nested_types().items():
        if name in values:
            values[name] = cls(**values[name])
    settings = Settings(**values)
    if (
        settings.endpoint
        and settings.endpoint_type == "api"
        and not (settings.access_key and settings.secret_key)
    ):
        raise SettingsError(
            [
                f"{SECTION}.accessKey: an endpoint is set ({settings.endpoint}) but accessKey "
                "and secretKey are not (set them or BACKEND_ACCESS_KEY/BACKEND_SECRET_KEY)"
            ]
        )
    return settings


#: The settings scope of no folder in particular (the server's own, and ``session.list``).
GLOBAL = ""

#: Settings that decide where code and credentials go: a workspace folder's own settings
#: cannot change them (``SettingsStore._folder_layer``, docs/security.md).
PROTECTED_KEYS = ("endpoint", "endpointType", "accessKey", "secretKey")


class TopLayer(Protocol):
    """Per-folder settings above all others (the launcher's stored choices)."""

    def folders(self) -> list[str]: ...

    def get(self, folder: str) -> Any: ...

    def layer(self, folder: str) -> dict[str, Any] | None: ...


class SettingsStore:
    """The layered settings (environment < initialization options < user < folder <
    launcher choice) of every workspace folder, validated; the last valid settings are kept
    when new ones are wrong.

    ``show_message(level, text)`` tells the user about a problem (once per problem);
    ``on_valid`` is called after each revalidation that leaves valid global settings."""

    def __init__(
        self,
        show_message: Callable[[str, str], None],
        on_valid: Callable[[], None],
        top: TopLayer | None = None,
    ) -> None:
        self._show = show_message
        self._on_valid = on_valid
        self._top = top
        self._init_options: Any = None
        self._global_config: Any = None
        self._folder_config: dict[str, Any] = {}
        self._protected_warned: dict[str, list[str]] = {}
        self._good: dict[str, Settings] = {}
        self._problems: dict[str, str] = {}

    def set_initialization_options(self, options: Any) -> None:
        self._init_options = (
            options.get("backendai", options) if isinstance(options, dict) else options
        )
        self._revalidate()

    def set_configuration(self, global_config: Any, per_folder: dict[str, Any]) -> None:
        self._global_config = global_config
        self._folder_config = dict(per_folder)
        self._revalidate()

    def valid_global(self) -> Settings | None:
        """The global settings if they are valid now."""
        return self._good.get(GLOBAL)

    def _layers(self, folder: str) -> list[Any]:
        layers: list[Any] = [environment_layer(), self._init_options, self._global_config]
        if folder != GLOBAL:
            layers.append(self._folder_layer(folder, layers))
            if self._top is not None:
                layers.append(self._top.layer(folder))
        return layers

    def _folder_layer(self, folder: str, lower: list[Any]) -> Any:
        """A workspace folder's own settings minus where code and credentials go.

        A project's settings file is written by whoever wrote the project: it must not
        send the user's code, keypair or password elsewhere (docs/security.md). Those keys
        are taken from the environment, ``initializationOptions`` and the unscoped section
        only; a folder value that differs is ignored and the user is told once.
        """
        scoped = self._folder_config.get(folder)
        if not isinstance(scoped, dict):
            return scoped
        effective = merge_layers(lower)
        ignored = [
            key
            for key in PROTECTED_KEYS
            if scoped.get(key) is not None and scoped.get(key) != effective.get(key)
        ]
        if ignored and self._protected_warned.get(folder) != ignored:
            self._protected_warned[folder] = ignored
            names = ", ".join(f"backendai.{key}" for key in ignored)
            self._show(
                "warning",
                f"bai-lsp ignored {names} from the settings of the workspace folder {folder}: "
                "the endpoint and credentials are only taken from your user settings (or the "
                "editor's initialization options), so that a project cannot send your code "
                "or keys elsewhere. Set them in your user settings to change them.",
            )
        return {k: v for k, v in scoped.items() if k not in PROTECTED_KEYS}

    def revalidate(self) -> None:
        """Validate every scope again (after one of its layers changed)."""
        self._revalidate()

    def _revalidate(self) -> None:
        shown: set[str] = set()
        chosen = self._top.folders() if self._top is not None else []
        for folder in [GLOBAL, *self._folder_config, *chosen]:
            try:
                self._good[folder] = parse_settings(self._layers(folder))
                self._problems.pop(folder, None)
            except SettingsError as exc:
                text = "; ".join(exc.problems)
                if self._problems.get(folder) == text or text in shown:
                    continue
                self._problems[folder] = text
                shown.add(text)
                keeping = (
                    "Keeping the previous settings."
                    if folder in self._good or GLOBAL in self._good
                    else "Runs need valid settings."
                )
                self._show("error", f"Invalid bai-lsp settings: {text}. {keeping}")
        if GLOBAL in self._good:
            self._on_valid()

    def settings_for(self, folder: str) -> Settings:
        scoped = folder in self._folder_config or (
            self._top is not None and self._top.get(folder) is not None
        )
        settings = self._good.get(folder) if scoped else None
        settings = settings or self._good.get(GLOBAL)
        if settings is None:
            if GLOBAL not in self._problems and folder not in self._problems:
                self._revalidate()
                return self.settings_for(folder) if GLOBAL in self._good else self._fail(folder)
            return self._fail(folder)
        return settings

    def _fail(self, folder: str) -> Settings:
        problem = self._problems.get(folder) or self._problems.get(GLOBAL) or "unknown problem"
        raise InvalidSettingsError(f"The bai-lsp settings are invalid: {problem}")
