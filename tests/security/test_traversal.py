"""Path traversal over upload, download, download_single, file listing and mounts: the
corpus is replayed against a live gateway, then the filesystem outside the session folder
is checked. An "escape" is outside content served, an outside name listed, or a file
written outside; there must be none."""

from __future__ import annotations

import io
import json
import secrets
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo
from support.signed import SignedClient

CANARY = "OUTSIDE-CANARY-" + secrets.token_hex(4)

#: Paths a client could name, relative to the session folder (``{out}`` = a folder outside
#: it holding ``secret.txt``; ``{vf}`` = the mounted vfolder's name).
PATHS = [
    "../secret.txt",
    "../../secret.txt",
    "../../../secret.txt",
    "../../../../../../../../etc/passwd",
    "a/../../secret.txt",
    "a/b/../../../secret.txt",
    "./../secret.txt",
    ".//..//secret.txt",
    "/etc/passwd",
    "/etc/shadow",
    "//etc/passwd",
    "/home/work/../secret.txt",
    "/home/work/../../etc/passwd",
    "/home/workshop/x",
    "/home/work/./../x",
    "{out}/secret.txt",
    "/proc/self/environ",
    "/proc/self/cwd/../secret.txt",
    "/root/.bashrc",
    "..",
    "../",
    "../.",
    "...",  # a legal name: must stay inside
    "..\\..\\secret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt",
    "a\x00/../../secret.txt",
    "secret.txt\x00.png",
    "~/../secret.txt",
    "link_out/secret.txt",  # a symlink made by code in the session, pointing outside
    "link_out",
    "link_file",
    "link_up/secret.txt",
    "link_root/etc/passwd",
    "self/../../secret.txt",
    "{vf}/../../secret.txt",
    "{vf}/../../../secret.txt",
    "{vf}/link_vf_out/secret.txt",
]
#: Mount requests that must be refused at session creation.
MOUNTS: list[dict[str, Any]] = [
    {"mounts": ["../etc"]},
    {"mounts": [".."]},
    {"mounts": ["/etc"]},
    {"mounts": ["a/b"]},
    {"mounts": ["..%2fetc"]},
    {"mounts": ["x\x00y"]},
    {"mounts": ["ok"], "mount_map": {"ok": "/etc/x"}},
    {"mounts": ["ok"], "mount_map": {"ok": "../x"}},
    {"mounts": ["ok"], "mount_map": {"ok": "/home/work/../../x"}},
    {"mounts": ["ok"], "mount_map": {"ok": "/home/workshop"}},
    {"mounts": ["ok"], "mount_map": {"ok": "/"}},
    {"mounts": ["ok"], "mount_map": {"ok": "a/../../x"}},
]


def _form(name: str, content: bytes) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    data.add_field("src", content, filename=name, content_type="application/octet-stream")
    return data


async def _shell(client: SignedClient, ref: str, command: str) -> None:
    status, body = await client.call(
        "POST", f"/session/{ref}", json_body={"mode": "query", "code": command, "runId": None}
    )
    assert status == 200, body
    while body["result"]["status"] != "finished":
        _, body = await client.call(
            "POST",
            f"/session/{ref}",
            json_body={"mode": "continue", "code": "", "runId": body["result"]["runId"]},
        )


async def _download_text(client: SignedClient, ref: str, path: str) -> tuple[int, bytes]:
    async with client.request(
        "GET", f"/session/{ref}/download", json_body={"files": [path]}
    ) as response:
        if response.status != 200:
            return response.status, await response.read()
        served = b""
        reader = aiohttp.MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            with tarfile.open(fileobj=io.BytesIO(await part.read())) as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member) if member.isfile() else None
                    served += member.name.encode() + b"\n"
                    if extracted is not None:
                        served += extracted.read()
        return 200, served


def _outside_files(roots: list[Path], session_dirs: list[Path], token: str) -> list[Path]:
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob(f"*{token}*"):
            resolved = path.resolve()
            if not any(resolved.is_relative_to(d) for d in session_dirs):
                found.append(path)
    return found


