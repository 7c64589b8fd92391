"""The session launcher: what a workspace folder's next session may be (options) and what
the user chose for it (configure).

A choice is kept per workspace folder in the server's state (``<state dir>/launcher.json``,
so it survives editor restarts) and acts as the topmost settings layer of that folder
(``image``, ``resources``, ``mounts``, ``scalingGroup``, ``clusterSize``): it is applied
when the folder's next session is created. A session that already runs keeps what it was
created with; the answer says so. A preset is resolved to its resource slots when chosen
(the backend's ``check-presets``), so an unknown preset is refused at once with the list
of the known ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.backend import Backend, translate
from bai_lsp.domain.errors import InvalidParamsError, InvalidSettingsError
from bai_lsp.domain.settings import Settings

log = logging.getLogger(__name__)

STATE_FILE = "launcher.json"


@attrs.frozen
class LaunchChoice:
    """``backendai.session.configure``'s stored choice (camelCase on the wire)."""

    image: str | None = None
    preset: str | None = None
    resources: dict[str, Any] | None = None
    resource_group: str | None = None
    cluster_size: int | None = None
    mounts: list[str] | None = None

    def layer(self) -> dict[str, Any]:
        """The settings this choice overrides (camelCase, as a settings layer)."""
        out: dict[str, Any] = {}
        if self.image:
            out["image"] = self.image
        if self.resources is not None:
            out["resources"] = dict(self.resources)
        if self.mounts is not None:
            out["mounts"] = list(self.mounts)
        if self.resource_group:
            out["scalingGroup"] = self.resource_group
        if self.cluster_size is not None:
            out["clusterSize"] = self.cluster_size
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in {
                "image": self.image,
                "preset": self.preset,
                "resources": self.resources,
                "resourceGroup": self.resource_group,
                "clusterSize": self.cluster_size,
                "mounts": self.mounts,
            }.items()
            if value is not None
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LaunchChoice:
        return cls(
            image=raw.get("image"),
            preset=raw.get("preset"),
            resources=raw.get("resources"),
            resource_group=raw.get("resourceGroup"),
            cluster_size=raw.get("clusterSize"),
            mounts=raw.get("mounts"),
        )


class LaunchChoices:
    """Every folder's choice, persisted (mode 0600) in the state dir."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / STATE_FILE
        self._choices: dict[str, LaunchChoice] = {}
        #: One write at a time (they share the temporary file), each of the newest choices.
        self._saving = asyncio.Lock()
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            for folder, choice in raw.items():
                if isinstance(choice, dict):
                    self._choices[folder] = LaunchChoice.from_json(choice)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable launcher state %s: %s", self._path, exc)

    def folders(self) -> list[str]:
        return list(self._choices)

    def get(self, folder: str) -> LaunchChoice | None:
        return self._choices.get(folder)

    def layer(self, folder: str) -> dict[str, Any] | None:
        choice = self._choices.get(folder)
        return choice.layer() if choice is not None else None

    async def set(self, folder: str, choice: LaunchChoice) -> None:
        """Keep ``choice`` and save every choice, the file written in a worker thread. A
        choice that cannot be saved is not kept either (the user is told why)."""
        earlier = self._choices.get(folder)
        self._choices[folder] = choice
        async with self._saving:
            data = {f: c.to_json() for f, c in self._choices.items()}
            try:
                await asyncio.to_thread(self._write, data)
            except OSError as exc:
                if earlier is None:
                    self._choices.pop(folder, None)
                else:
                    self._choices[folder] = earlier
                raise InvalidSettingsError(
                    f"Cannot save the launcher choice in {self._path}: "
                    f"{exc.strerror or exc}; nothing was changed."
                ) from None

    def _write(self, data: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{STATE_FILE}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
            os.replace(tmp, self._path)
        finally:
            tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- options


def _slots(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def image_ref(item: Mapping[str, Any]) -> str:
    """The reference a session is created with: ``registry/name:tag`` (``name:tag`` for
    the embedded gateway's ``local`` registry)."""
    name = str(item.get("name") or "")
    tag = item.get("tag")
    registry = item.get("registry")
    ref = f"{name}:{tag}" if tag else name
    return ref if not registry or registry == "local" else f"{registry}/{ref}"


def presets_of(checked: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": str(p.get("name")),
            "resources": _slots(p.get("resource_slots")),
            "allocatable": bool(p.get("allocatable")),
            "sharedMemory": p.get("shared_memory"),
        }
        for p in checked.get("presets", [])
        if isinstance(p, dict) and p.get("name")
    ]


async def session_options(
    conn: Backend, settings: Settings, choice: LaunchChoice | None
) -> dict[str, Any]:
    """Presets (with ``allocatable``), images, resource groups, vfolders and the allowance."""
    calls = conn.launcher()
    try:
        checked = await calls.check_presets(settings.group, settings.scaling_group)
        images = await calls.images()
        groups = await calls.scaling_groups(settings.group)
        folders = await calls.list_vfolders()
    except Exception as exc:
        raise translate(exc, conn.endpoint) from None
    return {
        "presets": presets_of(checked),
        "images": [
            {
                "ref": image_ref(item),
                "name": item.get("name"),
                "tag": item.get("tag"),
                "registry": item.get("registry"),
                "architecture": item.get("architecture"),
                "labels": {
                    str(kv.get("key")): kv.get("value")
                    for kv in item.get("labels") or []
                    if isinstance(kv, dict)
                },
            }
            for item in images
        ],
        "resourceGroups": groups,
        "vfolders": [
            {"name": f.get("name"), "id": f.get("id"), "permission": f.get("permission")}
            for f in folders
        ],
        "allowance": {
            "keypairRemaining": _slots(checked.get("keypair_remaining")),
            "keypairUsing": _slots(checked.get("keypair_using")),
            "resourceGroupRemaining": _slots(checked.get("scaling_group_remaining")),
            "resourceGroups": {
                name: {"using": _slots(v.get("using")), "remaining": _slots(v.get("remaining"))}
                for name, v in (checked.get("scaling_groups") or {}).items()
                if isinstance(v, dict)
            },
        },
        "current": {
            "image": settings.primary_image,
            "resources": dict(settings.resources),
            "resourceGroup": settings.scaling_group,
            "clusterSize": settings.cluster_size,
            "mounts": list(settings.mounts),
            "choice": choice.to_json() if choice is not None else None,
        },
    }


