"""Resource presets, allowance and resource groups (``/resource/*``, ``/scaling-groups``).

The gateway has one resource group, ``default``, whose capacity is this machine's (CPU
count and physical memory). Keypairs have no limit (``Infinity``, as a manager's policy
with ``default_for_unspecified: UNLIMITED`` reports it). A preset is ``allocatable`` when
its slots fit into what the live sessions of all keypairs leave of the machine — the same
rule a manager applies per agent. Resources stay advisory (docs/gateway.md): a session
may ask for more than is free, and nothing is enforced. Requests in the newest dialect must
name the project (``group``), as the 26.09 manager requires; 23.09's default it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

import bai_lsp.gateway.state as state
from bai_lsp.gateway import dialects
from bai_lsp.gateway.auth import access_key_of
from bai_lsp.gateway.errors import invalid_params
from bai_lsp.gateway.validation import read_json

GIB = 1024**3
SCALING_GROUP = "default"
#: Built-in presets (name, cpu, mem bytes), smallest first.
PRESETS: tuple[tuple[str, int, int], ...] = (
    ("cpu01-small", 1, 1 * GIB),
    ("cpu02-medium", 2, 4 * GIB),
    ("cpu04-large", 4, 8 * GIB),
    ("cpu08-xlarge", 8, 32 * GIB),
)
SLOT_TYPES = ("cpu", "mem")
INFINITY = Decimal("Infinity")


def machine_capacity() -> dict[str, Decimal]:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = 0
    return {"cpu": Decimal(os.cpu_count() or 1), "mem": Decimal(mem)}


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _sum(slot_maps: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    total = {slot: Decimal(0) for slot in SLOT_TYPES}
    for slots in slot_maps:
        for slot in SLOT_TYPES:
            if slot in slots:
                total[slot] += _decimal(slots[slot])
    return total


def _json(slots: Mapping[str, Decimal]) -> dict[str, str]:
    """The manager's ``ResourceSlot.to_json``: decimal strings (``Infinity`` for no limit)."""
    return {slot: str(value) for slot, value in slots.items()}


def preset_slots(cpu: int, mem: int) -> dict[str, Decimal]:
    return {"cpu": Decimal(cpu), "mem": Decimal(mem)}


def _fits(want: Mapping[str, Decimal], free: Mapping[str, Decimal]) -> bool:
    return all(want[slot] <= free.get(slot, Decimal(0)) for slot in want)


def _using(request: web.Request, access_key: str | None) -> dict[str, Decimal]:
    registry = request.app[state.REGISTRY]
    sessions = [
        s for s in registry.sessions.values() if s.is_live and access_key in (None, s.access_key)
    ]
    return _sum(s.spec.resources for s in sessions)


async def list_presets(request: web.Request) -> web.Response:
    """``GET /resource/presets``."""
    return web.json_response(
        {
            "presets": [
                {"name": name, "shared_memory": None, "resource_slots": _json(preset_slots(c, m))}
                for name, c, m in PRESETS
            ]
        }
    )


async def check_presets(request: web.Request) -> web.Response:
    """``POST /resource/check-presets``: presets with ``allocatable`` and what remains."""
    newest = dialects.request_is_newest(request)
    body = await read_json(request, required=newest)
    if newest and "group" not in body:
        # The newest manager (26.09) requires the project; 23.09 defaults it to "default".
        raise invalid_params("Input validation error", {"group": "Field required"})
    group = body.get("group", "default")
    scaling_group = body.get("scaling_group")
    if not isinstance(group, str):
        raise invalid_params("Input validation error", {"group": "must be a string"})
    if scaling_group not in (None, SCALING_GROUP):
        raise invalid_params(
            f"Unknown scaling group {scaling_group!r} (this gateway has {SCALING_GROUP!r})"
        )
    access_key = access_key_of(request)
    mine = _using(request, access_key)
    everyone = _using(request, None)
    capacity = machine_capacity()
    free = {slot: max(capacity[slot] - everyone[slot], Decimal(0)) for slot in SLOT_TYPES}
    unlimited = {slot: INFINITY for slot in SLOT_TYPES}
    return web.json_response(
        {
            "keypair_limits": _json(unlimited),
            "keypair_using": _json(mine),
            "keypair_remaining": _json(unlimited),
            "group_limits": _json(unlimited),
            "group_using": _json(mine),
            "group_remaining": _json(unlimited),
            "scaling_group_remaining": _json(free),
            "scaling_groups": {SCALING_GROUP: {"using": _json(mine), "remaining": _json(free)}},
            "presets": [
                {
                    "name": name,
                    "resource_slots": _json(preset_slots(c, m)),
                    "shared_memory": None,
                    "allocatable": _fits(preset_slots(c, m), free),
                }
                for name, c, m in PRESETS
            ],
        }
    )


async def scaling_groups(request: web.Request) -> web.Response:
    """``GET /scaling-groups?group=``: the resource groups a project may use."""
    if "group" not in request.query:
        raise invalid_params("Input validation error", {"group": "the project name or id"})
    return web.json_response({"scaling_groups": [{"name": SCALING_GROUP}]})


async def resource_slots(request: web.Request) -> web.Response:
    """``GET /config/resource-slots``: the slot types and their units."""
    return web.json_response({"cpu": "count", "mem": "bytes"})


def add_routes(app: web.Application, prefix: str = "") -> None:
    r = app.router
    r.add_get(prefix + "/resource/presets", list_presets)
    r.add_post(prefix + "/resource/check-presets", check_presets)
    r.add_get(prefix + "/scaling-groups", scaling_groups)
    r.add_get(prefix + "/config/resource-slots", resource_slots)
