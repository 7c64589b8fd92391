"""The gateway's aiohttp application: state, middlewares and the route table.

Every API route is registered twice: as the manager serves it (HMAC-signed) and under
``/func/`` as the web server serves it to logged-in clients (``endpoint_type=session``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from aiohttp import web

from bai_lsp.gateway import (
    dialects,
    events,
    files,
    gql,
    resources,
    session_api,
    state,
    streams,
    vfolder_api,
    weblogin,
)
from bai_lsp.gateway.auth import RateLimiter, add_server_headers, middlewares, public
from bai_lsp.gateway.config import DEFAULT_RATE_LIMIT, GatewayConfig
from bai_lsp.gateway.events import EventHub
from bai_lsp.gateway.sessions import SessionRegistry
from bai_lsp.gateway.vfolders import TransferTokens, VFolderStore
from bai_lsp.gateway.weblogin import LoginStore

log = logging.getLogger(__name__)

#: Large enough for a whole source file as ``code``; uploads stream and have their own limits.
CLIENT_MAX_SIZE = 64 * 1024 * 1024


@public
async def hello(request: web.Request) -> web.Response:
    """``GET /``: the versions the client negotiates with (answered without credentials)."""
    return web.json_response(dialects.ADVERTISED[request.app[state.CONFIG].api_version])


async def announcement(request: web.Request) -> web.Response:
    """``GET /manager/announcement``: the CLI asks on every start; there is none locally."""
    return web.json_response({"enabled": False, "message": ""})


def _api_routes(app: web.Application, prefix: str) -> None:
    session_api.add_routes(app, prefix)
    files.add_routes(app, prefix)
    streams.add_routes(app, prefix)
    resources.add_routes(app, prefix)
    vfolder_api.add_routes(app, prefix)
    r = app.router
    r.add_get(prefix + "/events/session", events.session_events)
    r.add_get(prefix + "/manager/announcement", announcement)
    r.add_post(prefix + "/admin/gql", gql.handle)
    r.add_post(prefix + "/admin/graphql", gql.handle)


def build_app(config: GatewayConfig) -> web.Application:
    app = web.Application(middlewares=middlewares(), client_max_size=CLIENT_MAX_SIZE)
    hub = EventHub()
    app[state.CONFIG] = config
    app[state.EVENTS] = hub
    app[state.REGISTRY] = SessionRegistry(config, hub)
    app[state.LOGINS] = LoginStore(config)
    app[state.RATES] = RateLimiter(_limits(config))
    app[state.VFOLDERS] = VFolderStore(config.data_dir / "vfolders")
    app[state.TRANSFERS] = TransferTokens(config.data_dir / "vfolder-uploads" / f"gw-{os.getpid()}")
    app.router.add_get("/", hello)
    app.router.add_get("/func/", hello)
    app.router.add_get("/func", hello)
    _api_routes(app, "")
    _api_routes(app, "/func")
    weblogin.add_routes(app)
    vfolder_api.add_transfer_routes(app)
    app.on_response_prepare.append(add_server_headers)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    return app


def _limits(config: GatewayConfig) -> Callable[[str], int]:
    def limit(access_key: str) -> int:
        pair = config.keypair(access_key)
        return pair.rate_limit if pair is not None else DEFAULT_RATE_LIMIT

    return limit


async def _on_startup(app: web.Application) -> None:
    await app[state.REGISTRY].open()


async def _on_shutdown(app: web.Application) -> None:
    """Stop every session (killing its process tree) and end open event streams."""
    app[state.EVENTS].close()
    await app[state.REGISTRY].shutdown_all()