# ---------------------------------------------------------------------------- configure


def _check_args(args: Any) -> None:
    if args.image is not None and not args.image.strip():
        raise InvalidParamsError("backendai.session.configure: image must not be empty.")
    if args.cluster_size is not None and args.cluster_size < 1:
        raise InvalidParamsError(
            f"backendai.session.configure: clusterSize must be 1 or more, not {args.cluster_size}."
        )
    if args.resources is not None:
        for key, value in args.resources.items():
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidParamsError(
                    f"backendai.session.configure: resources.{key} must be a number or a "
                    f'string such as "4g", not {value!r}.'
                )


async def resolve_choice(conn: Backend, settings: Settings, args: Any) -> LaunchChoice:
    """Check the arguments against the backend (preset, resource group, mounts)."""
    _check_args(args)
    calls = conn.launcher()
    resources: dict[str, Any] | None = None
    try:
        if args.preset is not None:
            presets = presets_of(await calls.check_presets(settings.group))
            found = next((p for p in presets if p["name"] == args.preset), None)
            if found is None:
                names = ", ".join(p["name"] for p in presets) or "none"
                raise InvalidParamsError(
                    f"Unknown resource preset {args.preset!r}. Presets on this backend: {names}."
                )
            resources = dict(found["resources"])
        if args.resources is not None:
            resources = {**(resources or {}), **args.resources}
        if args.resource_group is not None:
            groups = await calls.scaling_groups(settings.group)
            if args.resource_group not in groups:
                raise InvalidParamsError(
                    f"Unknown resource group {args.resource_group!r}. Resource groups of "
                    f"project {settings.group}: {', '.join(groups) or 'none'}."
                )
        if args.mounts is not None:
            known = {str(f.get("name")) for f in await calls.list_vfolders()}
            missing = [m for m in args.mounts if m not in known]
            if missing:
                raise InvalidParamsError(
                    f"Unknown vfolder(s) {', '.join(missing)}. Your vfolders: "
                    f"{', '.join(sorted(known)) or 'none'}."
                )
    except InvalidParamsError:
        raise
    except Exception as exc:
        raise translate(exc, conn.endpoint) from None
    return LaunchChoice(
        image=args.image,
        preset=args.preset,
        resources=resources,
        resource_group=args.resource_group,
        cluster_size=args.cluster_size,
        mounts=list(args.mounts) if args.mounts is not None else None,
    )


def _slots_text(slots: Mapping[str, Any]) -> str:
    parts = []
    for key, value in slots.items():
        if key == "mem" and str(value).isdigit():
            parts.append(f"mem {int(value) / 1024**3:.1f} GiB")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def describe(choice: LaunchChoice) -> str:
    parts = []
    if choice.image:
        parts.append(f"image {choice.image}")
    if choice.preset:
        parts.append(f"preset {choice.preset}")
    if choice.resources:
        parts.append(f"resources ({_slots_text(choice.resources)})")
    if choice.resource_group:
        parts.append(f"resource group {choice.resource_group}")
    if choice.cluster_size is not None:
        parts.append(f"cluster size {choice.cluster_size}")
    if choice.mounts is not None:
        parts.append(f"mounts {', '.join(choice.mounts) or 'none'}")
    return "; ".join(parts) or "the defaults"


def configured_message(running: list[str], choice: LaunchChoice) -> str:
    what = describe(choice)
    if running:
        names = ", ".join(running)
        return (
            f"Saved: {what}. Session {names} is running and keeps what it was started with; "
            "the choice applies when the next session starts (destroy the session to start "
            "one with it)."
        )
    return f"Saved: {what}. It applies when the next session starts."


# ---------------------------------------------------------------------------- the service


class Launcher:
    """``backendai.session.options``/``configure`` and ``backendai.vfolders.*`` over the
    engine's settings and connections."""

    def __init__(self, engine: Any, vfolders: Any) -> None:
        self._engine = engine
        self.vfolders = vfolders

    async def _conn(self, folder: str) -> tuple[Backend, Settings]:
        settings = self._engine.settings_for(folder)
        return await self._engine.workspaces.connection(settings), settings

    async def options(self, folder: str) -> dict[str, Any]:
        conn, settings = await self._conn(folder)
        options = await session_options(conn, settings, self._engine.launch_choices.get(folder))
        options["workspace"] = folder
        return options

    async def configure(self, folder: str, args: Any) -> dict[str, Any]:
        conn, settings = await self._conn(folder)
        choice = await resolve_choice(conn, settings, args)
        await self._engine.choose(folder, choice)
        running = [
            s.name
            for s in self._engine.workspaces.existing(folder)
            if s.ref and s.status not in ("terminated", "error")
        ]
        return {
            "workspace": folder,
            "choice": choice.to_json(),
            "sessionRunning": bool(running),
            "appliesAt": "nextSession",
            "message": configured_message(running, choice),
        }

    async def vfolder_call(self, op: str, *args: Any) -> dict[str, Any]:
        conn, _ = await self._conn("")
        result: dict[str, Any] = await getattr(self.vfolders, op)(conn, *args)
        return result
