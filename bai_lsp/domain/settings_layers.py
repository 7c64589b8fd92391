"""Where the settings layers come from, before validation (``settings.py``): the SDK's
``BACKEND_*`` environment variables as a layer, and the overlay of layers (later non-null
values win; ``batch`` and ``output`` merge per key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def merge_layers(layers: list[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Overlay camelCase dicts: later non-null values win, ``batch``/``output`` merge per key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in layer.items():
            if value is None:
                continue
            if key in ("batch", "output") and isinstance(value, dict):
                base = merged.get(key)
                inner = dict(base) if isinstance(base, dict) else {}
                inner.update({k: v for k, v in value.items() if v is not None})
                merged[key] = inner
            else:
                merged[key] = value
    return merged


def environment_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SDK's ``BACKEND_*`` variables as a camelCase layer (empty values are unset)."""
    env = os.environ if environ is None else environ
    layer: dict[str, Any] = {}
    for key, var in (
        ("endpoint", "BACKEND_ENDPOINT"),
        ("endpointType", "BACKEND_ENDPOINT_TYPE"),
        ("accessKey", "BACKEND_ACCESS_KEY"),
        ("secretKey", "BACKEND_SECRET_KEY"),
        ("domain", "BACKEND_DOMAIN"),
        ("group", "BACKEND_GROUP"),
        ("mounts", "BACKEND_VFOLDER_MOUNTS"),
    ):
        value = env.get(var, "").strip()
        if value:
            layer[key] = value
    return layer
