"""The gateway's virtual folders: ``<data-dir>/vfolders/<name>``, and transfer tokens.

A vfolder is a plain folder under the data dir, the same one a session's ``config.mounts``
links into its working folder, so a file uploaded here is visible to every session that
mounts the folder. Paths inside a vfolder get the confinement of session files
(bai_lsp.gateway.paths): ``..``, absolute paths, NUL bytes and symlinks that resolve
outside the folder are refused with a 400 naming the path, never clamped.

Uploads and downloads go through one-time *transfer tokens*, as a manager hands out
storage-proxy URLs: ``request-upload``/``request-download`` answer ``{token, url}`` and the
client then talks to the URL (tus ``PATCH`` for uploads, ``GET`` with ``Range`` for
downloads) with only the token as credential. Tokens live in memory for an hour and are
bound to one folder and path.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import stat
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from bai_lsp.gateway.errors import GatewayError, invalid_params
from bai_lsp.gateway.paths import VFOLDER_NAME_RE

#: uuid5 namespace: a vfolder's id is derived from its name, so it survives gateway restarts.
_ID_NAMESPACE = uuid.UUID("5d7e0a8e-6a43-4f0e-9a55-3c1b7b1f0b2a")
#: What ``host`` reads as (a manager says ``<storage proxy>:<volume>``).
HOST = "local:volume1"
TOKEN_SECONDS = 3600.0


def not_found(name: str) -> GatewayError:
    return GatewayError(
        404, "object-not-found", "No such virtual folder.", f"There is no vfolder {name!r}"
    )


def already_exists(name: str) -> GatewayError:
    return GatewayError(
        400,
        "vfolder-already-exists",
        "The virtual folder already exists with the same name.",
        f"A vfolder named {name!r} already exists",
    )


def folder_id(name: str) -> str:
    return uuid.uuid5(_ID_NAMESPACE, name).hex


class VFolderPathError(GatewayError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(
            400,
            "invalid-api-params",
            "Invalid API parameters.",
            f"{path!r} {why}; paths must stay inside the vfolder",
        )


def relative_path(path: Any) -> PurePosixPath:
    """A client's path inside a vfolder as a relative path (``""`` and ``.`` = the root)."""
    if not isinstance(path, str):
        raise invalid_params("Input validation error", {"path": "must be a string"})
    if "\x00" in path:
        raise VFolderPathError(path, "contains a NUL byte")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise VFolderPathError(path, "is an absolute path")
    if any(part == ".." for part in pure.parts):
        raise VFolderPathError(path, "climbs out with '..'")
    return pure


@attrs.frozen
class VFolder:
    name: str
    path: Path

    @property
    def id(self) -> str:
        return folder_id(self.name)

    def created(self) -> datetime:
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)

    def resolve(self, path: Any) -> Path:
        """``path`` inside this folder, symlinks followed and confined (blocking)."""
        rel = relative_path(path)
        root = self.path.resolve()
        real = Path(os.path.realpath(root / rel))
        if real.is_symlink():
            raise VFolderPathError(str(path), "is a symlink loop")
        if real != root and not real.is_relative_to(root):
            raise VFolderPathError(str(path), "leads outside the vfolder through a symlink")
        return real

    def display(self, real: Path) -> str:
        """How a resolved path reads to the client: relative to the folder."""
        root = self.path.resolve()
        return str(real.relative_to(root)) if real.is_relative_to(root) else real.name

    def entry(self, creator: str) -> dict[str, Any]:
        """The manager's ``GET /folders`` item."""
        return {
            "name": self.name,
            "id": self.id,
            "quota_scope_id": f"user:{self.id}",
            "host": HOST,
            "usage_mode": "general",
            "created_at": str(self.created()),
            "is_owner": True,
            "permission": "rw",
            "user": None,
            "group": None,
            "creator": creator,
            "user_email": creator,
            "group_name": None,
            "ownership_type": "user",
            "type": "user",
            "unmanaged_path": None,
            "cloneable": False,
            "status": "ready",
            "max_files": 0,
            "max_size": None,
            "cur_size": 0,
        }


