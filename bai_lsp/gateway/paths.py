"""Confinement of user-given paths to a session's working folder, and vfolder mounts.

The session folder plays Backend.AI's ``/home/work``. A path a client names (upload,
download, list) is resolved with symlinks followed and must land inside the session folder
or inside one of the vfolders mounted into it; ``..``, foreign absolute paths and symlinks
that lead elsewhere are refused with a 400 naming the path, never silently clamped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from bai_lsp.gateway.errors import GatewayError, invalid_params

#: What ``/home/work`` means inside a session: absolute paths under it are accepted.
CONTAINER_HOME = PurePosixPath("/home/work")
VFOLDER_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$")


class PathEscape(GatewayError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(
            400,
            "invalid-api-params",
            "Invalid API parameters.",
            f"{path!r} {why}; paths must stay inside the session folder (/home/work)",
        )


def relative_part(path: str) -> PurePosixPath:
    """The client's path as a relative path below the session folder, ``..`` refused."""
    if not isinstance(path, str) or path == "":
        raise invalid_params("a file path must be a non-empty string")
    if "\x00" in path:
        raise PathEscape(path, "contains a NUL byte")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        try:
            pure = pure.relative_to(CONTAINER_HOME)
        except ValueError:
            raise PathEscape(path, "is an absolute path outside /home/work") from None
    if any(part == ".." for part in pure.parts):
        raise PathEscape(path, "climbs out with '..'")
    return pure


class Confinement:
    """The session folder plus the folders its mounts lead to."""

    def __init__(self, workdir: Path, mounted: Sequence[Path] = ()) -> None:
        self.workdir = workdir
        self.roots = [workdir.resolve(), *(p.resolve() for p in mounted)]

    def inside(self, real: Path) -> bool:
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def resolve(self, path: str) -> Path:
        """An existing or future path, symlinks resolved, confined (blocking: use a thread)."""
        rel = relative_part(path)
        candidate = self.workdir / rel
        real = Path(os.path.realpath(candidate))
        if real.is_symlink():
            raise PathEscape(path, "is a symlink loop")
        if not self.inside(real):
            raise PathEscape(path, "leads outside the session folder through a symlink")
        return real

    def display(self, real: Path) -> str:
        """How a resolved path reads to the client (``/home/work/...``)."""
        root = self.roots[0]
        if real.is_relative_to(root):
            return str(CONTAINER_HOME / real.relative_to(root))
        return str(real)


def validate_mounts(
    mounts: Sequence[str], mount_map: Mapping[str, str]
) -> list[tuple[str, PurePosixPath]]:
    """``(vfolder name, relative target in the session folder)`` per mount, validated."""
    targets: list[tuple[str, PurePosixPath]] = []
    seen: set[PurePosixPath] = set()
    for name in mounts:
        if not VFOLDER_NAME_RE.match(name) or name in (".", ".."):
            raise invalid_params(
                "Input validation error",
                {"config.mounts": f"{name!r} is not a valid vfolder name (letters, digits, _.-)"},
            )
        where = mount_map.get(name, name)
        try:
            target = relative_part(where)
        except GatewayError:
            raise invalid_params(
                "Input validation error",
                {"config.mount_map": f"{where!r} for {name!r} must be a path inside /home/work"},
            ) from None
        if target in (PurePosixPath("."), PurePosixPath("")) or target in seen:
            raise invalid_params(
                "Input validation error",
                {"config.mount_map": f"{where!r} for {name!r} is not a usable mount point"},
            )
        seen.add(target)
        targets.append((name, target))
    unknown = set(mount_map) - set(mounts)
    if unknown:
        raise invalid_params(
            "Input validation error",
            {"config.mount_map": f"maps vfolders that are not mounted: {sorted(unknown)}"},
        )
    return targets


def link_mounts(
    vfolder_root: Path, workdir: Path, mounts: Sequence[tuple[str, PurePosixPath]]
) -> list[Path]:
    """Create each vfolder on demand and link it into the session folder (blocking)."""
    linked: list[Path] = []
    for name, target in mounts:
        folder = vfolder_root / name
        folder.mkdir(parents=True, exist_ok=True)
        link = workdir / target
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            raise invalid_params(
                "Input validation error",
                {"config.mount_map": f"/home/work/{target} is already taken"},
            )
        link.symlink_to(folder.resolve(), target_is_directory=True)
        linked.append(folder.resolve())
    return linked
