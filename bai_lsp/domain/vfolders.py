"""The user's vfolders in the editor: list, browse, upload, download, open.

Transfers report work-done progress (bytes and percent) through the frontend and write
nothing partial: a download lands in a hidden ``.<name>.bai-part`` file renamed into place
when complete, an upload appears in the vfolder only when all its bytes arrived (the
storage side's rule). Remote files open in the editor through ``bai-vfolder:`` URIs:
``bai-vfolder://<vfolder name>/<path inside it>`` (the authority is the vfolder;
percent-encoded as URIs are).
"""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from pathlib import Path
from typing import Any

from bai_lsp.backendai import errors as client_errors
from bai_lsp.domain.backend import Backend, LaunchCalls, translate
from bai_lsp.domain.errors import DomainError, InvalidParamsError
from bai_lsp.domain.frontend import Frontend, unless_cancelled

SCHEME = "bai-vfolder"
#: Files larger than this are not opened through ``backendai.vfolders.read``.
READ_LIMIT = 10 * 1024 * 1024


class UnknownVFolderError(DomainError):
    kind = "unknownVfolder"


def vfolder_uri(name: str, path: str) -> str:
    return f"{SCHEME}://{urllib.parse.quote(name)}/{urllib.parse.quote(path.lstrip('/'))}"


def parse_uri(uri: str) -> tuple[str, str]:
    """``(vfolder name, path inside it)`` of a ``bai-vfolder:`` URI."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != SCHEME:
        raise InvalidParamsError(
            f"backendai.vfolders.read: {uri!r} is not a {SCHEME}: URI ({SCHEME}:/<vfolder>/<path>)."
        )
    whole = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
    name, _, path = urllib.parse.unquote(whole.lstrip("/")).partition("/")
    if not name or not path:
        raise InvalidParamsError(
            f"backendai.vfolders.read: {uri!r} names no file ({SCHEME}:/<vfolder>/<path>)."
        )
    return name, path


def _local(local_path: str, op: str) -> Path:
    local = Path(local_path)
    if not local.is_absolute() or "\x00" in local_path:
        raise InvalidParamsError(
            f"backendai.vfolders.{op}: localPath must be an absolute path, got {local_path!r}."
        )
    return local


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


class VFolders:
    def __init__(self, frontend: Frontend) -> None:
        self._frontend = frontend

    def _calls(self, conn: Backend) -> LaunchCalls:
        return conn.launcher()

    def _fail(self, exc: BaseException, conn: Backend, name: str | None) -> DomainError:
        if isinstance(exc, DomainError):
            return exc
        if isinstance(exc, client_errors.InvalidRequestError):
            return InvalidParamsError(exc.user_message)
        if name is not None and isinstance(exc, client_errors.NotFoundError):
            return UnknownVFolderError(
                f"Backend.AI has no vfolder {name!r} for you, or no such path in it "
                f"({exc.user_message})"
            )
        if isinstance(exc, client_errors.BadRequestError):
            return InvalidParamsError(exc.user_message)
        return translate(exc, conn.endpoint)

    async def list(self, conn: Backend) -> dict[str, Any]:
        try:
            items = await self._calls(conn).list_vfolders()
        except Exception as exc:
            raise self._fail(exc, conn, None) from None
        return {
            "vfolders": [
                {
                    "name": item.get("name"),
                    "id": item.get("id"),
                    "host": item.get("host"),
                    "permission": item.get("permission"),
                    "usageMode": item.get("usage_mode"),
                    "uri": vfolder_uri(str(item.get("name")), ""),
                }
                for item in items
            ]
        }

    async def create(self, conn: Backend, name: str) -> dict[str, Any]:
        try:
            item = await self._calls(conn).create_vfolder(name)
        except Exception as exc:
            raise self._fail(exc, conn, None) from None
        return {"name": item.get("name", name), "id": item.get("id"), "uri": vfolder_uri(name, "")}

    async def files(self, conn: Backend, name: str, path: str) -> dict[str, Any]:
        try:
            entries = await self._calls(conn).vfolder_files(name, path)
        except Exception as exc:
            raise self._fail(exc, conn, name) from None
        base = path.strip("/")
        return {
            "name": name,
            "path": base,
            "files": [
                {
                    "name": e.name,
                    "type": e.type,
                    "size": e.size,
                    "modified": e.modified,
                    "uri": vfolder_uri(name, f"{base}/{e.name}" if base else e.name),
                }
                for e in entries
            ],
        }

    async def upload(self, conn: Backend, name: str, path: str, local_path: str) -> dict[str, Any]:
        local = _local(local_path, "upload")
        if not await asyncio.to_thread(local.is_file):
            raise InvalidParamsError(
                f"backendai.vfolders.upload: {local_path} is not a readable file."
            )
        title = f"Uploading {local.name} to {name}/{path}"
        async with self._frontend.progress(title) as bar:

            def report(done: int, total: int) -> None:
                percent = 100 if total == 0 else min(100, done * 100 // total)
                bar.report(f"{_mib(done)} of {_mib(total)}", percent)

            try:
                sent = await self._transfer(
                    self._calls(conn).upload(name, path, local, report), bar, title
                )
            except Exception as exc:
                raise self._fail(exc, conn, name) from None
        return {"name": name, "path": path, "bytes": sent, "uri": vfolder_uri(name, path)}

    async def download(
        self, conn: Backend, name: str, path: str, local_path: str
    ) -> dict[str, Any]:
        local = _local(local_path, "download")
        if await asyncio.to_thread(local.exists):
            raise InvalidParamsError(
                f"backendai.vfolders.download: {local_path} already exists; nothing was "
                "overwritten (choose another path or remove it first)."
            )
        if not await asyncio.to_thread(local.parent.is_dir):
            raise InvalidParamsError(
                f"backendai.vfolders.download: the folder {local.parent} does not exist."
            )
        title = f"Downloading {name}/{path}"
        async with self._frontend.progress(title) as bar:

            def report(done: int, total: int) -> None:
                bar.report(f"{_mib(done)} of {_mib(total)}", min(100, done * 100 // total))

            try:
                got = await self._transfer(
                    self._calls(conn).download(name, path, local, report), bar, title
                )
            except Exception as exc:
                raise self._fail(exc, conn, name) from None
        return {"name": name, "path": path, "bytes": got, "localPath": str(local)}

    async def _transfer(self, coro: Any, bar: Any, title: str) -> int:
        """Run a transfer; the user's cancel of its progress stops it."""
        result: int = await unless_cancelled(
            bar, coro, f"{title} was cancelled; nothing partial was kept."
        )
        return result

    async def read(self, conn: Backend, uri: str) -> dict[str, Any]:
        name, path = parse_uri(uri)
        try:
            data = await self._calls(conn).read(name, path, READ_LIMIT)
        except Exception as exc:
            raise self._fail(exc, conn, name) from None
        try:
            return {
                "uri": uri,
                "encoding": "utf-8",
                "text": data.decode("utf-8"),
                "size": len(data),
            }
        except UnicodeDecodeError:
            return {
                "uri": uri,
                "encoding": "base64",
                "data": base64.b64encode(data).decode("ascii"),
                "size": len(data),
            }