def file_items(folder: VFolder, directory: Path) -> list[dict[str, Any]]:
    """``GET /folders/{name}/files`` items of ``directory`` (blocking), names sorted."""
    if not directory.is_dir():
        raise invalid_params(f"{folder.display(directory)!r} is not a folder")
    items = []
    for child in sorted(directory.iterdir(), key=lambda p: p.name):
        info = child.lstat()
        kind = "DIRECTORY" if stat.S_ISDIR(info.st_mode) else "FILE"
        if stat.S_ISLNK(info.st_mode):
            kind = "SYMLINK"
        items.append(
            {
                "name": child.name,
                "type": kind,
                "size": info.st_size,
                "mode": oct(info.st_mode)[2:][-3:],
                "created": datetime.fromtimestamp(info.st_ctime, UTC).isoformat(),
                "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
            }
        )
    return items


class VFolderStore:
    """Every vfolder of the data dir (shared by all keypairs of the gateway)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def all(self) -> list[VFolder]:
        if not self.root.is_dir():
            return []
        return [
            VFolder(p.name, p)
            for p in sorted(self.root.iterdir(), key=lambda p: p.name)
            if p.is_dir() and VFOLDER_NAME_RE.match(p.name)
        ]

    def get(self, ref: str) -> VFolder:
        """By name, or by id (hex, with or without dashes) as the newest SDK sends it."""
        if VFOLDER_NAME_RE.match(ref) and (self.root / ref).is_dir():
            return VFolder(ref, self.root / ref)
        wanted = ref.replace("-", "").lower()
        for folder in self.all():
            if folder.id == wanted:
                return folder
        raise not_found(ref)

    def create(self, name: Any) -> VFolder:
        if not isinstance(name, str) or not VFOLDER_NAME_RE.match(name) or name in (".", ".."):
            raise invalid_params(
                "Input validation error",
                {"name": f"{name!r} is not a valid vfolder name (1-64 letters, digits, _.-)"},
            )
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            (self.root / name).mkdir()
        except FileExistsError:
            raise already_exists(name) from None
        return VFolder(name, self.root / name)

    def delete(self, ref: str) -> None:
        folder = self.get(ref)
        # Renamed first so that a session mounting it sees it gone at once.
        trash = self.root.parent / "vfolders-deleting" / f"{folder.name}-{secrets.token_hex(4)}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        folder.path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


@attrs.define
class Transfer:
    """What one token allows: an upload of ``size`` bytes to, or a download of, ``target``."""

    kind: str
    folder: str
    target: Path
    size: int
    expires: float
    #: Upload: the partial file and how much of it has arrived.
    part: Path | None = None
    offset: int = 0
    #: A PATCH is receiving a chunk: a second one at the same time would write over it.
    receiving: bool = False


class TransferTokens:
    """The live tokens. Only the event loop touches the table; the spool files are made
    and removed in a worker thread, so neither a request nor the expiry of old tokens
    blocks the loop."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self._tokens: dict[str, Transfer] = {}

    async def issue(self, kind: str, folder: str, target: Path, size: int = 0) -> str:
        await self._expire()
        token = secrets.token_urlsafe(24)
        part = None
        if kind == "upload":
            part = self.spool / f"{token}.part"
            await asyncio.to_thread(_new_part, part)
        self._tokens[token] = Transfer(
            kind, folder, target, size, time.monotonic() + TOKEN_SECONDS, part
        )
        return token

    async def get(self, token: str | None, kind: str) -> Transfer:
        await self._expire()
        transfer = self._tokens.get(token or "")
        if transfer is None or transfer.kind != kind:
            raise GatewayError(
                401,
                "auth-failed",
                "Authorization failed.",
                f"The {kind} token is unknown or has expired; request a new one",
            )
        return transfer

    def finish(self, token: str) -> None:
        self._tokens.pop(token, None)

    async def _expire(self) -> None:
        now = time.monotonic()
        parts = []
        for token, transfer in list(self._tokens.items()):
            if transfer.expires < now:
                del self._tokens[token]
                if transfer.part is not None:
                    parts.append(transfer.part)
        if parts:
            await asyncio.to_thread(_remove_parts, parts)


def _new_part(part: Path) -> None:
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"")


def _remove_parts(parts: list[Path]) -> None:
    for part in parts:
        part.unlink(missing_ok=True)
