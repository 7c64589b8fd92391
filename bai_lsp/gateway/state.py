"""Typed keys of the gateway's application and request state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bai_lsp.gateway.auth import RateLimiter
    from bai_lsp.gateway.config import GatewayConfig
    from bai_lsp.gateway.events import EventHub
    from bai_lsp.gateway.sessions import SessionRegistry
    from bai_lsp.gateway.vfolders import TransferTokens, VFolderStore
    from bai_lsp.gateway.weblogin import LoginStore

CONFIG: web.AppKey[GatewayConfig] = web.AppKey("bai_config")
REGISTRY: web.AppKey[SessionRegistry] = web.AppKey("bai_registry")
EVENTS: web.AppKey[EventHub] = web.AppKey("bai_events")
LOGINS: web.AppKey[LoginStore] = web.AppKey("bai_logins")
RATES: web.AppKey[RateLimiter] = web.AppKey("bai_rates")
VFOLDERS: web.AppKey[VFolderStore] = web.AppKey("bai_vfolders")
TRANSFERS: web.AppKey[TransferTokens] = web.AppKey("bai_transfers")

#: Request keys.
ACCESS_KEY = "bai_access_key"
API_VERSION = "bai_api_version"
RATE = "bai_rate"
