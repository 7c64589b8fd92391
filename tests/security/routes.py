"""Every route of the gateway's aiohttp app, read from its router (so a new route is
covered, and a new public route fails a test until it is reviewed)."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from aiohttp import web

from bai_lsp.gateway.app import build_app
from bai_lsp.gateway.auth import _PUBLIC_ATTR, FUNC_PREFIX
from bai_lsp.gateway.cli import build_parser, make_config

#: The only routes that answer without credentials; each is tested for what it gives away.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/func"),
    ("GET", "/func/"),
    ("POST", "/server/login"),
    ("POST", "/server/logout"),
    ("POST", "/server/login-check"),
    # Storage-proxy transfer URLs: like a real storage proxy they take no signature but a
    # single-use, expiring token from a signed request-upload/request-download
    # (test_public_routes_give_nothing_away checks the refusals).
    ("PATCH", "/storage/upload"),
    ("GET", "/storage/download"),
}
_VARIABLE = re.compile(r"\{([^}:]+)(:[^}]*)?\}")


@attrs.frozen
class Route:
    method: str
    template: str  # as registered, e.g. /session/{session_name}/files
    public: bool
    websocket: bool

    @property
    def web_session(self) -> bool:
        """A ``/func/…`` route: the web-server flavour, authenticated by the login cookie."""
        return self.template.startswith(FUNC_PREFIX)

    def path(self, value: str = "sec-nonexistent") -> str:
        return _VARIABLE.sub(value, self.template)


def gateway_routes(data_dir: Path) -> list[Route]:
    args = build_parser().parse_args(["--port", "0", "--data-dir", str(data_dir)])
    config, _ = make_config(args, {"BACKEND_ACCESS_KEY": "AK", "BACKEND_SECRET_KEY": "SK"})
    app: web.Application = build_app(config)
    routes = []
    for resource in app.router.resources():
        info = resource.get_info()
        template = info.get("formatter") or info.get("path")
        assert isinstance(template, str), info
        for route in resource:
            if route.method == "HEAD":
                continue  # aiohttp's automatic twin of GET
            handler = route.handler
            module = getattr(handler, "__module__", "")
            routes.append(
                Route(
                    route.method,
                    template,
                    bool(getattr(handler, _PUBLIC_ATTR, False)),
                    module.endswith(".streams") or "stream" in template,
                )
            )
    return routes
