"""File transfer routes: upload, download, download_single, list (§3.6).

Limits are Backend.AI's for uploads (≤ 20 parts, each under 1 MiB). Every path goes
through :class:`~bai_lsp.gateway.paths.Confinement`; a path that escapes the session folder
is a 400 naming it, a missing one a 404 — never a 500. Disk work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import stat
import tarfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import BodyPartReader, MultipartWriter, web

import bai_lsp.gateway.state as state
from bai_lsp.gateway.config import GatewayConfig
from bai_lsp.gateway.errors import file_not_found, invalid_params
from bai_lsp.gateway.paths import Confinement, relative_part
from bai_lsp.gateway.session_api import registry_of, session_of
from bai_lsp.gateway.sessions import Session
from bai_lsp.gateway.validation import read_json

T = TypeVar("T")

MAX_UPLOAD_FILES = 20
MAX_UPLOAD_FILE_SIZE = 1024 * 1024
MAX_DOWNLOAD_FILES = 5
CHUNK = 64 * 1024


async def _disk(func: Callable[..., T], *args: Any) -> T:
    """Run blocking file work in a thread; an OS error becomes a 400 naming it."""
    try:
        return await asyncio.to_thread(func, *args)
    except OSError as exc:
        where = f" ({Path(exc.filename).name})" if exc.filename else ""
        raise invalid_params(f"File operation failed: {exc.strerror or exc}{where}") from None


async def _ready(request: web.Request) -> Session:
    session = session_of(request)
    await registry_of(request).ready_runtime(session)
    return session


# ---------------------------------------------------------------------------- upload


async def upload(request: web.Request) -> web.Response:
    session = await _ready(request)
    if not request.content_type.startswith("multipart/"):
        raise invalid_params("upload needs a multipart/form-data body (one 'src' part per file)")
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError) as exc:
        raise invalid_params(f"Malformed multipart body: {exc}") from None
    received: list[tuple[str, bytes]] = []
    while True:
        try:
            part = await reader.next()
        except ValueError as exc:
            raise invalid_params(f"Malformed multipart body: {exc}") from None
        if part is None:
            break
        if len(received) >= MAX_UPLOAD_FILES:
            raise invalid_params("Too many files")
        if not isinstance(part, BodyPartReader):
            raise invalid_params("nested multipart parts are not accepted")
        filename = _part_path(part)
        if not filename:
            raise invalid_params("every part needs a filename (the path to write)")
        relative_part(filename)  # refuse traversal before reading the content
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            data += chunk
            if len(data) >= MAX_UPLOAD_FILE_SIZE:
                raise invalid_params("Too large file")
        received.append((filename, bytes(data)))
    await _disk(_write_all, session.confinement, received)
    session.log(f"uploaded {len(received)} file(s)")
    session.touch()
    return web.Response(status=204)


_FILENAME_STAR_RE = re.compile(
    r"""(?:^|;)\s*filename\*\s*=\s*(?P<charset>[^']*)'[^']*'(?P<value>[^;\s]+)""", re.I
)
_FILENAME_RE = re.compile(
    r"""(?:^|;)\s*filename\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^;\s]+))""", re.I
)


def _part_path(part: BodyPartReader) -> str | None:
    """The path a part names, as the client sent it.

    Read from the raw header because aiohttp's parser drops a leading ``/`` (an absolute
    path must be judged, not silently made relative). aiohttp ≥ 3.9 clients
    percent-encode ``filename`` (``/`` → ``%2F``) without adding ``filename*``, so a
    percent-encoded name is decoded.
    """
    header = part.headers.get("Content-Disposition", "")
    star = _FILENAME_STAR_RE.search(header)
    if star is not None:
        return urllib.parse.unquote(star["value"], star["charset"] or "utf-8")
    plain = _FILENAME_RE.search(header)
    if plain is None:
        return part.filename
    name = plain["token"] if plain["quoted"] is None else re.sub(r"\\(.)", r"\1", plain["quoted"])
    if "%" in name:
        name = urllib.parse.unquote(name)
    return name


def _write_all(confinement: Confinement, received: list[tuple[str, bytes]]) -> None:
    """Check every path first, then write: a refused upload writes nothing."""
    targets = [(confinement.resolve(name), name, data) for name, data in received]
    for real, name, _ in targets:
        if real.is_dir():
            raise invalid_params(f"{name!r} is a directory in the session folder")
    for real, name, data in targets:
        real.parent.mkdir(parents=True, exist_ok=True)
        # A directory created above could not have been a symlink, but check once more.
        again = Path(os.path.realpath(real))
        if not confinement.inside(again):
            raise invalid_params(f"{name!r} leads outside the session folder")
        with open(again, "wb") as handle:
            handle.write(data)


# ---------------------------------------------------------------------------- download


async def _requested_files(request: web.Request) -> list[str]:
    body = await read_json(request, required=False)
    files: Any = body.get("files") if body else request.query.getall("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise invalid_params("Input validation error", {"files": "must be a list of paths"})
    if not files:
        raise invalid_params("Input validation error", {"files": "name at least one path"})
    if len(files) > MAX_DOWNLOAD_FILES:
        raise invalid_params(f"Too many files (at most {MAX_DOWNLOAD_FILES} per download)")
    return files


async def download(request: web.Request) -> web.Response:
    session = await _ready(request)
    files = await _requested_files(request)
    confinement = session.confinement
    max_bytes = _config(request).max_download_bytes
    archives = await _disk(_archives, confinement, files, max_bytes)
    writer = MultipartWriter("mixed")
    for data in archives:
        writer.append(data, {"Content-Type": "application/x-tar", "Content-Encoding": "identity"})
    return web.Response(body=writer)


def _config(request: web.Request) -> GatewayConfig:
    return request.app[state.CONFIG]


def _existing(confinement: Confinement, path: str) -> Path:
    real = confinement.resolve(path)
    if not real.exists():
        raise file_not_found(path)
    return real


def _archives(confinement: Confinement, files: list[str], max_bytes: int) -> list[bytes]:
    reals = [(_existing(confinement, path), path) for path in files]
    archives: list[bytes] = []
    for real, path in reals:
        if _tree_size(real) > max_bytes:
            raise invalid_params(
                f"Too large file: {path!r} is over {max_bytes // (1024 * 1024)} MiB"
            )
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(str(real), arcname=real.name or "work", recursive=True)
        archives.append(buffer.getvalue())
    return archives


def _tree_size(root: Path) -> int:
    if not root.is_dir():
        return root.stat().st_size
    total = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


async def download_single(request: web.Request) -> web.Response:
    session = await _ready(request)
    body = await read_json(request, required=False)
    path = body.get("file") if body else request.query.get("file")
    if not isinstance(path, str) or not path:
        raise invalid_params("Input validation error", {"file": "is required"})
    max_bytes = _config(request).max_download_bytes
    data = await _disk(_read_single, session.confinement, path, max_bytes)
    return web.Response(body=data, content_type="application/octet-stream")


def _read_single(confinement: Confinement, path: str, max_bytes: int) -> bytes:
    real = _existing(confinement, path)
    if real.is_dir():
        raise invalid_params(f"{path!r} is a directory; use download for folders")
    if real.stat().st_size > max_bytes:
        raise invalid_params(f"Too large file: {path!r} is over {max_bytes // (1024 * 1024)} MiB")
    return real.read_bytes()


# ---------------------------------------------------------------------------- list


async def list_files(request: web.Request) -> web.Response:
    session = await _ready(request)
    body = await read_json(request, required=False)
    path = body.get("path") if body else request.query.get("path", ".")
    if path is None:
        path = "."
    if not isinstance(path, str) or not path:
        raise invalid_params("Input validation error", {"path": "must be a path string"})
    real, entries = await _disk(_list, session.confinement, path)
    return web.json_response(
        {
            "files": json.dumps(entries),
            "errors": "",
            "abspath": session.confinement.display(real),
        }
    )


def _list(confinement: Confinement, path: str) -> tuple[Path, list[dict[str, Any]]]:
    real = _existing(confinement, path)
    if not real.is_dir():
        raise invalid_params(f"{path!r} is not a directory")
    entries: list[dict[str, Any]] = []
    with os.scandir(real) as it:
        for entry in sorted(it, key=lambda e: e.name):
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                st = entry.stat(follow_symlinks=False)
            entries.append(
                {
                    "mode": stat.filemode(st.st_mode),
                    "size": st.st_size,
                    "ctime": st.st_ctime,
                    "mtime": st.st_mtime,
                    "atime": st.st_atime,
                    "filename": entry.name,
                }
            )
    return real, entries


def add_routes(app: web.Application, prefix: str = "") -> None:
    r = app.router
    r.add_post(prefix + "/session/{ref}/upload", upload)
    r.add_get(prefix + "/session/{ref}/download", download)
    r.add_post(prefix + "/session/{ref}/download", download)
    r.add_get(prefix + "/session/{ref}/download_single", download_single)
    r.add_post(prefix + "/session/{ref}/download_single", download_single)
    r.add_get(prefix + "/session/{ref}/files", list_files)
