"""Writes the one fixture file the real manager is seeded from, with freshly generated keys.

Run once per state folder by `scripts/real-backendai.sh` (with the cluster venv's Python):
`python seed.py FIXTURE_JSON KEYS_ENV`. The fixture holds the least a 26.9.6 manager needs to
create a Python session on the dummy agent: one domain, project, resource group, image (with
the kernelspec labels the manager checks), resource policies, and two users with one keypair
each — an admin (the tests' default) and an "idler" whose keypair policy ends idle
sessions after IDLE_TIMEOUT_S. Keys are random: nothing here is a
published example key. KEYS_ENV gets shell assignments of both keypairs (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
import string
import sys
import uuid
from pathlib import Path

DOMAIN_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "domain.bai-lsp.test"))
PROJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "project.bai-lsp.test"))
RESOURCE_GROUP_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "resource-group.bai-lsp.test"))
REGISTRY_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "registry.bai-lsp.test"))
IDLE_TIMEOUT_S = 15
IMAGE = "cr.backend.ai/stable/python:3.13-ubuntu24.04"


def access_key() -> str:
    return "AKIA" + "".join(
        secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
    )


def secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]


def user(name: str, role: str) -> dict[str, object]:
    return {
        "uuid": str(uuid.uuid4()),
        "username": name,
        "email": f"{name}@bai-lsp.test",
        "password": secrets.token_urlsafe(12),
        "need_password_change": False,
        "full_name": name,
        "description": f"bai-lsp test {role}",
        "status": "active",
        "status_info": "admin-requested",
        "domain_name": "default",
        "domain_id": DOMAIN_ID,
        "resource_policy": "default",
        "role": role,
    }


def keypair(owner: dict[str, object], admin: bool, policy: str = "default") -> dict[str, object]:
    return {
        "access_key": access_key(),
        "secret_key": secret_key(),
        "is_active": True,
        "resource_policy": policy,
        "rate_limit": 1_000_000,
        "num_queries": 0,
        "is_admin": admin,
        "is_default": True,
        "user": owner["uuid"],
    }


def fixture(
    users: list[dict[str, object]], keys: list[dict[str, object]]
) -> dict[str, list[dict[str, object]]]:
    return {
        "container_registries": [
            {"id": REGISTRY_ID, "registry_name": "cr.backend.ai", "url": "https://cr.backend.ai",
             "type": "harbor2", "project": "stable"},
        ],
        "domains": [
            {"id": DOMAIN_ID, "name": "default", "description": "bai-lsp tests", "is_active": True,
             "total_resource_slots": {}, "allowed_vfolder_hosts": {},
             "allowed_docker_registries": ["cr.backend.ai"]},
        ],
        "user_resource_policies": [
            {"name": "default", "max_vfolder_count": 0, "max_quota_scope_size": -1,
             "max_session_count_per_model_session": 10},
        ],
        "project_resource_policies": [
            {"name": "default", "max_vfolder_count": 0, "max_quota_scope_size": -1,
             "max_network_count": 3},
        ],
        "keypair_resource_policies": [
            {"name": "default", "is_default": True, "default_for_unspecified": "UNLIMITED",
             "total_resource_slots": {}, "max_session_lifetime": 0, "max_concurrent_sessions": 100,
             "max_containers_per_session": 1, "idle_timeout": 3600, "allowed_vfolder_hosts": {}},
            # the idle-timeout tests' keypair: its sessions end after IDLE_TIMEOUT_S without a run
            {"name": "short-idle", "is_default": False, "default_for_unspecified": "UNLIMITED",
             "total_resource_slots": {}, "max_session_lifetime": 0, "max_concurrent_sessions": 10,
             "max_containers_per_session": 1, "idle_timeout": IDLE_TIMEOUT_S,
             "allowed_vfolder_hosts": {}},
        ],
        "groups": [
            {"id": PROJECT_ID, "name": "default", "description": "bai-lsp tests", "is_active": True,
             "domain_name": "default", "resource_policy": "default", "total_resource_slots": {},
             "allowed_vfolder_hosts": {}, "type": "general"},
        ],
        "scaling_groups": [
            {"id": RESOURCE_GROUP_ID, "name": "default", "description": "the dummy agent",
             "is_active": True, "is_default": True, "driver": "static", "driver_opts": {},
             "scheduler": "fifo", "scheduler_opts": {}, "wsproxy_addr": "http://127.0.0.1:9",
             "wsproxy_api_token": secrets.token_urlsafe(16)},
        ],
        "sgroups_for_domains": [{"resource_group_id": RESOURCE_GROUP_ID, "domain_id": DOMAIN_ID}],
        "users": users,
        "association_groups_users": [{"group_id": PROJECT_ID, "user_id": u["uuid"]} for u in users],
        "keypairs": keys,
        "resource_slot_types": [
            {"uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "cpu.bai-lsp.test")), "slot_name": "cpu",
             "slot_type": "count", "required": True, "display_name": "CPU", "description": "CPU",
             "display_unit": "Core", "display_icon": "cpu",
             "number_format": {"binary": False, "round_length": 0}, "rank": 100},
            {"uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "mem.bai-lsp.test")), "slot_name": "mem",
             "slot_type": "bytes", "required": True, "display_name": "RAM", "description": "Memory",
             "display_unit": "GiB", "display_icon": "ram",
             "number_format": {"binary": True, "round_length": 0}, "rank": 200},
        ],
        "resource_presets": [
            {"name": "small", "resource_slots": {"cpu": "1", "mem": "1073741824"}},
        ],
        "login_client_types": [
            {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "core.bai-lsp.test")), "name": "core",
             "description": "SDK and CLI clients"},
        ],
        "images": [
            {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "image.bai-lsp.test")), "name": IMAGE,
             "project": "stable", "image": "stable/python", "tag": "3.13-ubuntu24.04",
             "registry": "cr.backend.ai", "registry_id": REGISTRY_ID, "architecture": "x86_64",
             "config_digest": "sha256:" + "0" * 63 + "1", "size_bytes": 1, "is_local": False,
             "type": "COMPUTE", "accelerators": None,
             "labels": {
                 "ai.backend.kernelspec": "1",
                 "ai.backend.features": "batch query uid-match user-input",
                 "ai.backend.base-distro": "ubuntu24.04",
                 "ai.backend.runtime-type": "python",
                 "ai.backend.runtime-path": "/usr/bin/python3",
                 "ai.backend.resource.min.cpu": "0.1",
                 "ai.backend.resource.min.mem": "64m",
             },
             "resources": {"cpu": {"min": "0.1", "max": None},
                           "mem": {"min": "67108864", "max": None}},
             "status": "ALIVE"},
        ],
    }  # fmt: skip


def main(fixture_path: str, keys_path: str) -> None:
    users = {
        "ADMIN": user("admin", "superadmin"),
        # a superadmin too: 26.9's RBAC lets fixture-made plain users create no sessions
        "IDLER": user("idler", "superadmin"),
    }
    keys = {
        "ADMIN": keypair(users["ADMIN"], True),
        "IDLER": keypair(users["IDLER"], False, "short-idle"),
    }
    Path(fixture_path).write_text(
        json.dumps(fixture(list(users.values()), list(keys.values())), indent=1)
    )
    fd = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        for who, key in keys.items():
            out.write(
                f"{who}_ACCESS_KEY={key['access_key']}\n{who}_SECRET_KEY={key['secret_key']}\n"
            )
            out.write(f"{who}_USER_ID={users[who]['uuid']}\n")
        out.write(f"PROJECT_ID={PROJECT_ID}\nIDLE_TIMEOUT_S={IDLE_TIMEOUT_S}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
