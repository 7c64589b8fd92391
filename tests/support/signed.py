"""Signed requests to a gateway, built from bai_lsp.wire only (never the project's client).

The gateway tests must not depend on ``bai_lsp.backendai``; this is the minimum an HMAC
client needs: sign exactly as the 23.09 SDK does and send with aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from yarl import URL

from bai_lsp.wire import signing, versions

DEFAULT_VERSION = versions.V7


def signed_headers(
    *,
    method: str,
    url: URL,
    access_key: str,
    secret_key: str,
    content_type: str,
    version: str = DEFAULT_VERSION,
    date: datetime | None = None,
    host: str | None = None,
) -> dict[str, str]:
    raw_date = signing.request_date(date)
    rel_url = url.raw_path + (f"?{url.raw_query_string}" if url.raw_query_string else "")
    signature = signing.sign(
        secret_key=secret_key,
        method=method,
        rel_url=rel_url,
        date=raw_date,
        host=host or url.raw_authority,
        content_type=content_type,
        api_version=version,
    )
    return {
        "Date": raw_date,
        "X-BackendAI-Version": version,
        "Authorization": signing.authorization_header(access_key, signature),
    }


class SignedClient:
    """An aiohttp session that signs every request for one gateway and keypair."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str) -> None:
        self.endpoint = URL(endpoint)
        self.access_key = access_key
        self.secret_key = secret_key
        self.http = aiohttp.ClientSession()

    async def __aenter__(self) -> SignedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    def url(
        self, path: str, params: Mapping[str, Any] | list[tuple[str, str]] | None = None
    ) -> URL:
        url = self.endpoint.with_path(path, encoded=False)
        if params:
            url = url.with_query(params)
        return url

    def headers(self, method: str, url: URL, content_type: str, **overrides: Any) -> dict[str, str]:
        return signed_headers(
            method=method,
            url=url,
            access_key=overrides.pop("access_key", self.access_key),
            secret_key=overrides.pop("secret_key", self.secret_key),
            content_type=content_type,
            **overrides,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        content_type: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        sign: Mapping[str, Any] | None = None,
    ) -> aiohttp.client._RequestContextManager:
        """Send a signed request; ``sign`` overrides signing inputs (version, date, keys)."""
        url = self.url(path, params)
        if json_body is not None:
            data = json.dumps(json_body)
            content_type = content_type or "application/json"
        elif data is None:
            data = b""
            content_type = content_type or "text/plain"
        headers = self.headers(
            method, url, content_type or "application/octet-stream", **(sign or {})
        )
        if content_type is not None and not isinstance(
            data, aiohttp.FormData | aiohttp.MultipartWriter
        ):
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        return self.http.request(method, url, data=data, headers=headers, allow_redirects=False)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Status and parsed JSON body (``None`` for an empty body)."""
        async with self.request(method, path, **kwargs) as response:
            raw = await response.read()
            return response.status, (json.loads(raw) if raw else None)

    def ws(self, path: str, params: Mapping[str, Any] | None = None, **sign: Any) -> Any:
        url = self.url(path, params)
        headers = self.headers("GET", url, "application/octet-stream", **sign)
        return self.http.ws_connect(url, headers=headers, autoping=True, heartbeat=30)

    def get_stream(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        url = self.url(path, params)
        headers = self.headers("GET", url, "application/octet-stream")
        return self.http.get(url, headers=headers)
