"""The headers of one request, exactly as the SDK 23.9.10 puts them (§2.1, §2.2).

The signature itself is computed by ``bai_lsp.wire.signing`` so the gateway verifies the
very same string; this module only decides what goes into it: the endpoint's authority as
written in the configuration, the path and query as they go on the wire, the content type
the SDK signs (``application/octet-stream`` for WebSocket and SSE, which send none).
"""

from __future__ import annotations

from datetime import datetime

from multidict import CIMultiDict
from yarl import URL

from bai_lsp.backendai.config import APIConfig
from bai_lsp.wire import signing

JSON = "application/json"
TEXT = "text/plain"
MULTIPART = "multipart/form-data"
STREAM = "application/octet-stream"


def signing_host(endpoint: str) -> str:
    """``host[:port]`` exactly as written in the endpoint URL (an explicit port is kept)."""
    return URL(endpoint).raw_authority


def rel_url(url: URL) -> str:
    """The path plus ``?query`` that goes on the request line, as the server will see it."""
    return url.raw_path_qs


def request_headers(
    config: APIConfig,
    *,
    method: str,
    url: URL,
    endpoint: str,
    api_version: str,
    content_type: str,
    send_content_type: bool = True,
    now: datetime | None = None,
) -> CIMultiDict[str]:
    """All headers of an API request; signed unless anonymous or in session mode."""
    date = signing.request_date(now or config.clock())
    headers: CIMultiDict[str] = CIMultiDict()
    headers["User-Agent"] = config.user_agent
    headers["X-BackendAI-Domain"] = config.domain
    headers["X-BackendAI-Version"] = api_version
    headers["Date"] = date
    if send_content_type:
        headers["Content-Type"] = content_type
    if config.endpoint_type == "api" and config.access_key:
        signature = signing.sign(
            secret_key=config.secret_key,
            method=method,
            rel_url=rel_url(url),
            date=date,
            host=signing_host(endpoint),
            content_type=content_type,
            api_version=api_version,
        )
        headers["Authorization"] = signing.authorization_header(config.access_key, signature)
    return headers
