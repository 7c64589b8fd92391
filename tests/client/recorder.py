"""A tiny real HTTP server that records what the client sends (wire-level tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bai_lsp.wire import signing

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Recorder:
    """A tiny HTTP server: records every request; ``answer`` decides the response."""

    def __init__(self, answer: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.answer = answer
        self.seen: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.headers.get("Upgrade") is None else b""
        self.seen.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": dict(request.headers),
                "content_type": request.content_type,
                "body": body,
            }
        )
        return await self.answer(request)

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def signed_ok(self, record: dict[str, Any], content_type: str) -> bool:
        """Does the record's signature verify the way the gateway verifies it?"""
        headers = record["headers"]
        cred = signing.parse_authorization(headers["Authorization"])
        assert cred is not None and cred.access_key == ACCESS
        expected = signing.sign(
            secret_key=SECRET,
            method=record["method"],
            rel_url=record["raw_path"],
            date=headers["Date"],
            host=headers["Host"],
            content_type=content_type,
            api_version=headers["X-BackendAI-Version"],
        )
        return expected == cred.signature


Server = Callable[..., Awaitable[Recorder]]


def hello(version: str = "v7.20230615") -> web.Response:
    return web.json_response({"version": version, "manager": "23.09.10"})
