"""``/folders`` routes and the storage-proxy transfer URLs (the SDK's ``VFolder`` API).

Shapes follow the manager: ``GET /folders`` a list of folder items, ``POST /folders`` 201
with the new item, ``DELETE /folders/{name}`` (23.09) or ``DELETE /folders`` with ``{id}``
(the newest SDK, after ``GET /folders/_/id``) 204, ``GET /folders/{name}/files``
``{items, files}`` (``files`` a JSON string for legacy clients). ``request-upload`` and
``request-download`` answer ``{token, url}``; the URLs are served here, as a storage proxy
serves them: tus ``PATCH`` (``Upload-Offset``, ``application/offset+octet-stream``, 204)
and ``HEAD`` for uploads, ``GET`` with ``Range``/``If-Range`` for downloads. A finished
upload is moved into place atomically, so a session never reads half a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

import bai_lsp.gateway.state as state
from bai_lsp.gateway.auth import access_key_of, public
from bai_lsp.gateway.errors import GatewayError, file_not_found, invalid_params
from bai_lsp.gateway.validation import read_json, to_bool
from bai_lsp.gateway.vfolders import (
    HOST,
    Transfer,
    TransferTokens,
    VFolder,
    VFolderStore,
    file_items,
)

T = TypeVar("T")

UPLOAD_PATH = "/storage/upload"
DOWNLOAD_PATH = "/storage/download"
CHUNK = 1024 * 1024
TUS_VERSION = "1.0.0"


def store_of(request: web.Request) -> VFolderStore:
    return request.app[state.VFOLDERS]


def tokens_of(request: web.Request) -> TransferTokens:
    return request.app[state.TRANSFERS]


async def _disk(func: Callable[..., T], *args: Any) -> T:
    """Blocking file work in a thread; an OS error becomes a 400 naming it."""
    return await _on_disk(asyncio.to_thread(func, *args))


async def _on_disk(work: Awaitable[T]) -> T:
    """File work awaited; an OS error becomes a 400 naming it."""
    try:
        return await work
    except GatewayError:
        raise
    except OSError as exc:
        where = f" ({Path(exc.filename).name})" if exc.filename else ""
        raise invalid_params(f"File operation failed: {exc.strerror or exc}{where}") from None


async def _params(request: web.Request) -> dict[str, Any]:
    """JSON body (clients send it even with GET/DELETE) merged over the query string."""
    body = await read_json(request, required=False)
    return {**dict(request.query), **body}


def _creator(request: web.Request) -> str:
    pair = request.app[state.CONFIG].keypair(access_key_of(request))
    return pair.user if pair is not None else ""


async def _folder(request: web.Request) -> VFolder:
    return await _disk(store_of(request).get, request.match_info["name"])


# ---------------------------------------------------------------------------- folders


async def list_folders(request: web.Request) -> web.Response:
    await _params(request)
    creator = _creator(request)
    folders = await _disk(store_of(request).all)
    return web.json_response([await _disk(f.entry, creator) for f in folders])


async def create_folder(request: web.Request) -> web.Response:
    body = await read_json(request)
    folder = await _disk(store_of(request).create, body.get("name"))
    return web.json_response(await _disk(folder.entry, _creator(request)), status=201)


async def folder_id(request: web.Request) -> web.Response:
    params = await _params(request)
    name = params.get("name")
    if not isinstance(name, str):
        raise invalid_params("Input validation error", {"name": "the vfolder name"})
    folder = await _disk(store_of(request).get, name)
    return web.json_response({"id": folder.id})


async def hosts(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "default": HOST,
            "allowed": [HOST],
            "volume_info": {HOST: {"backend": "vfs", "capabilities": ["vfolder"]}},
        }
    )


async def info(request: web.Request) -> web.Response:
    folder = await _folder(request)
    entry = await _disk(folder.entry, _creator(request))
    count, used = await _disk(_usage, folder.path)
    entry.update(numFiles=count, num_files=count, used_bytes=used, created=entry["created_at"])
    return web.json_response(entry)


def _usage(root: Path) -> tuple[int, int]:
    count = used = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            count += 1
            used += os.lstat(os.path.join(dirpath, name)).st_size
    return count, used


async def delete_folder(request: web.Request) -> web.Response:
    await _disk(store_of(request).delete, request.match_info["name"])
    return web.Response(status=204)


async def delete_by_id(request: web.Request) -> web.Response:
    body = await read_json(request)
    ref = body.get("id") or body.get("vfolder_id")
    if not isinstance(ref, str):
        raise invalid_params("Input validation error", {"id": "the vfolder id"})
    await _disk(store_of(request).delete, ref)
    return web.Response(status=204)


# ---------------------------------------------------------------------------- files


async def list_files(request: web.Request) -> web.Response:
    folder = await _folder(request)
    params = await _params(request)
    path = params.get("path", "") or ""
    target = await _disk(folder.resolve, path)
    if not await asyncio.to_thread(target.exists):
        raise file_not_found(str(path))
    items = await _disk(file_items, folder, target)
    legacy = [
        {
            "filename": item["name"],
            "size": item["size"],
            "mode": stat.filemode(int(item["mode"], 8) | _kind_bits(item["type"])),
            "ctime": datetime.fromisoformat(item["created"]).timestamp(),
            "atime": 0,
            "mtime": datetime.fromisoformat(item["modified"]).timestamp(),
        }
        for item in items
    ]
    return web.json_response({"items": items, "files": json.dumps(legacy)})


def _kind_bits(kind: str) -> int:
    return {"DIRECTORY": stat.S_IFDIR, "SYMLINK": stat.S_IFLNK}.get(kind, stat.S_IFREG)


async def mkdir(request: web.Request) -> web.Response:
    folder = await _folder(request)
    body = await read_json(request)
    raw = body.get("path")
    paths = raw if isinstance(raw, list) else [raw]
    parents = to_bool(body.get("parents", True), "parents")
    exist_ok = to_bool(body.get("exist_ok", False), "exist_ok")
    made = []
    root = await _disk(folder.path.resolve)
    for path in paths:
        target = await _disk(folder.resolve, path)
        if target == root:
            raise invalid_params(f"{path!r} is the vfolder itself")
        try:
            await asyncio.to_thread(target.mkdir, parents=parents, exist_ok=exist_ok)
        except FileExistsError:
            raise invalid_params(f"{path!r} already exists") from None
        except FileNotFoundError:
            raise invalid_params(f"the parent folder of {path!r} does not exist") from None
        made.append({"item": str(path), "msg": None})
    return web.json_response({"results": {"success": made, "failed": []}}, status=201)


async def delete_files(request: web.Request) -> web.Response:
    folder = await _folder(request)
    body = await read_json(request)
    names = body.get("files")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise invalid_params("Input validation error", {"files": "a list of paths"})
    recursive = to_bool(body.get("recursive", False), "recursive")
    targets = [await _disk(folder.resolve, name) for name in names]
    root = await _disk(folder.path.resolve)
    for name, target in zip(names, targets, strict=True):
        if target == root:
            raise invalid_params(f"{name!r} is the vfolder itself: delete the vfolder instead")
        if not await asyncio.to_thread(os.path.lexists, target):
            raise file_not_found(name)
        if await asyncio.to_thread(target.is_dir) and not recursive:
            raise invalid_params(f"{name!r} is a folder: pass recursive to delete it")
    for target in targets:
        await _disk(_remove, target)
    return web.json_response({})


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink()


# ---------------------------------------------------------------------------- transfers


def _url(request: web.Request, path: str) -> str:
    return str(request.url.origin().with_path(path))


async def request_upload(request: web.Request) -> web.Response:
    folder = await _folder(request)
    body = await read_json(request)
    size = body.get("size")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid_params("Input validation error", {"size": "a non-negative integer"})
    path = body.get("path")
    target = await _disk(folder.resolve, path)
    if target == await _disk(folder.path.resolve) or await asyncio.to_thread(target.is_dir):
        raise invalid_params(f"{path!r} is a folder, not a file path")
    token = await _on_disk(tokens_of(request).issue("upload", folder.name, target, size))
    if size == 0:
        await _disk(_complete, await tokens_of(request).get(token, "upload"))
        tokens_of(request).finish(token)
    return web.json_response({"token": token, "url": _url(request, UPLOAD_PATH)})


async def request_download(request: web.Request) -> web.Response:
    folder = await _folder(request)
    body = await read_json(request)
    path = body.get("path", body.get("file"))
    target = await _disk(folder.resolve, path)
    if not await asyncio.to_thread(target.exists):
        raise file_not_found(str(path))
    if await asyncio.to_thread(target.is_dir):
        raise invalid_params(f"{path!r} is a folder: download its files one by one")
    token = await _on_disk(tokens_of(request).issue("download", folder.name, target))
    return web.json_response({"token": token, "url": _url(request, DOWNLOAD_PATH)})


def _tus_headers(offset: int, size: int) -> dict[str, str]:
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(offset),
        "Upload-Length": str(size),
        "Cache-Control": "no-store",
    }


@public
async def upload_head(request: web.Request) -> web.Response:
    transfer = await tokens_of(request).get(request.query.get("token"), "upload")
    return web.Response(status=200, headers=_tus_headers(transfer.offset, transfer.size))


@public
async def upload_patch(request: web.Request) -> web.Response:
    token = request.query.get("token")
    transfer = await tokens_of(request).get(token, "upload")
    if request.content_type != "application/offset+octet-stream":
        raise GatewayError(
            415,
            "invalid-api-params",
            "Invalid API parameters.",
            "an upload chunk needs Content-Type application/offset+octet-stream",
        )
    if transfer.receiving:
        raise GatewayError(
            409,
            "invalid-api-params",
            "Invalid API parameters.",
            "another chunk of this upload is still arriving; send the next one when it is "
            "answered (HEAD gives the offset)",
        )
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        raise invalid_params("Upload-Offset must be an integer") from None
    if offset != transfer.offset:
        raise GatewayError(
            409,
            "invalid-api-params",
            "Invalid API parameters.",
            f"Upload-Offset {offset} does not match the {transfer.offset} bytes received",
        )
    transfer.receiving = True
    try:
        await _receive(request, transfer)
    finally:
        transfer.receiving = False
    if transfer.offset == transfer.size:
        await _disk(_complete, transfer)
        tokens_of(request).finish(token or "")
    return web.Response(status=204, headers=_tus_headers(transfer.offset, transfer.size))


async def _receive(request: web.Request, transfer: Transfer) -> None:
    """Append the request's bytes at ``transfer.offset``; refused past the announced size."""
    assert transfer.part is not None
    # Opened, written and closed (which flushes) in a thread: none of it on the loop.
    out = await _disk(transfer.part.open, "r+b")
    try:
        await asyncio.to_thread(out.seek, transfer.offset)
        buffered = bytearray()
        async for chunk in request.content.iter_chunked(CHUNK):
            if transfer.offset + len(buffered) + len(chunk) > transfer.size:
                raise invalid_params(
                    f"the upload is longer than the {transfer.size} bytes announced"
                )
            buffered += chunk
            if len(buffered) >= CHUNK:
                await _disk(out.write, bytes(buffered))
                transfer.offset += len(buffered)
                buffered.clear()
        if buffered:
            await _disk(out.write, bytes(buffered))
            transfer.offset += len(buffered)
    finally:
        await _disk(out.close)


