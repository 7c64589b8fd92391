"""The ``images`` GraphQL query: the gateway's image table as a manager lists its images.

Each listed image is ``registry`` ``local``, ``tag`` the runner's version (Python's for
python images, ``latest`` otherwise) and ``architecture`` this machine's; ``labels`` carry
what a launcher shows (``ai.backend.runtime-type``, ``ai.backend.service-ports``,
``ai.backend.base-distro``). The reference a session is created with is ``name:tag``
(the gateway ignores a built-in's tag; docs/images.md).
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from graphql import GraphQLResolveInfo

from bai_lsp.gateway.runtimes.images import ImageSpec

SDL = """
extend type Query {
  images(is_installed: Boolean, is_operation: Boolean, image_filters: [String]): [Image]
  image(reference: String!, architecture: String): Image
}

type KVPair {
  key: String
  value: String
}

type ResourceLimit {
  key: String
  min: String
  max: String
}

type Image {
  id: UUID
  name: String
  humanized_name: String
  tag: String
  registry: String
  architecture: String
  is_local: Boolean
  digest: String
  labels: [KVPair]
  aliases: [String]
  size_bytes: Float
  resource_limits: [ResourceLimit]
  supported_accelerators: [String]
  installed: Boolean
  installed_agents: [String]
  hash: String
  last_used_at: DateTime
}
"""

REGISTRY = "local"


def _tag(spec: ImageSpec) -> str:
    if spec.query == "jupyter" and spec.name == "python":
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    return "latest"


def image_row(spec: ImageSpec) -> dict[str, Any]:
    import uuid

    tag = _tag(spec)
    ports = ",".join(f"{p.name}:{p.protocol}:{p.port}" for p in spec.service_ports)
    labels = {
        "ai.backend.runtime-type": spec.language,
        "ai.backend.runtime-path": spec.query,
        "ai.backend.base-distro": "local",
        "ai.backend.service-ports": ports,
    }
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bai-lsp:image:{spec.name}:{tag}")),
        "name": spec.name,
        "humanized_name": spec.name,
        "tag": tag,
        "registry": REGISTRY,
        "architecture": platform.machine() or "x86_64",
        "is_local": True,
        "digest": None,
        "labels": [{"key": k, "value": v} for k, v in labels.items()],
        "aliases": [],
        "size_bytes": 0.0,
        "resource_limits": [
            {"key": "cpu", "min": "1", "max": "Infinity"},
            {"key": "mem", "min": "268435456", "max": "Infinity"},
        ],
        "supported_accelerators": [],
        "installed": True,
        "installed_agents": ["local"],
        "hash": None,
        "last_used_at": None,
    }


def resolve_images(_root: Any, info: GraphQLResolveInfo, **_filters: Any) -> list[dict[str, Any]]:
    return [image_row(spec) for spec in info.context.config.images.listed()]


def resolve_image(
    _root: Any, info: GraphQLResolveInfo, reference: str, architecture: str | None = None
) -> dict[str, Any] | None:
    spec = info.context.config.images.resolve(reference)
    return image_row(spec) if spec is not None else None
