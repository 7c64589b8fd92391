"""What a session launcher needs from Backend.AI: presets, allowance, resource groups,
images, and the user's vfolders with their files and transfers.

The calls are the ones the official SDK's ``Resource``, ``ScalingGroup``, ``Image`` and
``VFolder`` functional APIs make (docs/client.md). Transfers go where a manager sends them:
``request-upload``/``request-download`` answer a storage-proxy URL and a token, and the
bytes then flow to that URL **without** the keypair's signature (the token is the only
credential; the URL may be another host, so nothing of ours is sent there). Uploads use
tus ``PATCH`` chunks, downloads a plain ``GET``; both report progress as they go.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
from yarl import URL

from bai_lsp.backendai import dialect
from bai_lsp.backendai.errors import (
    BadRequestError,
    InvalidRequestError,
    ProtocolError,
    ServerError,
)
from bai_lsp.wire.problems import Problem, ProblemDetails

#: Bytes per tus ``PATCH`` (the SDK sends 16 MiB; smaller chunks give finer progress).
UPLOAD_CHUNK = 4 * 1024 * 1024
READ_CHUNK = 1024 * 1024
IMAGES_QUERY = "query { images { name tag registry architecture labels { key value } } }"

#: ``progress(done_bytes, total_bytes)``.
ProgressCallback = Callable[[int, int], None]


@attrs.frozen
class VFolderFile:
    name: str
    type: str
    size: int
    modified: str | None = None


def _check_inner_path(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if "\x00" in path or path.startswith("/") or ".." in parts:
        raise InvalidRequestError(
            f"Invalid vfolder path {path!r}: it must be relative and stay inside the vfolder."
        )
    return path


def _check_name(name: str) -> str:
    if not name or "/" in name or name in (".", "..") or name != name.strip():
        raise InvalidRequestError(f"Invalid vfolder name {name!r}.")
    return name


class LauncherCalls:
    """The launcher's calls on an open ``BackendAIClient`` (it shares its transport)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._t = client._transport
        self._ids: dict[str, str] = {}

    @property
    def _newest(self) -> bool:
        return dialect.is_newest(self._t.api_version)

    # --- resources ------------------------------------------------------------------------

    async def check_presets(self, group: str, scaling_group: str | None = None) -> dict[str, Any]:
        """``POST /resource/check-presets``: presets with ``allocatable`` and what remains."""
        body: dict[str, Any] = {"group": group}
        if scaling_group:
            body["scaling_group"] = scaling_group
        reply = await self._t.request(
            "POST", "/resource/check-presets", json_body=body, idempotent=True
        )
        answer = reply.json()
        if not isinstance(answer, dict) or not isinstance(answer.get("presets"), list):
            raise ProtocolError(f"check-presets answered {answer!r}.")
        return answer

    async def scaling_groups(self, group: str) -> list[str]:
        """``GET /scaling-groups?group=``: the resource groups the project may use."""
        reply = await self._t.request(
            "GET", "/scaling-groups", params={"group": group}, idempotent=True
        )
        answer = reply.json()
        groups = answer.get("scaling_groups") if isinstance(answer, dict) else None
        if not isinstance(groups, list):
            raise ProtocolError(f"scaling-groups answered {answer!r}.")
        return [str(g.get("name")) for g in groups if isinstance(g, dict) and g.get("name")]

    async def images(self) -> list[dict[str, Any]]:
        """The GraphQL ``images`` query (name, tag, registry, architecture, labels)."""
        reply = await self._t.request(
            "POST",
            "/admin/gql",
            json_body={"query": IMAGES_QUERY, "variables": {}},
            idempotent=True,
        )
        answer = reply.json()
        if isinstance(answer, dict) and answer.get("errors"):
            errors = answer["errors"]
            text = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
            raise BadRequestError(
                400,
                ProblemDetails.of(
                    400, Problem.GRAPHQL_ERROR, "GraphQL-generated error", msg=text or None
                ),
            )
        data = answer.get("data") if isinstance(answer, dict) else None
        items = data.get("images") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"the images query answered {answer!r}.")
        return [item for item in items if isinstance(item, dict)]

    # --- vfolders -------------------------------------------------------------------------

    async def list_vfolders(self) -> list[dict[str, Any]]:
        """``GET /folders``: the vfolders the user may use."""
        answer = (await self._t.request("GET", "/folders", idempotent=True)).json()
        if not isinstance(answer, list):
            raise ProtocolError(f"GET /folders answered {answer!r}.")
        return [item for item in answer if isinstance(item, dict)]

    async def _key(self, name: str) -> str:
        """How a vfolder is addressed: its name (v7), its id (the newest manager)."""
        _check_name(name)
        if not self._newest:
            return name
        if name not in self._ids:
            reply = await self._t.request(
                "GET", "/folders/_/id", json_body={"name": name}, idempotent=True
            )
            answer = reply.json()
            if not isinstance(answer, dict) or not answer.get("id"):
                raise ProtocolError(f"GET /folders/_/id answered {answer!r}.")
            self._ids[name] = str(answer["id"]).replace("-", "")
        return self._ids[name]

    async def create_vfolder(self, name: str) -> dict[str, Any]:
        answer = (
            await self._t.request("POST", "/folders", json_body={"name": _check_name(name)})
        ).json()
        return answer if isinstance(answer, dict) else {"name": name}

    async def delete_vfolder(self, name: str) -> None:
        key = await self._key(name)
        if self._newest:
            await self._t.request("DELETE", "/folders", json_body={"id": key})
        else:
            await self._t.request("DELETE", f"/folders/{key}")
        self._ids.pop(name, None)

    async def vfolder_files(self, name: str, path: str = "") -> list[VFolderFile]:
        """``GET /folders/{name}/files``; ``path`` in the query and the body (either
        manager reads one of them)."""
        key = await self._key(name)
        path = _check_inner_path(path or "")
        reply = await self._t.request(
            "GET",
            f"/folders/{key}/files",
            params={"path": path},
            json_body={"path": path},
            idempotent=True,
        )
        answer = reply.json()
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"the vfolder file list answered {answer!r}.")
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                size = item.get("size")
                out.append(
                    VFolderFile(
                        name=item["name"],
                        type=str(item.get("type", "FILE")).lower(),
                        size=int(size) if isinstance(size, int | float) else 0,
                        modified=str(item["modified"]) if item.get("modified") else None,
                    )
                )
        return out

    async def _ticket(self, name: str, route: str, body: dict[str, Any]) -> URL:
        key = await self._key(name)
        answer = (await self._t.request("POST", f"/folders/{key}/{route}", json_body=body)).json()
        if not isinstance(answer, dict) or not answer.get("url") or not answer.get("token"):
            # Named, not echoed: the answer may hold a transfer token (a credential).
            missing = [
                k for k in ("url", "token") if not isinstance(answer, dict) or not answer.get(k)
            ]
            raise ProtocolError(f"{route} answered without a transfer {' and '.join(missing)}.")
        url = URL(str(answer["url"]))
        if url.scheme not in ("http", "https"):
            raise ProtocolError(f"{route} gave a transfer URL that is not http(s): {url}")
        return url.with_query({"token": str(answer["token"])})

    async def upload(
        self, name: str, path: str, local: Path, progress: ProgressCallback | None = None
    ) -> int:
        """Upload the local file ``local`` to ``path`` in the vfolder; the bytes sent."""
        _check_inner_path(path)
        if not path:
            raise InvalidRequestError("An upload needs a file path inside the vfolder.")
        size = await asyncio.to_thread(lambda: local.stat().st_size)
        url = await self._ticket(name, "request-upload", {"path": path, "size": size})
        sent = 0
        if progress is not None:
            progress(0, size)
        handle = await asyncio.to_thread(local.open, "rb")
        try:
            async with aiohttp.ClientSession() as http:
                while sent < size:
                    chunk = await asyncio.to_thread(handle.read, UPLOAD_CHUNK)
                    if not chunk:
                        raise InvalidRequestError(f"{local} got shorter while it was uploaded.")
                    headers = {
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(sent),
                        "Content-Type": "application/offset+octet-stream",
                    }
                    async with http.patch(
                        url, data=chunk, headers=headers, allow_redirects=False
                    ) as resp:
                        if resp.status != 204:
                            text = (await resp.text())[:300]
                            raise ServerError(
                                resp.status,
                                ProblemDetails.of(
                                    resp.status,
                                    Problem.GENERIC_BAD_REQUEST,
                                    "Upload failed.",
                                    msg=f"the storage answered HTTP {resp.status}: {text}",
                                ),
                            )
                        offset = resp.headers.get("Upload-Offset")
                    sent = int(offset) if offset and offset.isdigit() else sent + len(chunk)
                    if progress is not None:
                        progress(sent, size)
        finally:
            await asyncio.to_thread(handle.close)
        return sent

    async def download(
        self, name: str, path: str, local: Path, progress: ProgressCallback | None = None
    ) -> int:
        """Download ``path`` of the vfolder into ``local`` (written whole, then renamed)."""
        _check_inner_path(path)
        url = await self._ticket(name, "request-download", {"path": path})
        partial = local.with_name(f".{local.name}.bai-part")
        got = 0
        async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise ServerError(
                    resp.status,
                    ProblemDetails.of(
                        resp.status,
                        Problem.GENERIC_BAD_REQUEST,
                        "Download failed.",
                        msg=f"the storage answered HTTP {resp.status}",
                    ),
                )
            total = int(resp.headers.get("Content-Length") or 0)
            out = await asyncio.to_thread(partial.open, "wb")
            try:
                async for chunk in resp.content.iter_chunked(READ_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    got += len(chunk)
                    if progress is not None:
                        progress(got, max(total, got))
            except BaseException:
                await asyncio.to_thread(out.close)
                await asyncio.to_thread(partial.unlink, True)
                raise
            await asyncio.to_thread(out.close)
        if total and got != total:
            await asyncio.to_thread(partial.unlink, True)
            raise ProtocolError(f"the download of {path} stopped at {got} of {total} bytes")
        await asyncio.to_thread(os.replace, partial, local)
        return got

    async def read(self, name: str, path: str, limit: int) -> bytes:
        """A vfolder file's bytes (at most ``limit``; longer files are refused)."""
        _check_inner_path(path)
        url = await self._ticket(name, "request-download", {"path": path})
        async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise ProtocolError(f"the storage answered HTTP {resp.status} for {path}")
            size = int(resp.headers.get("Content-Length") or 0)
            if size > limit:
                raise InvalidRequestError(
                    f"{path} is {size} bytes; only files up to {limit} bytes are opened in the "
                    "editor (download it instead)."
                )
            data = bytearray()
            async for chunk in resp.content.iter_chunked(READ_CHUNK):
                data += chunk
                if len(data) > limit:
                    raise InvalidRequestError(f"{path} is larger than {limit} bytes.")
            return bytes(data)