def _complete(transfer: Any) -> None:
    """Move the finished upload into place (atomic: readers see all of it or nothing)."""
    transfer.target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(transfer.part, transfer.target)


@public
async def download(request: web.Request) -> web.StreamResponse:
    transfer = await tokens_of(request).get(request.query.get("token"), "download")
    if not await asyncio.to_thread(transfer.target.is_file):
        raise file_not_found(transfer.target.name)
    # FileResponse answers Range/If-Range with 206 and sets Last-Modified, as the SDK expects.
    return web.FileResponse(transfer.target, chunk_size=CHUNK)


def add_routes(app: web.Application, prefix: str = "") -> None:
    r = app.router
    f = prefix + "/folders"
    r.add_get(f, list_folders)
    r.add_post(f, create_folder)
    r.add_delete(f, delete_by_id)
    r.add_get(f + "/_/id", folder_id)
    r.add_get(f + "/_/hosts", hosts)
    r.add_get(f + "/{name}", info)
    r.add_delete(f + "/{name}", delete_folder)
    r.add_get(f + "/{name}/files", list_files)
    r.add_post(f + "/{name}/mkdir", mkdir)
    r.add_delete(f + "/{name}/delete-files", delete_files)
    r.add_post(f + "/{name}/request-upload", request_upload)
    r.add_post(f + "/{name}/request-download", request_download)


def add_transfer_routes(app: web.Application) -> None:
    r = app.router
    r.add_route("HEAD", UPLOAD_PATH, upload_head)
    r.add_patch(UPLOAD_PATH, upload_patch)
    r.add_get(DOWNLOAD_PATH, download, allow_head=False)
