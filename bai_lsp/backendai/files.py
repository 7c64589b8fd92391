"""File calls: upload (20 files and under 1 MiB each per request), download (tar parts of a
multipart answer, 5 paths per request) and the file list, in both dialects."""

from __future__ import annotations

import asyncio
import io
import json
import posixpath
import re
import tarfile
from collections.abc import Sequence

import aiohttp

from bai_lsp.backendai.connection import BaseClient, check_ref
from bai_lsp.backendai.errors import InvalidRequestError, ProtocolError
from bai_lsp.backendai.types import FileEntry

#: Backend.AI's per-request upload limits (the manager refuses the 21st part, and a part
#: once it reaches 1 MiB) and its per-request download limit.
MAX_UPLOAD_FILES = 20
MAX_UPLOAD_BYTES = 1024 * 1024
MAX_DOWNLOAD_FILES = 5


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _check_upload_path(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith("/") or ".." in parts or not parts[-1]:
        raise InvalidRequestError(
            f"Cannot upload {path!r}: a file path must be relative and stay inside the "
            "session's work folder (/home/work)."
        )
    return path


def parse_multipart(content_type: str, body: bytes) -> list[bytes]:
    """The part bodies of a ``multipart/mixed`` answer (RFC 2046)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise ProtocolError(f"expected a multipart answer, got {content_type or 'no type'!r}")
    delimiter = b"--" + match[1].encode()
    parts: list[bytes] = []
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        _head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ProtocolError("a multipart part has no header/body separator")
        parts.append(content)
    return parts


def untar(archive: bytes) -> dict[str, bytes]:
    """Regular files of one tar archive, by member name."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[member.name.removeprefix("./")] = handle.read()
    except tarfile.TarError as exc:
        raise ProtocolError(f"a downloaded part is not a tar archive ({exc})") from None
    return files


class FileCalls(BaseClient):
    """The file transfer calls of ``BackendAIClient``."""

    async def upload(self, ref: str, files: Sequence[tuple[str, bytes]]) -> None:
        """``POST /session/{ref}/upload`` (multipart ``src`` parts), 20 files per request.

        Every file is checked first: one of 1 MiB or more fails the whole call before
        anything is sent, with its name and size.
        """
        check_ref(ref)
        for path, data in files:
            _check_upload_path(path)
            if len(data) >= MAX_UPLOAD_BYTES:
                raise InvalidRequestError(
                    f"Cannot upload {path!r} ({_size(len(data))}): Backend.AI accepts only "
                    "files under 1 MiB per upload; leave it out or put it in a mounted vfolder."
                )
        for start in range(0, len(files), MAX_UPLOAD_FILES):
            batch = list(files[start : start + MAX_UPLOAD_FILES])

            def form(batch: list[tuple[str, bytes]] = batch) -> aiohttp.FormData:
                data = aiohttp.FormData()  # quotes file names as the SDK does: sub%2Fb.txt
                for path, content in batch:
                    data.add_field(
                        "src", content, filename=path, content_type="application/octet-stream"
                    )
                return data

            await self._transport.request("POST", f"/session/{ref}/upload", form=form)

    async def download(self, ref: str, paths: Sequence[str]) -> dict[str, bytes]:
        """Download, 5 paths per request: ``GET …/download`` with JSON ``files`` (23.09) or
        ``POST …/download?files=a&files=b`` (the newest manager).

        Each path comes back as a tar archive (named after the path's last component, as
        Docker's archive API does); the result maps each file to its bytes under the path
        it was asked for (``sub/a.txt``), a directory's files under ``dir/…``.
        """
        check_ref(ref)
        out: dict[str, bytes] = {}
        for start in range(0, len(paths), MAX_DOWNLOAD_FILES):
            batch = list(paths[start : start + MAX_DOWNLOAD_FILES])
            if self.newest:
                reply = await self._transport.request(
                    "POST",
                    f"/session/{ref}/download",
                    params=[("files", path) for path in batch],
                    idempotent=True,
                )
            else:
                reply = await self._transport.request(
                    "GET", f"/session/{ref}/download", json_body={"files": batch}, idempotent=True
                )
            parts = parse_multipart(reply.headers.get("Content-Type", ""), reply.body)
            if len(parts) != len(batch):
                raise ProtocolError(
                    f"asked for {len(batch)} paths, the download holds {len(parts)} archives"
                )
            for requested, part in zip(batch, parts, strict=True):
                parent = posixpath.dirname(requested.rstrip("/"))
                for member, content in (await asyncio.to_thread(untar, part)).items():
                    out[posixpath.join(parent, member)] = content
        return out

    async def list_files(self, ref: str, path: str = ".") -> list[FileEntry]:
        """``GET /session/{ref}/files``, relative to ``/home/work``: ``path`` in a JSON body
        (23.09) or in the query (the newest manager reads only the query)."""
        if self.newest:
            reply = await self._transport.request(
                "GET", f"/session/{check_ref(ref)}/files", params={"path": path}, idempotent=True
            )
        else:
            reply = await self._transport.request(
                "GET",
                f"/session/{check_ref(ref)}/files",
                json_body={"path": path},
                idempotent=True,
            )
        body = reply.json()
        if not isinstance(body, dict):
            raise ProtocolError(f"the file list answer is {body!r}.")
        raw = body.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
            return [FileEntry.from_json(item) for item in items or []]
        except (ValueError, TypeError):
            raise ProtocolError(f"the file list is malformed: {raw!r}") from None