async def test_traversal_corpus_escapes_zero_times(
    fresh_gateway: GatewayInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY)
    token = "pwned" + secrets.token_hex(4)
    escapes: list[str] = []
    refused = accepted = cases = 0
    async with SignedClient(
        fresh_gateway.endpoint, fresh_gateway.access_key, fresh_gateway.secret_key
    ) as client:
        status, body = await client.call(
            "POST",
            "/session",
            json_body={"name": "trav", "image": "bash", "config": {"mounts": ["vf1"]}},
        )
        assert status == 201, body
        vfolder = fresh_gateway.data_dir / "vfolders" / "vf1"
        await _shell(
            client,
            "trav",
            f"mkdir -p a/b; ln -s {outside} link_out; ln -s {outside}/secret.txt link_file; "
            f"ln -s ../.. link_up; ln -s / link_root; ln -s . self; "
            f"ln -s {outside} vf1/link_vf_out; pwd > where.txt",
        )
        listing = await client.call("GET", "/session/trav/files", json_body={"path": "."})
        assert listing[0] == 200
        _, where = await _download_text(client, "trav", "where.txt")
        session_dir = Path(where.split(b"\n", 1)[1].decode().strip()).resolve()
        assert session_dir.is_relative_to(fresh_gateway.data_dir.resolve())
        allowed = [session_dir, vfolder.resolve()]
        paths = [p.replace("{out}", str(outside)).replace("{vf}", "vf1") for p in PATHS]

        for path in paths:
            # upload: a file named after the path (NUL percent-encoded: headers cannot hold it)
            name = path.replace("\x00", "%00")
            target = name.rstrip("/") + f"-{token}" if not name.endswith("..") else name
            cases += 1
            status, _ = await client.call(
                "POST",
                "/session/trav/upload",
                data=_form(target, b"x"),
                content_type="multipart/form-data",
            )
            refused, accepted = refused + (status >= 400), accepted + (status < 400)
            # download (GET with a JSON body, as the SDK does) and download_single
            cases += 1
            status, served = await _download_text(client, "trav", path)
            refused, accepted = refused + (status >= 400), accepted + (status < 400)
            if CANARY.encode() in served or b"root:" in served:
                escapes.append(f"download {path!r} served outside content")
            cases += 1
            async with client.request(
                "GET", "/session/trav/download_single", params={"file": path}
            ) as response:
                raw = await response.read()
                refused, accepted = (
                    refused + (response.status >= 400),
                    accepted + (response.status < 400),
                )
                if CANARY.encode() in raw or b"root:" in raw:
                    escapes.append(f"download_single {path!r} served outside content")
            # listing
            cases += 1
            status, body = await client.call("GET", "/session/trav/files", json_body={"path": path})
            refused, accepted = refused + (status >= 400), accepted + (status < 400)
            if status == 200:
                names = {entry["filename"] for entry in json.loads(body["files"])}
                if names & {"secret.txt", "passwd", "shadow", "bin", "etc"}:
                    escapes.append(f"list {path!r} showed {sorted(names)[:5]}")
        for config in MOUNTS:
            cases += 1
            status, body = await client.call(
                "POST",
                "/session",
                json_body={"name": f"m{cases}", "image": "bash", "config": config},
            )
            if status < 400:
                escapes.append(f"mount {config!r} accepted: {body}")
            else:
                refused += 1
        await _shell(client, "trav", "true")  # the session still works

    written = _outside_files([tmp_path, Path("/etc"), Path("/root")], allowed, token)
    escapes += [f"file written outside: {p}" for p in written]
    assert (outside / "secret.txt").read_text() == CANARY
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    with capsys.disabled():
        print(
            f"\n[security] path traversal: {cases} cases ({len(PATHS)} paths x upload, "
            f"download, download_single, list + {len(MOUNTS)} mounts): {refused} refused, "
            f"{accepted} accepted inside the session folder, {len(escapes)} escapes"
        )
    assert escapes == [], "\n".join(escapes)
    assert cases >= 60
